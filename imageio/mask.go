package imageio

import (
	"fmt"
	"image"
	"image/png"
	"io"
)

// MaskImage is a 0|1 mask of w x h pixels as an 8-bit greyscale image,
// lesion 255 and background 0: the format of BUSI's ground-truth masks.
func MaskImage(mask []uint8, w, h int) (*image.Gray, error) {
	if w <= 0 || h <= 0 || len(mask) != w*h {
		return nil, fmt.Errorf("imageio: mask of %d pixels for %dx%d", len(mask), w, h)
	}
	img := image.NewGray(image.Rect(0, 0, w, h))
	for i, v := range mask {
		if v != 0 {
			img.Pix[i] = 255
		}
	}
	return img, nil
}

// WriteMaskPNG writes MaskImage as a PNG.
func WriteMaskPNG(dst io.Writer, mask []uint8, w, h int) error {
	img, err := MaskImage(mask, w, h)
	if err != nil {
		return err
	}
	return png.Encode(dst, img)
}
