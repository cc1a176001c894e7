package heads

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/busam/busam/model/tensor"
)

// evidenceModel is a small model with non-trivial weights and feature
// statistics, and an input for it.
func evidenceModel(t *testing.T, kind string, classes, h, w int) (*Model, Input) {
	t.Helper()
	cfg := DefaultConfig(kind)
	cfg.EmbedDim, cfg.Classes = 16, classes
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, uint64(classes)))
	for _, p := range m.Params() {
		for i := range p.Value.Data {
			p.Value.Data[i] += float32(rng.NormFloat64() * 0.3)
		}
	}
	for i := range m.featScale.Value.Data { // keep the scales positive
		m.featScale.Value.Data[i] = 0.5 + rng.Float32()
	}
	in := Input{Embedding: randTensor(rng, cfg.EmbedDim, h, w), Image: randTensor(rng, 3, 4*h, 4*w)}
	return m, in
}

// The map's sum is the first-order change of the class score when z's two
// pooled halves are scaled by (1+eps): gradient x input, checked against a
// central difference, for every class.
func TestEvidenceSumIsFirstOrderChange(t *testing.T) {
	for _, tc := range []struct {
		kind          string
		classes, h, w int
	}{{"conv", 3, 6, 5}, {"unet", 2, 4, 4}, {"conv", 3, 8, 8}} {
		m, in := evidenceModel(t, tc.kind, tc.classes, tc.h, tc.w)
		out, err := m.Predict(in)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(out.Evidence.Shape, []int{tc.classes, tc.h, tc.w}) {
			t.Fatalf("evidence shape %v", out.Evidence.Shape)
		}
		z := out.ClassifierInput
		c := (len(z) - 2) / 2
		scaled := func(s float64) []float32 {
			y := slices.Clone(z)
			for i := range 2 * c {
				y[i] = float32(float64(z[i]) * s)
			}
			return y
		}
		const eps = 1e-3
		p := tc.h * tc.w
		for k := range tc.classes {
			var sum float64
			for _, v := range out.Evidence.Data[k*p : (k+1)*p] {
				sum += float64(v)
			}
			fd := (m.ClassScore(scaled(1+eps), k) - m.ClassScore(scaled(1-eps), k)) / (2 * eps)
			if math.Abs(sum-fd) > 2e-3*max(1, math.Abs(fd)) {
				t.Errorf("%s/%d classes: class %d: evidence sums to %.6g, finite difference %.6g", tc.kind, tc.classes, k, sum, fd)
			}
			if math.Abs(sum) < 1e-6 {
				t.Errorf("class %d: evidence sums to %g: the check is vacuous", k, sum)
			}
		}
		train, _ := m.ForwardTrain(in, nil)
		if train.Evidence != nil {
			t.Errorf("the training forward computed evidence")
		}
	}
}

// EvidenceWeights' rows are the score's gradient: checked component by
// component against central differences on a few random coordinates.
func TestEvidenceWeightsAreTheGradient(t *testing.T) {
	m, in := evidenceModel(t, "conv", 3, 5, 4)
	out, err := m.Predict(in)
	if err != nil {
		t.Fatal(err)
	}
	z := out.ClassifierInput
	c := (len(z) - 2) / 2
	p := 5 * 4
	w, err := m.EvidenceWeights(z, p)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(9, 9))
	for range 12 {
		i, k := rng.IntN(2*c), rng.IntN(3)
		const h = 1e-2
		zp, zm := slices.Clone(z), slices.Clone(z)
		zp[i] += h
		zm[i] -= h
		fd := (m.ClassScore(zp, k) - m.ClassScore(zm, k)) / (2 * h)
		got := float64(w[k*2*c+i])
		if i >= c {
			got *= float64(p)
		}
		if math.Abs(got-fd) > 1e-2*max(1e-2, math.Abs(fd)) {
			t.Errorf("d s_%d / d z_%d = %.6g, finite difference %.6g", k, i, got, fd)
		}
	}
	if _, err := m.EvidenceWeights(z[:3], p); err == nil {
		t.Error("short classifier input accepted")
	}
}

// A hand-built case: two channels on a 1x3 grid, the mask on cell 0 only.
func TestClassEvidenceByHand(t *testing.T) {
	f := tensor.From([]float32{
		1, 2, 3, // channel 0
		-1, 0, 4, // channel 1
	}, 2, 1, 3)
	a := []float32{0.5, 0, 0}
	// one class: pooled-half weights (2, 1), mean-half weights (0.1, -0.2)
	w := []float32{2, 1, 0.1, -0.2}
	got := ClassEvidence(f, a, w, 1)
	want := []float32{
		0.5*(1*2+(-1)*1) + (1*0.1 + (-1)*-0.2), // 0.5 + 0.3
		0 + (2*0.1 + 0*-0.2),                   // 0.2
		0 + (3*0.1 + 4*-0.2),                   // -0.5
	}
	for i := range want {
		if math.Abs(float64(got.Data[i]-want[i])) > 1e-6 {
			t.Errorf("cell %d: %v, want %v", i, got.Data[i], want[i])
		}
	}
	// The sum is w . [MaskPool(f, a) with its mean half times p].
	z := MaskPool(f, a)
	var dot, sum float64
	for ch := range 2 {
		dot += float64(w[ch])*float64(z.Data[ch]) + 3*float64(w[2+ch])*float64(z.Data[2+ch])
	}
	for _, v := range got.Data {
		sum += float64(v)
	}
	if math.Abs(dot-sum) > 1e-6 {
		t.Errorf("sum %v, w . z %v", sum, dot)
	}
}

func TestScoreGradient(t *testing.T) {
	for _, tc := range []struct {
		l    []float32
		k    int
		want []float32
	}{
		{[]float32{2, 0}, 0, []float32{1, -1}},
		{[]float32{0, 5}, 0, []float32{1, -1}},
		{[]float32{0, 1, 1}, 0, []float32{1, -0.5, -0.5}},
		{[]float32{3, 1, 1000}, 1, []float32{-float32(1 / (1 + math.Exp(997))), 1, -1}},
	} {
		got := scoreGradient(tc.l, tc.k)
		for j := range got {
			if math.Abs(float64(got[j]-tc.want[j])) > 1e-6 {
				t.Errorf("logits %v class %d: %v, want %v", tc.l, tc.k, got, tc.want)
				break
			}
		}
	}
}
