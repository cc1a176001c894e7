package report

import (
	"encoding/csv"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/busam/busam/metrics"
)

var classes = []string{"normal", "benign", "malignant"}

// disc is a w×h mask with a filled disc.
func disc(w, h, cx, cy, r int) []uint8 {
	m := make([]uint8, w*h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			if (x-cx)*(x-cx)+(y-cy)*(y-cy) <= r*r {
				m[y*w+x] = 1
			}
		}
	}
	return m
}

// fakeInput builds a small, fully measured evaluation: n images of
// alternating classes with lesions as discs, the prediction a shifted disc,
// class probabilities leaning to the truth.
func fakeInput(t *testing.T, n int) Input {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, 8))
	var recs []metrics.Record
	var examples []Example
	for i := 0; i < n; i++ {
		w, h := 120+rng.IntN(80), 90+rng.IntN(40)
		cls := i % 3
		truth := make([]uint8, w*h)
		pred := make([]uint8, w*h)
		if cls != 0 {
			r := 10 + rng.IntN(20)
			truth = disc(w, h, w/2, h/2, r)
			pred = disc(w, h, w/2+rng.IntN(2*r+1)-r, h/2, r)
		} else if i%2 == 0 {
			pred = disc(w, h, 10, 10, 3)
		}
		probs := []float64{rng.Float64(), rng.Float64(), rng.Float64()}
		probs[cls] += 0.8
		sum := probs[0] + probs[1] + probs[2]
		best := 0
		for k := range probs {
			probs[k] /= sum
			if probs[k] > probs[best] {
				best = k
			}
		}
		sp := [2]float64{}
		if i%4 == 0 {
			sp = [2]float64{0.1, 0.1}
		}
		rec, err := metrics.NewRecord(filepath.Join(classes[cls], "img ("+string(rune('a'+i%26))+")"), cls, best, probs, pred, truth, w, h, sp)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
		img := image.NewGray(image.Rect(0, 0, w, h))
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				img.SetGray(x, y, color.Gray{Y: uint8(40 + (x*y)%120)})
			}
		}
		examples = append(examples, Example{Record: rec, Image: img, Truth: truth, Pred: pred})
	}
	s, err := metrics.Summarize(classes, recs)
	if err != nil {
		t.Fatal(err)
	}
	ci, err := metrics.Bootstrap(classes, recs, 200, 1)
	if err != nil {
		t.Fatal(err)
	}
	in := Input{Title: "test report", Notes: []string{"heads: fake"}, Summary: s, CI: &ci, Records: recs}
	bi, wi := PickExamples(recs, 4)
	for _, i := range bi {
		in.Best = append(in.Best, examples[i])
	}
	for _, i := range wi {
		in.Worst = append(in.Worst, examples[i])
	}
	for e := 1; e <= 12; e++ {
		ep := Epoch{Epoch: e, TrainLoss: 1 / float64(e), ValLoss: 1.2 / float64(e), ValDice: 1 - 1/float64(e+1),
			ValAcc: 0.5 + 0.03*float64(e), LR: 1e-3 * math.Pow(0.8, float64(e)), Seconds: 10}
		if e == 3 {
			ep.ValLoss = math.NaN() // a missing validation must not break the plot
		}
		in.TrainLog = append(in.TrainLog, ep)
	}
	return in
}

func decodePNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return img
}

