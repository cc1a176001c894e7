package main

import (
	"bytes"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/busam/busam/dataset"
	"github.com/busam/busam/model/pipeline"
)

func readMaskPNG(t *testing.T, path string) *image.Gray {
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
	g, ok := img.(*image.Gray)
	if !ok {
		t.Fatalf("%s decodes as %T, want 8-bit grey", path, img)
	}
	return g
}

func TestPredictFolder(t *testing.T) {
	root := fakeBUSI(t)
	out := filepath.Join(t.TempDir(), "pred")
	o, err := parsePredictFlags([]string{"--heads", "h.safetensors", "--data", root, "--out", out})
	if err != nil {
		t.Fatal(err)
	}
	var stdout bytes.Buffer
	model := &fakeModel{}
	if err := runPredict(o, model, &stdout, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	// The 8 masks in the folder are not inputs.
	if model.calls != 8 {
		t.Errorf("model ran on %d files, want the 8 images", model.calls)
	}
	// Masks mirror the input tree, at the image's size, 0 or 255.
	m := readMaskPNG(t, filepath.Join(out, "malignant", "malignant (1)_pred.png"))
	if m.Bounds() != image.Rect(0, 0, fakeW, fakeH) {
		t.Fatalf("mask is %v, want %dx%d", m.Bounds(), fakeW, fakeH)
	}
	want := square(5) // the fake model's malignant mask
	for i, v := range m.Pix {
		if v != 255*want[i] {
			t.Fatalf("mask pixel %d = %d, want %d", i, v, 255*want[i])
		}
	}
	rows := readCSV(t, filepath.Join(out, PredictionsFile))
	if got := strings.Join(rows[0], ","); got != "image,label_pred,p_normal,p_benign,p_malignant,mask_area_px,distance,unusual,not_ultrasound" {
		t.Errorf("header %q", got)
	}
	if len(rows) != 9 {
		t.Fatalf("%d rows, want header + 8", len(rows))
	}
	byImage := map[string][]string{}
	for _, r := range rows[1:] {
		byImage[r[0]] = r
	}
	wantRows := map[string]string{
		"benign/benign (2).png":       "benign/benign (2).png,benign,0.100000,0.700000,0.200000,100,0.000000,false,false",
		"malignant/malignant (3).png": "malignant/malignant (3).png,benign,0.100000,0.500000,0.400000,100,0.000000,false,false",
		"normal/normal (1).png":       "normal/normal (1).png,normal,0.800000,0.100000,0.100000,0,0.000000,false,false",
	}
	for img, w := range wantRows {
		if got := strings.Join(byImage[img], ","); got != w {
			t.Errorf("row %q, want %q", got, w)
		}
	}

	// Rerunning without --force changes nothing and fails.
	csvPath := filepath.Join(out, PredictionsFile)
	before, _ := os.Stat(csvPath)
	if err := runPredict(o, &fakeModel{}, &stdout, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("second run without --force: error %v", err)
	}
	after, _ := os.Stat(csvPath)
	if !after.ModTime().Equal(before.ModTime()) {
		t.Error("refused run touched predictions.csv")
	}
	o.force = true
	if err := runPredict(o, &fakeModel{}, &stdout, &bytes.Buffer{}); err != nil {
		t.Errorf("--force: %v", err)
	}
	// No temporary files are left behind.
	filepath.WalkDir(out, func(p string, d os.DirEntry, err error) error {
		if strings.Contains(d.Name(), ".tmp-") {
			t.Errorf("temporary file left: %s", p)
		}
		return nil
	})
}

// --out equal to a --data folder would put *_pred.png files among the
// images, which then no longer load as a dataset: refused.
func TestPredictRefusesInPlace(t *testing.T) {
	root := fakeBUSI(t)
	for _, out := range []string{root, root + string(filepath.Separator), filepath.Join(root, "benign", "..")} {
		o := predictOptions{model: modelFlags{heads: "h"}, data: root, out: out, force: true}
		if err := runPredict(o, &fakeModel{}, &bytes.Buffer{}, &bytes.Buffer{}); err == nil {
			t.Errorf("--out %s = --data: no error", out)
		}
	}
	if _, err := dataset.Load(root); err != nil {
		t.Errorf("dataset after the refused runs: %v", err)
	}
}

// An output folder inside the input folder is not searched for inputs.
func TestPredictOutInsideData(t *testing.T) {
	root := fakeBUSI(t)
	out := filepath.Join(root, "results")
	os.MkdirAll(out, 0o755)
	writePNG(t, filepath.Join(out, "stray.png"), image.NewGray(image.Rect(0, 0, fakeW, fakeH)))
	model := &fakeModel{}
	o := predictOptions{model: modelFlags{heads: "h"}, data: root, out: out, force: true}
	if err := runPredict(o, model, &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if model.calls != 8 {
		t.Errorf("model ran on %d files, want 8 (the output folder is not input)", model.calls)
	}
}

// A corrupt image fails alone: the others are written, the command fails.
func TestPredictCorruptImage(t *testing.T) {
	root := fakeBUSI(t)
	os.WriteFile(filepath.Join(root, "benign", "broken.png"), []byte("\x89PNG\r\n\x1a\nnot really"), 0o644)
	out := filepath.Join(t.TempDir(), "pred")
	o := predictOptions{model: modelFlags{heads: "h"}, data: root, out: out}
	err := runPredict(o, &fakeModel{}, &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "1 of 9") || !strings.Contains(err.Error(), "broken.png") {
		t.Errorf("error %v, want 1 of 9 failed naming broken.png", err)
	}
	if rows := readCSV(t, filepath.Join(out, PredictionsFile)); len(rows) != 9 {
		t.Errorf("predictions.csv has %d rows, want header + the 8 good images", len(rows))
	}
	if _, err := os.Stat(filepath.Join(out, "benign", "broken_pred.png")); err == nil {
		t.Error("a mask was written for the corrupt image")
	}
}

func TestPredictManifestAndSingleImage(t *testing.T) {
	root := fakeBUSI(t)
	manifest := filepath.Join(root, "list.csv")
	// Labels and masks are not needed to predict: a benign image without
	// its mask and a row without a label are fine.
	os.WriteFile(manifest, []byte("label,image\nbenign,benign/benign (1).png\n,normal/normal (2).png\n"), 0o644)
	out := filepath.Join(t.TempDir(), "pred")
	model := &fakeModel{}
	if err := runPredict(predictOptions{data: manifest, out: out}, model, &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if model.calls != 2 {
		t.Errorf("manifest of 2 images: model ran %d times", model.calls)
	}
	if _, err := os.Stat(filepath.Join(out, "normal", "normal (2)_pred.png")); err != nil {
		t.Error(err)
	}

	single := filepath.Join(root, "benign", "benign (3).png")
	out = filepath.Join(t.TempDir(), "one")
	if err := runPredict(predictOptions{data: single, out: out}, &fakeModel{}, &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	rows := readCSV(t, filepath.Join(out, PredictionsFile))
	if len(rows) != 2 || rows[1][0] != "benign (3).png" {
		t.Errorf("single image rows %v", rows)
	}
	if _, err := os.Stat(filepath.Join(out, "benign (3)_pred.png")); err != nil {
		t.Error(err)
	}
}

func TestClassProbs(t *testing.T) {
	three := pipeline.Result{Classes: []dataset.Label{dataset.Normal, dataset.Benign, dataset.Malignant}, Probs: []float32{0.5, 0.25, 0.25}}
	p, err := classProbs(three)
	if err != nil || p != [3]float64{0.5, 0.25, 0.25} {
		t.Errorf("three classes: %v, %v", p, err)
	}
	// A two-class model has no normal probability.
	two := pipeline.Result{Classes: []dataset.Label{dataset.Benign, dataset.Malignant}, Probs: []float32{0.75, 0.25}}
	p, err = classProbs(two)
	if err != nil || p[0] == p[0] || p[1] != 0.75 || p[2] != 0.25 {
		t.Errorf("two classes: %v, %v; want [NaN 0.75 0.25]", p, err)
	}
	bad := pipeline.Result{Classes: []dataset.Label{dataset.Benign}, Probs: []float32{0.5, 0.5}}
	if _, err := classProbs(bad); err == nil {
		t.Error("probabilities and classes of different lengths: no error")
	}
	if _, err := classProbs(pipeline.Result{Classes: []dataset.Label{7}, Probs: []float32{1}}); err == nil {
		t.Error("invalid class: no error")
	}
}

func TestParsePredictFlags(t *testing.T) {
	if _, err := parsePredictFlags([]string{"--heads", "h", "--data", "d"}); err == nil {
		t.Error("missing --out: no error")
	}
	o, err := parsePredictFlags([]string{"--heads", "h", "--data", "d", "--out", "o", "--force", "--cache", "c"})
	if err != nil || !o.force || o.model.cache != "c" {
		t.Errorf("parsePredictFlags = %+v, %v", o, err)
	}
}

// A manifest may list images outside its folder; their outputs must still
// land inside --out (named relative to the images' common folder).
func TestPredictManifestOutsideImages(t *testing.T) {
	root := fakeBUSI(t)
	manifest := filepath.Join(t.TempDir(), "elsewhere", "list.csv")
	os.MkdirAll(filepath.Dir(manifest), 0o755)
	os.WriteFile(manifest, []byte("image,mask,label\n"+
		filepath.Join(root, "benign", "benign (1).png")+","+filepath.Join(root, "benign", "benign (1)_mask.png")+",benign\n"+
		filepath.Join(root, "normal", "normal (1).png")+",,normal\n"), 0o644)
	out := filepath.Join(t.TempDir(), "pred")
	if err := runPredict(predictOptions{data: manifest, out: out}, &fakeModel{}, &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"benign/benign (1)_pred.png", "normal/normal (1)_pred.png"} {
		if _, err := os.Stat(filepath.Join(out, filepath.FromSlash(p))); err != nil {
			t.Error(err)
		}
	}
	rows := readCSV(t, filepath.Join(out, PredictionsFile))
	if len(rows) != 3 || rows[1][0] != "benign/benign (1).png" {
		t.Errorf("rows %v", rows)
	}
}

func TestCheckOutputNames(t *testing.T) {
	tests := []struct {
		name string
		in   []inputImage
		ok   bool
	}{
		{"distinct", []inputImage{{Path: "a.png", Rel: "a"}, {Path: "d/a.png", Rel: "d/a"}}, true},
		{"same stem", []inputImage{{Path: "a.png", Rel: "a"}, {Path: "a.jpg", Rel: "a"}}, false},
		{"escapes", []inputImage{{Path: "/x/a.png", Rel: "../x/a"}}, false},
		{"absolute", []inputImage{{Path: "/x/a.png", Rel: "/x/a"}}, false},
	}
	for _, tc := range tests {
		if err := checkOutputNames(tc.in); (err == nil) != tc.ok {
			t.Errorf("%s: error %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func TestReadImageColumnBadManifests(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"noimage.csv":  "path,label\na.png,benign\n",
		"empty.csv":    "",
		"headonly.csv": "image\n",
		"blank.csv":    "image,label\n,benign\n",
		"quote.csv":    "image\n\"a.png\n",
	} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o644)
		if _, err := readImageColumn(p); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: error %v, want one naming the file", name, err)
		}
	}
}
