package heads

import (
	"math/rand/v2"
	"testing"

	"github.com/busam/busam/model/tensor"
)

// benchStep times one training step (forward + backward) of a default model
// on a SAM-sized input and reports GFLOP/s from TrainFLOPs.
func benchStep(b *testing.B, kind string, train bool) {
	m, err := New(DefaultConfig(kind))
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	in := Input{Embedding: randTensor(rng, 256, 64, 64), Image: randTensor(rng, 3, 256, 256)}
	g := NewGrads(m.Params())
	dMask := tensor.New(1, 256, 256)
	flops := m.FLOPs(64, 64)
	if train {
		flops = m.TrainFLOPs(64, 64)
	}
	b.ResetTimer()
	for range b.N {
		if !train {
			if _, err := m.Predict(in); err != nil {
				b.Fatal(err)
			}
			continue
		}
		_, tape := m.ForwardTrain(in, rng)
		m.Backward(tape, dMask, []float32{0.1, -0.1, 0}, g)
	}
	b.ReportMetric(float64(flops)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

func BenchmarkForwardConv(b *testing.B)   { benchStep(b, "conv", false) }
func BenchmarkForwardUNet(b *testing.B)   { benchStep(b, "unet", false) }
func BenchmarkTrainStepConv(b *testing.B) { benchStep(b, "conv", true) }
func BenchmarkTrainStepUNet(b *testing.B) { benchStep(b, "unet", true) }