func TestWrite(t *testing.T) {
	in := fakeInput(t, 24)
	dir := filepath.Join(t.TempDir(), "out", "report")
	if err := Write(dir, in, false); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{ROCFile, ConfusionFile, DiceHistFile, TrainingFile, ExamplesFile} {
		img := decodePNG(t, filepath.Join(dir, f))
		if b := img.Bounds(); b.Dx() < 300 || b.Dy() < 200 {
			t.Errorf("%s is only %v", f, b)
		}
		// A plot that drew nothing would be one flat colour.
		if distinctColors(img) < 8 {
			t.Errorf("%s has %d colours: nothing drawn?", f, distinctColors(img))
		}
	}

	md, err := os.ReadFile(filepath.Join(dir, MarkdownFile))
	if err != nil {
		t.Fatal(err)
	}
	s := in.Summary
	for _, want := range []string{
		"# test report", "- heads: fake",
		"| accuracy | " + num(s.Accuracy, 4) + " [" + num(in.CI.Accuracy.Lo, 4) + ", " + num(in.CI.Accuracy.Hi, 4) + "] |",
		"95% percentile-bootstrap confidence interval over images (200 resamples",
		"| macro AUC (one vs rest) | " + num(s.MacroAUC, 4) + " [",
		"![ROC curves](roc.png)", "![Confusion matrix](confusion.png)", "![Dice histogram](dice_hist.png)",
		"![Training curves](training.png)", "![Best and worst Dice examples](examples.png)",
		"[per_image.csv](per_image.csv)",
		"| **benign** | " + itoa(s.Confusion.Counts[1][0]) + " | " + itoa(s.Confusion.Counts[1][1]) + " |",
	} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q", want)
		}
	}

	var js struct {
		Accuracy float64
		CI95     struct{ Accuracy []float64 } `json:"ci95"`
		PerClass []struct {
			Class   string
			Support int
		} `json:"per_class"`
	}
	data, err := os.ReadFile(filepath.Join(dir, SummaryFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &js); err != nil {
		t.Fatal(err)
	}
	if js.Accuracy != s.Accuracy || len(js.PerClass) != 3 || js.PerClass[2].Support != s.Support[2] ||
		len(js.CI95.Accuracy) != 2 || js.CI95.Accuracy[0] != in.CI.Accuracy.Lo {
		t.Errorf("summary.json = %+v, want accuracy %v and supports %v", js, s.Accuracy, s.Support)
	}

	txt := SummaryText(s, in.CI)
	if !strings.Contains(txt, num(s.Accuracy, 4)+" ["+num(in.CI.Accuracy.Lo, 4)) || !strings.Contains(txt, "200 resamples") {
		t.Errorf("SummaryText lacks the accuracy interval:\n%s", txt)
	}

	f, err := os.Open(filepath.Join(dir, PerImageFile))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(in.Records)+1 {
		t.Fatalf("per_image.csv has %d rows, want header + %d", len(rows), len(in.Records))
	}
	wantHeader := "image,true,pred,p_normal,p_benign,p_malignant,has_lesion,dice,iou,hd95_px,hd95_mm,pred_area,truth_area"
	if got := strings.Join(rows[0], ","); got != wantHeader {
		t.Errorf("header %q, want %q", got, wantHeader)
	}
	r0, row := in.Records[0], rows[1]
	// Record 0 has a 0.1 mm spacing, so HD95 in mm is a tenth of HD95 in px.
	if row[0] != r0.ID || row[1] != classes[r0.TrueClass] || row[9] != strconv.FormatFloat(r0.HD95Px, 'g', 6, 64) ||
		row[10] != strconv.FormatFloat(r0.HD95Px/10, 'g', 6, 64) {
		t.Errorf("first row %v for record %+v", row, r0)
	}
	if r1 := rows[2]; r1[10] != "" { // record 1 has no spacing: empty cell
		t.Errorf("hd95_mm of a record without spacing = %q, want empty", r1[10])
	}

	// No temporary folder is left next to the report.
	entries, _ := os.ReadDir(filepath.Dir(dir))
	if len(entries) != 1 {
		t.Errorf("folder holds %d entries after Write, want only the report", len(entries))
	}
}

func itoa(n int) string { return num(float64(n), 0) }

func distinctColors(img image.Image) int {
	seen := map[color.RGBA]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 3 {
		for x := b.Min.X; x < b.Max.X; x += 3 {
			r, g, bb, a := img.At(x, y).RGBA()
			seen[color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(bb >> 8), uint8(a >> 8)}] = true
		}
	}
	return len(seen)
}

func TestWriteRefusesAndReplaces(t *testing.T) {
	in := fakeInput(t, 6)
	dir := filepath.Join(t.TempDir(), "rep")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(dir, "old.txt")
	os.WriteFile(marker, []byte("old"), 0o644)
	if err := Write(dir, in, false); err == nil {
		t.Fatal("Write over an existing folder without overwrite: no error")
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatal("refused Write touched the existing folder")
	}
	// A failing write (an example whose masks do not fit its image) leaves
	// the old report in place and no temporary folder behind.
	bad := in
	bad.Best = []Example{{Record: in.Records[1], Image: image.NewGray(image.Rect(0, 0, 4, 4)), Truth: []uint8{1}, Pred: []uint8{1}}}
	if err := Write(dir, bad, true); err == nil {
		t.Fatal("Write with a broken example: no error")
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatal("failed Write removed the previous report")
	}
	if err := Write(dir, in, true); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("overwrite kept a file of the previous report")
	}
	if _, err := os.Stat(filepath.Join(dir, MarkdownFile)); err != nil {
		t.Error(err)
	}
	entries, _ := os.ReadDir(filepath.Dir(dir))
	if len(entries) != 1 {
		t.Errorf("folder holds %d entries, want only the report", len(entries))
	}
}

