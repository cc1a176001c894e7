package augment

import (
	"image"
	"math"
	"testing"
)

func ramp(w, h int) *image.Gray {
	g := image.NewGray(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			g.Pix[y*g.Stride+x] = uint8((x*7 + y*13) % 256)
		}
	}
	return g
}

func square(w, h int, r image.Rectangle) []uint8 {
	m := make([]uint8, w*h)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			m[y*w+x] = 1
		}
	}
	return m
}

func area(m []uint8) int {
	n := 0
	for _, v := range m {
		n += int(v)
	}
	return n
}

func TestIdentityAndFlip(t *testing.T) {
	img, mask := ramp(9, 5), square(9, 5, image.Rect(1, 1, 3, 4))
	out, om, err := Identity.Apply(img, mask)
	if err != nil {
		t.Fatal(err)
	}
	for i := range img.Pix {
		if out.Pix[i] != img.Pix[i] || om[i] != mask[i] {
			t.Fatalf("identity changed pixel %d: %d -> %d, mask %d -> %d", i, img.Pix[i], out.Pix[i], mask[i], om[i])
		}
	}
	v := Identity
	v.Flip = true
	out, om, _ = v.Apply(img, mask)
	for y := 0; y < 5; y++ {
		for x := 0; x < 9; x++ {
			if out.GrayAt(x, y) != img.GrayAt(8-x, y) || om[y*9+x] != mask[y*9+8-x] {
				t.Fatalf("flip at (%d,%d)", x, y)
			}
		}
	}
	// a sub-image is read from its own origin
	sub := ramp(20, 20).SubImage(image.Rect(5, 5, 14, 10)).(*image.Gray)
	out, _, _ = Identity.Apply(sub, nil)
	if out.GrayAt(0, 0) != sub.GrayAt(5, 5) {
		t.Errorf("sub-image origin: %v vs %v", out.GrayAt(0, 0), sub.GrayAt(5, 5))
	}
}

func TestGeometryMovesMaskWithImage(t *testing.T) {
	const n = 41
	img := image.NewGray(image.Rect(0, 0, n, n))
	mask := square(n, n, image.Rect(15, 15, 26, 26)) // 11x11 centred
	for i, m := range mask {
		img.Pix[i] = 200 * m
	}
	// zoom 2x about the centre: the square doubles in side, area about 4x
	v := Identity
	v.Scale = 2
	out, om, _ := v.Apply(img, mask)
	if a := area(om); math.Abs(float64(a)-4*121) > 4*11*2 {
		t.Errorf("zoomed mask area %d, want about %d", a, 4*121)
	}
	// image and mask agree after the move
	disagree := 0
	for i := range om {
		if (out.Pix[i] > 100) != (om[i] == 1) {
			disagree++
		}
	}
	if disagree > 4*22 { // the boundary ring may differ (bilinear vs nearest)
		t.Errorf("%d pixels where the moved image and mask disagree", disagree)
	}
	// a 90° turn of a square image is exact: an off-centre mark moves to
	// where the rotation takes it
	mark := square(n, n, image.Rect(30, 20, 31, 21)) // (30,20), 10 right of centre
	v = Identity
	v.Rotate = 90
	_, om, _ = v.Apply(img, mark)
	if om[10*n+20] != 1 || area(om) != 1 { // counter-clockwise: (cx+10, cy) -> (cx, cy-10)
		t.Errorf("rotated mark at %v, want only (20,10)", nonzero(om, n))
	}
}

func nonzero(m []uint8, w int) []image.Point {
	var ps []image.Point
	for i, v := range m {
		if v != 0 {
			ps = append(ps, image.Pt(i%w, i/w))
		}
	}
	return ps
}

func TestIntensity(t *testing.T) {
	img := image.NewGray(image.Rect(0, 0, 4, 4))
	for i := range img.Pix {
		img.Pix[i] = 128
	}
	at := func(v View) uint8 {
		out, _, err := v.Apply(img, nil)
		if err != nil {
			t.Fatal(err)
		}
		return out.Pix[5]
	}
	v := Identity
	v.Gamma = 2 // (128/255)^2 * 255 = 64.25
	if got := at(v); got != 64 {
		t.Errorf("gamma 2: %d, want 64", got)
	}
	v = Identity
	v.Gain = 3 // clipped at white
	if got := at(v); got != 255 {
		t.Errorf("gain 3: %d, want 255", got)
	}
	v = Identity
	v.Contrast = 3 // (0.502 - 0.5) * 3 + 0.5 -> 128.5 -> 129 (rounding)
	if got := at(v); got < 128 || got > 130 {
		t.Errorf("contrast about mid-grey: %d, want about 128", got)
	}
	v = Identity
	v.Blur = 1.2 // a flat image stays flat
	if got := at(v); got != 128 {
		t.Errorf("blurred flat image: %d", got)
	}
	a, b := Identity, Identity
	a.Speckle, b.Speckle, a.Seed, b.Seed = 0.2, 0.2, 1, 2
	oa, _, _ := a.Apply(ramp(16, 16), nil)
	oa2, _, _ := a.Apply(ramp(16, 16), nil)
	ob, _, _ := b.Apply(ramp(16, 16), nil)
	same, differ := true, false
	for i := range oa.Pix {
		same = same && oa.Pix[i] == oa2.Pix[i]
		differ = differ || oa.Pix[i] != ob.Pix[i]
	}
	if !same || !differ {
		t.Errorf("speckle: same seed same noise %v, other seed other noise %v", same, differ)
	}
}

func TestDraw(t *testing.T) {
	vs := Draw(6, 9, UltrasoundRanges)
	again := Draw(6, 9, UltrasoundRanges)
	if len(vs) != 6 || vs[0] != Identity {
		t.Fatalf("views %v", vs)
	}
	r := UltrasoundRanges
	keys := map[string]bool{}
	for i, v := range vs {
		if v != again[i] {
			t.Errorf("view %d not reproducible", i)
		}
		keys[v.Key()] = true
		if i == 0 {
			continue
		}
		if v.Scale < r.ScaleMin || v.Scale > r.ScaleMax || math.Abs(v.Rotate) > r.RotateMax || v.Gain < r.GainMin ||
			v.Gain > r.GainMax || v.Gamma < r.GammaMin || v.Gamma > r.GammaMax || v.Speckle > r.SpeckleMax || v.Blur > r.BlurMax {
			t.Errorf("view %d out of range: %s", i, v.Key())
		}
		if _, _, err := v.Apply(ramp(30, 20), square(30, 20, image.Rect(5, 5, 10, 10))); err != nil {
			t.Errorf("view %d: %v", i, err)
		}
	}
	if len(keys) != 6 {
		t.Errorf("%d distinct keys of 6 views", len(keys))
	}
}

func TestBadViews(t *testing.T) {
	for _, v := range []View{{}, {Scale: 1, Gain: 1, Gamma: 1, Contrast: 1, Blur: -1}, {Scale: 1, Gain: 1, Gamma: 1, Contrast: 1, Rotate: math.NaN()}} {
		if _, _, err := v.Apply(ramp(4, 4), nil); err == nil {
			t.Errorf("view %s accepted", v.Key())
		}
	}
	if _, _, err := Identity.Apply(ramp(4, 4), make([]uint8, 3)); err == nil {
		t.Error("mask of the wrong size accepted")
	}
}
