package view

import "math"

// The class-evidence overlay: where the image's features pushed the
// classifier towards (warm) or away from (cool) the predicted class
// (heads.Output.Evidence: gradient x input at the classifier's pooling,
// one value per 16-pixel cell of the model's input). It covers the whole
// image, so it is drawn thin: transparent near zero, at most
// EvidenceMaxAlpha where the evidence is strongest, and the lesion's fill
// and outline go on top.

// Evidence colours: orange-red for evidence for the class, blue against
// (told apart with the common colour-vision deficiencies), from a light
// tint at weak evidence to the full colour at the strongest.
var (
	EvidenceForWeak     = RGB{255, 170, 80}
	EvidenceFor         = RGB{240, 70, 20}
	EvidenceAgainstWeak = RGB{120, 180, 255}
	EvidenceAgainst     = RGB{30, 90, 240}
)

const (
	// EvidenceMaxAlpha is the overlay's opacity at the strongest evidence.
	EvidenceMaxAlpha = 0.25
	// EvidenceDeadZone is the share of the largest magnitude below which
	// evidence is not drawn at all.
	EvidenceDeadZone = 0.1
)

// EvidenceColor maps v, evidence scaled to -1..1 by its largest magnitude
// over the image (EvidenceAtImage), to a colour and an opacity 0..1:
// warm for v > 0, cool for v < 0, transparent for |v| at or below
// EvidenceDeadZone (and for NaN), growing linearly to EvidenceMaxAlpha at
// |v| = 1; |v| > 1 counts as 1.
func EvidenceColor(v float64) (RGB, float64) {
	if math.IsNaN(v) {
		return RGB{}, 0
	}
	m := math.Min(math.Abs(v), 1)
	if m <= EvidenceDeadZone {
		return RGB{}, 0
	}
	f := (m - EvidenceDeadZone) / (1 - EvidenceDeadZone)
	weak, strong := EvidenceForWeak, EvidenceFor
	if v < 0 {
		weak, strong = EvidenceAgainstWeak, EvidenceAgainst
	}
	mix := func(p, q uint8) uint8 { return uint8(float64(p)*(1-f) + float64(q)*f + 0.5) }
	return RGB{mix(weak.R, strong.R), mix(weak.G, strong.G), mix(weak.B, strong.B)}, EvidenceMaxAlpha * f
}

// evidenceLUT is EvidenceColor at 511 levels over -1..1 (index 255 is 0).
var evidenceLUT = func() (lut [511]struct {
	c RGB
	a int
}) {
	for i := range lut {
		c, a := EvidenceColor(float64(i-255) / 255)
		lut[i].c, lut[i].a = c, weight256(a)
	}
	return lut
}()

// drawEvidence blends an evidence map scaled to -1..1 into dst.
func drawEvidence(dst []byte, ev []float64) {
	for i, v := range ev {
		if math.IsNaN(v) {
			continue
		}
		e := evidenceLUT[int(math.Round(math.Max(-1, math.Min(1, v))*255))+255]
		if e.a > 0 {
			blend256(dst[4*i:], e.c, e.a)
		}
	}
}

// EvidenceAtImage samples the evidence map (aw x ah cells of the square
// encoder frame, the image at its top-left; see SampleGrid) at every
// pixel of a w x h image and scales it by its largest magnitude over the
// image to -1..1, keeping zero at zero and the signs; an all-zero map
// stays zero.
func EvidenceAtImage(ev []float32, aw, ah, w, h int) []float64 {
	out := SampleGrid(ev, aw, ah, w, h)
	var top float64
	for _, v := range out {
		if !math.IsNaN(v) {
			top = math.Max(top, math.Abs(v))
		}
	}
	for i, v := range out {
		if top > 0 && !math.IsNaN(v) && !math.IsInf(top, 0) {
			out[i] = v / top
		} else {
			out[i] = 0
		}
	}
	return out
}
