package metrics

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Interval is a confidence interval [Lo, Hi]; NaN bounds when undefined.
type Interval struct{ Lo, Hi float64 }

// Intervals are 95% percentile-bootstrap confidence intervals of the
// headline numbers of a Summary.
type Intervals struct {
	Resamples                  int
	Accuracy, BalancedAccuracy Interval
	MacroAUC                   Interval
	MeanDice                   Interval // over lesion images
}

// Bootstrap resamples the records (images) with replacement n times,
// summarises each resample and returns the 2.5th and 97.5th percentiles of
// each number. Resamples where a number is undefined (no lesion image, so
// no Dice) are left out of that number's interval. The seed makes the
// result reproducible.
func Bootstrap(classes []string, recs []Record, n int, seed uint64) (Intervals, error) {
	if n < 1 {
		return Intervals{}, fmt.Errorf("metrics: bootstrap needs at least one resample, got %d", n)
	}
	if len(recs) == 0 {
		return Intervals{}, fmt.Errorf("metrics: bootstrap of no records")
	}
	if _, err := Summarize(classes, recs); err != nil {
		return Intervals{}, err // bad records fail once, with the real message
	}
	rng := rand.New(rand.NewPCG(seed, 0x62757361)) // "busa"
	sample := make([]Record, len(recs))
	var acc, bal, auc, dice []float64
	keep := func(xs *[]float64, x float64) {
		if !math.IsNaN(x) {
			*xs = append(*xs, x)
		}
	}
	for i := 0; i < n; i++ {
		for j := range sample {
			sample[j] = recs[rng.IntN(len(recs))]
		}
		s, err := Summarize(classes, sample)
		if err != nil {
			return Intervals{}, err
		}
		keep(&acc, s.Accuracy)
		keep(&bal, s.BalancedAccuracy)
		keep(&auc, s.MacroAUC)
		keep(&dice, s.Dice.Mean)
	}
	ci := func(xs []float64) Interval { return Interval{Percentile(xs, 2.5), Percentile(xs, 97.5)} }
	return Intervals{Resamples: n, Accuracy: ci(acc), BalancedAccuracy: ci(bal), MacroAUC: ci(auc), MeanDice: ci(dice)}, nil
}
