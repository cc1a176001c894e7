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

// BenchmarkGemmInPlace compares packing both operands with reading A or B
// in place, to tune directMaxM and directMaxN.
func BenchmarkGemmInPlace(b *testing.B) {
	for _, s := range [][3]int{{64, 65536, 64}, {128, 16384, 128}, {256, 16384, 256}, {256, 4096, 320}, {4096, 64, 4096}, {16384, 128, 128}, {16384, 256, 64}, {1024, 1024, 1024}} {
		for _, mode := range []struct {
			name string
			lim  int
		}{{"packed", 0}, {"inplace", 1 << 30}} {
			b.Run(fmt.Sprintf("%dx%dx%d/%s", s[0], s[1], s[2], mode.name), func(b *testing.B) {
				withDirectLimits(mode.lim, mode.lim, func() { benchGemm(b, Gemm, s[0], s[1], s[2]) })
			})
		}
	}
}

func BenchmarkConv2D(b *testing.B) {
	for _, c := range []struct {
		name string
		p    ConvParams
	}{
		{"dw3x3s1-256ch@256", ConvParams{InC: 256, InH: 256, InW: 256, OutC: 256, KH: 3, KW: 3, Stride: 1, Pad: 1, Groups: 256}},
		{"dw3x3s2-128ch@256", ConvParams{InC: 128, InH: 256, InW: 256, OutC: 128, KH: 3, KW: 3, Stride: 2, Pad: 1, Groups: 128}},
		{"1x1-64to256@256", ConvParams{InC: 64, InH: 256, InW: 256, OutC: 256, KH: 1, KW: 1, Stride: 1}},
		{"3x3s2-3to32@1024", ConvParams{InC: 3, InH: 1024, InW: 1024, OutC: 32, KH: 3, KW: 3, Stride: 2, Pad: 1}},
		{"3x3-256to256@64", ConvParams{InC: 256, InH: 64, InW: 64, OutC: 256, KH: 3, KW: 3, Stride: 1, Pad: 1}},
	} {
		b.Run(c.name, func(b *testing.B) {
			p := c.p
			g := max(p.Groups, 1)
			oh, ow := p.OutSize()
			r := rand.New(rand.NewPCG(1, 2))
			src, w := randSlice(r, p.InC*p.InH*p.InW), randSlice(r, p.OutC*p.InC/g*p.KH*p.KW)
			bias, dst := randSlice(r, p.OutC), make([]float32, p.OutC*oh*ow)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				Conv2D(dst, src, w, bias, p)
			}
			flops := 2 * float64(p.OutC*oh*ow) * float64(p.InC/g*p.KH*p.KW)
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
