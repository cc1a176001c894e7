package encoder

import (
	"image"

	"github.com/busam/busam/model/cpu"
	"github.com/busam/busam/model/tensor"
)

// DefaultSize is SAM's input side: images are resized so their longest
// side is 1024 and padded to 1024x1024.
const DefaultSize = 1024

// SAM's pixel normalization (ImageNet statistics on the 0..255 scale).
var (
	pixelMean = [3]float32{123.675, 116.28, 103.53}
	pixelStd  = [3]float32{58.395, 57.12, 57.375}
)

// Geometry records how an image was placed in the square encoder input:
// resized to ResizedW x ResizedH (longest side = Size), at the top-left
// corner of a Size x Size frame, the rest zero after normalization.
type Geometry struct {
	OrigW, OrigH       int
	ResizedW, ResizedH int
	Size               int
}

// ResizedSize returns the size SAM resizes a w x h image to so that its
// longest side is size, rounding like SAM's ResizeLongestSide.
func ResizedSize(w, h, size int) (int, int) {
	scale := float64(size) / float64(max(w, h))
	return max(1, int(float64(w)*scale+0.5)), max(1, int(float64(h)*scale+0.5))
}

// Preprocess turns an image into the encoder input [3, size, size]: RGB
// (grey replicated to three channels; colour with alpha is taken
// premultiplied, i.e. composited over black), resized bilinearly so the
// longest side is size, normalized with SAM's mean and std, and padded
// with zeros at the bottom and right. A size below 1 means DefaultSize; an
// empty image gives an all-zero input and a zero Geometry.
//
// The resize is PIL's bilinear filter (resize.go), which SAM's
// ResizeLongestSide uses through torchvision: it shrinks with an
// antialiasing kernel instead of sampling four pixels, and produces 8-bit
// levels.
func Preprocess(img image.Image, size int) (*tensor.Tensor, Geometry) {
	if size < 1 {
		size = DefaultSize
	}
	out := tensor.New(3, size, size)
	if img == nil || img.Bounds().Empty() {
		return out, Geometry{Size: size}
	}
	b := img.Bounds()
	g := Geometry{OrigW: b.Dx(), OrigH: b.Dy(), Size: size}
	g.ResizedW, g.ResizedH = ResizedSize(g.OrigW, g.OrigH, size)

	planes, w, h := imagePlanes(img)
	tx, ty := newAxisTaps(w, g.ResizedW), newAxisTaps(h, g.ResizedH)
	plane := size * size
	var p []float32
	for ch := 0; ch < 3; ch++ {
		if ch < len(planes) { // a grey image's one plane serves all three
			p = resizePlane(planes[ch], w, h, g.ResizedW, g.ResizedH, tx, ty)
		}
		mean, std := pixelMean[ch], pixelStd[ch]
		dst := out.Data[ch*plane : (ch+1)*plane]
		cpu.ParallelFor(g.ResizedH, 16, func(lo, hi int) {
			for y := lo; y < hi; y++ {
				for x, v := range p[y*g.ResizedW : (y+1)*g.ResizedW] {
					dst[y*size+x] = (v - mean) / std
				}
			}
		})
	}
	return out, g
}
