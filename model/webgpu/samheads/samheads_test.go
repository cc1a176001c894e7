package samheads

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/busam/busam/model/heads"
	"github.com/busam/busam/model/pipeline"
	"github.com/busam/busam/model/tensor"
	"github.com/busam/busam/model/webgpu"
	"github.com/busam/busam/model/webgpu/webgputest"
)

// openDevice opens a WebGPU device: Vulkan natively (lavapipe in CI), the
// browser's under GOOS=js; skipped without one, failed under CI. Few
// dispatches per submission: lavapipe corrupts a submission that runs for
// more than a few seconds.
func openDevice(t testing.TB) *webgpu.Device {
	t.Helper()
	return webgputest.Open(t, webgpu.Options{MaxDispatches: 4})
}

func randTensor(r *rand.Rand, scale float64, shape ...int) *tensor.Tensor {
	x := tensor.New(shape...)
	for i := range x.Data {
		x.Data[i] = float32(r.NormFloat64() * scale)
	}
	return x
}

// randomModel is a seeded model with every parameter moved off its
// initial value (norm scales, biases, feature statistics), so no path
// hides behind a constant.
func randomModel(t testing.TB, cfg heads.Config, seed uint64) *heads.Model {
	t.Helper()
	m, err := heads.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(seed, 5))
	for _, p := range m.Params() {
		for i := range p.Value.Data {
			p.Value.Data[i] += float32(r.NormFloat64() * 0.2)
		}
	}
	return m
}

// compareOutputs checks the device's outputs against the CPU's: mask
// logits within 1e-4 of their largest magnitude, attention weights within
// 1e-4 of the largest weight, class logits within 1e-4 (of the largest if
// above 1), probabilities within 1e-5.
func compareOutputs(t *testing.T, got, want heads.Output) {
	t.Helper()
	if fmt.Sprint(got.MaskLogits.Shape, got.Attention.Shape, len(got.ClassLogits)) !=
		fmt.Sprint(want.MaskLogits.Shape, want.Attention.Shape, len(want.ClassLogits)) {
		t.Fatalf("shapes %v %v %d, CPU %v %v %d", got.MaskLogits.Shape, got.Attention.Shape, len(got.ClassLogits),
			want.MaskLogits.Shape, want.Attention.Shape, len(want.ClassLogits))
	}
	maskDiff, maskMag := maxDiff(got.MaskLogits.Data, want.MaskLogits.Data)
	attDiff, attMag := maxDiff(got.Attention.Data, want.Attention.Data)
	gp, wp := pipeline.Softmax(got.ClassLogits), pipeline.Softmax(want.ClassLogits)
	probDiff, _ := maxDiff(gp, wp)
	clsDiff, clsMag := maxDiff(got.ClassLogits, want.ClassLogits)
	if !(clsDiff <= 1e-4*max(1, clsMag)) {
		t.Errorf("class logits %v, cpu %v", got.ClassLogits, want.ClassLogits)
	}
	t.Logf("mask logits max |gpu-cpu| %.3g (max |logit| %.3g); attention %.3g (max %.3g); probabilities %.3g: gpu %v, cpu %v",
		maskDiff, maskMag, attDiff, attMag, probDiff, gp, wp)
	if !(maskDiff <= 1e-4*maskMag) {
		t.Errorf("mask logits differ by %.3g, more than 1e-4 of %.3g", maskDiff, maskMag)
	}
	if !(attDiff <= 1e-4*attMag) {
		t.Errorf("attention differs by %.3g, more than 1e-4 of %.3g", attDiff, attMag)
	}
	if !(probDiff <= 1e-5) {
		t.Errorf("class probabilities differ by %.3g", probDiff)
	}
	if ctxDiff, ctxMag := maxDiff(got.Context, want.Context); len(want.Context) == 0 || !(ctxDiff <= 1e-4*max(1, ctxMag)) {
		t.Errorf("context (%d values) differs from the CPU's (%d) by %.3g (max %.3g)", len(got.Context), len(want.Context), ctxDiff, ctxMag)
	}
	// Class evidence: the host gradient from each backend's own pooled
	// vector, then the grid map on the device; within 1e-3 of its largest
	// magnitude per class.
	if got.Evidence == nil || want.Evidence == nil || fmt.Sprint(got.Evidence.Shape) != fmt.Sprint(want.Evidence.Shape) {
		t.Fatalf("evidence %v, cpu %v", got.Evidence, want.Evidence)
	}
	p := want.Evidence.Len() / want.Evidence.Shape[0]
	for k := range want.Evidence.Shape[0] {
		d, mag := maxDiff(got.Evidence.Data[k*p:(k+1)*p], want.Evidence.Data[k*p:(k+1)*p])
		t.Logf("evidence class %d: max |gpu-cpu| %.3g (max |evidence| %.3g, relative %.3g)", k, d, mag, d/mag)
		if !(d <= 1e-3*mag) {
			t.Errorf("evidence of class %d differs by %.3g, more than 1e-3 of %.3g", k, d, mag)
		}
	}
}

