package metrics

import (
	"fmt"
	"math"
)

// Confusion is a k-class confusion matrix: Counts[t][p] is the number of
// samples of true class t predicted as class p.
type Confusion struct {
	Counts [][]int
}

// NewConfusion counts (truth[i], pred[i]) pairs over classes 0..k-1.
func NewConfusion(k int, truth, pred []int) (Confusion, error) {
	if k <= 0 {
		return Confusion{}, fmt.Errorf("metrics: confusion matrix needs at least one class, got %d", k)
	}
	if len(truth) != len(pred) {
		return Confusion{}, fmt.Errorf("metrics: %d true labels but %d predictions", len(truth), len(pred))
	}
	c := Confusion{Counts: make([][]int, k)}
	for i := range c.Counts {
		c.Counts[i] = make([]int, k)
	}
	for i := range truth {
		t, p := truth[i], pred[i]
		if t < 0 || t >= k || p < 0 || p >= k {
			return Confusion{}, fmt.Errorf("metrics: sample %d has true class %d, predicted %d; classes are 0..%d", i, t, p, k-1)
		}
		c.Counts[t][p]++
	}
	return c, nil
}

// Classes is the number of classes.
func (c Confusion) Classes() int { return len(c.Counts) }

// Total is the number of samples.
func (c Confusion) Total() int {
	n := 0
	for _, row := range c.Counts {
		for _, v := range row {
			n += v
		}
	}
	return n
}

// Accuracy is the fraction of samples on the diagonal; NaN with no samples.
func (c Confusion) Accuracy() float64 {
	n, hit := 0, 0
	for t, row := range c.Counts {
		for p, v := range row {
			n += v
			if t == p {
				hit += v
			}
		}
	}
	return ratio(hit, n)
}

// counts returns TP, FN, FP, TN of class k against the rest.
func (c Confusion) counts(k int) (tp, fn, fp, tn int) {
	for t, row := range c.Counts {
		for p, v := range row {
			switch {
			case t == k && p == k:
				tp += v
			case t == k:
				fn += v
			case p == k:
				fp += v
			default:
				tn += v
			}
		}
	}
	return
}

// Sensitivity (recall) of class k: TP/(TP+FN). NaN when no sample is of class k.
func (c Confusion) Sensitivity(k int) float64 {
	tp, fn, _, _ := c.counts(k)
	return ratio(tp, tp+fn)
}

// Specificity of class k: TN/(TN+FP), over the samples of the other classes.
// NaN when every sample is of class k.
func (c Confusion) Specificity(k int) float64 {
	_, _, fp, tn := c.counts(k)
	return ratio(tn, tn+fp)
}

// Support is the number of samples whose true class is k.
func (c Confusion) Support(k int) int {
	n := 0
	for _, v := range c.Counts[k] {
		n += v
	}
	return n
}

// BalancedAccuracy is the mean sensitivity over the classes that occur in
// the truth (classes without samples have no defined sensitivity and are
// left out). NaN with no samples.
func (c Confusion) BalancedAccuracy() float64 {
	sum, n := 0.0, 0
	for k := range c.Counts {
		if s := c.Sensitivity(k); !math.IsNaN(s) {
			sum += s
			n++
		}
	}
	if n == 0 {
		return math.NaN()
	}
	return sum / float64(n)
}

func ratio(a, b int) float64 {
	if b == 0 {
		return math.NaN()
	}
	return float64(a) / float64(b)
}
