package main

import (
	"image"
	"path/filepath"
	"testing"

	"github.com/busam/busam/embed"
	"github.com/busam/busam/imageio"
	"github.com/busam/busam/internal/testutil"
	"github.com/busam/busam/model/encoder"
	"github.com/busam/busam/model/pipeline"
	"github.com/busam/busam/model/tensor"
	"github.com/busam/busam/modelfile"
)

// --flip analyses the image and its mirror image: with nothing cached it is
// the pipeline's own test-time flip, and a cached embedding of the mirror
// image (the Flip key) is used instead of the encoder.
func TestAnalyzerTestTimeFlip(t *testing.T) {
	encPath := testutil.Need(t, filepath.Join(testutil.CacheDir(t), "weights", "encoder.safetensors"), "converted encoder")
	enc, err := modelfile.LoadEncoder(encPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	hm, headsPath := freshHeads(t, dir, "unet")
	imgPath := filepath.Join(dir, "scan.png")
	img := image.NewGray(image.Rect(0, 0, 64, 48))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * i % 251)
	}
	writePNG(t, imgPath, img)

	want, err := pipeline.AnalyzeWith(enc, hm, img, pipeline.Options{Size: encoder.DefaultSize, Flip: true})
	if err != nil {
		t.Fatal(err)
	}
	cacheDir := filepath.Join(dir, "cache")
	an, err := modelFlags{heads: headsPath, encoder: encPath, cache: cacheDir, flip: true}.open()
	if err != nil {
		t.Fatal(err)
	}
	got, err := an.Analyze(imgPath, img)
	if err != nil {
		t.Fatal(err)
	}
	if !sameResult(got, want) {
		t.Errorf("--flip probs %v, pipeline's test-time flip %v", got.Probs, want.Probs)
	}
	if an.src.Misses != 2 {
		t.Errorf("%d cache misses, want 2 (the image and its mirror)", an.src.Misses)
	}

	// A cached mirror embedding (here a constant one) is what --flip uses.
	cache, err := embed.Open(cacheDir)
	if err != nil {
		t.Fatal(err)
	}
	key, err := embed.KeyFor(imgPath, enc.SHA256(), true)
	if err != nil {
		t.Fatal(err)
	}
	fake := tensor.New(256, 64, 64)
	for i := range fake.Data {
		fake.Data[i] = 0.5
	}
	if err := cache.Put(key, fake); err != nil {
		t.Fatal(err)
	}
	x, g := encoder.Preprocess(img, encoder.DefaultSize)
	emb, err := enc.Forward(x)
	if err != nil {
		t.Fatal(err)
	}
	xm, _ := encoder.Preprocess(imageio.FlipHorizontal(img), encoder.DefaultSize)
	stored, err := cache.Get(key) // float16 round trip: 0.5 is exact
	if err != nil {
		t.Fatal(err)
	}
	want, err = pipeline.PredictFlip(hm, pipeline.View{Embedding: emb, Input: x}, pipeline.View{Embedding: stored, Input: xm}, g)
	if err != nil {
		t.Fatal(err)
	}
	an, err = modelFlags{heads: headsPath, encoder: encPath, cache: cacheDir, flip: true}.open()
	if err != nil {
		t.Fatal(err)
	}
	if got, err = an.Analyze(imgPath, img); err != nil {
		t.Fatal(err)
	}
	if !sameResult(got, want) || an.src.Hits != 1 {
		t.Errorf("with the mirror cached: probs %v, want %v; %d hits, want 1", got.Probs, want.Probs, an.src.Hits)
	}
}
