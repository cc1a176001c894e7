package metrics

import (
	"math"
	"testing"
)

func TestConfusion(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name        string
		k           int
		truth, pred []int
		counts      [][]int
		acc, bal    float64
		sens, spec  []float64
	}{
		{
			// truth 0,0,0,1,1,2,2,2,2 / pred 0,0,1,1,2,2,2,2,0.
			// Rows (true): 0 → [2 1 0], 1 → [0 1 1], 2 → [1 0 3].
			// Accuracy (2+1+3)/9 = 2/3.
			// Sensitivity: 2/3, 1/2, 3/4; balanced (8+6+9)/12/3 = 23/36.
			// Specificity: class 0: 6 others, 1 of them predicted 0 → 5/6;
			// class 1: 7 others, 1 predicted 1 → 6/7; class 2: 5 others, 1 → 4/5.
			name: "three classes", k: 3,
			truth:  []int{0, 0, 0, 1, 1, 2, 2, 2, 2},
			pred:   []int{0, 0, 1, 1, 2, 2, 2, 2, 0},
			counts: [][]int{{2, 1, 0}, {0, 1, 1}, {1, 0, 3}},
			acc:    6.0 / 9, bal: 23.0 / 36,
			sens: []float64{2.0 / 3, 0.5, 0.75},
			spec: []float64{5.0 / 6, 6.0 / 7, 0.8},
		},
		{
			// Class 1 never occurs in the truth: its sensitivity is undefined
			// and balanced accuracy averages classes 0 (1/2) and 2 (1/1): 3/4.
			// Its specificity is defined: 3 others, 1 predicted 1 → 2/3.
			name: "class missing from truth", k: 3,
			truth:  []int{0, 0, 2},
			pred:   []int{0, 1, 2},
			counts: [][]int{{1, 1, 0}, {0, 0, 0}, {0, 0, 1}},
			acc:    2.0 / 3, bal: 0.75,
			sens: []float64{0.5, nan, 1},
			spec: []float64{1, 2.0 / 3, 1},
		},
		{
			// Every sample is class 1: no negatives for class 1 (specificity
			// undefined); class 0 has no positives (sensitivity undefined).
			name: "single true class", k: 2,
			truth:  []int{1, 1},
			pred:   []int{1, 0},
			counts: [][]int{{0, 0}, {1, 1}},
			acc:    0.5, bal: 0.5,
			sens: []float64{nan, 0.5},
			spec: []float64{0.5, nan},
		},
		{
			name: "no samples", k: 2,
			counts: [][]int{{0, 0}, {0, 0}},
			acc:    nan, bal: nan,
			sens: []float64{nan, nan},
			spec: []float64{nan, nan},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewConfusion(tc.k, tc.truth, tc.pred)
			if err != nil {
				t.Fatal(err)
			}
			for i := range tc.counts {
				for j := range tc.counts[i] {
					if c.Counts[i][j] != tc.counts[i][j] {
						t.Fatalf("Counts = %v, want %v", c.Counts, tc.counts)
					}
				}
			}
			if c.Total() != len(tc.truth) {
				t.Errorf("Total = %d, want %d", c.Total(), len(tc.truth))
			}
			if !near(c.Accuracy(), tc.acc) {
				t.Errorf("Accuracy = %v, want %v", c.Accuracy(), tc.acc)
			}
			if !near(c.BalancedAccuracy(), tc.bal) {
				t.Errorf("BalancedAccuracy = %v, want %v", c.BalancedAccuracy(), tc.bal)
			}
			for k := 0; k < tc.k; k++ {
				if !near(c.Sensitivity(k), tc.sens[k]) {
					t.Errorf("Sensitivity(%d) = %v, want %v", k, c.Sensitivity(k), tc.sens[k])
				}
				if !near(c.Specificity(k), tc.spec[k]) {
					t.Errorf("Specificity(%d) = %v, want %v", k, c.Specificity(k), tc.spec[k])
				}
				support := 0
				for _, v := range tc.truth {
					if v == k {
						support++
					}
				}
				if c.Support(k) != support {
					t.Errorf("Support(%d) = %d, want %d", k, c.Support(k), support)
				}
			}
		})
	}
}

func TestConfusionBadInput(t *testing.T) {
	tests := []struct {
		name        string
		k           int
		truth, pred []int
	}{
		{"no classes", 0, nil, nil},
		{"length mismatch", 2, []int{0, 1}, []int{0}},
		{"true class out of range", 2, []int{2}, []int{0}},
		{"predicted class negative", 2, []int{0}, []int{-1}},
	}
	for _, tc := range tests {
		if _, err := NewConfusion(tc.k, tc.truth, tc.pred); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}
