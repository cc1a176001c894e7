package train

import (
	"fmt"

	"github.com/busam/busam/model/encoder"
	"github.com/busam/busam/model/heads"
	"github.com/busam/busam/model/tensor"
)

// Example is one sample held in memory for training or validation. Index 0
// of the pairs is the image as it is, index 1 its horizontal mirror image.
type Example struct {
	ID     string
	Class  int  // the model's output index for the label
	Lesion bool // the label has a lesion (benign or malignant)
	// Emb are the encoder embeddings of the image and of the flipped image
	// (Emb[1] nil: no flip augmentation for this sample).
	Emb [2]*tensor.Tensor
	// Image is the encoder input pooled to the mask grid, [3,G,G] (unet only).
	Image [2]*tensor.Tensor
	// Target is the lesion fraction of each mask-grid cell, [G*G].
	Target [2][]float32
	// ValidW, ValidH: grid cells touched by the image; the rest is padding.
	ValidW, ValidH int
}

func (e *Example) input(flip int) heads.Input {
	return heads.Input{Embedding: e.Emb[flip], Image: e.Image[flip]}
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
