package engine

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"strings"
	"testing"

	"github.com/busam/busam/imageio"
)

func TestDecodePictureGrayPNG(t *testing.T) {
	data := pngBytes(t, 5, 3) // grey ramp: value 255*(x+y)/8
	p, err := DecodePicture("scan.png", data)
	if err != nil {
		t.Fatal(err)
	}
	if p.W != 5 || p.H != 3 || len(p.RGBA) != 4*5*3 || p.Format != imageio.FormatPNG || p.PixelSpacingMM != [2]float64{} {
		t.Fatalf("picture %dx%d, %d bytes, format %q, spacing %v", p.W, p.H, len(p.RGBA), p.Format, p.PixelSpacingMM)
	}
	for y := 0; y < 3; y++ {
		for x := 0; x < 5; x++ {
			v := uint8(255 * (x + y) / 8)
			if got := p.RGBA[4*(y*5+x):][:4]; !bytes.Equal(got, []byte{v, v, v, 255}) {
				t.Errorf("pixel (%d,%d) = %v, want grey %d opaque", x, y, got, v)
			}
		}
	}
}

func TestDecodePictureJPEG(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 16, 8))
	for i := range img.Pix {
		img.Pix[i] = 200
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	p, err := DecodePicture("photo.jpg", buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if p.W != 16 || p.H != 8 || p.Format != imageio.FormatJPEG {
		t.Fatalf("picture %dx%d format %q", p.W, p.H, p.Format)
	}
	if r, a := p.RGBA[0], p.RGBA[3]; r < 195 || r > 205 || a != 255 {
		t.Errorf("first pixel %v, want about 200 and opaque", p.RGBA[:4])
	}
}

func TestToRGBAKeepsOrigin(t *testing.T) {
	// A sub-image starts away from (0,0): the picture must still be its
	// own size, starting at its own first pixel.
	src := image.NewGray(image.Rect(0, 0, 4, 2))
	src.SetGray(2, 1, color.Gray{Y: 77})
	pix, w, h := toRGBA(src.SubImage(image.Rect(2, 1, 4, 2)))
	if w != 2 || h != 1 || len(pix) != 8 || pix[0] != 77 || pix[3] != 255 {
		t.Errorf("sub-image to %dx%d %v", w, h, pix)
	}
	rgba := image.NewRGBA(image.Rect(0, 0, 2, 2))
	if pix, _, _ := toRGBA(rgba); &pix[0] != &rgba.Pix[0] {
		t.Error("an RGBA image was copied")
	}
}

func TestDecodePictureErrorsHaveKinds(t *testing.T) {
	good := pngBytes(t, 8, 8)
	for _, tc := range []struct {
		name string
		data []byte
		kind string
	}{
		{"empty.png", nil, KindEmpty},
		{"notes.txt", []byte("patient notes, not an image\n"), KindNotImage},
		{"blob.bin", []byte{0, 1, 2, 3, 4, 5, 6, 7, 200, 201}, KindUnknownFormat},
		{"truncated.png", good[:len(good)/2], KindCorrupt},
		{"huge.png", make([]byte, MaxImageBytes+1), KindTooLarge},
	} {
		_, err := DecodePicture(tc.name, tc.data)
		if err == nil {
			t.Errorf("%s accepted", tc.name)
			continue
		}
		if !strings.Contains(err.Error(), tc.name) {
			t.Errorf("%s: error %q does not name the file", tc.name, err)
		}
		if got := ErrorKind(err); got != tc.kind {
			t.Errorf("%s: kind %q, want %q (%v)", tc.name, got, tc.kind, err)
		}
	}
}

func TestErrorKind(t *testing.T) {
	for _, tc := range []struct {
		err  error
		kind string
	}{
		{fmt.Errorf("a.dcm: %w: compressed", imageio.ErrUnsupported), KindUnsupported},
		{fmt.Errorf("a.png: %w", imageio.ErrTooLarge), KindTooLarge},
		{errors.New("busam: no model loaded"), ""},
		{nil, ""},
	} {
		if got := ErrorKind(tc.err); got != tc.kind {
			t.Errorf("ErrorKind(%v) = %q, want %q", tc.err, got, tc.kind)
		}
	}
}

func TestMaskPNGRoundTrip(t *testing.T) {
	mask := []uint8{
		0, 0, 0, 0, 0,
		0, 1, 1, 1, 0,
		0, 0, 1, 0, 0,
	}
	b, err := MaskPNG(mask, 5, 3)
	if err != nil {
		t.Fatal(err)
	}
	img, meta, err := imageio.Decode("mask.png", b)
	if err != nil {
		t.Fatal(err)
	}
	g, ok := img.(*image.Gray)
	if !ok || meta.Format != imageio.FormatPNG {
		t.Fatalf("decoded a %T (%s), want an 8-bit grey PNG like BUSI's masks", img, meta.Format)
	}
	for i, v := range mask {
		if want := 255 * v; g.Pix[i] != want {
			t.Errorf("pixel %d = %d, want %d", i, g.Pix[i], want)
		}
	}
	if _, err := MaskPNG(mask, 4, 3); err == nil {
		t.Error("a mask of the wrong size encoded without error")
	}
}
