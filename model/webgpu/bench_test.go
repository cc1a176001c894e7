package webgpu

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/busam/busam/model/cpu"
)

// benchShapes are square sizes plus encoder-like products (M x N x K).
var benchShapes = [][3]int{
	{256, 256, 256},
	{512, 512, 512},
	{1024, 1024, 1024},
	{1024, 640, 160}, // stage-2 MLP fc1 at 512x512 input (32x32 tokens)
	{4096, 256, 320}, // neck 1x1 at 1024 input, as tokens x W^T
}

// BenchmarkMatMul times the WebGPU tiled matmul (record + submit + wait)
// next to cpu.Gemm on the same shapes in the same run, in GFLOP/s.
func BenchmarkMatMul(b *testing.B) {
	d := testDevice(b)
	r := rand.New(rand.NewPCG(1, 1))
	for _, s := range benchShapes {
		m, n, k := s[0], s[1], s[2]
		a, bm := randSlice(r, m*k, 1), randSlice(r, k*n, 1)
		flop := 2 * float64(m) * float64(n) * float64(k)
		b.Run(fmt.Sprintf("webgpu/%dx%dx%d", m, n, k), func(b *testing.B) {
			if d.Software() && flop > 1e9 {
				// One such dispatch runs for seconds on a CPU adapter,
				// where long submissions fail.
				b.Skip("software adapter")
			}
			ga, gb, gc := upload(b, d, a), upload(b, d, bm), zeros(b, d, m*n)
			defer ga.Release()
			defer gb.Release()
			defer gc.Release()
			mm := MatMul{M: m, N: n, K: k}
			// Warm-up: compiles the pipeline outside the timing.
			if err := d.MatMul(mm, ga, gb, gc, Epilogue{}); err != nil {
				b.Fatal(err)
			}
			if err := d.Sync(); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := d.MatMul(mm, ga, gb, gc, Epilogue{}); err != nil {
					b.Fatal(err)
				}
				if err := d.Sync(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(flop*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
		b.Run(fmt.Sprintf("cpu/%dx%dx%d", m, n, k), func(b *testing.B) {
			c := make([]float32, m*n)
			for i := 0; i < b.N; i++ {
				cpu.Gemm(false, false, m, n, k, 1, a, k, bm, n, 0, c, n)
			}
			b.ReportMetric(flop*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
