package main

import (
	"bytes"
	"errors"
	"image"
	"io/fs"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/busam/busam/embed"
	"github.com/busam/busam/internal/testutil"
	"github.com/busam/busam/model/encoder"
	"github.com/busam/busam/model/heads"
	"github.com/busam/busam/model/pipeline"
	"github.com/busam/busam/model/tensor"
	"github.com/busam/busam/modelfile"
	"github.com/busam/busam/weights"
)

// tunedNeckHeads saves random heads carrying a fine-tuned neck for the
// encoder p (every neck tensor perturbed by a seeded random 50%) and
// returns the file's path and the overrides.
func tunedNeckHeads(t *testing.T, p map[string]*tensor.Tensor) (string, map[string]*tensor.Tensor) {
	t.Helper()
	r := rand.New(rand.NewPCG(8, 9))
	over := map[string]*tensor.Tensor{}
	for _, name := range []string{"neck.0.weight", "neck.1.weight", "neck.1.bias", "neck.2.weight", "neck.3.weight", "neck.3.bias"} {
		o := tensor.New(p[name].Shape...)
		for i, v := range p[name].Data {
			o.Data[i] = v*float32(1+0.5*r.NormFloat64()) + float32(0.01*r.NormFloat64())
		}
		over[name] = o
	}
	m, err := heads.New(heads.DefaultConfig("unet")) // unet also reads the encoder input
	if err != nil {
		t.Fatal(err)
	}
	m.EncoderOverrides = over
	path := filepath.Join(t.TempDir(), "heads.safetensors")
	if err := m.Save(path); err != nil {
		t.Fatal(err)
	}
	return path, over
}

func sameResult(a, b pipeline.Result) bool {
	return a.W == b.W && a.H == b.H && bytes.Equal(a.Mask, b.Mask) && slices.Equal(a.Probs, b.Probs)
}

// Heads with a tuned neck, through predict/eval's analyzer: the answer is
// the encoder's with the neck replaced by hand, whether the embedding comes
// from the whole encoder or from trunk features (--trunk-cache); the
// embedding cache is keyed by the tuned encoder's hash, and the trunk cache
// by the published encoder's (the trunk has no neck).
func TestAnalyzerAppliesTunedNeck(t *testing.T) {
	encPath := testutil.Need(t, filepath.Join(testutil.CacheDir(t), "weights", "encoder.safetensors"), "converted encoder")
	p, err := modelfile.ReadTensors(encPath)
	if err != nil {
		t.Fatal(err)
	}
	headsPath, over := tunedNeckHeads(t, p)
	hm, err := heads.Load(headsPath)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	imgPath := filepath.Join(dir, "scan.png")
	img := image.NewGray(image.Rect(0, 0, 64, 48))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 7)
	}
	writePNG(t, imgPath, img)

	byHand := maps.Clone(p)
	for name, v := range over {
		byHand[name] = v
	}
	tunedEnc, err := encoder.New(byHand)
	if err != nil {
		t.Fatal(err)
	}
	want, err := pipeline.Analyze(tunedEnc, hm, img)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("encoder", func(t *testing.T) {
		an, err := modelFlags{heads: headsPath, encoder: encPath, cache: filepath.Join(dir, "cache")}.open()
		if err != nil {
			t.Fatal(err)
		}
		got, err := an.Analyze(imgPath, img)
		if err != nil {
			t.Fatal(err)
		}
		if !sameResult(got, want) {
			t.Errorf("analyzer probs %v, encoder with the neck replaced by hand %v", got.Probs, want.Probs)
		}
		if an.src.Misses != 1 {
			t.Errorf("cache misses %d, want 1", an.src.Misses)
		}
		fileSHA, err := weights.FileSHA256(encPath)
		if err != nil {
			t.Fatal(err)
		}
		if an.src.SHA != an.enc.SHA256() || an.src.SHA != encoder.OverriddenSHA256(fileSHA, over) || an.src.SHA == fileSHA {
			t.Errorf("cache keyed by %s; tuned encoder's hash %s, file's %s", an.src.SHA, an.enc.SHA256(), fileSHA)
		}
	})

	trunkDir := filepath.Join(dir, "trunk")
	plainEnc, err := modelfile.LoadEncoder(encPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	key, err := embed.KeyFor(imgPath, encoder.Trunk{Encoder: plainEnc}.SHA256(), false)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("trunk cache miss", func(t *testing.T) {
		an, err := modelFlags{heads: headsPath, encoder: encPath, trunkCache: trunkDir}.open()
		if err != nil {
			t.Fatal(err)
		}
		got, err := an.Analyze(imgPath, img)
		if err != nil {
			t.Fatal(err)
		}
		// Neck(ForwardTrunk(x)) is Forward(x) bit for bit.
		if !sameResult(got, want) {
			t.Errorf("from fresh trunk features: probs %v; whole tuned encoder: %v", got.Probs, want.Probs)
		}
		if an.src.TrunkMisses != 1 || an.src.TrunkHits != 0 {
			t.Errorf("trunk cache hits %d, misses %d; want 0, 1", an.src.TrunkHits, an.src.TrunkMisses)
		}
		if _, err := os.Stat(an.src.Trunk.Path(key)); err != nil {
			t.Errorf("trunk features not stored under the published encoder's trunk key: %v", err)
		}
	})
	t.Run("trunk cache hit", func(t *testing.T) {
		an, err := modelFlags{heads: headsPath, encoder: encPath, trunkCache: trunkDir}.open()
		if err != nil {
			t.Fatal(err)
		}
		got, err := an.Analyze(imgPath, img)
		if err != nil {
			t.Fatal(err)
		}
		if an.src.TrunkHits != 1 || an.src.TrunkMisses != 0 {
			t.Fatalf("trunk cache hits %d, misses %d; want 1, 0", an.src.TrunkHits, an.src.TrunkMisses)
		}
		stored, err := an.src.Trunk.Get(key)
		if err != nil {
			t.Fatal(err)
		}
		emb, err := tunedEnc.Neck(stored)
		if err != nil {
			t.Fatal(err)
		}
		input, g := encoder.Preprocess(img, encoder.DefaultSize)
		fromStored, err := pipeline.Predict(hm, emb, input, g)
		if err != nil {
			t.Fatal(err)
		}
		if !sameResult(got, fromStored) {
			t.Errorf("probs %v; the tuned neck on the stored features gives %v", got.Probs, fromStored.Probs)
		}
		// The stored features are float16: the embedding moves by about
		// their rounding (2^-11 relative), far from changing its direction.
		full, err := tunedEnc.Forward(input)
		if err != nil {
			t.Fatal(err)
		}
		cos := tensor.Cosine(emb.Data, full.Data)
		t.Logf("embedding from float16 trunk features vs the whole encoder: cosine %.9f; probs %v vs %v", cos, got.Probs, want.Probs)
		if cos < 0.9999 {
			t.Errorf("embedding from cached trunk features has cosine %.6f to the encoder's", cos)
		}
	})
	t.Run("both caches", func(t *testing.T) {
		// The embedding cache is asked first (keyed by the tuned encoder);
		// what it lacks comes from the trunk cache.
		an, err := modelFlags{heads: headsPath, encoder: encPath, cache: filepath.Join(dir, "cache2"), trunkCache: trunkDir}.open()
		if err != nil {
			t.Fatal(err)
		}
		ekey, err := embed.KeyFor(imgPath, an.src.SHA, false)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := an.src.Cache.Get(ekey); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("fresh cache: %v", err)
		}
		if _, err := an.Analyze(imgPath, img); err != nil {
			t.Fatal(err)
		}
		if an.src.Misses != 1 || an.src.TrunkHits != 1 {
			t.Errorf("embedding misses %d, trunk hits %d; want 1, 1", an.src.Misses, an.src.TrunkHits)
		}
		if note := an.cacheNote(); !strings.Contains(note, "trunk cache") {
			t.Errorf("cache note %q does not mention the trunk cache", note)
		}
	})
}

