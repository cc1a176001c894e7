package view

import (
	"math"
	"testing"
)

func TestEvidenceColor(t *testing.T) {
	for _, tc := range []struct {
		name  string
		v     float64
		c     RGB
		alpha float64
	}{
		{"zero is transparent", 0, RGB{}, 0},
		{"weak evidence for is transparent", EvidenceDeadZone, RGB{}, 0},
		{"weak evidence against is transparent", -0.05, RGB{}, 0},
		{"NaN is transparent", math.NaN(), RGB{}, 0},
		{"strongest for: full warm colour at the maximum alpha", 1, EvidenceFor, EvidenceMaxAlpha},
		{"strongest against: full cool colour at the maximum alpha", -1, EvidenceAgainst, EvidenceMaxAlpha},
		{"beyond 1 counts as 1", 3, EvidenceFor, EvidenceMaxAlpha},
		{"beyond -1 counts as -1", -7, EvidenceAgainst, EvidenceMaxAlpha},
		{"halfway for: halfway colour and alpha", 0.55, RGB{248, 120, 50}, EvidenceMaxAlpha / 2},
		{"halfway against", -0.55, RGB{75, 135, 248}, EvidenceMaxAlpha / 2},
	} {
		c, a := EvidenceColor(tc.v)
		if c != tc.c || math.Abs(a-tc.alpha) > 1e-12 {
			t.Errorf("%s: EvidenceColor(%v) = %v, %v; want %v, %v", tc.name, tc.v, c, a, tc.c, tc.alpha)
		}
	}
	// the overlay stays thin and grows with the magnitude, either sign
	prev := 0.0
	for v := 0.0; v <= 1; v += 0.01 {
		_, a := EvidenceColor(v)
		_, b := EvidenceColor(-v)
		if a != b || a < prev || a > EvidenceMaxAlpha {
			t.Fatalf("alpha at ±%.2f: %v / %v (previous %v)", v, a, b, prev)
		}
		prev = a
	}
}

func TestEvidenceAtImage(t *testing.T) {
	// A 2x2 map over a 4x4 image: scaled by the largest magnitude, signs kept.
	ev := []float32{-4, 2, 0, 1}
	got := EvidenceAtImage(ev, 2, 2, 4, 4)
	if got[0] != -1 || got[3] != 0.5 || got[12] != 0 || got[15] != 0.25 {
		t.Errorf("corners %v %v %v %v, want -1 0.5 0 0.25", got[0], got[3], got[12], got[15])
	}
	for _, v := range EvidenceAtImage(make([]float32, 4), 2, 2, 3, 3) {
		if v != 0 {
			t.Fatalf("an all-zero map scales to %v", v)
		}
	}
}

// Compose draws the evidence warm where it is for the class, cool where
// against, and leaves the image alone where it is near zero; the outline
// goes on top.
func TestComposeEvidence(t *testing.T) {
	base := grey(4, 4, 100)
	ev := []float32{1, 0, 0, -1} // 2x2 cells: top-left for, bottom-right against
	mask := make([]uint8, 16)
	mask[0] = 1 // a one-pixel lesion in the warm corner, outlined
	dst := make([]byte, len(base.Pix))
	if err := Compose(dst, base, Layers{ShowEvidence: true, Evidence: ev, EvW: 2, EvH: 2, Mask: mask, ShowContour: true}); err != nil {
		t.Fatal(err)
	}
	px := func(i int) RGB { return RGB{dst[4*i], dst[4*i+1], dst[4*i+2]} }
	if p := px(5); !(p.R > 100 && p.B < 100) {
		t.Errorf("pixel (1,1) near the warm cell: %v, want warm", p)
	}
	if p := px(15); !(p.B > 100 && p.R < 100) {
		t.Errorf("pixel (3,3) on the cool cell: %v, want cool", p)
	}
	if p := px(12); p != (RGB{100, 100, 100}) {
		t.Errorf("pixel (0,3) on a zero cell: %v, want the image", p)
	}
	if p := px(0); p != ContourColor {
		t.Errorf("the outline pixel is %v, want the contour colour on top", p)
	}
	// thin: no pixel moves more than EvidenceMaxAlpha of the way to its colour
	for i := range 16 {
		if i == 0 {
			continue
		}
		for ch := range 3 {
			if d := math.Abs(float64(dst[4*i+ch]) - 100); d > EvidenceMaxAlpha*255+1 {
				t.Fatalf("pixel %d channel %d moved by %v", i, ch, d)
			}
		}
	}
}
