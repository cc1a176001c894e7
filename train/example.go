package train

import (
	"fmt"
	"slices"

	"github.com/busam/busam/model/encoder"
	"github.com/busam/busam/model/heads"
	"github.com/busam/busam/model/tensor"
	"github.com/busam/busam/weights/safetensors"
)

// Example is one sample held in memory for training or validation. Index 0
// of the pairs is the image as it is, index 1 its horizontal mirror image.
type Example struct {
	ID     string
	Class  int  // the model's output index for the label
	Lesion bool // the label has a lesion (benign or malignant)
	// Emb are the encoder embeddings of the image and of the flipped image
	// (Emb[1] nil: no flip augmentation for this sample), as float16: the
	// cache stores them so (no loss), and it halves training's memory
	// (2 MB instead of 4 per view for SAM's [256,64,64]).
	Emb [2]*Half
	// Trunk, instead of Emb, are the encoder's trunk features (the neck's
	// input) of the image and its mirror image, for training the neck
	// (Options.TuneNeck); float16 halves their memory (5 MB each in float32).
	Trunk [2]*Half
	// Image is the encoder input pooled to the mask grid, [3,G,G] (unet only).
	Image [2]*tensor.Tensor
	// Target is the lesion fraction of each mask-grid cell, [G*G].
	Target [2][]float32
	// ValidW, ValidH: grid cells touched by the image; the rest is padding.
	ValidW, ValidH int
}

func (e *Example) input(flip int) heads.Input {
	return heads.Input{Embedding: e.Emb[flip].Float32(), Image: e.Image[flip]}
}

// features is what the sample holds per view: embeddings or trunk features.
func (e *Example) features(flip int) (shape []int, ok bool) {
	if e.Trunk[0] != nil {
		if e.Trunk[flip] == nil {
			return nil, false
		}
		return e.Trunk[flip].Shape, true
	}
	if e.Emb[flip] == nil {
		return nil, false
	}
	return e.Emb[flip].Shape, true
}

// side is the side h of the sample's [C,h,h] feature map.
func (e *Example) side() int {
	s, _ := e.features(0)
	return s[1]
}

// Half is a tensor held as IEEE float16 bits.
type Half struct {
	Shape []int
	Bits  []uint16
}

// ToHalf rounds t to float16 (to nearest even).
func ToHalf(t *tensor.Tensor) *Half {
	h := &Half{Shape: slices.Clone(t.Shape), Bits: make([]uint16, len(t.Data))}
	for i, v := range t.Data {
		h.Bits[i] = safetensors.Float32ToFloat16(v)
	}
	return h
}

// Float32 expands h into a new float32 tensor.
func (h *Half) Float32() *tensor.Tensor {
	t := tensor.New(h.Shape...)
	for i, b := range h.Bits {
		t.Data[i] = safetensors.Float16ToFloat32(b)
	}
	return t
}

// FrameTarget maps a w x h 0|1 mask into the encoder frame described by g
// and returns the lesion fraction of each cell of a grid x grid
// subdivision of the frame (grid 256 for SAM's 1024 frame). Each frame
// pixel takes the mask value under its centre (nearest neighbour); flip
// mirrors the mask first, as for the embedding of the flipped image.
func FrameTarget(mask []uint8, w, h int, g encoder.Geometry, grid int, flip bool) ([]float32, error) {
	if len(mask) != w*h || w != g.OrigW || h != g.OrigH || g.ResizedW > g.Size || g.ResizedH > g.Size || g.Size%grid != 0 || g.ResizedW < 1 || g.ResizedH < 1 {
		return nil, fmt.Errorf("train: mask %dx%d (%d values) does not fit geometry %+v on a %d grid", w, h, len(mask), g, grid)
	}
	cell := g.Size / grid
	sum := make([]float32, grid*grid)
	srcX := make([]int, g.ResizedW)
	for x := range srcX {
		sx := min(w-1, int((float64(x)+0.5)*float64(w)/float64(g.ResizedW)))
		if flip {
			sx = w - 1 - sx
		}
		srcX[x] = sx
	}
	for y := range g.ResizedH {
		sy := min(h-1, int((float64(y)+0.5)*float64(h)/float64(g.ResizedH)))
		row := mask[sy*w : (sy+1)*w]
		out := sum[(y/cell)*grid:]
		for x, sx := range srcX {
			if row[sx] != 0 {
				out[x/cell]++
			}
		}
	}
	inv := 1 / float32(cell*cell)
	for i := range sum {
		sum[i] *= inv
	}
	return sum, nil
}

// PoolInput average-pools the encoder input [3,S,S] to [3,grid,grid];
// flip first mirrors the image part (the leftmost resizedW columns), which
// is what the encoder input of the flipped image looks like.
func PoolInput(input *tensor.Tensor, grid, resizedW int, flip bool) *tensor.Tensor {
	x := input
	if flip {
		x = input.Clone()
		s := x.Shape[2]
		for r := 0; r < x.Shape[0]*x.Shape[1]; r++ {
			row := x.Data[r*s : r*s+resizedW]
			for i, j := 0, len(row)-1; i < j; i, j = i+1, j-1 {
				row[i], row[j] = row[j], row[i]
			}
		}
	}
	return heads.AvgPool(x, input.Shape[1]/grid)
}

// ValidCells is how many grid cells along each axis the resized image
// touches.
func ValidCells(g encoder.Geometry, grid int) (int, int) {
	cell := g.Size / grid
	return (g.ResizedW + cell - 1) / cell, (g.ResizedH + cell - 1) / cell
}
