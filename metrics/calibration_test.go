package metrics

import (
	"math"
	"math/rand/v2"
	"testing"
)

// Hand-computed ECE: 4 predictions in 2 bins.
//
//	bin [0,0.5): conf 0.4 (wrong)             -> |0.4 - 0| * 1
//	bin [0.5,1]: conf 0.9 (right), 0.8 (right), 0.7 (wrong)
//	             mean conf 0.8, accuracy 2/3  -> |0.8 - 0.6667| * 3
//	ECE = (0.4 + 0.4) / 4 = 0.2
func TestECEByHand(t *testing.T) {
	probs := [][]float64{{0.4, 0.3, 0.3}, {0.9, 0.05, 0.05}, {0.1, 0.8, 0.1}, {0.7, 0.2, 0.1}}
	truth := []int{1, 0, 1, 2}
	got, err := ECE(probs, truth, 2)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(got-0.2) > 1e-12 {
		t.Errorf("ECE = %v, want 0.2", got)
	}
	rb, _ := Reliability(probs, truth, 2)
	if rb[0].Count != 1 || rb[1].Count != 3 || math.Abs(rb[1].Accuracy-2.0/3) > 1e-12 || math.Abs(rb[1].Confidence-0.8) > 1e-12 {
		t.Errorf("bins %+v", rb)
	}
	// confidence exactly 1 lands in the last bin
	if rb, _ := Reliability([][]float64{{1, 0}}, []int{0}, 10); rb[9].Count != 1 {
		t.Errorf("p=1 not in the last bin: %+v", rb)
	}
}

func TestNLLAndTemperatureByHand(t *testing.T) {
	probs := [][]float64{{0.5, 0.5}, {0.8, 0.2}}
	nll, err := NLL(probs, []int{0, 1})
	want := -(math.Log(0.5) + math.Log(0.2)) / 2
	if err != nil || math.Abs(nll-want) > 1e-12 {
		t.Errorf("NLL = %v (%v), want %v", nll, err, want)
	}
	// p = (0.8, 0.2) at t = 2: (sqrt(0.8), sqrt(0.2)) normalised = (2/3, 1/3)
	q := WithTemperature([][]float64{{0.8, 0.2}}, 2)[0]
	if math.Abs(q[0]-2.0/3) > 1e-12 || math.Abs(q[1]-1.0/3) > 1e-12 {
		t.Errorf("WithTemperature = %v, want [2/3 1/3]", q)
	}
}

// Overconfident predictions (true logits sharpened 3x) are fitted back to
// a temperature near 3, and the fitted probabilities have a smaller ECE.
func TestFitTemperatureRecoversSharpening(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 4000
	var probs [][]float64
	var truth []int
	for i := 0; i < n; i++ {
		logits := []float64{rng.NormFloat64(), rng.NormFloat64(), rng.NormFloat64()}
		p := softmax(logits, 1)
		// draw the class from the calibrated p, report p sharpened (t = 1/3)
		u, c := rng.Float64(), 0
		if u > p[0] {
			c = 1
		}
		if u > p[0]+p[1] {
			c = 2
		}
		probs = append(probs, softmax(logits, 1.0/3))
		truth = append(truth, c)
	}
	temp, err := FitTemperature(probs, truth)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(temp-3) > 0.3 {
		t.Errorf("fitted temperature %v, want about 3", temp)
	}
	before, _ := ECE(probs, truth, 15)
	after, _ := ECE(WithTemperature(probs, temp), truth, 15)
	if !(after < before/2) || after > 0.05 {
		t.Errorf("ECE before %.3f, after %.3f: want it at least halved and under 0.05", before, after)
	}
}

func TestCalibrationBadInput(t *testing.T) {
	for _, c := range []struct {
		probs [][]float64
		truth []int
	}{
		{nil, nil},
		{[][]float64{{0.5, 0.5}}, []int{0, 1}},
		{[][]float64{{0.5, 0.5}}, []int{2}},
		{[][]float64{{0.5, 0.5}, {1}}, []int{0, 0}},
		{[][]float64{{math.NaN(), 0.5}}, []int{0}},
		{[][]float64{{1.5, -0.5}}, []int{0}},
	} {
		if _, err := ECE(c.probs, c.truth, 10); err == nil {
			t.Errorf("ECE(%v, %v) accepted", c.probs, c.truth)
		}
		if _, err := FitTemperature(c.probs, c.truth); err == nil {
			t.Errorf("FitTemperature(%v, %v) accepted", c.probs, c.truth)
		}
	}
	if _, err := ECE([][]float64{{1, 0}}, []int{0}, 0); err == nil {
		t.Error("0 bins accepted")
	}
}

func softmax(logits []float64, t float64) []float64 {
	out := make([]float64, len(logits))
	m := math.Inf(-1)
	for _, v := range logits {
		m = math.Max(m, v/t)
	}
	s := 0.0
	for i, v := range logits {
		out[i] = math.Exp(v/t - m)
		s += out[i]
	}
	for i := range out {
		out[i] /= s
	}
	return out
}

// By hand: confidences 0.9 (right), 0.8 (right), 0.7 (wrong), 0.6 (right),
// 0.55 (wrong). Accuracy at or above each: 1, 1, 2/3, 3/4, 3/5. For 0.75 the
// lowest threshold is 0.6 (3 of 4 right), coverage 0.8.
func TestSureThresholdByHand(t *testing.T) {
	probs := [][]float64{{0.9, 0.1}, {0.2, 0.8}, {0.7, 0.3}, {0.6, 0.4}, {0.45, 0.55}}
	truth := []int{0, 1, 1, 0, 0}
	th, cov, acc, err := SureThreshold(probs, truth, 0.75)
	if err != nil || th != 0.6 || cov != 0.8 || acc != 0.75 {
		t.Errorf("SureThreshold = %v, %v, %v (%v), want 0.6, 0.8, 0.75", th, cov, acc, err)
	}
	if th, cov, _, _ := SureThreshold(probs, truth, 1); th != 0.8 || cov != 0.4 {
		t.Errorf("at accuracy 1: %v, %v, want 0.8, 0.4", th, cov)
	}
	if th, cov, _, _ := SureThreshold([][]float64{{0.9, 0.1}}, []int{1}, 0.5); th != 1 || cov != 0 {
		t.Errorf("no reachable threshold: %v, %v, want 1, 0", th, cov)
	}
}
