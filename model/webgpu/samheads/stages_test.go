package samheads

import (
	"image"
	"image/color"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/busam/busam/model/encoder"
	"github.com/busam/busam/model/heads"
	"github.com/busam/busam/model/pipeline"
	"github.com/busam/busam/model/webgpu/tinyvit"
)

// The whole model on one device (pipeline.AnalyzeStages over Stages: the
// embedding and the input stay there) gives the CPU pipeline's result
// (pipeline.AnalyzeSize), for both decoders, the UNet reading the input
// that the encoder uploaded; with the test-time flip too.
func TestStagesMatchCPUPipeline(t *testing.T) {
	d := openDevice(t)
	cfg := encoder.Tiny
	p, err := encoder.RandomParams(cfg, 31)
	if err != nil {
		t.Fatal(err)
	}
	cpuEnc, err := encoder.NewWithConfig(cfg, p)
	if err != nil {
		t.Fatal(err)
	}
	gpuEnc, err := tinyvit.New(d, cfg, p)
	if err != nil {
		t.Fatal(err)
	}
	defer gpuEnc.Release()
	img := noiseImage(45, 70)
	for _, kind := range []string{"conv", "unet"} {
		for _, flip := range []bool{false, true} {
			hc := heads.DefaultConfig(kind)
			hc.EmbedDim = cfg.NeckDim
			m := randomModel(t, hc, 32)
			calibrate(t, m, cpuEnc, img)
			g, err := New(d, m)
			if err != nil {
				t.Fatal(err)
			}
			opt := pipeline.Options{Size: 64, Flip: flip}
			got, err := pipeline.AnalyzeStages[Embedding](Stages{Encoder: gpuEnc, Heads: g}, img, opt)
			if err != nil {
				t.Fatal(err)
			}
			g.Release()
			want, err := pipeline.AnalyzeWith(cpuEnc, m, img, opt)
			if err != nil {
				t.Fatal(err)
			}
			probDiff, _ := maxDiff(got.Probs, want.Probs)
			attDiff, attMag := maxDiff(got.Attention.Data, want.Attention.Data)
			t.Logf("%s flip=%v: probabilities %v (cpu %v), attention max diff %.3g of %.3g, mask Dice %.5f (%d of %d pixels lesion), timings %v",
				kind, flip, got.Probs, want.Probs, attDiff, attMag, dice(got.Mask, want.Mask), count(want.Mask), len(want.Mask), got.Timings)
			if !(probDiff <= 1e-4) || got.Label != want.Label {
				t.Errorf("%s flip=%v: %s %v, cpu %s %v", kind, flip, got.Label, got.Probs, want.Label, want.Probs)
			}
			if !(attDiff <= 1e-3*attMag) {
				t.Errorf("%s flip=%v: attention differs by %.3g of %.3g", kind, flip, attDiff, attMag)
			}
			if dc := dice(got.Mask, want.Mask); dc < 0.99 || got.W != want.W || got.H != want.H {
				t.Errorf("%s flip=%v: mask %dx%d Dice %.4f with the cpu's %dx%d", kind, flip, got.W, got.H, dc, want.W, want.H)
			}
			for _, stage := range []string{"encoder", "heads"} {
				if got.Timings[stage] <= 0 {
					t.Errorf("%s flip=%v: no %s timing: %v", kind, flip, stage, got.Timings)
				}
			}
		}
	}
}

// With pipeline.Options.Embedding the device's embedding is read back: it
// is the CPU encoder's (to float rounding), and the result is unchanged.
func TestStagesReadEmbedding(t *testing.T) {
	d := openDevice(t)
	cfg := encoder.Tiny
	p, err := encoder.RandomParams(cfg, 41)
	if err != nil {
		t.Fatal(err)
	}
	cpuEnc, err := encoder.NewWithConfig(cfg, p)
	if err != nil {
		t.Fatal(err)
	}
	gpuEnc, err := tinyvit.New(d, cfg, p)
	if err != nil {
		t.Fatal(err)
	}
	defer gpuEnc.Release()
	hc := heads.DefaultConfig("conv")
	hc.EmbedDim = cfg.NeckDim
	g, err := New(d, randomModel(t, hc, 42))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Release()
	img := noiseImage(70, 45)
	stages := Stages{Encoder: gpuEnc, Heads: g}
	got, err := pipeline.AnalyzeStages[Embedding](stages, img, pipeline.Options{Size: 64, Embedding: true})
	if err != nil {
		t.Fatal(err)
	}
	plain, err := pipeline.AnalyzeStages[Embedding](stages, img, pipeline.Options{Size: 64})
	if err != nil {
		t.Fatal(err)
	}
	x, _ := encoder.Preprocess(img, 64)
	want, err := cpuEnc.Forward(x)
	if err != nil {
		t.Fatal(err)
	}
	if got.Embedding == nil || !slices.Equal(got.Embedding.Shape, want.Shape) {
		t.Fatalf("embedding %v, want shape %v", got.Embedding, want.Shape)
	}
	diff, mag := maxDiff(got.Embedding.Data, want.Data)
	t.Logf("embedding %v: max |webgpu - cpu| %.3g of %.3g", want.Shape, diff, mag)
	if !(diff <= 1e-3*mag) {
		t.Errorf("embedding differs from the CPU encoder's by %.3g of %.3g", diff, mag)
	}
	if plain.Embedding != nil {
		t.Error("an embedding read back without Options.Embedding")
	}
	if !slices.Equal(got.Probs, plain.Probs) || !slices.Equal(got.Mask, plain.Mask) {
		t.Error("reading the embedding back changed the result")
	}
}

// calibrate shifts the random heads' mask bias so that about half of the
// frame is lesion: an empty mask would make the mask comparison trivial.
func calibrate(t *testing.T, m *heads.Model, enc *encoder.Encoder, img image.Image) {
	t.Helper()
	x, _ := encoder.Preprocess(img, 64)
	emb, err := enc.Forward(x)
	if err != nil {
		t.Fatal(err)
	}
	out, err := m.Predict(heads.Input{Embedding: emb, Image: x})
	if err != nil {
		t.Fatal(err)
	}
	logits := slices.Sorted(slices.Values(out.MaskLogits.Data))
	for _, p := range m.Params() {
		if p.Name == "dec.out.bias" {
			p.Value.Data[0] -= logits[len(logits)/2]
			return
		}
	}
	t.Fatal("heads have no dec.out.bias")
}

func count(mask []uint8) int {
	n := 0
	for _, v := range mask {
		n += int(v)
	}
	return n
}

// noiseImage is a seeded grey image with a bright blob, so the random
// heads see structure.
func noiseImage(w, h int) image.Image {
	r := rand.New(rand.NewPCG(33, 34))
	img := image.NewGray(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			v := 60 + r.Float64()*40
			if dx, dy := float64(x-w/3), float64(y-h/2); math.Hypot(dx, dy) < float64(h)/4 {
				v += 120
			}
			img.SetGray(x, y, color.Gray{Y: uint8(v)})
		}
	}
	return img
}

// dice is the Dice overlap of two 0|1 masks (1 for two empty ones).
func dice(a, b []uint8) float64 {
	var inter, sum int
	for i := range a {
		inter += int(a[i] & b[i])
		sum += int(a[i]) + int(b[i])
	}
	if sum == 0 {
		return 1
	}
	return 2 * float64(inter) / float64(sum)
}