func maxDiff(got, want []float32) (diff, mag float64) {
	for i, w := range want {
		diff = max(diff, math.Abs(float64(got[i])-float64(w)))
		mag = max(mag, math.Abs(float64(w)))
	}
	if math.IsNaN(diff) || len(got) != len(want) {
		return math.Inf(1), mag
	}
	return diff, mag
}

// At SAM's real sizes (embedding [256,64,64], image [3,1024,1024]) the
// heads on WebGPU give heads.Model.Predict's outputs, for both decoders
// and the shipped UNet's widths.
func TestMatchesCPUHeads(t *testing.T) {
	d := openDevice(t)
	for _, tc := range []struct {
		name string
		cfg  func() heads.Config
	}{
		{"conv", func() heads.Config { return heads.DefaultConfig("conv") }},
		{"conv/3 mid blocks", func() heads.Config { c := heads.DefaultConfig("conv"); c.MidBlocks = 3; return c }},
		{"unet/64,16,8", func() heads.Config { c := heads.DefaultConfig("unet"); c.Width = [3]int{64, 16, 8}; return c }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := randomModel(t, tc.cfg(), 7)
			r := rand.New(rand.NewPCG(8, 9))
			in := heads.Input{Embedding: randTensor(r, 1, 256, 64, 64), Image: randTensor(r, 1, 3, 1024, 1024)}
			want, err := m.Predict(in)
			if err != nil {
				t.Fatal(err)
			}
			g, err := New(d, m)
			if err != nil {
				t.Fatal(err)
			}
			defer g.Release()
			got, err := g.Predict(in)
			if err != nil {
				t.Fatal(err)
			}
			compareOutputs(t, got, want)
		})
	}
}

// A second pass of the same shapes reuses the first one's scratch
// buffers and gives the same bits; another shape reallocates and still
// agrees with the CPU.
func TestScratchReuse(t *testing.T) {
	d := openDevice(t)
	m := randomModel(t, heads.DefaultConfig("unet"), 11)
	g, err := New(d, m)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Release()
	r := rand.New(rand.NewPCG(12, 13))
	small := heads.Input{Embedding: randTensor(r, 1, 256, 8, 8), Image: randTensor(r, 1, 3, 64, 64)}
	first, err := g.Predict(small)
	if err != nil {
		t.Fatal(err)
	}
	n := len(g.scratch)
	bufs := append([]*webgpu.Buffer(nil), g.scratch...)
	again, err := g.Predict(small)
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range g.scratch {
		if i >= len(bufs) || b != bufs[i] {
			t.Fatalf("second pass replaced scratch buffer %d (%d buffers, first pass had %d)", i, len(g.scratch), n)
		}
	}
	if d, _ := maxDiff(again.MaskLogits.Data, first.MaskLogits.Data); d != 0 {
		t.Errorf("second pass mask logits differ by %.3g", d)
	}
	if d, _ := maxDiff(again.ClassLogits, first.ClassLogits); d != 0 {
		t.Errorf("second pass class logits differ by %.3g", d)
	}
	other := heads.Input{Embedding: randTensor(r, 1, 256, 6, 10), Image: randTensor(r, 1, 3, 48, 80)}
	got, err := g.Predict(other)
	if err != nil {
		t.Fatal(err)
	}
	want, err := m.Predict(other)
	if err != nil {
		t.Fatal(err)
	}
	compareOutputs(t, got, want)
}

func TestBadInputsReturnErrors(t *testing.T) {
	d := openDevice(t)
	m := randomModel(t, heads.DefaultConfig("unet"), 14)
	g, err := New(d, m)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Release()
	emb, err := d.NewBuffer(256, 8, 8)
	if err != nil {
		t.Fatal(err)
	}
	defer emb.Release()
	img, err := d.NewBuffer(3, 32, 32)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Release()
	r := rand.New(rand.NewPCG(1, 1))
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"wrong embedding channels", func() error {
			_, err := g.Predict(heads.Input{Embedding: randTensor(r, 1, 8, 8, 8), Image: randTensor(r, 1, 3, 32, 32)})
			return err
		}},
		{"unet without image", func() error { _, err := g.Predict(heads.Input{Embedding: randTensor(r, 1, 256, 8, 8)}); return err }},
		{"run: image buffer too small", func() error { _, err := g.Run(emb, img, 8, 8, 2); return err }},
		{"run: embedding buffer too small", func() error { _, err := g.Run(emb, img, 16, 16, 1); return err }},
		{"run: nil image", func() error { _, err := g.Run(emb, nil, 8, 8, 1); return err }},
		{"run: zero grid", func() error { _, err := g.Run(emb, img, 0, 8, 1); return err }},
		{"new: nil model", func() error { _, err := New(d, nil); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); err == nil {
				t.Error("no error")
			} else {
				t.Log(err)
			}
		})
	}
	// The heads still work after the refusals.
	in := heads.Input{Embedding: randTensor(r, 1, 256, 8, 8), Image: randTensor(r, 1, 3, 32, 32)}
	got, err := g.Predict(in)
	if err != nil {
		t.Fatal(err)
	}
	want, err := m.Predict(in)
	if err != nil {
		t.Fatal(err)
	}
	compareOutputs(t, got, want)
}
