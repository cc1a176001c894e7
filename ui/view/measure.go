package view

import (
	"fmt"
	"image"
)

// Counts are the pixel counts of a predicted mask against a ground truth.
type Counts struct{ TP, FP, FN, TN int }

// Compare counts agreement of pred and truth (0|1 masks of equal size).
func Compare(pred, truth []uint8) (Counts, error) {
	if len(pred) != len(truth) {
		return Counts{}, fmt.Errorf("view: masks differ in size (%d and %d pixels)", len(pred), len(truth))
	}
	var c Counts
	for i := range pred {
		p, t := pred[i] != 0, truth[i] != 0
		switch {
		case p && t:
			c.TP++
		case p:
			c.FP++
		case t:
			c.FN++
		default:
			c.TN++
		}
	}
	return c, nil
}

// Dice is 2TP / (2TP + FP + FN); two empty masks agree perfectly (1).
func (c Counts) Dice() float64 {
	d := 2*c.TP + c.FP + c.FN
	if d == 0 {
		return 1
	}
	return float64(2*c.TP) / float64(d)
}

// Area counts the set pixels of a mask.
func Area(mask []uint8) int {
	n := 0
	for _, v := range mask {
		if v != 0 {
			n++
		}
	}
	return n
}

// AreaMM2 converts a pixel count to square millimetres with the pixel
// spacing (row, column) in mm; ok is false when the spacing is unknown.
func AreaMM2(pixels int, spacingMM [2]float64) (mm2 float64, ok bool) {
	if !(spacingMM[0] > 0 && spacingMM[1] > 0) {
		return 0, false
	}
	return float64(pixels) * spacingMM[0] * spacingMM[1], true
}

// MaskFromImage turns a ground-truth mask image (white lesion on black, as
// BUSI ships them) into a 0|1 mask; it must have the analysed image's size
// and look like a mask: at most MaxMidTone of its pixels may be neither
// near black nor near white (JPEG-saved masks have some at the edges),
// so an ultrasound image picked by mistake is refused, not scored.
func MaskFromImage(name string, img image.Image, w, h int) ([]uint8, error) {
	b := img.Bounds()
	if b.Dx() != w || b.Dy() != h {
		return nil, fmt.Errorf("%s: the mask is %dx%d pixels but the image is %dx%d; load the mask made for this image", name, b.Dx(), b.Dy(), w, h)
	}
	out := make([]uint8, w*h)
	mid := 0
	put := func(i int, luma uint32) { // luma 0..255
		if luma >= 128 {
			out[i] = 1
		}
		if luma > 32 && luma < 223 {
			mid++
		}
	}
	switch m := img.(type) {
	case *image.Gray:
		for y := 0; y < h; y++ {
			for x, v := range m.Pix[y*m.Stride : y*m.Stride+w] {
				put(y*w+x, uint32(v))
			}
		}
	case *image.RGBA: // what the page gets from the worker
		for y := 0; y < h; y++ {
			row := m.Pix[y*m.Stride : y*m.Stride+4*w]
			for x := range w {
				put(y*w+x, (uint32(row[4*x])+uint32(row[4*x+1])+uint32(row[4*x+2]))/3)
			}
		}
	default:
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				r, g, bl, _ := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
				put(y*w+x, (r+g+bl)/3>>8)
			}
		}
	}
	if share := float64(mid) / float64(w*h); share > MaxMidTone {
		return nil, fmt.Errorf("%s does not look like a lesion mask: %.0f%% of its pixels are grey, neither black nor white "+
			"(a mask is a white lesion on black). Is it the ultrasound image itself?", name, 100*share)
	}
	return out, nil
}

// MaxMidTone is the share of grey pixels a mask image may have.
const MaxMidTone = 0.05
