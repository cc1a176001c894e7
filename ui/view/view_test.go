package view

import (
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	"math"
	"strings"
	"testing"
)

func TestCompareDice(t *testing.T) {
	for _, tc := range []struct {
		name        string
		pred, truth []uint8
		want        Counts
		dice        float64
	}{
		{"both empty", []uint8{0, 0, 0}, []uint8{0, 0, 0}, Counts{TN: 3}, 1},
		{"identical", []uint8{1, 1, 0}, []uint8{1, 1, 0}, Counts{TP: 2, TN: 1}, 1},
		{"disjoint", []uint8{1, 0, 0}, []uint8{0, 1, 0}, Counts{FP: 1, FN: 1, TN: 1}, 0},
		{"half", []uint8{1, 1, 0, 0}, []uint8{0, 1, 1, 0}, Counts{TP: 1, FP: 1, FN: 1, TN: 1}, 0.5},
		{"prediction empty", []uint8{0, 0}, []uint8{1, 0}, Counts{FN: 1, TN: 1}, 0},
		{"values other than 1 count as set", []uint8{255, 0}, []uint8{1, 0}, Counts{TP: 1, TN: 1}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Compare(tc.pred, tc.truth)
			if err != nil {
				t.Fatal(err)
			}
			if c != tc.want {
				t.Errorf("counts %+v, want %+v", c, tc.want)
			}
			if d := c.Dice(); math.Abs(d-tc.dice) > 1e-12 {
				t.Errorf("Dice %v, want %v", d, tc.dice)
			}
		})
	}
	if _, err := Compare([]uint8{1}, []uint8{1, 0}); err == nil {
		t.Error("masks of different sizes compared without error")
	}
}

func TestArea(t *testing.T) {
	if got := Area([]uint8{0, 1, 1, 0, 255}); got != 3 {
		t.Errorf("Area = %d, want 3", got)
	}
	for _, tc := range []struct {
		spacing [2]float64
		want    float64
		ok      bool
	}{
		{[2]float64{0.1, 0.2}, 2, true},
		{[2]float64{0, 0.2}, 0, false},
		{[2]float64{0.1, -1}, 0, false},
		{[2]float64{math.NaN(), 0.1}, 0, false},
	} {
		got, ok := AreaMM2(100, tc.spacing)
		if ok != tc.ok || math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("AreaMM2(100, %v) = %v, %v; want %v, %v", tc.spacing, got, ok, tc.want, tc.ok)
		}
	}
}

// square returns a w*h mask with the square [x0,x1)x[y0,y1) set.
func square(w, h, x0, y0, x1, y1 int) []uint8 {
	m := make([]uint8, w*h)
	for y := y0; y < y1; y++ {
		for x := x0; x < x1; x++ {
			m[y*w+x] = 1
		}
	}
	return m
}

func TestBoundary(t *testing.T) {
	// A 3x3 square inside 5x5: its 8 outer pixels are edge, the centre not.
	b := Boundary(square(5, 5, 1, 1, 4, 4), 5, 5)
	if len(b) != 8 {
		t.Fatalf("%d boundary pixels, want 8: %v", len(b), b)
	}
	for _, i := range b {
		if i == 2*5+2 {
			t.Error("the centre pixel is on the boundary")
		}
	}
	// Pixels on the image border are edge pixels even when all set.
	if n := len(Boundary(square(3, 3, 0, 0, 3, 3), 3, 3)); n != 8 {
		t.Errorf("a full 3x3 mask has %d boundary pixels, want 8", n)
	}
}

func grey(w, h int, v byte) Frame {
	pix := make([]byte, 4*w*h)
	for i := 0; i < w*h; i++ {
		pix[4*i], pix[4*i+1], pix[4*i+2], pix[4*i+3] = v, v, v, 255
	}
	return Frame{Pix: pix, W: w, H: h}
}

func px(f []byte, w, x, y int) RGB {
	i := 4 * (y*w + x)
	return RGB{f[i], f[i+1], f[i+2]}
}

