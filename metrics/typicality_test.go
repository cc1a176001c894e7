package metrics

import (
	"math"
	"math/rand/v2"
	"testing"
)

// A Gaussian with known axes: variance 9 along (1,1,0,0)/√2, 4 along
// (0,0,1,0), 1 elsewhere. The fit finds the axes and variances, vectors
// drawn from it score about 1, and a far vector scores by hand.
func TestFitGaussian(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const n, d = 20000, 4
	s := 1 / math.Sqrt2
	x := make([][]float64, n)
	for i := range x {
		a, b, e, f := 3*rng.NormFloat64(), 2*rng.NormFloat64(), rng.NormFloat64(), rng.NormFloat64()
		x[i] = []float64{5 + (a+e)*s, -1 + (a-e)*s, b, f}
	}
	g, err := FitGaussian(x, 2)
	if err != nil {
		t.Fatal(err)
	}
	near := func(got, want, tol float64) bool { return math.Abs(got-want) <= tol }
	if !near(g.Mean[0], 5, 0.1) || !near(g.Mean[1], -1, 0.1) || !near(g.Mean[2], 0, 0.05) {
		t.Errorf("mean %v", g.Mean)
	}
	if !near(g.Variances[0], 9, 0.3) || !near(g.Variances[1], 4, 0.15) || !near(g.Residual, 1, 0.05) {
		t.Errorf("variances %v, residual %v; want 9, 4 and 1", g.Variances, g.Residual)
	}
	if u := g.Components[0]; !near(math.Abs(u[0]), s, 0.02) || !near(math.Abs(u[1]), s, 0.02) || u[0]*u[1] < 0 {
		t.Errorf("first component %v, want ±(1,1,0,0)/√2", u)
	}
	var mean float64
	for _, v := range x[:2000] {
		mean += g.Distance(v) / 2000
	}
	if !near(mean, 1, 0.1) {
		t.Errorf("mean distance of the data %v, want about 1", mean)
	}
	// 6 along the first axis (2 sd) and 3 along the last (3 sd):
	// (4 + 9) / 4.
	v := []float64{5 + 6*s, -1 + 6*s, 0, 3}
	if got := g.Distance(v); !near(got, 13.0/4, 0.3) {
		t.Errorf("distance %v, want about %v", got, 13.0/4)
	}
	for _, bad := range [][][]float64{nil, {{1, 2}}, {{1, 2, 3}, {1, 2}}, {{1, math.NaN(), 3}, {1, 2, 3}}} {
		if _, err := FitGaussian(bad, 1); err == nil {
			t.Errorf("FitGaussian(%v) did not fail", bad)
		}
	}
	if _, err := FitGaussian(x, 4); err == nil {
		t.Error("as many components as dimensions did not fail")
	}
}
