package engine

import (
	"maps"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/busam/busam/imageio"
	"github.com/busam/busam/model/encoder"
	"github.com/busam/busam/model/heads"
	"github.com/busam/busam/model/pipeline"
	"github.com/busam/busam/model/tensor"
	"github.com/busam/busam/modelfile"
	"github.com/busam/busam/quant"
	"github.com/busam/busam/wasm/manifest"
)

// neckNames are the tensors a fine-tuned neck overrides.
var neckNames = []string{"neck.0.weight", "neck.1.weight", "neck.1.bias", "neck.2.weight", "neck.3.weight", "neck.3.bias"}

// tunedNeck perturbs every neck tensor of p by a seeded random 50%: a
// stand-in for a fine-tuned neck that visibly changes the embedding.
func tunedNeck(t *testing.T, p map[string]*tensor.Tensor, seed uint64) map[string]*tensor.Tensor {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 3))
	over := map[string]*tensor.Tensor{}
	for _, name := range neckNames {
		old := p[name]
		if old == nil {
			t.Fatalf("encoder has no %s", name)
		}
		o := tensor.New(old.Shape...)
		for i, v := range old.Data {
			o.Data[i] = v*float32(1+0.5*r.NormFloat64()) + float32(0.01*r.NormFloat64())
		}
		over[name] = o
	}
	return over
}

// headsWith saves seeded random heads carrying the encoder overrides over
// and returns the file's path.
func headsWith(t *testing.T, over map[string]*tensor.Tensor) string {
	t.Helper()
	h, err := heads.New(heads.DefaultConfig("conv"))
	if err != nil {
		t.Fatal(err)
	}
	h.EncoderOverrides = over
	path := filepath.Join(t.TempDir(), "heads.safetensors")
	if err := h.Save(path); err != nil {
		t.Fatal(err)
	}
	return path
}

// withTunedNeck adds to the encoder files encFiles heads carrying a tuned
// neck for that encoder.
func withTunedNeck(t *testing.T, encFiles map[string][]byte) map[string][]byte {
	t.Helper()
	w, err := modelfile.ParseEncoder(encoderFileName, encFiles[manifest.RoleEncoder], encFiles[manifest.RoleEncoderQuant])
	if err != nil {
		t.Fatal(err)
	}
	files := maps.Clone(encFiles)
	files[manifest.RoleHeads] = readFile(t, headsWith(t, tunedNeck(t, w.Tensors, 4)))
	return files
}

// replaced is p with the tensors of over put in by hand (no ApplyOverrides).
func replaced(p, over map[string]*tensor.Tensor) map[string]*tensor.Tensor {
	out := maps.Clone(p)
	for name, v := range over {
		out[name] = v
	}
	return out
}

// analyzeBoth runs the engine-built model and the native pipeline on the
// encoder tensors want (at size 64: the loading path is under test) and
// requires the same mask and probabilities, bit for bit.
func analyzeBoth(t *testing.T, m Model, want map[string]*tensor.Tensor, hm *heads.Model) pipeline.Result {
	t.Helper()
	const size = 64
	img, _, err := imageio.Decode("image.png", pngBytes(t, 90, 70))
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.Analyze(img)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := encoder.New(want)
	if err != nil {
		t.Fatal(err)
	}
	exp, err := pipeline.AnalyzeSize(ref, hm, img, size)
	if err != nil {
		t.Fatal(err)
	}
	if got.W != exp.W || got.H != exp.H || !slices.Equal(got.Mask, exp.Mask) || !slices.Equal(got.Probs, exp.Probs) {
		t.Errorf("engine model: %dx%d probs %v; native pipeline with the neck replaced by hand: %dx%d probs %v (masks equal: %v)",
			got.W, got.H, got.Probs, exp.W, exp.H, exp.Probs, slices.Equal(got.Mask, exp.Mask))
	}
	return exp
}

