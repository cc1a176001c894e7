// Package view turns an analysis into what the UI shows: the RGBA pixels of
// the image with its overlays (lesion fill and contour, ground-truth
// overlap, class-evidence map), the numbers beside it (area, Dice) and the
// result JSON it exports. It is plain Go with no browser dependency, so it
// is tested natively; the wasm app copies its output to a canvas in one
// call. It has no image codecs: the model worker decodes images and
// encodes the mask PNG (package wasm/engine).
package view

import (
	"fmt"
	"image"
	"math"
)

// RGB is an overlay colour.
type RGB struct{ R, G, B uint8 }

// Overlay colours: calm, distinguishable with common colour-vision
// deficiencies (blue/orange/teal rather than red/green).
var (
	LesionColor  = RGB{0, 188, 212}   // predicted lesion: cyan
	ContourColor = RGB{255, 214, 0}   // predicted outline: yellow
	TruePosColor = RGB{0, 170, 120}   // predicted and in the ground truth
	FalsePosCol  = RGB{240, 128, 0}   // predicted, not in the ground truth
	FalseNegCol  = RGB{70, 110, 255}  // in the ground truth, missed
	TruthContour = RGB{255, 255, 255} // ground-truth outline
)

// Layers says which overlays to draw. Masks are 0|1, Width*Height,
// row-major; nil masks are not drawn.
type Layers struct {
	Mask  []uint8 // the model's lesion mask
	Truth []uint8 // a ground-truth mask loaded by the user (teaching mode)

	ShowFill    bool
	ShowContour bool
	Opacity     float64 // of fills and the heatmap, 0..1

	// ShowOverlap colours the fill by agreement with Truth (TP/FP/FN)
	// instead of one lesion colour; needs Truth.
	ShowOverlap bool

	// Evidence is the classifier's class-evidence map for the predicted
	// class (pipeline.Result.Evidence: > 0 towards it, < 0 away from it)
	// over the square encoder frame (EvW x EvH cells) in which the image
	// sits top-left, scaled so its longest side spans the frame. It is
	// drawn over the whole image in EvidenceColor's diverging colours,
	// under the fill and the outline.
	Evidence     []float32
	EvW, EvH     int
	ShowEvidence bool
	// Heat, if set, is EvidenceAtImage's result for this image, kept by
	// the caller so redraws (an opacity slider) skip the resampling.
	Heat []float64

	// Window, if set, maps the image's grey values for display
	// (WindowLevel.LUT: brightness and contrast); overlays are drawn over
	// it unchanged.
	Window *[256]uint8
	// Lines are drawn last, over everything: the lesion's axes, caliper
	// measurements, a calibration line.
	Lines []Line
}

// Line is a measurement drawn on the image.
type Line struct {
	Segment
	Color RGB
}

// Measurement colours: the long axis, the short axis, the user's calipers.
var (
	LongAxisColor    = RGB{255, 64, 160} // magenta
	ShortAxisColor   = RGB{160, 96, 255} // violet
	CaliperColor     = RGB{255, 255, 255}
	CalibrationColor = RGB{0, 230, 118} // green: a line of known length
)

// Frame is an RGBA picture, 4 bytes a pixel, row-major (the worker's
// decode of an image file; see wasm/engine.DecodePicture).
type Frame struct {
	Pix  []byte
	W, H int
}

// Image views the frame as an image.RGBA, sharing its pixels.
func (f Frame) Image() *image.RGBA {
	return &image.RGBA{Pix: f.Pix, Stride: 4 * f.W, Rect: image.Rect(0, 0, f.W, f.H)}
}