// A report of normal images only has no lesion, hence no Dice histogram and
// no examples, and undefined AUCs: it must still be written.
func TestWriteDegenerate(t *testing.T) {
	var recs []metrics.Record
	for i := 0; i < 3; i++ {
		r, err := metrics.NewRecord(string(rune('a'+i)), 0, 0, []float64{1, 0, 0}, []uint8{0, 0}, []uint8{0, 0}, 2, 1, [2]float64{})
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	s, err := metrics.Summarize(classes, recs)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "rep")
	if err := Write(dir, Input{Summary: s, Records: recs}, false); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{DiceHistFile, TrainingFile, ExamplesFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			t.Errorf("%s written for a report without lesions or log", f)
		}
	}
	js, err := os.ReadFile(filepath.Join(dir, SummaryFile))
	if err != nil {
		t.Fatal(err)
	}
	var parsed map[string]any
	if err := json.Unmarshal(js, &parsed); err != nil {
		t.Fatalf("summary.json: %v", err)
	}
	if parsed["macro_auc"] != nil || parsed["images"] != 3.0 {
		t.Errorf("summary.json macro_auc %v (want null), images %v (want 3)", parsed["macro_auc"], parsed["images"])
	}
	md, _ := os.ReadFile(filepath.Join(dir, MarkdownFile))
	if !strings.Contains(string(md), "| macro AUC (one vs rest) | n/a |") {
		t.Errorf("report.md does not mark the undefined macro AUC n/a:\n%s", md)
	}
	if txt := SummaryText(s, nil); !strings.Contains(txt, "n/a") || !strings.Contains(txt, "images") {
		t.Errorf("SummaryText:\n%s", txt)
	}
}

func TestPickExamples(t *testing.T) {
	recs := []metrics.Record{
		{ID: "a", HasLesion: true, Dice: 0.5},
		{ID: "b", HasLesion: false, Dice: 1}, // normal: never an example
		{ID: "c", HasLesion: true, Dice: 0.9},
		{ID: "d", HasLesion: true, Dice: 0.1},
		{ID: "e", HasLesion: true, Dice: 0.7},
		{ID: "f", HasLesion: true, Dice: math.NaN()},
	}
	best, worst := PickExamples(recs, 2)
	// Lesion Dice: d 0.1, a 0.5, e 0.7, c 0.9 → best c, e; worst d, a.
	if len(best) != 2 || best[0] != 2 || best[1] != 4 || len(worst) != 2 || worst[0] != 3 || worst[1] != 0 {
		t.Errorf("PickExamples = %v, %v; want [2 4], [3 0]", best, worst)
	}
	// Asking for more than half: three lesion images split 2 best, 1 worst.
	best, worst = PickExamples(recs[:4], 5)
	if len(best) != 2 || len(worst) != 1 || worst[0] != 3 {
		t.Errorf("PickExamples(3 lesions, 5) = %v, %v", best, worst)
	}
}

func TestReadTrainLog(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "train_log.json")
	os.WriteFile(good, []byte(`[{"epoch":1,"train_loss":0.9,"val_loss":null,"val_dice":0.5,"val_acc":0.6,"val_bal_acc":0.55,"lr":0.001,"seconds":12.5,"extra":1},
		{"epoch":2,"train_loss":0.7,"lr":0.0005}]`), 0o644)
	log, err := ReadTrainLog(good)
	if err != nil {
		t.Fatal(err)
	}
	if len(log) != 2 || log[0].TrainLoss != 0.9 || !math.IsNaN(log[0].ValLoss) || log[0].Seconds != 12.5 ||
		log[0].ValBalAcc != 0.55 || log[1].Epoch != 2 || !math.IsNaN(log[1].ValDice) || !math.IsNaN(log[1].ValBalAcc) {
		t.Errorf("ReadTrainLog = %+v", log)
	}
	for name, body := range map[string]string{
		"object.json":    `{"epoch":1}`,
		"truncated.json": `[{"epoch":1,`,
		"noepoch.json":   `[{"train_loss":1}]`,
	} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o644)
		if _, err := ReadTrainLog(p); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: error %v, want one naming the file", name, err)
		}
	}
	if _, err := ReadTrainLog(filepath.Join(dir, "missing.json")); err == nil {
		t.Error("missing log: no error")
	}
}

func TestWriteRejectsInconsistentSummary(t *testing.T) {
	tests := map[string]metrics.Summary{
		"no classes":          {},
		"missing per-class":   {Classes: classes},
		"short confusion row": func() metrics.Summary { s := fakeInput(t, 6).Summary; s.Confusion.Counts[1] = []int{1}; return s }(),
	}
	for name, s := range tests {
		dir := filepath.Join(t.TempDir(), "rep")
		if err := Write(dir, Input{Summary: s}, false); err == nil {
			t.Errorf("%s: no error", name)
		}
		if _, err := os.Stat(dir); err == nil {
			t.Errorf("%s: report folder created", name)
		}
		if txt := SummaryText(s, nil); !strings.Contains(txt, "report:") {
			t.Errorf("%s: SummaryText = %q, want the error", name, txt)
		}
	}
}
