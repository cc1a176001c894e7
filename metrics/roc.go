package metrics

import (
	"fmt"
	"math"
	"sort"
)

// ROCPoint is one operating point: predicting positive when score >= Threshold
// gives these rates. The first point of a curve has Threshold +Inf (nothing
// positive).
type ROCPoint struct {
	Threshold float64
	FPR, TPR  float64
}

// ROCCurve is a receiver operating characteristic curve with its area.
// Tied scores form one step (a diagonal segment), so the trapezoidal area
// under Points equals the tie-aware Mann-Whitney AUC.
type ROCCurve struct {
	Points               []ROCPoint
	AUC                  float64 // NaN when Positives or Negatives is 0
	Positives, Negatives int
}

func checkScores(scores []float64, positive []bool) error {
	if len(scores) != len(positive) {
		return fmt.Errorf("metrics: %d scores but %d labels", len(scores), len(positive))
	}
	for i, s := range scores {
		if math.IsNaN(s) {
			return fmt.Errorf("metrics: score %d is NaN", i)
		}
	}
	return nil
}

// ROC builds the curve of scores against binary labels. With no positives or
// no negatives the rates are undefined: the curve has no points and AUC NaN.
func ROC(scores []float64, positive []bool) (ROCCurve, error) {
	if err := checkScores(scores, positive); err != nil {
		return ROCCurve{}, err
	}
	idx := make([]int, len(scores))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return scores[idx[a]] > scores[idx[b]] })
	c := ROCCurve{AUC: math.NaN()}
	for _, p := range positive {
		if p {
			c.Positives++
		} else {
			c.Negatives++
		}
	}
	if c.Positives == 0 || c.Negatives == 0 {
		return c, nil
	}
	P, N := float64(c.Positives), float64(c.Negatives)
	c.Points = []ROCPoint{{Threshold: math.Inf(1)}}
	tp, fp := 0, 0
	area := 0.0
	for i := 0; i < len(idx); {
		thr := scores[idx[i]]
		for ; i < len(idx) && scores[idx[i]] == thr; i++ {
			if positive[idx[i]] {
				tp++
			} else {
				fp++
			}
		}
		prev := c.Points[len(c.Points)-1]
		pt := ROCPoint{Threshold: thr, FPR: float64(fp) / N, TPR: float64(tp) / P}
		area += (pt.FPR - prev.FPR) * (pt.TPR + prev.TPR) / 2
		c.Points = append(c.Points, pt)
	}
	c.AUC = area
	return c, nil
}

// AUC is the probability that a random positive scores above a random
// negative, ties counting one half: the Mann-Whitney U statistic over
// (positives × negatives), computed from mid-ranks. NaN with no positives or
// no negatives.
func AUC(scores []float64, positive []bool) (float64, error) {
	if err := checkScores(scores, positive); err != nil {
		return 0, err
	}
	idx := make([]int, len(scores))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return scores[idx[a]] < scores[idx[b]] })
	rankSum, npos := 0.0, 0
	for i := 0; i < len(idx); {
		j := i
		for j < len(idx) && scores[idx[j]] == scores[idx[i]] {
			j++
		}
		mid := float64(i+1+j) / 2 // average of ranks i+1..j
		for ; i < j; i++ {
			if positive[idx[i]] {
				rankSum += mid
				npos++
			}
		}
	}
	nneg := len(scores) - npos
	if npos == 0 || nneg == 0 {
		return math.NaN(), nil
	}
	u := rankSum - float64(npos)*float64(npos+1)/2
	return u / (float64(npos) * float64(nneg)), nil
}

// OneVsRest builds one ROC curve per class k (score probs[i][k], positive
// when truth[i] == k) and their macro AUC: the mean AUC over the classes
// whose AUC is defined (NaN if none is).
func OneVsRest(k int, truth []int, probs [][]float64) ([]ROCCurve, float64, error) {
	if len(truth) != len(probs) {
		return nil, 0, fmt.Errorf("metrics: %d labels but %d probability rows", len(truth), len(probs))
	}
	for i, row := range probs {
		if len(row) != k {
			return nil, 0, fmt.Errorf("metrics: probability row %d has %d values, want %d", i, len(row), k)
		}
		if truth[i] < 0 || truth[i] >= k {
			return nil, 0, fmt.Errorf("metrics: sample %d has class %d; classes are 0..%d", i, truth[i], k-1)
		}
	}
	curves := make([]ROCCurve, k)
	scores := make([]float64, len(truth))
	pos := make([]bool, len(truth))
	sum, n := 0.0, 0
	for c := 0; c < k; c++ {
		for i := range truth {
			scores[i], pos[i] = probs[i][c], truth[i] == c
		}
		curve, err := ROC(scores, pos)
		if err != nil {
			return nil, 0, fmt.Errorf("class %d: %w", c, err)
		}
		curves[c] = curve
		if !math.IsNaN(curve.AUC) {
			sum += curve.AUC
			n++
		}
	}
	if n == 0 {
		return curves, math.NaN(), nil
	}
	return curves, sum / float64(n), nil
}
