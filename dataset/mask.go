package dataset

import (
	"fmt"
	"image"

	"github.com/busam/busam/imageio"
)

// LesionThreshold: a mask pixel whose grey value exceeds it is lesion. The
// PNG decoder expands 1-bit masks to 0/255, so "value 1" is 255 here.
const LesionThreshold = 127

// LoadMask decodes and unions the sample's masks into a w*h row-major slice
// of 0 (background) and 1 (lesion). Every mask must be w x h; a sample
// without masks gives all zeros.
func LoadMask(s Sample, w, h int) ([]uint8, error) {
	if w <= 0 || h <= 0 || w > imageio.MaxSide || h > imageio.MaxSide {
		return nil, fmt.Errorf("dataset: mask of %s: invalid size %dx%d", s.ID, w, h)
	}
	out := make([]uint8, w*h)
	for _, path := range s.Masks {
		img, err := imageio.Load(path)
		if err != nil {
			return nil, fmt.Errorf("dataset: mask of %s: %w", s.ID, err)
		}
		b := img.Bounds()
		if b.Dx() != w || b.Dy() != h {
			return nil, fmt.Errorf("dataset: mask %s is %dx%d, want %dx%d (the image size of %s)",
				path, b.Dx(), b.Dy(), w, h, s.ID)
		}
		unionInto(out, img)
	}
	return out, nil
}

// unionInto sets out[i] = 1 where img's grey value exceeds LesionThreshold.
// Colour masks count by luma, so white (or any light) marks are lesion.
func unionInto(out []uint8, img image.Image) {
	b := img.Bounds()
	w := b.Dx()
	if g, ok := img.(*image.Gray); ok { // BUSI's common case, done without per-pixel interfaces
		for y := 0; y < b.Dy(); y++ {
			row := g.Pix[y*g.Stride : y*g.Stride+w]
			for x, v := range row {
				if v > LesionThreshold {
					out[y*w+x] = 1
				}
			}
		}
		return
	}
	for y := 0; y < b.Dy(); y++ {
		for x := 0; x < w; x++ {
			r, g, bl, _ := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
			// ITU-R 601 luma, as color.GrayModel computes it, on 16-bit values.
			luma := (19595*r + 38470*g + 7471*bl + 1<<15) >> 24
			if luma > LesionThreshold {
				out[y*w+x] = 1
			}
		}
	}
}
