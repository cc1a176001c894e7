package main

import (
	"bytes"
	"fmt"
	"image"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/busam/busam/dataset"
	"github.com/busam/busam/embed"
	"github.com/busam/busam/internal/testutil"
	"github.com/busam/busam/model/encoder"
	"github.com/busam/busam/model/heads"
	"github.com/busam/busam/model/pipeline"
	"github.com/busam/busam/model/tensor"
	"github.com/busam/busam/modelfile"
	"github.com/busam/busam/report"
)

// freshHeads saves freshly initialised heads of kind into dir/heads.safetensors.
func freshHeads(t *testing.T, dir, kind string) (*heads.Model, string) {
	t.Helper()
	m, err := heads.New(heads.DefaultConfig(kind))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "heads.safetensors")
	if err := m.Save(path); err != nil {
		t.Fatal(err)
	}
	return m, path
}

// The real analyzer end to end: freshly initialised heads (their numbers
// are meaningless, their shapes are not) and the real encoder, through
// predict. It checks the plumbing: the mask comes back at the image's own
// size and the probabilities are a distribution over the model's classes.
func TestPredictRealPipeline(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the full encoder once")
	}
	enc := testutil.Need(t, filepath.Join(testutil.CacheDir(t), "weights", "encoder.safetensors"), "converted encoder")
	dir := t.TempDir()
	_, headsPath := freshHeads(t, dir, "conv")
	imgPath := filepath.Join(dir, "in", "scan.png")
	img := image.NewGray(image.Rect(0, 0, 53, 37)) // odd size: the mask must come back at 53×37
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 13)
	}
	writePNG(t, imgPath, img)

	an, err := modelFlags{heads: headsPath, encoder: enc}.open()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	if err := runPredict(predictOptions{data: filepath.Dir(imgPath), out: out}, an, &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	mask := readMaskPNG(t, filepath.Join(out, "scan_pred.png"))
	if mask.Bounds() != img.Bounds() {
		t.Errorf("mask is %v, want %v", mask.Bounds(), img.Bounds())
	}
	rows := readCSV(t, filepath.Join(out, PredictionsFile))
	if len(rows) != 2 {
		t.Fatalf("rows %v", rows)
	}
	sum := 0.0
	for _, c := range rows[1][2:5] {
		var p float64
		if _, err := fmt.Sscan(c, &p); err != nil || p < 0 || p > 1 {
			t.Errorf("probability %q", c)
		}
		sum += p
	}
	if sum < 0.9999 || sum > 1.0001 {
		t.Errorf("probabilities %v sum to %v", rows[1][2:5], sum)
	}
}

// With --cache, an image whose embedding is cached is answered from the
// cache (no encoder run) through pipeline.Predict on that embedding.
func TestAnalyzerUsesEmbeddingCache(t *testing.T) {
	enc := testutil.Need(t, filepath.Join(testutil.CacheDir(t), "weights", "encoder.safetensors"), "converted encoder")
	dir := t.TempDir()
	m, headsPath := freshHeads(t, dir, "conv")
	imgPath := filepath.Join(dir, "scan.png")
	img := image.NewGray(image.Rect(0, 0, 64, 48))
	writePNG(t, imgPath, img)

	an, err := modelFlags{heads: headsPath, encoder: enc, cache: filepath.Join(dir, "cache")}.open()
	if err != nil {
		t.Fatal(err)
	}
	key, err := embed.KeyFor(imgPath, an.src.SHA, false)
	if err != nil {
		t.Fatal(err)
	}
	// A made-up embedding: the result must be the heads' answer to it.
	emb := tensor.New(256, 64, 64)
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range emb.Data {
		emb.Data[i] = float32(rng.NormFloat64())
	}
	if err := an.src.Cache.Put(key, emb); err != nil {
		t.Fatal(err)
	}
	stored, err := an.src.Cache.Get(key) // float16-rounded, as the analyzer sees it
	if err != nil {
		t.Fatal(err)
	}
	got, err := an.Analyze(imgPath, img)
	if err != nil {
		t.Fatal(err)
	}
	input, g := encoder.Preprocess(img, encoder.DefaultSize)
	want, err := pipeline.Predict(m, stored, input, g)
	if err != nil {
		t.Fatal(err)
	}
	if an.src.Hits != 1 || an.src.Misses != 0 {
		t.Errorf("cache hits %d, misses %d; want 1, 0", an.src.Hits, an.src.Misses)
	}
	if an.enc != nil {
		t.Error("the encoder was loaded although the embedding was cached")
	}
	// The cache key must use the hash `busam embed` uses: Encoder.SHA256.
	e, err := modelfile.LoadEncoder(enc, nil)
	if err != nil {
		t.Fatal(err)
	}
	if e.SHA256() != an.src.SHA {
		t.Errorf("cache keyed by %s, encoder hash is %s", an.src.SHA, e.SHA256())
	}
	if got.W != 64 || got.H != 48 || !bytes.Equal(got.Mask, want.Mask) || fmt.Sprint(got.Probs) != fmt.Sprint(want.Probs) {
		t.Errorf("cached result %v %v differs from pipeline.Predict on the cached embedding %v", got.Probs, got.Label, want.Probs)
	}
}

// eval end to end through the real analyzer: freshly initialised heads on
// the fake dataset, every embedding served from the cache.
func TestEvalRealAnalyzerFromCache(t *testing.T) {
	enc := testutil.Need(t, filepath.Join(testutil.CacheDir(t), "weights", "encoder.safetensors"), "converted encoder")
	root := fakeBUSI(t)
	m, err := heads.New(heads.DefaultConfig("unet")) // unet also reads the encoder input
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	headsPath := filepath.Join(dir, "heads.safetensors")
	if err := m.Save(headsPath); err != nil {
		t.Fatal(err)
	}
	an, err := modelFlags{heads: headsPath, encoder: enc, cache: filepath.Join(dir, "cache")}.open()
	if err != nil {
		t.Fatal(err)
	}
	ds, err := dataset.Load(root)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(9, 9))
	for _, s := range ds.Samples {
		key, err := embed.KeyFor(s.Image, an.src.SHA, false)
		if err != nil {
			t.Fatal(err)
		}
		emb := tensor.New(256, 64, 64)
		for i := range emb.Data {
			emb.Data[i] = float32(rng.NormFloat64())
		}
		if err := an.src.Cache.Put(key, emb); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, "report")
	o := evalOptions{model: modelFlags{heads: headsPath}, data: root, part: "test", out: out, examples: 2}
	var stdout bytes.Buffer
	if err := runEval(o, an, &stdout, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if an.src.Hits != 8 || an.src.Misses != 0 {
		t.Errorf("cache hits %d, misses %d; want 8, 0", an.src.Hits, an.src.Misses)
	}
	if rows := readCSV(t, filepath.Join(out, report.PerImageFile)); len(rows) != 9 {
		t.Errorf("per_image.csv has %d rows, want 9", len(rows))
	}
	if !bytes.Contains(stdout.Bytes(), []byte("balanced accuracy")) {
		t.Errorf("no summary printed:\n%s", stdout.String())
	}
}
