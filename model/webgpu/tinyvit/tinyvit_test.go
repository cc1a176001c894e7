package tinyvit

import (
	"fmt"
	"image"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/busam/busam/internal/testutil"
	"github.com/busam/busam/model/encoder"
	"github.com/busam/busam/model/tensor"
	"github.com/busam/busam/model/webgpu"
	"github.com/busam/busam/model/webgpu/webgputest"
	"github.com/busam/busam/modelfile"
	"github.com/busam/busam/quant"
	"github.com/busam/busam/weights/safetensors"
)

// openDevice opens a WebGPU device: Vulkan natively (lavapipe in CI), the
// browser's under GOOS=js; skipped without one, failed under CI. Two
// dispatches per submission: lavapipe corrupts a submission that runs for
// more than a few seconds, and CI machines are loaded.
func openDevice(t *testing.T) *webgpu.Device {
	t.Helper()
	return webgputest.Open(t, webgpu.Options{MaxDispatches: 2})
}

// tiny is encoder.Tiny: every module kind of MobileSAM at a size that
// runs in milliseconds.
var tiny = encoder.Tiny

// randomParams draws a full tensor set for cfg (encoder.RandomParams).
func randomParams(t testing.TB, cfg encoder.Config, seed uint64) map[string]*tensor.Tensor {
	t.Helper()
	p, err := encoder.RandomParams(cfg, seed)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func randomImage(seed uint64, c, h, w int) *tensor.Tensor {
	r := rand.New(rand.NewPCG(seed, 1))
	x := tensor.New(c, h, w)
	for i := range x.Data {
		x.Data[i] = float32(r.NormFloat64())
	}
	return x
}

// forwardBoth runs x through both encoders and compares the outputs
// (see compare), failing on errors or different shapes.
func forwardBoth(t *testing.T, gpu *Encoder, cpu *encoder.Encoder, x *tensor.Tensor) (got, want *tensor.Tensor, cos, rel float64) {
	t.Helper()
	want, err := cpu.Forward(x)
	if err != nil {
		t.Fatal(err)
	}
	if got, err = gpu.Forward(x); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got.Shape) != fmt.Sprint(want.Shape) {
		t.Fatalf("input %v: shape %v, CPU encoder gives %v", x.Shape, got.Shape, want.Shape)
	}
	cos, rel = compare(got.Data, want.Data)
	return got, want, cos, rel
}

// compare returns the cosine similarity and the max error relative to the
// largest reference value.
func compare(got, want []float32) (cos, rel float64) {
	var dot, gg, ww, diff, mag float64
	for i := range want {
		g, w := float64(got[i]), float64(want[i])
		dot += g * w
		gg += g * g
		ww += w * w
		diff = math.Max(diff, math.Abs(g-w))
		mag = math.Max(mag, math.Abs(w))
	}
	return dot / math.Sqrt(gg*ww), diff / mag
}

func TestMatchesCPUEncoder(t *testing.T) {
	d := openDevice(t)
	p := randomParams(t, tiny, 42)
	cpuEnc, err := encoder.NewWithConfig(tiny, p)
	if err != nil {
		t.Fatal(err)
	}
	gpuEnc, err := New(d, tiny, p)
	if err != nil {
		t.Fatal(err)
	}
	defer gpuEnc.Release()
	for _, size := range [][2]int{{32, 32}, {45, 29}, {16, 80}, {1, 1}} {
		h, w := size[0], size[1]
		x := randomImage(uint64(h*1000+w), 3, h, w)
		_, want, cos, rel := forwardBoth(t, gpuEnc, cpuEnc, x)
		if oh, ow := gpuEnc.OutputSize(h, w); oh != want.Shape[1] || ow != want.Shape[2] {
			t.Fatalf("%dx%d: OutputSize %dx%d, CPU encoder gives %v", h, w, oh, ow, want.Shape)
		}
		t.Logf("%dx%d: cosine %.8f, max relative error %.3g", h, w, cos, rel)
		// float32 through ~40 layers in a different summation order.
		if cos < 0.99999 || rel > 1e-4 {
			t.Errorf("%dx%d: cosine %.8f (want >= 0.99999), max relative error %.3g (want <= 1e-4)", h, w, cos, rel)
		}
	}
}

// TestMobileSAMWeights runs the real encoder at 256x256 on both backends.
func TestMobileSAMWeights(t *testing.T) {
	if runtime.GOOS == "js" {
		t.Skip("native only: the weights file is on the host, and SwiftShader takes ~30 s")
	}
	path := testutil.Need(t, filepath.Join(testutil.CacheDir(t), "weights", "encoder.safetensors"), "converted MobileSAM encoder")
	d := openDevice(t)
	p, err := modelfile.ReadTensors(path)
	if err != nil {
		t.Fatal(err)
	}
	cpuEnc, err := encoder.New(p)
	if err != nil {
		t.Fatal(err)
	}
	gpuEnc, err := New(d, encoder.MobileSAM, p)
	if err != nil {
		t.Fatal(err)
	}
	defer gpuEnc.Release()
	x := randomImage(7, 3, 256, 256)
	got, _, cos, rel := forwardBoth(t, gpuEnc, cpuEnc, x)
	t.Logf("MobileSAM 256x256 -> %v: cosine %.8f, max relative error %.3g", got.Shape, cos, rel)
	if cos < 0.999 {
		t.Errorf("cosine %.6f < 0.999", cos)
	}
}

