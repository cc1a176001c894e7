package report

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/busam/busam/metrics"
)

func TestPerImageRoundTrip(t *testing.T) {
	classes := []string{"normal", "benign", "malignant"}
	recs := []metrics.Record{
		{ID: "a/b (1)", TrueClass: 1, PredClass: 2, Probs: []float64{0.1, 0.3, 0.6}, HasLesion: true, Dice: 0.5, IoU: 0.33,
			HD95Px: 4, HD95MM: math.NaN(), PredArea: 0.1, TruthArea: 0.2},
		{ID: "n", TrueClass: 0, PredClass: 0, Probs: []float64{0.9, 0.05, 0.05}, Dice: math.NaN(), IoU: math.NaN(),
			HD95Px: math.NaN(), HD95MM: math.NaN()},
	}
	path := filepath.Join(t.TempDir(), PerImageFile)
	if err := writeCSV(path, classes, recs); err != nil {
		t.Fatal(err)
	}
	gotC, got, err := ReadPerImage(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(gotC, ",") != "normal,benign,malignant" || len(got) != 2 {
		t.Fatalf("classes %v, %d rows", gotC, len(got))
	}
	a := got[0]
	if a.ID != "a/b (1)" || a.TrueClass != 1 || a.PredClass != 2 || a.Probs[2] != 0.6 || !a.HasLesion || a.Dice != 0.5 ||
		!math.IsNaN(a.HD95MM) || a.TruthArea != 0.2 {
		t.Errorf("row 0 = %+v", a)
	}
	if got[1].HasLesion || !math.IsNaN(got[1].Dice) {
		t.Errorf("row 1 = %+v", got[1])
	}
	for name, body := range map[string]string{
		"no dice":     "image,true,pred,p_a,p_b,has_lesion\nx,a,a,1,0,false\n",
		"bad class":   "image,true,pred,p_a,p_b,has_lesion,dice\nx,c,a,1,0,false,\n",
		"bad number":  "image,true,pred,p_a,p_b,has_lesion,dice\nx,a,a,one,0,false,\n",
		"no rows":     "image,true,pred,p_a,p_b,has_lesion,dice\n",
		"one class":   "image,true,pred,p_a,has_lesion,dice\nx,a,a,1,false,\n",
		"ragged line": "image,true,pred,p_a,p_b,has_lesion,dice\nx,a,a,1,0\n",
	} {
		p := filepath.Join(t.TempDir(), "bad.csv")
		os.WriteFile(p, []byte(body), 0o644)
		if _, _, err := ReadPerImage(p); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: err = %v, want an error naming the file", name, err)
		}
	}
}

// By hand: group A has a normal called normal, a benign (p_mal/(p_ben+p_mal)
// = 0.25) and a malignant (0.75) image: AUC 1, accuracy 2/3 (the malignant
// one is called benign), Dice (0.8 + 0.4) / 2.
func TestBreakdownByHand(t *testing.T) {
	classes := []string{"normal", "benign", "malignant"}
	recs := []metrics.Record{
		{ID: "A/n", TrueClass: 0, PredClass: 0, Probs: []float64{0.8, 0.1, 0.1}, Dice: math.NaN()},
		{ID: "A/b", TrueClass: 1, PredClass: 1, Probs: []float64{0.2, 0.6, 0.2}, Dice: 0.8, HasLesion: true},
		{ID: "A/m", TrueClass: 2, PredClass: 1, Probs: []float64{0.2, 0.2, 0.6}, Dice: 0.4, HasLesion: true},
		{ID: "B/m", TrueClass: 2, PredClass: 0, Probs: []float64{0.5, 0.2, 0.3}, Dice: 0, HasLesion: true},
		{ID: "skip", TrueClass: 0, PredClass: 0, Probs: []float64{1, 0, 0}},
	}
	gs, err := Breakdown(classes, recs, func(r metrics.Record) string {
		if i := strings.IndexByte(r.ID, '/'); i > 0 {
			return r.ID[:i]
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(gs) != 2 {
		t.Fatalf("%d groups", len(gs))
	}
	a, b := gs[0], gs[1]
	if a.Name != "A" || a.N != 3 || a.Lesions != 2 || math.Abs(a.Dice-0.6) > 1e-12 || math.Abs(a.Accuracy-2.0/3) > 1e-12 ||
		a.NormalSens != 1 || a.BenignVsMalignantAUC != 1 || a.LesionCalledNormal != 0 {
		t.Errorf("A = %+v", a)
	}
	if b.Name != "B" || b.N != 1 || b.Accuracy != 0 || !math.IsNaN(b.NormalSens) || !math.IsNaN(b.BenignVsMalignantAUC) || b.LesionCalledNormal != 1 {
		t.Errorf("B = %+v", b)
	}
	if md := BreakdownMarkdown("dataset", gs); !strings.Contains(md, "| A | 3 | 2 | 0.600 | 0.667 | 1.000 | 1.000 | 0 |") {
		t.Errorf("markdown:\n%s", md)
	}
	if _, err := Breakdown([]string{"x", "y"}, recs, func(metrics.Record) string { return "A" }); err == nil {
		t.Error("classes without normal accepted")
	}
}
