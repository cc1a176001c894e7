package metrics

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestROC(t *testing.T) {
	inf := math.Inf(1)
	tests := []struct {
		name     string
		scores   []float64
		positive []bool
		points   []ROCPoint
		auc      float64
	}{
		{
			// Positives {0.9, 0.7}, negatives {0.8, 0.6}. Pairs won by the
			// positive: 0.9>0.8, 0.9>0.6, 0.7>0.6; lost: 0.7<0.8 → AUC 3/4.
			name:     "no ties",
			scores:   []float64{0.9, 0.8, 0.7, 0.6},
			positive: []bool{true, false, true, false},
			points: []ROCPoint{{inf, 0, 0}, {0.9, 0, 0.5}, {0.8, 0.5, 0.5},
				{0.7, 0.5, 1}, {0.6, 1, 1}},
			auc: 0.75,
		},
		{
			// Positives {0.8, 0.5}, negatives {0.5, 0.2}: 0.8 beats both (2),
			// 0.5 ties 0.5 (½) and beats 0.2 (1) → 3.5/4 = 0.875. The tie is
			// one diagonal step (0,½)→(½,1): area 0.5·(0.5+1)/2 + 0.5·1 = 0.875.
			name:     "tie across classes",
			scores:   []float64{0.8, 0.5, 0.5, 0.2},
			positive: []bool{true, true, false, false},
			points:   []ROCPoint{{inf, 0, 0}, {0.8, 0, 0.5}, {0.5, 0.5, 1}, {0.2, 1, 1}},
			auc:      0.875,
		},
		{
			// Every pair ties: AUC ½, a single diagonal step.
			name:     "all tied",
			scores:   []float64{0.3, 0.3, 0.3},
			positive: []bool{true, false, false},
			points:   []ROCPoint{{inf, 0, 0}, {0.3, 1, 1}},
			auc:      0.5,
		},
		{
			// Every negative above every positive: AUC 0.
			name:     "inverted",
			scores:   []float64{0.1, 0.9, 0.2},
			positive: []bool{true, false, true},
			points:   []ROCPoint{{inf, 0, 0}, {0.9, 1, 0}, {0.2, 1, 0.5}, {0.1, 1, 1}},
			auc:      0,
		},
		{name: "no negatives", scores: []float64{0.1, 0.9}, positive: []bool{true, true}, auc: math.NaN()},
		{name: "no positives", scores: []float64{0.1}, positive: []bool{false}, auc: math.NaN()},
		{name: "empty", auc: math.NaN()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ROC(tc.scores, tc.positive)
			if err != nil {
				t.Fatal(err)
			}
			if !near(c.AUC, tc.auc) {
				t.Errorf("ROC AUC = %v, want %v", c.AUC, tc.auc)
			}
			if len(c.Points) != len(tc.points) {
				t.Fatalf("Points = %v, want %v", c.Points, tc.points)
			}
			for i, p := range c.Points {
				w := tc.points[i]
				if p.Threshold != w.Threshold || !near(p.FPR, w.FPR) || !near(p.TPR, w.TPR) {
					t.Errorf("Points[%d] = %+v, want %+v", i, p, w)
				}
			}
			a, err := AUC(tc.scores, tc.positive)
			if err != nil || !near(a, tc.auc) {
				t.Errorf("AUC = %v, %v; want %v", a, err, tc.auc)
			}
		})
	}
}

func TestROCBadInput(t *testing.T) {
	if _, err := ROC([]float64{1, 2}, []bool{true}); err == nil {
		t.Error("ROC with fewer labels than scores: no error")
	}
	if _, err := AUC([]float64{math.NaN(), 1}, []bool{true, false}); err == nil {
		t.Error("AUC with a NaN score: no error")
	}
	if _, _, err := OneVsRest(2, []int{0}, [][]float64{{1, 0, 0}}); err == nil {
		t.Error("OneVsRest with a 3-value row for 2 classes: no error")
	}
	if _, _, err := OneVsRest(2, []int{5}, [][]float64{{1, 0}}); err == nil {
		t.Error("OneVsRest with class 5 of 2: no error")
	}
}

// Three estimates of the same number must agree on data full of ties: the
// trapezoidal area of the tie-grouped curve, the Mann-Whitney rank formula and
// the pair count by definition.
func TestAUCAgreesWithPairCount(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for trial := 0; trial < 100; trial++ {
		n := 2 + rng.IntN(60)
		scores := make([]float64, n)
		positive := make([]bool, n)
		for i := range scores {
			scores[i] = float64(rng.IntN(6)) / 5 // few distinct values: many ties
			positive[i] = rng.IntN(3) == 0
		}
		positive[0], positive[1] = true, false
		wins, pairs := 0.0, 0.0
		for i := range scores {
			for j := range scores {
				if !positive[i] || positive[j] {
					continue
				}
				pairs++
				switch {
				case scores[i] > scores[j]:
					wins++
				case scores[i] == scores[j]:
					wins += 0.5
				}
			}
		}
		want := wins / pairs
		c, err := ROC(scores, positive)
		if err != nil {
			t.Fatal(err)
		}
		a, err := AUC(scores, positive)
		if err != nil {
			t.Fatal(err)
		}
		if !near(c.AUC, want) || !near(a, want) {
			t.Fatalf("trial %d: curve area %v, Mann-Whitney %v, pair count %v", trial, c.AUC, a, want)
		}
		last := c.Points[len(c.Points)-1]
		if last.FPR != 1 || last.TPR != 1 {
			t.Fatalf("trial %d: curve ends at %+v, want (1,1)", trial, last)
		}
	}
}

func TestOneVsRest(t *testing.T) {
	truth := []int{0, 1, 2, 0}
	probs := [][]float64{
		{0.7, 0.2, 0.1},
		{0.1, 0.5, 0.4},
		{0.2, 0.3, 0.5},
		{0.3, 0.5, 0.2},
	}
	// Class 0: positives {0.7, 0.3} vs {0.1, 0.2}: 4/4 = 1.
	// Class 1: positive {0.5} vs {0.2, 0.3, 0.5}: 1 + 1 + ½ = 2.5/3 = 5/6.
	// Class 2: positive {0.5} vs {0.1, 0.4, 0.2}: 3/3 = 1.
	// Macro: (1 + 5/6 + 1)/3 = 17/18.
	curves, macro, err := OneVsRest(3, truth, probs)
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{1, 5.0 / 6, 1}
	for k, c := range curves {
		if !near(c.AUC, want[k]) {
			t.Errorf("class %d AUC = %v, want %v", k, c.AUC, want[k])
		}
	}
	if !near(macro, 17.0/18) {
		t.Errorf("macro AUC = %v, want 17/18", macro)
	}

	// Class 2 absent from the truth: its AUC is undefined and the macro AUC
	// averages the other two. Truth {0, 1, 1}: class 0 positive {0.7} vs
	// {0.1, 0.2}: 1. Class 1 positives {0.5, 0.3} vs {0.2}: 1. Macro 1.
	curves, macro, err = OneVsRest(3, []int{0, 1, 1}, probs[:3])
	if err != nil {
		t.Fatal(err)
	}
	if !math.IsNaN(curves[2].AUC) || curves[2].Positives != 0 || !near(macro, 1) {
		t.Errorf("class 2 AUC %v (positives %d), macro %v; want NaN, 0, 1", curves[2].AUC, curves[2].Positives, macro)
	}
}
