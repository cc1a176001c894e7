package engine

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/busam/busam/imageio"
	"github.com/busam/busam/internal/testutil"
	"github.com/busam/busam/model/encoder"
	"github.com/busam/busam/model/heads"
	"github.com/busam/busam/model/pipeline"
	"github.com/busam/busam/model/tensor"
	"github.com/busam/busam/quant"
	"github.com/busam/busam/wasm/manifest"
	"github.com/busam/busam/weights/safetensors"
)

// writeFloatFile writes tensors as a float32 safetensors file.
func writeFloatFile(t *testing.T, path string, p map[string]*tensor.Tensor) {
	t.Helper()
	names := make([]string, 0, len(p))
	for n := range p {
		names = append(names, n)
	}
	sort.Strings(names)
	var entries []safetensors.Entry
	for _, n := range names {
		entries = append(entries, safetensors.F32Entry(n, p[n]))
	}
	if err := safetensors.WriteFile(path, entries, nil); err != nil {
		t.Fatal(err)
	}
}

// quantized quantizes the float file in with mode and returns the
// quantized bytes and their quant manifest.
func quantized(t *testing.T, in string, mode quant.Mode) (data, qman []byte) {
	t.Helper()
	out := strings.TrimSuffix(in, ".safetensors") + "." + string(mode) + ".safetensors"
	if _, err := quant.QuantizeFile(in, out, quant.Options{Mode: mode}); err != nil {
		t.Fatal(err)
	}
	return readFile(t, out), readFile(t, quant.ManifestPath(out))
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// int8Encoder is the int8 encoder the app ships (.cache/weights/
// encoder.int8.safetensors) when it is there, else the int8 version of a
// seeded random MobileSAM encoder: the loading path is the same.
func int8Encoder(t *testing.T) (data, qman []byte) {
	t.Helper()
	real := filepath.Join(testutil.CacheDir(t), "weights", "encoder.int8.safetensors")
	if _, err := os.Stat(real); err == nil {
		t.Logf("using %s", real)
		return readFile(t, real), readFile(t, quant.ManifestPath(real))
	}
	p, err := encoder.RandomParams(encoder.MobileSAM, 7)
	if err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(t.TempDir(), "encoder.safetensors")
	writeFloatFile(t, in, p)
	t.Logf("no %s: using a random encoder", real)
	return quantized(t, in, quant.Int8)
}

func randomHeads(t *testing.T) []byte {
	t.Helper()
	h, err := heads.New(heads.DefaultConfig("conv"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "heads.safetensors")
	if err := h.Save(path); err != nil {
		t.Fatal(err)
	}
	return readFile(t, path)
}

// modelManifestFor lists files (role -> bytes) as the assembler would.
func modelManifestFor(t *testing.T, files map[string][]byte) []byte {
	t.Helper()
	m := &manifest.Manifest{Format: manifest.Format}
	for _, role := range []string{manifest.RoleEncoder, manifest.RoleEncoderQuant, manifest.RoleHeads} {
		if data, ok := files[role]; ok {
			sum := manifest.SHA256Hex(data)
			m.Files = append(m.Files, manifest.File{Role: role, Path: role + "." + sum[:16] + ".bin", Size: int64(len(data)), SHA256: sum})
		}
	}
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestInt8EncoderThroughEngine loads an int8 encoder the way the browser
// does (manifest, verified files, CPU build) and checks the analysis is
// the pipeline's on the dequantized weights, bit for bit.
func TestInt8EncoderThroughEngine(t *testing.T) {
	enc, qman := int8Encoder(t)
	files := map[string][]byte{manifest.RoleEncoder: enc, manifest.RoleEncoderQuant: qman, manifest.RoleHeads: randomHeads(t)}
	e := New(Candidate{Name: "cpu", Build: BuildPipelineModel})
	if _, err := e.SetManifest("manifest.json", modelManifestFor(t, files)); err != nil {
		t.Fatal(err)
	}
	for role, data := range files {
		if err := e.AddFile(role, data, ""); err != nil {
			t.Fatal(err)
		}
	}
	const size = 64 // the loading path is under test, not the encoder's accuracy
	info, err := e.Load(Options{InputSize: size})
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Files) != 3 {
		t.Errorf("loaded files %+v, want encoder, its quant manifest and heads", info.Files)
	}
	imgBytes := pngBytes(t, 90, 70)
	got, err := e.Analyze("image.png", imgBytes)
	if err != nil {
		t.Fatal(err)
	}

	qm, err := quant.Parse("encoder", enc, qman)
	if err != nil {
		t.Fatal(err)
	}
	if qm.Manifest.Scheme != quant.SchemeInt8 {
		t.Fatalf("test encoder has scheme %s", qm.Manifest.Scheme)
	}
	p, err := qm.Float32()
	if err != nil {
		t.Fatal(err)
	}
	ref, err := encoder.New(p)
	if err != nil {
		t.Fatal(err)
	}
	hm, err := heads.Decode("heads", files[manifest.RoleHeads])
	if err != nil {
		t.Fatal(err)
	}
	img, _, err := imageio.Decode("image.png", imgBytes)
	if err != nil {
		t.Fatal(err)
	}
	want, err := pipeline.AnalyzeSize(ref, hm, img, size)
	if err != nil {
		t.Fatal(err)
	}
	if got.Width != want.W || got.Height != want.H || !slices.Equal(got.Mask, want.Mask) {
		t.Errorf("engine mask %dx%d differs from the pipeline's %dx%d on the dequantized weights", got.Width, got.Height, want.W, want.H)
	}
	gotProbs := []float32{got.Normal, got.Benign, got.Malign}
	if !slices.Equal(gotProbs, want.Probs) {
		t.Errorf("engine probabilities %v, pipeline on the dequantized weights %v", gotProbs, want.Probs)
	}
}

// TestInt8EncoderRefused: an int8 encoder is used only with the quant
// manifest that describes it, and the app's model manifest guards both.
func TestInt8EncoderRefused(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "small.safetensors")
	w := tensor.New(32, 64)
	for i := range w.Data {
		w.Data[i] = float32(i%17) - 8
	}
	writeFloatFile(t, in, map[string]*tensor.Tensor{"a.weight": w, "a.bias": tensor.New(32)})
	i8, i8man := quantized(t, in, quant.Int8)
	f16, f16man := quantized(t, in, quant.FP16)
	tampered := slices.Clone(i8)
	tampered[len(tampered)-1] ^= 1
	headsBytes := []byte("heads")

	for _, tc := range []struct {
		name  string
		files map[string][]byte
		want  string
	}{
		{"int8 without its quant manifest", map[string][]byte{manifest.RoleEncoder: i8}, "manifest"},
		{"int8 modified after quantization", map[string][]byte{manifest.RoleEncoder: tampered, manifest.RoleEncoderQuant: i8man}, "sha256"},
		{"int8 file with the manifest of its fp16 twin", map[string][]byte{manifest.RoleEncoder: i8, manifest.RoleEncoderQuant: f16man}, "bytes"},
		{"fp16 file with the manifest of its int8 twin", map[string][]byte{manifest.RoleEncoder: f16, manifest.RoleEncoderQuant: i8man}, "bytes"},
		{"quant manifest not JSON", map[string][]byte{manifest.RoleEncoder: i8, manifest.RoleEncoderQuant: []byte("{")}, "manifest"},
	} {
		tc.files[manifest.RoleHeads] = headsBytes
		for name, build := range map[string]Builder{"cpu": BuildPipelineModel, "webgpu": BuildWebGPUModel} {
			_, err := build(tc.files, 64)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s, %s: error %v, want one containing %q", tc.name, name, err, tc.want)
			}
		}
	}

	// The browser checks every file against the model manifest first.
	files := map[string][]byte{manifest.RoleEncoder: i8, manifest.RoleEncoderQuant: i8man, manifest.RoleHeads: headsBytes}
	e := New()
	if _, err := e.SetManifest("manifest.json", modelManifestFor(t, files)); err != nil {
		t.Fatal(err)
	}
	if err := e.AddFile(manifest.RoleEncoder, tampered, ""); !errors.Is(err, manifest.ErrMismatch) {
		t.Errorf("tampered int8 encoder: %v, want ErrMismatch", err)
	}
	badMan := append(slices.Clone(i8man[:len(i8man)-1]), ' ')
	if err := e.AddFile(manifest.RoleEncoderQuant, badMan, ""); !errors.Is(err, manifest.ErrMismatch) {
		t.Errorf("tampered quant manifest: %v, want ErrMismatch", err)
	}
}