func TestComposeFillAndContour(t *testing.T) {
	const w, h = 9, 9
	base := grey(w, h, 100)
	mask := square(w, h, 2, 2, 7, 7)
	dst := make([]byte, len(base.Pix))

	for _, tc := range []struct {
		name          string
		l             Layers
		inside, edge  RGB
		outside       RGB
		baseUnchanged bool
	}{
		{"nothing shown", Layers{Mask: mask, Opacity: 1}, RGB{100, 100, 100}, RGB{100, 100, 100}, RGB{100, 100, 100}, true},
		{"opaque fill", Layers{Mask: mask, ShowFill: true, Opacity: 1}, LesionColor, LesionColor, RGB{100, 100, 100}, true},
		{"zero opacity", Layers{Mask: mask, ShowFill: true, Opacity: 0}, RGB{100, 100, 100}, RGB{100, 100, 100}, RGB{100, 100, 100}, true},
		{"contour only", Layers{Mask: mask, ShowContour: true, Opacity: 1}, RGB{100, 100, 100}, ContourColor, RGB{100, 100, 100}, true},
		{"half fill", Layers{Mask: mask, ShowFill: true, Opacity: 0.5}, RGB{50, 144, 156}, RGB{50, 144, 156}, RGB{100, 100, 100}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := Compose(dst, base, tc.l); err != nil {
				t.Fatal(err)
			}
			if got := px(dst, w, 4, 4); got != tc.inside {
				t.Errorf("inside %v, want %v", got, tc.inside)
			}
			if got := px(dst, w, 2, 4); got != tc.edge {
				t.Errorf("edge %v, want %v", got, tc.edge)
			}
			if got := px(dst, w, 0, 0); got != tc.outside {
				t.Errorf("outside %v, want %v", got, tc.outside)
			}
			if got := px(base.Pix, w, 4, 4); got != (RGB{100, 100, 100}) {
				t.Errorf("base modified: %v", got)
			}
		})
	}
}

func TestComposeOverlap(t *testing.T) {
	const w, h = 4, 1
	base := grey(w, h, 0)
	dst := make([]byte, len(base.Pix))
	l := Layers{
		Mask: []uint8{1, 1, 0, 0}, Truth: []uint8{1, 0, 1, 0},
		ShowFill: true, ShowOverlap: true, Opacity: 1,
	}
	if err := Compose(dst, base, l); err != nil {
		t.Fatal(err)
	}
	want := []RGB{TruePosColor, FalsePosCol, FalseNegCol, {0, 0, 0}}
	for x, c := range want {
		if got := px(dst, w, x, 0); got != c {
			t.Errorf("pixel %d: %v, want %v", x, got, c)
		}
	}
}