// Compose writes base with the overlays of l into dst (len 4*W*H; the
// same length as base.Pix). base is not modified.
func Compose(dst []byte, base Frame, l Layers) error {
	n := base.W * base.H
	if base.W <= 0 || base.H <= 0 || len(base.Pix) != 4*n {
		return fmt.Errorf("view: base frame is %dx%d with %d bytes", base.W, base.H, len(base.Pix))
	}
	if len(dst) != len(base.Pix) {
		return fmt.Errorf("view: output has %d bytes, want %d", len(dst), len(base.Pix))
	}
	for name, m := range map[string][]uint8{"mask": l.Mask, "ground-truth mask": l.Truth} {
		if m != nil && len(m) != n {
			return fmt.Errorf("view: %s has %d pixels, the image %dx%d", name, len(m), base.W, base.H)
		}
	}
	copy(dst, base.Pix)
	if lut := l.Window; lut != nil {
		for i := 0; i < len(dst); i += 4 {
			dst[i], dst[i+1], dst[i+2] = lut[dst[i]], lut[dst[i+1]], lut[dst[i+2]]
		}
	}
	alpha := clamp01(l.Opacity)

	if l.ShowEvidence && (len(l.Evidence) > 0 || l.Heat != nil) {
		heat := l.Heat
		if heat == nil {
			if l.EvW <= 0 || l.EvH <= 0 || len(l.Evidence) != l.EvW*l.EvH {
				return fmt.Errorf("view: evidence map is %dx%d with %d values", l.EvW, l.EvH, len(l.Evidence))
			}
			heat = EvidenceAtImage(l.Evidence, l.EvW, l.EvH, base.W, base.H)
		}
		if len(heat) != n {
			return fmt.Errorf("view: evidence map has %d pixels, the image %dx%d", len(heat), base.W, base.H)
		}
		drawEvidence(dst, heat)
	}
	if a := weight256(alpha); l.ShowFill && a > 0 {
		switch {
		case l.ShowOverlap && l.Truth != nil:
			for i := 0; i < n; i++ {
				p, t := l.Mask != nil && l.Mask[i] != 0, l.Truth[i] != 0
				switch {
				case p && t:
					blend256(dst[4*i:], TruePosColor, a)
				case p:
					blend256(dst[4*i:], FalsePosCol, a)
				case t:
					blend256(dst[4*i:], FalseNegCol, a)
				}
			}
		case l.Mask != nil:
			for i, v := range l.Mask {
				if v != 0 {
					blend256(dst[4*i:], LesionColor, a)
				}
			}
		}
	}
	if l.ShowContour {
		width := ContourWidth(base.W, base.H)
		if l.Truth != nil && l.ShowOverlap {
			drawContour(dst, base.W, base.H, l.Truth, width, TruthContour)
		}
		if l.Mask != nil {
			drawContour(dst, base.W, base.H, l.Mask, width, ContourColor)
		}
	}
	for _, ln := range l.Lines {
		drawLine(dst, base.W, base.H, ln, ContourWidth(base.W, base.H))
	}
	return nil
}

// drawLine paints a segment width pixels thick, with a square mark twice
// as wide at each end (where calipers sit). Points off the image are
// clipped pixel by pixel.
func drawLine(dst []byte, w, h int, ln Line, width int) {
	dot := func(x, y float64, side int) {
		cx, cy := int(math.Round(x)), int(math.Round(y))
		r0, r1 := -(side-1)/2, side/2
		for dy := r0; dy <= r1; dy++ {
			for dx := r0; dx <= r1; dx++ {
				xx, yy := cx+dx, cy+dy
				if xx >= 0 && yy >= 0 && xx < w && yy < h {
					blend256(dst[4*(yy*w+xx):], ln.Color, 256)
				}
			}
		}
	}
	n := int(math.Ceil(math.Max(math.Abs(ln.B.X-ln.A.X), math.Abs(ln.B.Y-ln.A.Y))))
	if n > 4*(w+h) || math.IsNaN(ln.A.X+ln.A.Y+ln.B.X+ln.B.Y) { // far off the image, or not a line
		return
	}
	for i := 0; i <= n; i++ {
		f := 0.0
		if n > 0 {
			f = float64(i) / float64(n)
		}
		dot(ln.A.X+f*(ln.B.X-ln.A.X), ln.A.Y+f*(ln.B.Y-ln.A.Y), width)
	}
	dot(ln.A.X, ln.A.Y, 2*width+1)
	dot(ln.B.X, ln.B.Y, 2*width+1)
}

