package engine

import (
	"image"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/busam/busam/imageio"
	"github.com/busam/busam/internal/testutil"
	"github.com/busam/busam/model/encoder"
	"github.com/busam/busam/model/heads"
	"github.com/busam/busam/model/pipeline"
	"github.com/busam/busam/model/webgpu"
	"github.com/busam/busam/modelfile"
	"github.com/busam/busam/wasm/manifest"
)

// The browser builds the model from downloaded bytes; the CLI loads files.
// Both must give the same model: same mask, same probabilities. (Input
// size 256 keeps the two encoder passes short; the browser tests use it too.)
func TestBuildPipelineModelMatchesFileLoad(t *testing.T) {
	encPath := testutil.Need(t, filepath.Join(testutil.CacheDir(t), "weights", "encoder.safetensors"), "converted encoder weights")
	imgPath := testutil.Need(t, filepath.Join(testutil.DataDir(t), "benign", "benign (1).png"), "BUSI data")
	// Any heads weights do: a seeded random initialisation.
	files := map[string][]byte{manifest.RoleEncoder: readFile(t, encPath), manifest.RoleHeads: randomHeads(t)}
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

	enc, err := modelfile.LoadEncoder(encPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	hm, err := heads.Decode("heads", files[manifest.RoleHeads])
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

// The WebGPU model (natively: wgpu over Vulkan, lavapipe in CI) agrees with
// the CPU model built from the same bytes.
func TestWebGPUModelMatchesCPU(t *testing.T) {
	encPath := testutil.Need(t, filepath.Join(testutil.CacheDir(t), "weights", "encoder.safetensors"), "converted encoder weights")
	imgPath := testutil.Need(t, filepath.Join(testutil.DataDir(t), "benign", "benign (1).png"), "BUSI data")
	needVulkan(t)
	img, err := imageio.Load(imgPath)
	if err != nil {
		t.Fatal(err)
	}
	headsBytes := randomHeads(t)
	int8Enc, int8Man := int8Encoder(t)
	for _, tc := range []struct {
		name  string
		files map[string][]byte
	}{
		{"float32", map[string][]byte{manifest.RoleEncoder: readFile(t, encPath), manifest.RoleHeads: headsBytes}},
		// int8: linears stay int8 on the device (tinyvit.NewInt8), the CPU dequantizes
		{"int8", map[string][]byte{manifest.RoleEncoder: int8Enc, manifest.RoleEncoderQuant: int8Man, manifest.RoleHeads: headsBytes}},
		// heads with a fine-tuned neck: it replaces the encoder's on the device too
		{"float32, tuned neck", withTunedNeck(t, map[string][]byte{manifest.RoleEncoder: readFile(t, encPath)})},
		{"int8, tuned neck", withTunedNeck(t, map[string][]byte{manifest.RoleEncoder: int8Enc, manifest.RoleEncoderQuant: int8Man})},
	} {
		t.Run(tc.name, func(t *testing.T) { compareWebGPUWithCPU(t, tc.files, img) })
	}
}

// needVulkan skips the test (fails it under CI) without a native WebGPU
// device on Vulkan.
func needVulkan(t *testing.T) {
	t.Helper()
	if os.Getenv("XDG_RUNTIME_DIR") == "" {
		t.Setenv("XDG_RUNTIME_DIR", os.TempDir())
	}
	d, err := webgpu.Open(webgpu.Options{})
	missing := ""
	switch {
	case err != nil:
		missing = "no WebGPU device: " + err.Error()
	case d.Backend() != "vulkan":
		missing = "WebGPU adapter is " + d.Description() + ", not Vulkan"
	}
	if d != nil {
		d.Close()
	}
	if missing != "" {
		if os.Getenv("CI") != "" {
			t.Fatal(missing)
		}
		t.Skip(missing)
	}
}

func compareWebGPUWithCPU(t *testing.T, files map[string][]byte, img image.Image) {
	const size = 128 // small: lavapipe is a CPU and must keep submissions short
	gpu, err := BuildWebGPUModel(files, size)
	if err != nil {
		t.Fatal(err)
	}
	defer gpu.(io.Closer).Close()
	cpu, err := BuildPipelineModel(files, size)
	if err != nil {
		t.Fatal(err)
	}
	got, err := gpu.Analyze(img)
	if err != nil {
		t.Fatal(err)
	}
	want, err := cpu.Analyze(img)
	if err != nil {
		t.Fatal(err)
	}
	for i := range want.Probs {
		if d := math.Abs(float64(got.Probs[i] - want.Probs[i])); d > 1e-3 {
			t.Errorf("P(%s): webgpu %.6f, cpu %.6f", want.Classes[i], got.Probs[i], want.Probs[i])
		}
	}
	var maxDiff float64
	for i := range want.Attention.Data {
		maxDiff = max(maxDiff, math.Abs(float64(got.Attention.Data[i]-want.Attention.Data[i])))
	}
	t.Logf("attention max |webgpu - cpu| = %.3g", maxDiff)
	if maxDiff > 1e-5 {
		t.Errorf("attention differs by %.3g", maxDiff)
	}
	if got.Evidence == nil || want.Evidence == nil || len(got.Evidence.Data) != len(want.Evidence.Data) {
		t.Fatalf("evidence: webgpu %v, cpu %v", got.Evidence, want.Evidence)
	}
	var evDiff, evMag float64
	for i, w := range want.Evidence.Data {
		evDiff = max(evDiff, math.Abs(float64(got.Evidence.Data[i]-w)))
		evMag = max(evMag, math.Abs(float64(w)))
	}
	t.Logf("evidence max |webgpu - cpu| = %.3g (max |evidence| %.3g)", evDiff, evMag)
	if !(evDiff <= 1e-2*evMag) || got.Label != want.Label {
		t.Errorf("evidence differs by %.3g, more than 1%% of %.3g (labels %v, %v)", evDiff, evMag, got.Label, want.Label)
	}
}
