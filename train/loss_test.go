package train

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/busam/busam/model/tensor"
)

// The loss gradients are checked against central differences in float64.
func TestMaskLossGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	const s = 6
	logits := tensor.New(1, s, s)
	target := make([]float32, s*s)
	for i := range logits.Data {
		logits.Data[i] = float32(rng.NormFloat64() * 2)
		target[i] = float32(rng.IntN(3)) / 2 // 0, 0.5 or 1: soft targets too
	}
	cases := []struct {
		name           string
		loss           MaskLoss
		validW, validH int
		lesion         bool
	}{
		{"bce+dice lesion", MaskLoss{1, 1}, 5, 4, true},
		{"bce only (normal)", MaskLoss{1, 1}, 6, 6, false},
		{"dice heavy", MaskLoss{0.3, 2}, 6, 3, true},
	}
	for _, c := range cases {
		_, grad := c.loss.Eval(logits, target, c.validW, c.validH, c.lesion)
		for i := range logits.Data {
			x, y := i%s, i/s
			old := logits.Data[i]
			const h = 1e-3
			logits.Data[i] = old + h
			xu := float64(logits.Data[i])
			up, _ := c.loss.Eval(logits, target, c.validW, c.validH, c.lesion)
			logits.Data[i] = old - h
			xd := float64(logits.Data[i])
			down, _ := c.loss.Eval(logits, target, c.validW, c.validH, c.lesion)
			logits.Data[i] = old
			num := (up - down) / (xu - xd)
			if x >= c.validW || y >= c.validH {
				if grad.Data[i] != 0 || num != 0 {
					t.Errorf("%s: padding pixel %d has gradient %v / %v", c.name, i, grad.Data[i], num)
				}
				continue
			}
			if math.Abs(num-float64(grad.Data[i])) > 1e-4+1e-3*math.Abs(num) {
				t.Errorf("%s: pixel %d: analytic %v, numeric %v", c.name, i, grad.Data[i], num)
			}
		}
	}
}

func TestMaskLossValues(t *testing.T) {
	// A confident, correct prediction has a loss near 0; a confident wrong
	// one a large loss; the Dice term only counts for lesion images.
	logits := tensor.From([]float32{20, 20, -20, -20}, 1, 2, 2)
	target := []float32{1, 1, 0, 0}
	l := MaskLoss{1, 1}
	if v, _ := l.Eval(logits, target, 2, 2, true); v > 1e-6 {
		t.Errorf("perfect prediction loss %v", v)
	}
	wrong := []float32{0, 0, 1, 1}
	if v, _ := l.Eval(logits, wrong, 2, 2, true); v < 10 {
		t.Errorf("wrong prediction loss %v, want > 10", v)
	}
	bceOnly, _ := l.Eval(logits, wrong, 2, 2, false)
	withDice, _ := l.Eval(logits, wrong, 2, 2, true)
	// Disjoint: sum(p t) = 0, so the term is 1 - 1/(sum(p) + sum(t) + 1) = 1 - 1/5.
	if d := withDice - bceOnly; math.Abs(d-0.8) > 1e-6 {
		t.Errorf("Dice term of a disjoint prediction is %v, want 0.8", d)
	}
}

func TestCrossEntropy(t *testing.T) {
	logits := []float32{0.3, -1.2, 2}
	loss, grad := CrossEntropy(logits, 1, 2.5)
	for i := range logits {
		old := logits[i]
		const h = 1e-3
		logits[i] = old + h
		xu := float64(logits[i])
		up, _ := CrossEntropy(logits, 1, 2.5)
		logits[i] = old - h
		xd := float64(logits[i])
		down, _ := CrossEntropy(logits, 1, 2.5)
		logits[i] = old
		if num := (up - down) / (xu - xd); math.Abs(num-float64(grad[i])) > 1e-4 {
			t.Errorf("logit %d: analytic %v, numeric %v", i, grad[i], num)
		}
	}
	// -log softmax by hand.
	z := math.Exp(0.3) + math.Exp(-1.2) + math.Exp(2)
	if want := 2.5 * -math.Log(math.Exp(-1.2)/z); math.Abs(loss-want) > 1e-6 {
		t.Errorf("loss %v, want %v", loss, want)
	}
}

func TestClassWeights(t *testing.T) {
	cases := []struct {
		labels []int
		k      int
		want   []float64
	}{
		{[]int{0, 1, 1, 1}, 2, []float64{2, 2.0 / 3}},
		{[]int{0, 1, 2}, 3, []float64{1, 1, 1}},
		{[]int{1, 1}, 3, []float64{0, 1.0 / 3, 0}}, // N/(K n_k) with K = 3
	}
	for _, c := range cases {
		got := ClassWeights(c.labels, c.k)
		for i := range got {
			if math.Abs(got[i]-c.want[i]) > 1e-12 {
				t.Errorf("ClassWeights(%v) = %v, want %v", c.labels, got, c.want)
				break
			}
		}
	}
}
