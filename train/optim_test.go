package train

import (
	"math"
	"testing"

	"github.com/busam/busam/model/heads"
	"github.com/busam/busam/model/tensor"
)

func TestScheduleShape(t *testing.T) {
	s := Schedule{Peak: 1e-3, Warmup: 10, Total: 110, MinFrac: 0.1}
	cases := []struct {
		step int
		want float64
	}{
		{0, 1e-4},    // first warm-up step
		{4, 5e-4},    // linear ramp
		{9, 1e-3},    // peak at the end of warm-up
		{10, 1e-3},   // cosine starts at the peak
		{60, 5.5e-4}, // half way: (min + peak) / 2
		{110, 1e-4},  // floor
		{500, 1e-4},  // stays at the floor
	}
	for _, c := range cases {
		if got := s.LR(c.step); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("LR(%d) = %v, want %v", c.step, got, c.want)
		}
	}
}

// AdamW on f(w) = sum (w - 3)^2 must approach the minimum, and weight decay
// must pull a matrix parameter (not a bias) below it.
func TestAdamWConverges(t *testing.T) {
	mat := &heads.Param{Name: "w", Value: tensor.New(2, 2), Index: 0}
	bias := &heads.Param{Name: "b", Value: tensor.New(2), Index: 1}
	frozen := &heads.Param{Name: "f", Value: tensor.New(2), Index: 2, Frozen: true}
	params := []*heads.Param{mat, bias, frozen}
	o := NewAdamW(params, 0.1)
	g := heads.NewGrads(params)
	for range 3000 {
		for k, p := range params {
			for i, w := range p.Value.Data {
				g[k][i] = 2 * (w - 3)
			}
		}
		o.Step(g, 0.01)
	}
	for _, w := range frozen.Value.Data {
		if w != 0 {
			t.Errorf("frozen parameter moved to %v", w)
		}
	}
	for _, w := range bias.Value.Data {
		if math.Abs(float64(w)-3) > 0.01 {
			t.Errorf("bias %v, want 3", w)
		}
	}
	// With decay the fixed point solves 2(w-3) = -0.1 w... in Adam's
	// normalised units it sits clearly below 3 but near it.
	for _, w := range mat.Value.Data {
		if w > 2.99 || w < 2.5 {
			t.Errorf("decayed weight %v, want in [2.5, 2.99)", w)
		}
	}
}
