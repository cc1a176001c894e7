package heads

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// Predict runs Infer on the host; it must give exactly the bits of the
// training forward pass (no dropout), which the gradient checks cover.
func TestInferMatchesTrainingForward(t *testing.T) {
	for _, tc := range []struct {
		kind      string
		mids      int
		h, w, img int // embedding grid, image side multiple of 4h
	}{
		{"conv", 0, 8, 8, 1},
		{"conv", 3, 6, 10, 1},
		{"unet", 0, 8, 8, 4},
		{"unet", 2, 5, 7, 2},
		{"unet", 1, 4, 4, 1},
	} {
		t.Run(fmt.Sprintf("%s/mids=%d/%dx%d/k=%d", tc.kind, tc.mids, tc.h, tc.w, tc.img), func(t *testing.T) {
			cfg := DefaultConfig(tc.kind)
			cfg.EmbedDim, cfg.MidBlocks = 16, tc.mids
			m, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(3, uint64(tc.h)))
			for _, p := range m.Params() { // non-trivial norms, biases and statistics
				for i := range p.Value.Data {
					p.Value.Data[i] += float32(rng.NormFloat64() * 0.3)
				}
			}
			in := Input{Embedding: randTensor(rng, cfg.EmbedDim, tc.h, tc.w),
				Image: randTensor(rng, 3, 4*tc.h*tc.img, 4*tc.w*tc.img)}
			want, _ := m.ForwardTrain(in, nil)
			got, err := m.Predict(in)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.MaskLogits.Data, want.MaskLogits.Data) || !slices.Equal(got.MaskLogits.Shape, want.MaskLogits.Shape) {
				t.Errorf("mask logits differ from the training forward")
			}
			if !slices.Equal(got.ClassLogits, want.ClassLogits) {
				t.Errorf("class logits %v, training forward %v", got.ClassLogits, want.ClassLogits)
			}
			if !slices.Equal(got.Attention.Data, want.Attention.Data) || !slices.Equal(got.Attention.Shape, want.Attention.Shape) {
				t.Errorf("attention differs from the training forward")
			}
		})
	}
}

func TestInferRejectsBadGrid(t *testing.T) {
	m, err := New(DefaultConfig("conv"))
	if err != nil {
		t.Fatal(err)
	}
	e := randTensor(rand.New(rand.NewPCG(1, 1)), 256, 2, 2)
	for _, g := range [][3]int{{0, 2, 1}, {2, -1, 1}, {2, 2, 0}} {
		if _, err := Infer(cpuBackend{m}, m, e, nil, g[0], g[1], g[2]); err == nil {
			t.Errorf("grid %v accepted", g)
		}
	}
}