func TestBadInput(t *testing.T) {
	d := openDevice(t)
	if _, err := New(d, tiny, map[string]*tensor.Tensor{}); err == nil {
		t.Error("New accepted an empty parameter set")
	}
	p := randomParams(t, tiny, 1)
	p["neck.0.weight"] = tensor.New(3)
	if _, err := New(d, tiny, p); err == nil {
		t.Error("New accepted a wrongly sized neck.0.weight")
	}
	e, err := New(d, tiny, randomParams(t, tiny, 2))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Release()
	for _, x := range []*tensor.Tensor{nil, tensor.New(1, 8, 8), tensor.New(3, 0, 8), {Shape: []int{3, 4, 4}, Data: make([]float32, 5)}} {
		if _, err := e.Forward(x); err == nil {
			t.Errorf("Forward accepted %v", x)
		}
	}
}

// TestEmbedMatchesCPU checks the image entry point: same preprocessing
// and geometry as the CPU encoder, same embedding (at a 128 input: Embed
// is EmbedSize at 1024, too slow for a unit test on a CPU adapter).
func TestEmbedMatchesCPU(t *testing.T) {
	d := openDevice(t)
	p := randomParams(t, tiny, 5)
	cpuEnc, err := encoder.NewWithConfig(tiny, p)
	if err != nil {
		t.Fatal(err)
	}
	gpuEnc, err := New(d, tiny, p)
	if err != nil {
		t.Fatal(err)
	}
	defer gpuEnc.Release()
	img := image.NewRGBA(image.Rect(0, 0, 40, 30))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 37)
	}
	x, wantG := encoder.Preprocess(img, 128)
	want, err := cpuEnc.Forward(x)
	if err != nil {
		t.Fatal(err)
	}
	got, g, err := gpuEnc.EmbedSize(img, 128)
	if err != nil {
		t.Fatal(err)
	}
	if g != wantG {
		t.Errorf("geometry %+v, CPU encoder gives %+v", g, wantG)
	}
	cos, rel := compare(got.Data, want.Data)
	t.Logf("embed %v: cosine %.8f, max relative error %.3g", got.Shape, cos, rel)
	if cos < 0.99999 || rel > 1e-4 {
		t.Errorf("cosine %.8f, max relative error %.3g", cos, rel)
	}
	if _, _, err := gpuEnc.Embed(nil); err == nil {
		t.Error("Embed(nil) returned no error")
	}
	if _, _, err := gpuEnc.EmbedSize(img, 0); err == nil {
		t.Error("EmbedSize(img, 0) returned no error")
	}
}

