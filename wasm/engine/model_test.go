package engine

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/busam/busam/imageio"
	"github.com/busam/busam/internal/testutil"
	"github.com/busam/busam/model/encoder"
	"github.com/busam/busam/model/heads"
	"github.com/busam/busam/model/pipeline"
	"github.com/busam/busam/wasm/manifest"
)

// The browser builds the model from downloaded bytes; the CLI loads files.
// Both must give the same model: same mask, same probabilities. (Input
// size 256 keeps the two encoder passes short; the browser tests use it too.)
func TestBuildPipelineModelMatchesFileLoad(t *testing.T) {
	encPath := testutil.Need(t, filepath.Join(testutil.CacheDir(t), "weights", "encoder.safetensors"), "converted encoder weights")
	imgPath := testutil.Need(t, filepath.Join(testutil.DataDir(t), "benign", "benign (1).png"), "BUSI data")
	// Any heads weights do: a seeded random initialisation, saved and read back.
	h, err := heads.New(heads.DefaultConfig("conv"))
	if err != nil {
		t.Fatal(err)
	}
	headsPath := filepath.Join(t.TempDir(), "heads.safetensors")
	if err := h.Save(headsPath); err != nil {
		t.Fatal(err)
	}

	files := map[string][]byte{}
	for role, p := range map[string]string{manifest.RoleEncoder: encPath, manifest.RoleHeads: headsPath} {
		if files[role], err = os.ReadFile(p); err != nil {
			t.Fatal(err)
		}
	}
	m, err := BuildPipelineModel(files, 256)
	if err != nil {
		t.Fatal(err)
	}
	img, err := imageio.Load(imgPath)
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.Analyze(img)
	if err != nil {
		t.Fatal(err)
	}

	enc, err := encoder.Load(encPath)
	if err != nil {
		t.Fatal(err)
	}
	hm, err := heads.Load(headsPath)
	if err != nil {
		t.Fatal(err)
	}
	x, g := encoder.Preprocess(img, 256)
	emb, err := enc.Forward(x)
	if err != nil {
		t.Fatal(err)
	}
	want, err := pipeline.Predict(hm, emb, x, g)
	if err != nil {
		t.Fatal(err)
	}
	if got.W != want.W || got.H != want.H || !slices.Equal(got.Mask, want.Mask) || !slices.Equal(got.Probs, want.Probs) {
		t.Errorf("bytes-built model: %dx%d probs %v; file-loaded: %dx%d probs %v (masks equal: %v)",
			got.W, got.H, got.Probs, want.W, want.H, want.Probs, slices.Equal(got.Mask, want.Mask))
	}
}

func TestBuildPipelineModelRefusesBadFiles(t *testing.T) {
	for name, files := range map[string]map[string][]byte{
		"nothing":      {},
		"garbage":      {manifest.RoleEncoder: []byte("garbage"), manifest.RoleHeads: []byte("garbage")},
		"heads absent": {manifest.RoleEncoder: []byte{2, 0, 0, 0, 0, 0, 0, 0, '{', '}'}},
	} {
		if _, err := BuildPipelineModel(files, 256); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