func TestComposeRejectsBadSizes(t *testing.T) {
	base := grey(3, 2, 0)
	for name, tc := range map[string]struct {
		dst []byte
		l   Layers
	}{
		"short output":      {make([]byte, 5), Layers{}},
		"mask size":         {make([]byte, 24), Layers{Mask: make([]uint8, 5)}},
		"truth size":        {make([]byte, 24), Layers{Truth: make([]uint8, 7)}},
		"evidence geometry": {make([]byte, 24), Layers{ShowEvidence: true, Evidence: make([]float32, 5), EvW: 2, EvH: 2}},
		"evidence at image": {make([]byte, 24), Layers{ShowEvidence: true, Heat: make([]float64, 5)}},
	} {
		if err := Compose(tc.dst, base, tc.l); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if err := Compose(make([]byte, 4), Frame{Pix: make([]byte, 4), W: 0, H: 1}, Layers{}); err == nil {
		t.Error("empty frame: no error")
	}
}

func TestSampleGridGeometry(t *testing.T) {
	// A 4x4 map whose value is the column index. The frame is square with
	// the image top-left, its longest side spanning the frame.
	att := make([]float32, 16)
	for i := range att {
		att[i] = float32(i % 4)
	}
	for _, tc := range []struct {
		name     string
		w, h     int
		x        int
		wantCell float64
	}{
		{"square image, last column", 8, 8, 7, 3},          // (7.5*0.5-0.5)=3.25 -> clamped to the last cell
		{"square image, first column", 8, 8, 0, 0},         // (0.5*0.5-0.5)<0 -> first cell
		{"tall image spans half the frame", 4, 8, 3, 1.25}, // scale 4/8: (3.5*0.5-0.5)
		{"wide image spans the frame", 8, 4, 5, 2.25},      // scale 4/8: (5.5*0.5-0.5)
		{"tall image, middle column", 4, 8, 2, 0.75},       // (2.5*0.5-0.5)
	} {
		got := SampleGrid(att, 4, 4, tc.w, tc.h)
		if v := got[0*tc.w+tc.x]; math.Abs(v-tc.wantCell) > 1e-9 {
			t.Errorf("%s: pixel x=%d samples %v, want %v", tc.name, tc.x, v, tc.wantCell)
		}
	}
}

func TestMaskFromImage(t *testing.T) {
	rgba := image.NewNRGBA(image.Rect(0, 0, 2, 1))
	rgba.Set(0, 0, color.White)
	rgba.Set(1, 0, color.Gray{Y: 20})
	m, err := MaskFromImage("m.png", rgba, 2, 1)
	if err != nil || !bytes.Equal(m, []uint8{1, 0}) {
		t.Errorf("got %v, %v; want [1 0]", m, err)
	}
	_, err = MaskFromImage("small.png", rgba, 3, 1)
	if err == nil || !strings.Contains(err.Error(), "small.png") || !strings.Contains(err.Error(), "2x1") {
		t.Errorf("size mismatch error %v should name the file and its size", err)
	}
}

func TestExportName(t *testing.T) {
	for _, tc := range []struct{ file, suffix, want string }{
		{"benign (1).png", "_mask.png", "benign (1)_mask.png"},
		{"C:\\scans\\case.dcm", "_result.json", "case_result.json"},
		{"../../etc/passwd", ".json", "passwd.json"},
		{"a:b*c?.png", "_mask.png", "a_b_c__mask.png"},
		{"", "_mask.png", "busam_mask.png"},
		{".png", "_mask.png", "busam_mask.png"},
	} {
		if got := ExportName(tc.file, tc.suffix); got != tc.want {
			t.Errorf("ExportName(%q, %q) = %q, want %q", tc.file, tc.suffix, got, tc.want)
		}
	}
}

func TestReportJSON(t *testing.T) {
	mm2 := 12.5
	r := Report{Tool: "busam", File: "x.dcm", Width: 2, Height: 3, Label: "benign",
		Probabilities: map[string]float64{"benign": 0.7}, LesionAreaPx: 4, LesionAreaMM2: &mm2,
		GroundTruth: &TruthReport{File: "x_mask.png", Dice: 0.8, TP: 4}}
	b, err := r.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back["notice"] != Notice {
		t.Errorf("notice %v, want the standard notice", back["notice"])
	}
	if back["lesionAreaMM2"] != 12.5 || back["label"] != "benign" {
		t.Errorf("fields lost: %s", b)
	}
	if gt, _ := back["groundTruth"].(map[string]any); gt["dice"] != 0.8 {
		t.Errorf("ground truth lost: %s", b)
	}
	if _, ok := back["pixelSpacingMM"]; ok {
		t.Errorf("unknown spacing exported: %s", b)
	}
}

func TestMaskFromFrameMatchesGenericRule(t *testing.T) {
	// The page's masks come as RGBA frames (MaskFromImage's fast path);
	// every pixel value must be classified as the generic rule does,
	// which an image that hides its type goes through.
	// 61 black rows under the 3 test rows keep the grey share under
	// MaxMidTone, so the frame passes as a mask.
	f := Frame{W: 256, H: 64, Pix: make([]byte, 4*256*64)}
	for x := 0; x < 256; x++ {
		for y, px := range [][4]byte{{byte(x), byte(x), byte(x), 255}, {byte(x), 255 - byte(x), byte(x / 2), 255}, {byte(x), byte(x / 3), 0, byte(x)}} {
			copy(f.Pix[4*(y*256+x):], px[:])
		}
	}
	fast, err := MaskFromImage("m.png", f.Image(), 256, 64)
	if err != nil {
		t.Fatal(err)
	}
	generic, err := MaskFromImage("m.png", struct{ image.Image }{f.Image()}, 256, 64)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fast, generic) {
		t.Errorf("RGBA fast path differs from the generic rule")
	}
	if fast[127] != 0 || fast[128] != 1 {
		t.Errorf("grey 127 -> %d, 128 -> %d; want 0 and 1", fast[127], fast[128])
	}
}

// An image that is mostly grey (an ultrasound scan picked as the mask by
// mistake) is refused, naming the file; a JPEG-like mask with a little
// grey at its edge passes.
func TestMaskFromImageRefusesNonMask(t *testing.T) {
	scan := image.NewGray(image.Rect(0, 0, 100, 100))
	for i := range scan.Pix {
		scan.Pix[i] = uint8(40 + i%150)
	}
	if _, err := MaskFromImage("scan.png", scan, 100, 100); err == nil || !strings.Contains(err.Error(), "scan.png") ||
		!strings.Contains(err.Error(), "does not look like a lesion mask") {
		t.Errorf("a scan as mask: %v", err)
	}
	mask := image.NewGray(image.Rect(0, 0, 100, 100))
	for y := 30; y < 70; y++ {
		for x := 30; x < 70; x++ {
			mask.Pix[y*100+x] = 255
		}
	}
	for x := 30; x < 70; x++ { // a soft edge: 80 grey pixels of 10000
		mask.Pix[29*100+x], mask.Pix[70*100+x] = 120, 130
	}
	m, err := MaskFromImage("mask.jpg", mask, 100, 100)
	if err != nil || Area(m) != 40*40+40 {
		t.Errorf("a mask with a soft edge: area %d, %v", Area(m), err)
	}
}
