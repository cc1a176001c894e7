package samheads

import (
	"math/rand/v2"
	"testing"

	"github.com/busam/busam/model/heads"
)

// benchRun times Run at SAM's sizes (embedding [256,64,64], input
// [3,1024,1024]) with both already on the device, as after the encoder:
// the heads' dispatches plus the one read of their outputs.
func benchRun(b *testing.B, cfg heads.Config) {
	if testing.Short() {
		b.Skip("full-size heads on a software adapter")
	}
	d := openDevice(b)
	m := randomModel(b, cfg, 1)
	g, err := New(d, m)
	if err != nil {
		b.Fatal(err)
	}
	defer g.Release()
	r := rand.New(rand.NewPCG(1, 2))
	emb, err := d.Upload(randTensor(r, 1, 256, 64, 64))
	if err != nil {
		b.Fatal(err)
	}
	defer emb.Release()
	img, err := d.Upload(randTensor(r, 1, 3, 1024, 1024))
	if err != nil {
		b.Fatal(err)
	}
	defer img.Release()
	if _, err := g.Run(emb, img, 64, 64, 4); err != nil { // compiles the pipelines, allocates the scratch
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if _, err := g.Run(emb, img, 64, 64, 4); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(m.FLOPs(64, 64))*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

func BenchmarkRunConv(b *testing.B) { benchRun(b, heads.DefaultConfig("conv")) }

// BenchmarkRunUNet is the shipped UNet's shape (widths 64,16,8).
func BenchmarkRunUNet(b *testing.B) {
	c := heads.DefaultConfig("unet")
	c.Width = [3]int{64, 16, 8}
	benchRun(b, c)
}
