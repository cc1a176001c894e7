package metrics

import (
	"math"
	"testing"
)

var twoClasses = []string{"a", "b"}

func TestBootstrap(t *testing.T) {
	right := Record{TrueClass: 0, PredClass: 0, Probs: []float64{0.9, 0.1}, HasLesion: true, Dice: 0.8}
	wrong := Record{TrueClass: 1, PredClass: 0, Probs: []float64{0.6, 0.4}, HasLesion: true, Dice: 0.2}

	// Every record right: every resample has accuracy 1, Dice 0.8.
	ci, err := Bootstrap(twoClasses, []Record{right, right, right}, 200, 1)
	if err != nil {
		t.Fatal(err)
	}
	if ci.Accuracy != (Interval{1, 1}) || !near(ci.MeanDice.Lo, 0.8) || !near(ci.MeanDice.Hi, 0.8) {
		t.Errorf("all right: %+v", ci)
	}
	// A single class in every resample: no AUC is defined, so no interval.
	if !math.IsNaN(ci.MacroAUC.Lo) || !math.IsNaN(ci.MacroAUC.Hi) {
		t.Errorf("macro AUC interval %+v, want NaN", ci.MacroAUC)
	}

	// One right, one wrong: a resample of two draws both right with
	// probability 1/4 (accuracy 1), both wrong with 1/4 (0), else 1/2.
	// With 2000 resamples about 500 are 0 and 500 are 1, so the 2.5th
	// percentile (rank 0.025·1999 ≈ 50) is 0 and the 97.5th is 1. The mean
	// Dice likewise spans 0.2 (both wrong) to 0.8 (both right).
	ci, err = Bootstrap(twoClasses, []Record{right, wrong}, 2000, 7)
	if err != nil {
		t.Fatal(err)
	}
	if ci.Accuracy != (Interval{0, 1}) || !near(ci.MeanDice.Lo, 0.2) || !near(ci.MeanDice.Hi, 0.8) {
		t.Errorf("one right, one wrong: %+v", ci)
	}

	// The seed fixes the result.
	a, _ := Bootstrap(twoClasses, []Record{right, wrong, right}, 100, 3)
	b, _ := Bootstrap(twoClasses, []Record{right, wrong, right}, 100, 3)
	if a != b {
		t.Errorf("same seed, different intervals: %+v vs %+v", a, b)
	}

	for name, tc := range map[string]struct {
		recs []Record
		n    int
	}{
		"no resamples": {[]Record{right}, 0},
		"no records":   {nil, 10},
		"bad class":    {[]Record{{TrueClass: 5, Probs: []float64{1, 0}}}, 10},
	} {
		if _, err := Bootstrap(twoClasses, tc.recs, tc.n, 1); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
