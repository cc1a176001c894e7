package metrics

import (
	"fmt"
	"math"
	"sort"
)

// Calibration: how far a classifier's confidence is from its accuracy, and
// temperature scaling (Guo et al., "On Calibration of Modern Neural
// Networks", ICML 2017), the one-parameter fix fitted on validation data.

// ReliabilityBin is one confidence bin of a reliability diagram.
type ReliabilityBin struct {
	Lo, Hi     float64 // confidence range [Lo, Hi)
	Count      int
	Confidence float64 // mean top-class probability in the bin
	Accuracy   float64 // share of the bin whose top class is right
}

// Reliability sorts predictions into bins equal-width bins of their top
// probability (the last bin includes 1).
func Reliability(probs [][]float64, truth []int, bins int) ([]ReliabilityBin, error) {
	if err := checkProbs(probs, truth); err != nil {
		return nil, err
	}
	if bins < 1 {
		return nil, fmt.Errorf("metrics: %d calibration bins", bins)
	}
	out := make([]ReliabilityBin, bins)
	for b := range out {
		out[b].Lo, out[b].Hi = float64(b)/float64(bins), float64(b+1)/float64(bins)
	}
	for i, p := range probs {
		top, conf := argmax(p)
		b := min(int(conf*float64(bins)), bins-1)
		out[b].Count++
		out[b].Confidence += conf
		if top == truth[i] {
			out[b].Accuracy++
		}
	}
	for b := range out {
		if n := float64(out[b].Count); n > 0 {
			out[b].Confidence /= n
			out[b].Accuracy /= n
		}
	}
	return out, nil
}

// ECE is the expected calibration error: the count-weighted mean gap
// between confidence and accuracy over equal-width bins of the top
// probability (15 bins is the usual choice).
func ECE(probs [][]float64, truth []int, bins int) (float64, error) {
	rb, err := Reliability(probs, truth, bins)
	if err != nil {
		return 0, err
	}
	ece := 0.0
	for _, b := range rb {
		ece += float64(b.Count) * math.Abs(b.Confidence-b.Accuracy)
	}
	return ece / float64(len(probs)), nil
}

// NLL is the mean negative log-likelihood of the true classes.
func NLL(probs [][]float64, truth []int) (float64, error) {
	if err := checkProbs(probs, truth); err != nil {
		return 0, err
	}
	s := 0.0
	for i, p := range probs {
		s -= math.Log(math.Max(p[truth[i]], 1e-300))
	}
	return s / float64(len(probs)), nil
}

// WithTemperature rescales probabilities as softmax(log(p) / t): the same
// as dividing the logits by t, since log p differs from the logits by a
// constant per row. t > 1 softens, t < 1 sharpens; the top class never
// changes.
func WithTemperature(probs [][]float64, t float64) [][]float64 {
	out := make([][]float64, len(probs))
	for i, p := range probs {
		q := make([]float64, len(p))
		m := math.Inf(-1)
		for k, v := range p {
			q[k] = math.Log(math.Max(v, 1e-300)) / t
			m = math.Max(m, q[k])
		}
		s := 0.0
		for k := range q {
			q[k] = math.Exp(q[k] - m)
			s += q[k]
		}
		for k := range q {
			q[k] /= s
		}
		out[i] = q
	}
	return out
}

// FitTemperature finds the temperature in [0.05, 20] that minimises the
// NLL of probs rescaled by it: a golden-section search over log t (the NLL
// of temperature scaling is convex in 1/t, so it has one minimum).
func FitTemperature(probs [][]float64, truth []int) (float64, error) {
	if err := checkProbs(probs, truth); err != nil {
		return 0, err
	}
	f := func(logT float64) float64 {
		v, _ := NLL(WithTemperature(probs, math.Exp(logT)), truth)
		return v
	}
	lo, hi := math.Log(0.05), math.Log(20)
	g := (math.Sqrt(5) - 1) / 2
	a, b := hi-g*(hi-lo), lo+g*(hi-lo)
	fa, fb := f(a), f(b)
	for hi-lo > 1e-5 {
		if fa < fb {
			hi, b, fb = b, a, fa
			a = hi - g*(hi-lo)
			fa = f(a)
		} else {
			lo, a, fa = a, b, fb
			b = lo + g*(hi-lo)
			fb = f(b)
		}
	}
	return math.Exp((lo + hi) / 2), nil
}

func checkProbs(probs [][]float64, truth []int) error {
	if len(probs) == 0 || len(probs) != len(truth) {
		return fmt.Errorf("metrics: %d probability rows for %d labels", len(probs), len(truth))
	}
	k := len(probs[0])
	for i, p := range probs {
		if len(p) != k || k < 2 {
			return fmt.Errorf("metrics: row %d has %d probabilities, want %d (at least 2)", i, len(p), k)
		}
		if truth[i] < 0 || truth[i] >= k {
			return fmt.Errorf("metrics: row %d: class %d not in [0,%d)", i, truth[i], k)
		}
		for _, v := range p {
			if !(v >= 0 && v <= 1) {
				return fmt.Errorf("metrics: row %d: probability %v not in [0,1]", i, v)
			}
		}
	}
	return nil
}

func argmax(p []float64) (int, float64) {
	best := 0
	for k, v := range p {
		if v > p[best] {
			best = k
		}
	}
	return best, p[best]
}

// SureThreshold picks the confidence threshold of "sure" answers: the
// lowest top-class probability t such that the predictions at or above t
// are right at least minAccuracy of the time (on validation data). It
// returns t, the share of predictions at or above it (coverage) and their
// accuracy; t is 1 (nothing sure) when no threshold reaches minAccuracy.
func SureThreshold(probs [][]float64, truth []int, minAccuracy float64) (t, coverage, accuracy float64, err error) {
	if err := checkProbs(probs, truth); err != nil {
		return 0, 0, 0, err
	}
	type pred struct {
		conf  float64
		right bool
	}
	ps := make([]pred, len(probs))
	for i, p := range probs {
		top, conf := argmax(p)
		ps[i] = pred{conf, top == truth[i]}
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].conf > ps[j].conf })
	t, coverage, accuracy = 1, 0, math.NaN()
	right := 0
	for i, p := range ps {
		if p.right {
			right++
		}
		// a threshold sits between distinct confidences only
		if i+1 < len(ps) && ps[i+1].conf == p.conf {
			continue
		}
		if acc := float64(right) / float64(i+1); acc >= minAccuracy {
			t, coverage, accuracy = p.conf, float64(i+1)/float64(len(ps)), acc
		}
	}
	return t, coverage, accuracy, nil
}
