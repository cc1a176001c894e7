package imageio

import (
	"image"
	"image/color"
	"testing"
)

func TestFlipHorizontal(t *testing.T) {
	g := image.NewGray(image.Rect(0, 0, 3, 2))
	copy(g.Pix, []uint8{1, 2, 3, 4, 5, 6})
	rgba := image.NewNRGBA(image.Rect(10, 10, 13, 11)) // non-zero origin
	for x := 0; x < 3; x++ {
		rgba.SetNRGBA(10+x, 10, color.NRGBA{uint8(x * 100), 7, 9, 255})
	}
	tests := []struct {
		name string
		in   image.Image
	}{{"gray", g}, {"nrgba offset", rgba}}
	for _, tc := range tests {
		out := FlipHorizontal(tc.in)
		b := tc.in.Bounds()
		if out.Bounds().Dx() != b.Dx() || out.Bounds().Dy() != b.Dy() {
			t.Fatalf("%s: size %v", tc.name, out.Bounds())
		}
		for y := 0; y < b.Dy(); y++ {
			for x := 0; x < b.Dx(); x++ {
				r1, g1, b1, a1 := out.At(x, y).RGBA()
				r2, g2, b2, a2 := tc.in.At(b.Max.X-1-x, b.Min.Y+y).RGBA()
				if r1 != r2 || g1 != g2 || b1 != b2 || a1 != a2 {
					t.Errorf("%s: pixel (%d,%d) not mirrored", tc.name, x, y)
				}
			}
		}
	}
}
