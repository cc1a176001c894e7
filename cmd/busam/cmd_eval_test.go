package main

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/busam/busam/dataset"
	"github.com/busam/busam/dataset/split"
	"github.com/busam/busam/model/pipeline"
	"github.com/busam/busam/report"
)

// Fake data: 40×30 images; a lesion is the 10×10 square at (lesionX, lesionY).
const (
	fakeW, fakeH     = 40, 30
	lesionX, lesionY = 12, 8
	lesionSide       = 10
)

func writePNG(t *testing.T, path string, img image.Image) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// square is a w×h 0|1 mask with the lesion square moved dx pixels right.
func square(dx int) []uint8 {
	m := make([]uint8, fakeW*fakeH)
	for y := lesionY; y < lesionY+lesionSide; y++ {
		for x := lesionX + dx; x < lesionX+dx+lesionSide; x++ {
			m[y*fakeW+x] = 1
		}
	}
	return m
}

// fakeBUSI writes a BUSI-layout dataset: normal (1..2), benign (1..3) and
// malignant (1..3), each with a _mask.png (empty for normal).
func fakeBUSI(t *testing.T) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "busi")
	counts := map[string]int{"normal": 2, "benign": 3, "malignant": 3}
	for class, n := range counts {
		for i := 1; i <= n; i++ {
			img := image.NewGray(image.Rect(0, 0, fakeW, fakeH))
			mask := image.NewGray(image.Rect(0, 0, fakeW, fakeH))
			lesion := square(0)
			for p := range img.Pix {
				img.Pix[p] = uint8(100 + (p*7)%50)
				if class != "normal" && lesion[p] != 0 {
					img.Pix[p], mask.Pix[p] = 30, 255
				}
			}
			base := filepath.Join(root, class, fmt.Sprintf("%s (%d)", class, i))
			writePNG(t, base+".png", img)
			writePNG(t, base+"_mask.png", mask)
		}
	}
	return root
}

// fakeModel answers from the file name, so every expected number can be
// worked out by hand: normal → empty mask, class normal; benign → the exact
// lesion, class benign; malignant → the lesion moved 5 px right, class
// malignant, except malignant (3), classified benign.
type fakeModel struct {
	classes []dataset.Label
	calls   int
}

func (f *fakeModel) Analyze(path string, img image.Image) (pipeline.Result, error) {
	f.calls++
	name := filepath.Base(path)
	b := img.Bounds()
	r := pipeline.Result{W: b.Dx(), H: b.Dy(), Classes: []dataset.Label{dataset.Normal, dataset.Benign, dataset.Malignant}}
	if f.classes != nil {
		r.Classes = f.classes
	}
	switch {
	case strings.HasPrefix(name, "normal"):
		r.Mask, r.Label, r.Probs = make([]uint8, fakeW*fakeH), dataset.Normal, []float32{0.8, 0.1, 0.1}
	case strings.HasPrefix(name, "benign"):
		r.Mask, r.Label, r.Probs = square(0), dataset.Benign, []float32{0.1, 0.7, 0.2}
	case name == "malignant (3).png":
		r.Mask, r.Label, r.Probs = square(5), dataset.Benign, []float32{0.1, 0.5, 0.4}
	default:
		r.Mask, r.Label, r.Probs = square(5), dataset.Malignant, []float32{0.1, 0.2, 0.7}
	}
	if len(r.Classes) == 2 {
		r.Probs = r.Probs[1:]
	}
	return r, nil
}

