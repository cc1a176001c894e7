package imageio

import (
	"image"
	"image/color"
)

// FlipHorizontal returns img mirrored left-right (x -> W-1-x), as a new
// image of the same kind for grey and RGBA inputs.
func FlipHorizontal(img image.Image) image.Image {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	switch src := img.(type) {
	case *image.Gray:
		dst := image.NewGray(image.Rect(0, 0, w, h))
		for y := 0; y < h; y++ {
			s := src.Pix[y*src.Stride : y*src.Stride+w]
			d := dst.Pix[y*dst.Stride : y*dst.Stride+w]
			for x := range d {
				d[x] = s[w-1-x]
			}
		}
		return dst
	}
	// RGBA64 holds any colour exactly (premultiplied, 16 bits per channel).
	dst := image.NewRGBA64(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			dst.Set(x, y, color.RGBA64Model.Convert(img.At(b.Min.X+w-1-x, b.Min.Y+y)))
		}
	}
	return dst
}