// quantizeTiny writes params to a float32 safetensors file and quantizes
// it with package quant (small weights included), as `busam quantize` does.
func quantizeTiny(t *testing.T, p map[string]*tensor.Tensor) *modelfile.Encoder {
	t.Helper()
	dir := t.TempDir()
	var entries []safetensors.Entry
	for name, v := range p {
		entries = append(entries, safetensors.F32Entry(name, v))
	}
	in, out := filepath.Join(dir, "f32.safetensors"), filepath.Join(dir, "int8.safetensors")
	if err := safetensors.WriteFile(in, entries, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := quant.QuantizeFile(in, out, quant.Options{Mode: quant.Int8, MinNumel: 16}); err != nil {
		t.Fatal(err)
	}
	m, err := modelfile.ReadEncoder(out)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// int8s is what m stores in int8, for NewInt8.
func int8s(t *testing.T, m *modelfile.Encoder) map[string]*tensor.Int8 {
	t.Helper()
	q, err := m.Int8()
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// TestInt8MatchesDequantized: with int8 token linears on the device, the
// encoder equals the CPU encoder on the same weights dequantized.
func TestInt8MatchesDequantized(t *testing.T) {
	if runtime.GOOS == "js" {
		t.Skip("native only: quantizing goes through files")
	}
	d := openDevice(t)
	m := quantizeTiny(t, randomParams(t, tiny, 9))
	deq := maps.Clone(m.Tensors)
	cpuEnc, err := encoder.NewWithConfig(tiny, deq)
	if err != nil {
		t.Fatal(err)
	}
	gpuEnc, err := NewInt8(d, tiny, m.Tensors, int8s(t, m))
	if err != nil {
		t.Fatal(err)
	}
	defer gpuEnc.Release()
	blocks := tiny.Depths[1] + tiny.Depths[2] + tiny.Depths[3]
	if len(gpuEnc.q) != 4*blocks {
		t.Fatalf("%d int8 weights on the device, want %d (qkv, proj, fc1, fc2 per block)", len(gpuEnc.q), 4*blocks)
	}
	x := randomImage(11, 3, 45, 29)
	_, _, cos, rel := forwardBoth(t, gpuEnc, cpuEnc, x)
	t.Logf("int8 45x29: cosine %.8f, max relative error %.3g", cos, rel)
	if cos < 0.99999 || rel > 1e-4 {
		t.Errorf("cosine %.8f, max relative error %.3g", cos, rel)
	}
}

// TestInt8WithOverrides: tensors the heads override (a tuned neck, here
// also one token linear) replace their int8 originals on the device, so
// the encoder equals the CPU encoder on the dequantized weights with the
// same overrides; an override the encoder has no place for is refused.
func TestInt8WithOverrides(t *testing.T) {
	if runtime.GOOS == "js" {
		t.Skip("native only: quantizing goes through files")
	}
	d := openDevice(t)
	m := quantizeTiny(t, randomParams(t, tiny, 9))
	deq := maps.Clone(m.Tensors)
	plain, err := encoder.NewParams(tiny, deq)
	if err != nil {
		t.Fatal(err)
	}
	linear := plain.TokenLinears()[0].Weight.Name
	r := rand.New(rand.NewPCG(3, 4))
	over := map[string]*tensor.Tensor{}
	for _, name := range []string{"neck.0.weight", "neck.1.bias", "neck.2.weight", linear} {
		o := tensor.New(deq[name].Shape...)
		for i := range o.Data {
			o.Data[i] = float32(r.NormFloat64()) * 0.1
		}
		over[name] = o
	}
	if err := encoder.ApplyOverrides(deq, over); err != nil {
		t.Fatal(err)
	}
	cpuEnc, err := encoder.NewWithConfig(tiny, deq)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Override(over); err != nil {
		t.Fatal(err)
	}
	gpuEnc, err := NewInt8(d, tiny, m.Tensors, int8s(t, m))
	if err != nil {
		t.Fatal(err)
	}
	defer gpuEnc.Release()
	blocks := tiny.Depths[1] + tiny.Depths[2] + tiny.Depths[3]
	if len(gpuEnc.q) != 4*blocks-1 {
		t.Errorf("%d int8 weights on the device, want %d: all token linears but the overridden %s", len(gpuEnc.q), 4*blocks-1, linear)
	}
	x := randomImage(11, 3, 45, 29)
	_, _, cos, rel := forwardBoth(t, gpuEnc, cpuEnc, x)
	t.Logf("int8 with overrides 45x29: cosine %.8f, max relative error %.3g", cos, rel)
	if cos < 0.99999 || rel > 1e-4 {
		t.Errorf("cosine %.8f, max relative error %.3g", cos, rel)
	}

	for name, bad := range map[string]map[string]*tensor.Tensor{
		"unknown name": {"neck.9.weight": over["neck.0.weight"]},
		"wrong shape":  {"neck.0.weight": over["neck.2.weight"]},
	} {
		if err := quantizeTiny(t, randomParams(t, tiny, 9)).Override(bad); err == nil {
			t.Errorf("%s: override accepted", name)
		}
	}
}

// TestMobileSAMInt8 runs `busam quantize`'s int8 file at 128x128 (to keep
// the test short): equal to the CPU encoder on its dequantized weights,
// and close to float32.
func TestMobileSAMInt8(t *testing.T) {
	if runtime.GOOS == "js" {
		t.Skip("native only: the weights file is on the host")
	}
	dir := filepath.Join(testutil.CacheDir(t), "weights")
	path := testutil.Need(t, filepath.Join(dir, "encoder.int8.safetensors"), "int8 MobileSAM encoder")
	d := openDevice(t)
	m, err := modelfile.ReadEncoder(path)
	if err != nil {
		t.Fatal(err)
	}
	cpuDeq, err := encoder.New(m.Tensors)
	if err != nil {
		t.Fatal(err)
	}
	gpuEnc, err := NewInt8(d, encoder.MobileSAM, m.Tensors, int8s(t, m))
	if err != nil {
		t.Fatal(err)
	}
	defer gpuEnc.Release()
	x := randomImage(7, 3, 128, 128)
	got, _, cos, rel := forwardBoth(t, gpuEnc, cpuDeq, x)
	t.Logf("int8 MobileSAM 128x128 (%d int8 linears) vs CPU on dequantized weights: cosine %.8f, max relative error %.3g", len(gpuEnc.q), cos, rel)
	if cos < 0.9999 {
		t.Errorf("cosine %.6f < 0.9999 against the same weights on the CPU", cos)
	}
	if f32 := filepath.Join(dir, "encoder.safetensors"); fileExists(f32) {
		cpuF32, err := modelfile.LoadEncoder(f32, nil)
		if err != nil {
			t.Fatal(err)
		}
		ref, err := cpuF32.Forward(x)
		if err != nil {
			t.Fatal(err)
		}
		cos, rel := compare(got.Data, ref.Data)
		t.Logf("int8 on WebGPU vs float32 CPU encoder: cosine %.6f, max relative error %.3g", cos, rel)
	}
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
