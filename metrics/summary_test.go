package metrics

import (
	"math"
	"testing"
)

func TestDescribe(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name              string
		xs                []float64
		mean, std, median float64
		min, max          float64
	}{
		// Mean 10/4 = 2.5; median between 2 and 3 = 2.5; squared deviations
		// 2.25+0.25+0.25+2.25 = 5, sample variance 5/3, std sqrt(5/3).
		{"four values", []float64{4, 1, 3, 2}, 2.5, math.Sqrt(5.0 / 3), 2.5, 1, 4},
		// Odd count: median is the middle value 2; mean 12/3 = 4;
		// deviations 9+4+25 = 38 → variance 19, std sqrt(19).
		{"skewed", []float64{1, 2, 9}, 4, math.Sqrt(19), 2, 1, 9},
		{"one value", []float64{5}, 5, nan, 5, 5, 5},
		{"empty", nil, nan, nan, nan, nan, nan},
	}
	for _, tc := range tests {
		s := Describe(tc.xs)
		if s.N != len(tc.xs) || !near(s.Mean, tc.mean) || !near(s.Std, tc.std) || !near(s.Median, tc.median) ||
			!near(s.Min, tc.min) || !near(s.Max, tc.max) {
			t.Errorf("%s: Describe = %+v, want mean %v std %v median %v min %v max %v",
				tc.name, s, tc.mean, tc.std, tc.median, tc.min, tc.max)
		}
	}
}

func TestNewRecord(t *testing.T) {
	// 4×1 image, pred {x=0,1}, truth {x=1,2}. Dice 2·1/(2+2) = 0.5, IoU 1/3.
	// Every pixel of a one-row mask is boundary. pred→truth: x=0 is 1 from
	// x=1, x=1 is 0 → [0,1], P95 rank 0.95 → 0.95; truth→pred is [0,1] too.
	// HD95 = 0.95 px; with columns 0.2 mm apart, 0.19 mm.
	r, err := NewRecord("a", 1, 2, []float64{0.1, 0.3, 0.6},
		[]uint8{1, 1, 0, 0}, []uint8{0, 1, 1, 0}, 4, 1, [2]float64{0.1, 0.2})
	if err != nil {
		t.Fatal(err)
	}
	if !r.HasLesion || !near(r.Dice, 0.5) || !near(r.IoU, 1.0/3) || !near(r.HD95Px, 0.95) ||
		!near(r.HD95MM, 0.19) || !near(r.PredArea, 0.5) || !near(r.TruthArea, 0.5) {
		t.Errorf("NewRecord = %+v", r)
	}
	// Unknown spacing leaves HD95MM NaN; an empty truth is not a lesion.
	r, err = NewRecord("b", 0, 0, []float64{1, 0, 0}, []uint8{0, 1}, []uint8{0, 0}, 2, 1, [2]float64{})
	if err != nil {
		t.Fatal(err)
	}
	if r.HasLesion || !math.IsNaN(r.HD95MM) || !near(r.PredArea, 0.5) {
		t.Errorf("NewRecord without spacing = %+v", r)
	}
	if _, err := NewRecord("c", 0, 0, nil, []uint8{0}, []uint8{0, 0}, 2, 1, [2]float64{}); err == nil {
		t.Error("NewRecord with masks of different sizes: no error")
	}
}