func TestEvalEndToEnd(t *testing.T) {
	root := fakeBUSI(t)
	headsDir := t.TempDir()
	os.WriteFile(filepath.Join(headsDir, "train_log.json"),
		[]byte(`[{"epoch":1,"train_loss":1,"val_loss":1.1,"val_dice":0.5,"val_acc":0.6,"lr":0.001,"seconds":3},
		{"epoch":2,"train_loss":0.5,"val_loss":0.7,"val_dice":0.7,"val_acc":0.8,"lr":0.0005,"seconds":3}]`), 0o644)
	out := filepath.Join(t.TempDir(), "report")
	o, err := parseEvalFlags([]string{"--heads", filepath.Join(headsDir, "heads.safetensors"), "--data", root, "--out", out})
	if err != nil {
		t.Fatal(err)
	}
	var stdout, progress bytes.Buffer
	model := &fakeModel{}
	if err := runEval(o, model, &stdout, &progress); err != nil {
		t.Fatal(err)
	}
	if model.calls != 8 {
		t.Errorf("model ran %d times for 8 images", model.calls)
	}
	md, err := os.ReadFile(filepath.Join(out, report.MarkdownFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		// 7 of 8 right (malignant (3) called benign).
		"| accuracy | 0.8750 [",
		// Sensitivities 2/2, 3/3, 2/3 → (1 + 1 + 2/3)/3 = 8/9.
		"| balanced accuracy (mean sensitivity) | 0.8889 [",
		// Every positive outscores every negative in each class: AUC 1.
		"| macro AUC (one vs rest) | 1.0000 [",
		// Lesion Dice: benign 1, 1, 1; malignant: the 10×10 square moved
		// 5 px overlaps the truth on 5×10 = 50 px: 2·50/(100+100) = 0.5.
		// Mean 0.75; deviations ±0.25, sample sd sqrt(6·0.0625/5) = 0.2739.
		"| Dice, lesion images (n=6), mean ± sd (median) | 0.7500 ± 0.2739 (median 0.7500) [",
		// IoU: 1, 1, 1, 50/150 ×3 → mean (3 + 1)/6 = 0.6667.
		"| IoU, lesion images | 0.6667",
		"| lesion images with an empty prediction | 0 of 6 |",
		"| normal images with any false-positive pixel | 0 of 2 |",
		"| **malignant** | 0 | 1 | 2 |",
		"![Training curves](training.png)",
		"split: none",
	} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	if !strings.Contains(stdout.String(), "accuracy") || !strings.Contains(stdout.String(), "0.8750") {
		t.Errorf("summary not printed:\n%s", stdout.String())
	}
	rows := readCSV(t, filepath.Join(out, report.PerImageFile))
	if len(rows) != 9 {
		t.Fatalf("per_image.csv has %d rows, want header + 8", len(rows))
	}
	for _, f := range []string{report.ROCFile, report.ConfusionFile, report.DiceHistFile, report.TrainingFile, report.ExamplesFile} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}

	// A second run must not replace the report without --force.
	if err := runEval(o, &fakeModel{}, &stdout, &progress); err == nil {
		t.Error("eval over an existing report without --force: no error")
	}
	o.force = true
	if err := runEval(o, &fakeModel{}, &stdout, &progress); err != nil {
		t.Errorf("eval --force: %v", err)
	}
}

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return rows
}

// brokenModel returns a mask that does not fit the image.
type brokenModel struct{ fakeModel }

func (b *brokenModel) Analyze(path string, img image.Image) (pipeline.Result, error) {
	r, err := b.fakeModel.Analyze(path, img)
	r.Mask = r.Mask[1:]
	return r, err
}

func TestEvalRefusesBadResults(t *testing.T) {
	root := fakeBUSI(t)
	tests := []struct {
		name  string
		model analyzer
		want  string
	}{
		// A two-class model cannot be scored on normal images.
		{"class missing from model", &fakeModel{classes: []dataset.Label{dataset.Benign, dataset.Malignant}}, "does not predict"},
		{"mask of the wrong size", &brokenModel{}, "mask values"},
	}
	for _, tc := range tests {
		out := filepath.Join(t.TempDir(), "report")
		o := evalOptions{model: modelFlags{heads: "h"}, data: root, out: out, part: "test", examples: 2}
		err := runEval(o, tc.model, &bytes.Buffer{}, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("%s: a report was written despite the error", tc.name)
		}
	}
}