// A heads file whose overrides do not fit the encoder is refused when the
// encoder is loaded, naming the override.
func TestAnalyzerRefusesMisfitOverrides(t *testing.T) {
	encPath := testutil.Need(t, filepath.Join(testutil.CacheDir(t), "weights", "encoder.safetensors"), "converted encoder")
	m, err := heads.New(heads.DefaultConfig("conv"))
	if err != nil {
		t.Fatal(err)
	}
	m.EncoderOverrides = map[string]*tensor.Tensor{"neck.0.weight": tensor.New(320, 256, 1, 1)} // transposed
	headsPath := filepath.Join(t.TempDir(), "heads.safetensors")
	if err := m.Save(headsPath); err != nil {
		t.Fatal(err)
	}
	an, err := modelFlags{heads: headsPath, encoder: encPath}.open()
	if err != nil {
		t.Fatal(err)
	}
	_, err = an.Analyze("scan.png", image.NewGray(image.Rect(0, 0, 8, 8)))
	if err == nil || !strings.Contains(err.Error(), "neck.0.weight") {
		t.Errorf("error %v, want one naming neck.0.weight", err)
	}
}

// predict and eval both take --trunk-cache (modelFlags), off by default.
func TestTrunkCacheFlag(t *testing.T) {
	for _, tc := range []struct {
		name  string
		parse func([]string) (modelFlags, error)
	}{
		{"predict", func(a []string) (modelFlags, error) { o, err := parsePredictFlags(a); return o.model, err }},
		{"eval", func(a []string) (modelFlags, error) { o, err := parseEvalFlags(a); return o.model, err }},
	} {
		base := []string{"--heads", "h", "--data", "d", "--out", "o"}
		m, err := tc.parse(base)
		if err != nil || m.trunkCache != "" {
			t.Errorf("%s: trunk cache %q by default (error %v), want none", tc.name, m.trunkCache, err)
		}
		m, err = tc.parse(append(base, "--trunk-cache", "tc"))
		if err != nil || m.trunkCache != "tc" {
			t.Errorf("%s --trunk-cache tc: got %q (error %v)", tc.name, m.trunkCache, err)
		}
	}
}

// The eval report says where the embeddings came from.
func TestEmbeddingNote(t *testing.T) {
	for _, tc := range []struct {
		m         modelFlags
		want, not string
	}{
		{modelFlags{cache: "c"}, "from `c` (float16) when cached, else computed by the encoder", "trunk"},
		{modelFlags{trunkCache: "tc"}, "embeddings: the encoder's neck on trunk features cached in `tc`", "when cached"},
		{modelFlags{cache: "c", trunkCache: "tc"}, "from `c` (float16) when cached, else the encoder's neck on trunk features cached in `tc`", "computed by the encoder"},
		{modelFlags{}, "embeddings: computed by the encoder", "cached"},
	} {
		got := embeddingNote(tc.m)
		if !strings.Contains(got, tc.want) || strings.Contains(got, tc.not) {
			t.Errorf("%+v: note %q, want %q and no %q", tc.m, got, tc.want, tc.not)
		}
	}
}