func TestSummarize(t *testing.T) {
	nan := math.NaN()
	recs := []Record{
		{ID: "n1", TrueClass: 0, PredClass: 0, Probs: []float64{0.8, 0.1, 0.1}, Dice: 1, IoU: 1, HD95MM: nan},
		{ID: "n2", TrueClass: 0, PredClass: 1, Probs: []float64{0.3, 0.5, 0.2}, PredArea: 0.02, HD95Px: 20, HD95MM: nan},
		{ID: "b1", TrueClass: 1, PredClass: 1, Probs: []float64{0.1, 0.5, 0.4}, HasLesion: true,
			Dice: 0.8, IoU: 0.7, HD95Px: 3, HD95MM: nan, PredArea: 0.1, TruthArea: 0.1},
		{ID: "m1", TrueClass: 2, PredClass: 1, Probs: []float64{0.1, 0.5, 0.4}, HasLesion: true,
			Dice: 0.4, IoU: 0.25, HD95Px: 9, HD95MM: 4.5, PredArea: 0.05, TruthArea: 0.1},
		{ID: "m2", TrueClass: 2, PredClass: 2, Probs: []float64{0, 0.2, 0.8}, HasLesion: true,
			Dice: 0, IoU: 0, HD95Px: 20, HD95MM: nan, PredArea: 0, TruthArea: 0.2},
	}
	s, err := Summarize([]string{"normal", "benign", "malignant"}, recs)
	if err != nil {
		t.Fatal(err)
	}
	check := func(what string, got, want float64) {
		t.Helper()
		if !near(got, want) {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	// truth 0,0,1,2,2 / pred 0,1,1,1,2: accuracy 3/5; sensitivities 1/2, 1, 1/2
	// → balanced 2/3. Specificity of benign: 4 others (n1 n2 m1 m2), 2 of them
	// predicted benign (n2, m1) → 2/4.
	check("accuracy", s.Accuracy, 0.6)
	check("balanced accuracy", s.BalancedAccuracy, 2.0/3)
	check("benign sensitivity", s.Sensitivity[1], 1)
	check("benign specificity", s.Specificity[1], 0.5)
	if s.Support[2] != 2 || s.Confusion.Counts[2][1] != 1 {
		t.Errorf("support %v, confusion %v", s.Support, s.Confusion.Counts)
	}
	// AUCs. Normal: positives {0.8, 0.3} vs {0.1, 0.1, 0}: 1.
	// Benign: positive {0.5} vs {0.1, 0.5, 0.5, 0.2}: 1+½+½+1 = 3/4.
	// Malignant: positives {0.4, 0.8} vs {0.1, 0.2, 0.4}: 0.4 → 1+1+½,
	// 0.8 → 3; 5.5/6 = 11/12. Macro (12+9+11)/12/3 = 8/9.
	check("normal AUC", s.ROC[0].AUC, 1)
	check("benign AUC", s.ROC[1].AUC, 0.75)
	check("malignant AUC", s.ROC[2].AUC, 11.0/12)
	check("macro AUC", s.MacroAUC, 8.0/9)

	// Segmentation over the three lesion images only (the normal images'
	// Dice 1 and 0 must not count): Dice (0.8+0.4+0)/3 = 0.4, median 0.4.
	if s.LesionImages != 3 || s.Dice.N != 3 {
		t.Errorf("lesion images %d, Dice N %d; want 3", s.LesionImages, s.Dice.N)
	}
	check("mean Dice", s.Dice.Mean, 0.4)
	check("median Dice", s.Dice.Median, 0.4)
	check("mean IoU", s.IoU.Mean, 0.95/3)
	check("mean HD95 px", s.HD95Px.Mean, 32.0/3) // (3+9+20)/3
	check("median HD95 px", s.HD95Px.Median, 9)
	if s.HD95MM.N != 1 || !near(s.HD95MM.Mean, 4.5) {
		t.Errorf("HD95 mm = %+v, want one value 4.5", s.HD95MM)
	}
	// Per class: normal has no lesion image, benign [0.8], malignant [0.4, 0].
	if s.DiceByClass[0].N != 0 || !near(s.DiceByClass[1].Mean, 0.8) || !near(s.DiceByClass[2].Mean, 0.2) {
		t.Errorf("Dice by class = %+v", s.DiceByClass)
	}
	if s.MissedLesions != 1 {
		t.Errorf("missed lesions = %d, want 1 (m2)", s.MissedLesions)
	}
	// Normal images: areas 0 and 0.02 → mean 0.01; one has false pixels.
	if s.NormalImages != 2 || s.NormalWithFalsePixels != 1 {
		t.Errorf("normal images %d with false pixels %d; want 2, 1", s.NormalImages, s.NormalWithFalsePixels)
	}
	check("normal FP area", s.NormalFPArea.Mean, 0.01)
	check("normal FP area max", s.NormalFPArea.Max, 0.02)

	if _, err := Summarize([]string{"a", "b"}, []Record{{TrueClass: 2, Probs: []float64{1, 0}}}); err == nil {
		t.Error("Summarize with a class out of range: no error")
	}
	if _, err := Summarize([]string{"a", "b"}, []Record{{TrueClass: 1, Probs: []float64{1}}}); err == nil {
		t.Error("Summarize with a short probability row: no error")
	}
}