// The app ships fp16 heads (build.sh: busam quantize --mode fp16): a tuned
// neck survives that quantization inside the heads file, and the CPU model
// built from those bytes equals the native pipeline with the neck replaced
// by hand; without the override the answer differs.
func TestCPUModelAppliesTunedNeck(t *testing.T) {
	p, err := encoder.RandomParams(encoder.MobileSAM, 7)
	if err != nil {
		t.Fatal(err)
	}
	encPath := filepath.Join(t.TempDir(), "encoder.safetensors")
	writeFloatFile(t, encPath, p)
	over := tunedNeck(t, p, 1)
	headsFP16, _ := quantized(t, headsWith(t, over), quant.FP16)

	hm, err := heads.Decode("heads.fp16", headsFP16)
	if err != nil {
		t.Fatal(err)
	}
	if got := slices.Sorted(maps.Keys(hm.EncoderOverrides)); !slices.Equal(got, slices.Sorted(slices.Values(neckNames))) {
		t.Fatalf("fp16 heads carry overrides %v, want %v", got, neckNames)
	}
	for name, v := range hm.EncoderOverrides {
		for i, x := range v.Data {
			// fp16 keeps 11 significant bits (subnormals: steps of 2^-24);
			// rank-1 tensors stay float32.
			if d := math.Abs(float64(x - over[name].Data[i])); d > math.Abs(float64(over[name].Data[i]))/2048+0x1p-25 {
				t.Fatalf("%s[%d] = %g in the fp16 heads, %g before", name, i, x, over[name].Data[i])
			}
		}
	}

	files := map[string][]byte{manifest.RoleEncoder: readFile(t, encPath), manifest.RoleHeads: headsFP16}
	m, err := BuildPipelineModel(files, 64)
	if err != nil {
		t.Fatal(err)
	}
	tuned := analyzeBoth(t, m, replaced(p, hm.EncoderOverrides), hm)

	hm.EncoderOverrides = nil
	ref, err := encoder.New(p)
	if err != nil {
		t.Fatal(err)
	}
	img, _, err := imageio.Decode("image.png", pngBytes(t, 90, 70))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := pipeline.AnalyzeSize(ref, hm, img, 64)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Equal(plain.Probs, tuned.Probs) {
		t.Errorf("the tuned neck left the probabilities at %v: the test cannot tell whether it was applied", plain.Probs)
	}
}

// An int8 encoder (the app's) takes the tuned neck in place of its int8
// neck: the CPU model equals the dequantized encoder with the neck
// replaced by hand. (The WebGPU twin: TestWebGPUModelMatchesCPU.)
func TestInt8CPUModelAppliesTunedNeck(t *testing.T) {
	enc, qman := int8Encoder(t)
	qm, err := quant.Parse("encoder", enc, qman)
	if err != nil {
		t.Fatal(err)
	}
	deq, err := qm.Float32()
	if err != nil {
		t.Fatal(err)
	}
	over := tunedNeck(t, deq, 2)
	headsBytes := readFile(t, headsWith(t, over))
	files := map[string][]byte{manifest.RoleEncoder: enc, manifest.RoleEncoderQuant: qman, manifest.RoleHeads: headsBytes}
	m, err := BuildPipelineModel(files, 64)
	if err != nil {
		t.Fatal(err)
	}
	hm, err := heads.Decode("heads", headsBytes)
	if err != nil {
		t.Fatal(err)
	}
	analyzeBoth(t, m, replaced(deq, over), hm)
}

// Overrides the encoder has no place for (another encoder's, or a
// tampered file's) are refused by every builder, float or int8 encoder,
// with an error that names the heads file and the tensor; the WebGPU
// builder refuses them before it opens a device.
func TestBadOverridesRefused(t *testing.T) {
	p, err := encoder.RandomParams(encoder.MobileSAM, 7)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	encPath := filepath.Join(dir, "encoder.safetensors")
	writeFloatFile(t, encPath, p)
	i8, i8man := quantized(t, encPath, quant.Int8)
	encoders := map[string]map[string][]byte{
		"float32": {manifest.RoleEncoder: readFile(t, encPath)},
		"int8":    {manifest.RoleEncoder: i8, manifest.RoleEncoderQuant: i8man},
	}
	good := tunedNeck(t, p, 3)
	for _, tc := range []struct {
		name, tensor string
		over         map[string]*tensor.Tensor
	}{
		{"unknown tensor", "neck.9.weight", map[string]*tensor.Tensor{"neck.9.weight": good["neck.0.weight"]}},
		{"wrong shape", "neck.2.weight", map[string]*tensor.Tensor{"neck.0.weight": good["neck.0.weight"], "neck.2.weight": good["neck.0.weight"]}},
		{"transposed 1x1 conv", "neck.0.weight", map[string]*tensor.Tensor{"neck.0.weight": tensor.New(320, 256, 1, 1)}},
	} {
		headsBytes := readFile(t, headsWith(t, tc.over))
		for encName, encFiles := range encoders {
			files := maps.Clone(encFiles)
			files[manifest.RoleHeads] = headsBytes
			for buildName, build := range map[string]Builder{"cpu": BuildPipelineModel, "webgpu": BuildWebGPUModel} {
				m, err := build(files, 64)
				if err == nil {
					if c, ok := m.(interface{ Close() error }); ok {
						c.Close()
					}
					t.Errorf("%s, %s encoder, %s: accepted", tc.name, encName, buildName)
					continue
				}
				if msg := err.Error(); !strings.Contains(msg, headsFileName) || !strings.Contains(msg, tc.tensor) {
					t.Errorf("%s, %s encoder, %s: error %q should name %s and %s", tc.name, encName, buildName, msg, headsFileName, tc.tensor)
				}
			}
		}
	}
}