func TestParseEvalFlags(t *testing.T) {
	tests := []struct {
		args []string
		ok   bool
	}{
		{[]string{"--heads", "h", "--data", "d", "--out", "o"}, true},
		{[]string{"--heads", "h", "--data", "d", "--out", "o", "--split", "s.json", "--part", "val"}, true},
		{[]string{"--data", "d", "--out", "o"}, false},
		{[]string{"--heads", "h", "--data", "d"}, false},
		{[]string{"--heads", "h", "--data", "d", "--out", "o", "--part", "dev"}, false},
		{[]string{"--heads", "h", "--data", "d", "--out", "o", "--examples", "-1"}, false},
		{[]string{"--heads", "h", "--data", "d", "--out", "o", "extra"}, false},
	}
	for _, tc := range tests {
		_, err := parseEvalFlags(tc.args)
		if (err == nil) != tc.ok {
			t.Errorf("parseEvalFlags(%q): error %v, want ok=%v", tc.args, err, tc.ok)
		}
	}
}

func TestPackedMask(t *testing.T) {
	for _, n := range []int{0, 1, 63, 64, 65, 200} {
		m := make([]uint8, n)
		for i := range m {
			if i%3 == 0 || i == n-1 {
				m[i] = 1
			}
		}
		got := pack(m).unpack()
		if !bytes.Equal(got, m) {
			t.Errorf("n=%d: unpack(pack(m)) = %v, want %v", n, got, m)
		}
	}
}

func TestEvalSplitPart(t *testing.T) {
	root := fakeBUSI(t)
	ds, err := dataset.Load(root)
	if err != nil {
		t.Fatal(err)
	}
	sp := &split.Split{
		Version: split.FormatVersion, Root: ds.Root, SamplesHash: split.SampleListHash(ds), NumSamples: 8,
		Train: []string{"benign/benign (2)", "benign/benign (3)", "malignant/malignant (1)", "normal/normal (2)"},
		Val:   []string{"malignant/malignant (2)"},
		Test:  []string{"benign/benign (1)", "malignant/malignant (3)", "normal/normal (1)"},
	}
	splitPath := filepath.Join(t.TempDir(), "split.json")
	if err := split.Save(splitPath, sp); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		part  string
		n     int
		accMD string
	}{
		// Test part: benign (1) right, malignant (3) called benign, normal (1) right: 2/3.
		{"test", 3, "| accuracy | 0.6667 ["},
		{"val", 1, "| accuracy | 1.0000 ["},
		{"all", 8, "| accuracy | 0.8750 ["},
	}
	for _, tc := range tests {
		out := filepath.Join(t.TempDir(), "report")
		o, err := parseEvalFlags([]string{"--heads", "h", "--data", root, "--split", splitPath, "--part", tc.part, "--out", out})
		if err != nil {
			t.Fatal(err)
		}
		model := &fakeModel{}
		if err := runEval(o, model, &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
			t.Fatalf("part %s: %v", tc.part, err)
		}
		md, _ := os.ReadFile(filepath.Join(out, report.MarkdownFile))
		if model.calls != tc.n || !strings.Contains(string(md), tc.accMD) ||
			!strings.Contains(string(md), "part "+tc.part) {
			t.Errorf("part %s: %d images evaluated (want %d), report:\n%s", tc.part, model.calls, tc.n, md)
		}
	}

	// A split made for another sample list is stale: refused.
	writePNG(t, filepath.Join(root, "normal", "normal (9).png"), image.NewGray(image.Rect(0, 0, fakeW, fakeH)))
	o := evalOptions{model: modelFlags{heads: "h"}, data: root, split: splitPath, part: "test", out: filepath.Join(t.TempDir(), "r")}
	if err := runEval(o, &fakeModel{}, &bytes.Buffer{}, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "stale") {
		t.Errorf("stale split: error %v", err)
	}
}