// ContourWidth is the outline thickness in image pixels: about one screen
// pixel when the image is shown at roughly 500 px.
func ContourWidth(w, h int) int {
	return max(1, (max(w, h)+250)/500)
}

// weight256 turns a 0..1 weight into the integer weight blend256 takes.
func weight256(a float64) int { return int(clamp01(a)*256 + 0.5) }

// blend256 mixes c into the RGBA pixel p with weight a/256 (alpha stays
// opaque); integer maths, as it runs for every pixel of every redraw in
// WebAssembly.
func blend256(p []byte, c RGB, a int) {
	b := 256 - a
	p[0] = uint8((int(p[0])*b + int(c.R)*a + 128) >> 8)
	p[1] = uint8((int(p[1])*b + int(c.G)*a + 128) >> 8)
	p[2] = uint8((int(p[2])*b + int(c.B)*a + 128) >> 8)
	p[3] = 255
}

// Boundary reports the mask pixels on the lesion's edge: set, with at
// least one 4-neighbour unset or outside the image.
func Boundary(mask []uint8, w, h int) []int {
	var out []int
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			i := y*w + x
			if mask[i] == 0 {
				continue
			}
			if x == 0 || y == 0 || x == w-1 || y == h-1 ||
				mask[i-1] == 0 || mask[i+1] == 0 || mask[i-w] == 0 || mask[i+w] == 0 {
				out = append(out, i)
			}
		}
	}
	return out
}

// drawContour paints the boundary of mask, thickened inwards and outwards
// to a square of side width around each edge pixel.
func drawContour(dst []byte, w, h int, mask []uint8, width int, c RGB) {
	r0 := -(width - 1) / 2
	r1 := width / 2
	for _, i := range Boundary(mask, w, h) {
		x, y := i%w, i/w
		for dy := r0; dy <= r1; dy++ {
			for dx := r0; dx <= r1; dx++ {
				xx, yy := x+dx, y+dy
				if xx >= 0 && yy >= 0 && xx < w && yy < h {
					blend256(dst[4*(yy*w+xx):], c, 256)
				}
			}
		}
	}
}

// SampleGrid samples a map over the encoder's grid (aw x ah cells) at
// every pixel of a w x h image, bilinearly. The frame is square with the
// image at its top-left, scaled so its longest side spans the frame; so
// cell coordinates are pixel coordinates times aw/max(w,h).
func SampleGrid(att []float32, aw, ah, w, h int) []float64 {
	sx := float64(aw) / float64(max(w, h))
	sy := float64(ah) / float64(max(w, h))
	out := make([]float64, w*h)
	// Precompute the horizontal taps once per column.
	x0s, fxs := make([]int, w), make([]float64, w)
	for x := 0; x < w; x++ {
		x0s[x], fxs[x] = tap(float64(x), sx, aw)
	}
	for y := 0; y < h; y++ {
		y0, fy := tap(float64(y), sy, ah)
		y1 := min(y0+1, ah-1)
		for x := 0; x < w; x++ {
			x0, fx := x0s[x], fxs[x]
			x1 := min(x0+1, aw-1)
			top := float64(att[y0*aw+x0])*(1-fx) + float64(att[y0*aw+x1])*fx
			bot := float64(att[y1*aw+x0])*(1-fx) + float64(att[y1*aw+x1])*fx
			v := top*(1-fy) + bot*fy
			out[y*w+x] = v
		}
	}
	return out
}

// tap maps pixel p to the left cell and weight for bilinear sampling of
// cells at half-cell centres (like align_corners=False).
func tap(p, scale float64, n int) (int, float64) {
	c := (p+0.5)*scale - 0.5
	if c <= 0 {
		return 0, 0
	}
	if c >= float64(n-1) {
		return n - 1, 0
	}
	i := int(c)
	return i, c - float64(i)
}

func clamp01(v float64) float64 {
	if math.IsNaN(v) || v < 0 {
		return 0
	}
	return math.Min(v, 1)
}
