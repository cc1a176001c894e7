package cpu

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

func benchGemm(b *testing.B, f gemmFunc, m, n, k int) {
	r := rand.New(rand.NewPCG(1, 2))
	a, bm, c := randSlice(r, m*k), randSlice(r, k*n), make([]float32, m*n)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f(false, false, m, n, k, 1, a, k, bm, n, 0, c, n)
	}
	b.ReportMetric(2*float64(m)*float64(n)*float64(k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

func BenchmarkGemm1024(b *testing.B)        { benchGemm(b, Gemm, 1024, 1024, 1024) }
func BenchmarkGemmGeneric1024(b *testing.B) { benchGemm(b, GemmGeneric, 1024, 1024, 1024) }

// BenchmarkGemmShapes covers encoder-like products: 1x1 convs as
// W[OutC,InC] x X[InC,HW] and token matmuls.
func BenchmarkGemmShapes(b *testing.B) {
	for _, s := range [][3]int{{256, 4096, 320}, {4096, 640, 160}, {64, 65536, 64}, {49, 49, 32}, {196, 32, 196}} {
		b.Run(fmt.Sprintf("%dx%dx%d", s[0], s[1], s[2]), func(b *testing.B) { benchGemm(b, Gemm, s[0], s[1], s[2]) })
	}
}

// BenchmarkGemmBlocking times 1024^3 on the best kernel under other cache
// blockings (kc x mc), to tune the constants in kernel_*.go.
func BenchmarkGemmBlocking(b *testing.B) {
	for _, kc := range []int{128, 192, 256, 384, 512} {
		for _, mc := range []int{64, 128, 192, 384} {
			kn := *bestKernel
			kn.kc, kn.mc = kc, roundUp(mc, kn.mr)
			b.Run(fmt.Sprintf("kc%d/mc%d", kc, kn.mc), func(b *testing.B) {
				benchGemm(b, func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, bm []float32, ldb int, beta float32, c []float32, ldc int) {
					gemm(&kn, true, transA, transB, m, n, k, alpha, a, lda, bm, ldb, beta, c, ldc, nil)
				}, 1024, 1024, 1024)
			})
		}
	}
}

// encoderShapes are the products the encoder runs (linear layers as
// X[tokens,in] x W[out,in]^T, so transB) and its attention products.
var encoderShapes = []struct {
	m, n, k int
	transB  bool
}{
	{65536, 256, 64, true}, {65536, 64, 256, true}, // stage 0 MBConv 1x1s at 256x256
	{16384, 512, 128, true}, {16384, 128, 512, true}, // stage 1 at 128x128
	{4096, 480, 160, true}, {4096, 640, 160, true}, {4096, 160, 640, true}, // stage 2
	{4096, 960, 320, true}, {4096, 1280, 320, true}, {4096, 320, 1280, true}, // stage 3
	{1024, 1024, 1024, false}, {64, 65536, 64, false}, {4096, 64, 4096, false},
}

// BenchmarkGemmTune times encoder shapes under other cache blockings and
// with A packed or read in place, to tune kc and directMaxN.
func BenchmarkGemmTune(b *testing.B) {
	for _, s := range encoderShapes {
		for _, kc := range []int{256, 384, 512} {
			for _, mode := range directModes {
				kn := *bestKernel
				kn.kc = kc
				b.Run(fmt.Sprintf("%dx%dx%d/tB=%v/kc%d/%s", s.m, s.n, s.k, s.transB, kc, mode.name), func(b *testing.B) {
					withDirectMaxN(mode.maxN, func() {
						benchGemmT(b, &kn, s.transB, s.m, s.n, s.k)
					})
				})
			}
		}
	}
}

func benchGemmT(b *testing.B, kn *kernel, transB bool, m, n, k int) {
	r := rand.New(rand.NewPCG(1, 2))
	a, bm, c := randSlice(r, m*k), randSlice(r, k*n), make([]float32, m*n)
	ldb := n
	if transB {
		ldb = k
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		gemm(kn, true, false, transB, m, n, k, 1, a, k, bm, ldb, 0, c, n, nil)
	}
	b.ReportMetric(2*float64(m)*float64(n)*float64(k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// BenchmarkAttention times one window's attention products on one core, as
// the encoder calls them (GemmBatched with batch 1 inside its own parallel
// loop): scores = Q K^T, then out = P V, for 7x7 and 14x14 windows.
func BenchmarkAttention(b *testing.B) {
	for _, n := range []int{49, 196} {
		const d = 32
		r := rand.New(rand.NewPCG(1, 2))
		q, k, v := randSlice(r, n*d), randSlice(r, n*d), randSlice(r, n*d)
		s, o := make([]float32, n*n), make([]float32, n*d)
		b.Run(fmt.Sprintf("N%d", n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				GemmBatched(false, true, n, n, d, 1, q, d, 0, k, d, 0, 0, s, n, 0, 1)
				GemmBatched(false, false, n, d, n, 1, s, n, 0, v, d, 0, 0, o, d, 0, 1)
			}
			b.ReportMetric(4*float64(n*n*d)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkGELU measures the activation alone: about 140M per 1024 image.
func BenchmarkGELU(b *testing.B) {
	x := make([]float32, 1<<16)
	for i := range x {
		x[i] = float32(i%2000)/200 - 5
	}
	b.SetBytes(int64(4 * len(x)))
	for i := 0; i < b.N; i++ {
		BiasAct(x, len(x)/64, 64, nil, true)
	}
}

// BenchmarkGemmKernels times 1024^3 on each kernel this CPU can run.
func BenchmarkGemmKernels(b *testing.B) {
	for _, kn := range fastKernels() {
		b.Run(kn.name, func(b *testing.B) {
			benchGemm(b, func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, bm []float32, ldb int, beta float32, c []float32, ldc int) {
				gemm(kn, true, transA, transB, m, n, k, alpha, a, lda, bm, ldb, beta, c, ldc, nil)
			}, 1024, 1024, 1024)
		})
	}
}
