package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"time"

	"github.com/busam/busam/model/cpu"
)

// openBLASGFLOPS is OpenBLAS sgemm on this project's 2-core machines
// (1024-2048, 2 threads: 185-197 GFLOP/s, see shared/PLATFORM.md).
const openBLASGFLOPS = 190

func init() {
	registerBench("gemm", "CPU kernels: FMA peak, Gemm (1024^3, encoder shapes), attention, plain-Go path, Conv2D", benchGemm)
}

func benchGemm(args []string) error {
	fs := flag.NewFlagSet("bench gemm", flag.ContinueOnError)
	dur := fs.Duration("time", time.Second, "minimum measuring time per shape")
	generic := fs.Bool("generic", true, "also time the plain-Go path (what wasm runs)")
	conv := fs.Bool("conv", true, "also time encoder-like conv layers (the HWC kernels)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	fmt.Printf("kernel %s, GOMAXPROCS %d, %s/%s\n", cpu.KernelName(), runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH)
	// The peak is measured again before each line and the best is kept, so
	// that on a shared machine the ratios use the least disturbed value;
	// lines are printed at the end, against that best.
	var peak float64
	ok := true
	samplePeak := func() {
		if p, has := cpu.FMAPeak(*dur / 4); has {
			peak = max(peak, p)
		} else {
			ok = false
		}
	}
	var lines []func()
	section := func(title string) { lines = append(lines, func() { fmt.Println(title) }) }
	report := func(name string, gf float64) {
		lines = append(lines, func() {
			line := fmt.Sprintf("%-36s %7.1f GFLOP/s", name, gf)
			if ok {
				line += fmt.Sprintf("  %5.1f%% of measured FMA peak", 100*gf/peak)
			}
			line += fmt.Sprintf("  %5.1f%% of OpenBLAS (%d GFLOP/s)", 100*gf/openBLASGFLOPS, openBLASGFLOPS)
			fmt.Println(line)
		})
		samplePeak()
	}
	samplePeak()
	section("Gemm C[m,n] = A[m,k] x B[k,n] (median of repeated runs):")
	for _, s := range [][3]int{
		{1024, 1024, 1024},
		{4096, 64, 4096}, {64, 4096, 4096},
		{256, 4096, 2304}, // neck 3x3 conv as W x im2col
	} {
		gf := timeGemm(cpu.Gemm, false, s[0], s[1], s[2], *dur)
		report(fmt.Sprintf("  Gemm %dx%dx%d", s[0], s[1], s[2]), gf)
	}
	section("encoder linears C[tokens,out] = X[tokens,in] x W[out,in]^T:")
	for _, s := range [][3]int{
		{65536, 256, 64},  // stage 0 MBConv expand at 256x256
		{16384, 128, 512}, // stage 1 MBConv project at 128x128
		{4096, 640, 160},  // stage 2 MLP fc1 at 64x64
		{4096, 1280, 320}, // stage 3 MLP fc1
	} {
		gf := timeGemm(cpu.Gemm, true, s[0], s[1], s[2], *dur)
		report(fmt.Sprintf("  Gemm %dx%dx%d transB", s[0], s[1], s[2]), gf)
	}
	section("window attention, one core per window (GemmBatched, 4 heads of d=32):")
	for _, n := range []int{49, 196} {
		report(fmt.Sprintf("  Q*K^T and P*V, N=%d", n), timeAttention(n, *dur))
	}
	if *generic {
		section("plain-Go path (GemmGeneric):")
		report("  GemmGeneric 1024x1024x1024", timeGemm(cpu.GemmGeneric, false, 1024, 1024, 1024, *dur))
	}
	if *conv {
		section("conv layers on HWC maps, as the encoder runs them (GFLOP/s counts 2*MACs incl. padding taps):")
		for _, c := range []struct {
			name string
			p    cpu.ConvParams
		}{
			{"patch embed 3x3 s2 3->32 @1024", cpu.ConvParams{InC: 3, InH: 1024, InW: 1024, OutC: 32, KH: 3, KW: 3, Stride: 2, Pad: 1}},
			{"neck 3x3 256->256 @64", cpu.ConvParams{InC: 256, InH: 64, InW: 64, OutC: 256, KH: 3, KW: 3, Stride: 1, Pad: 1}},
			{"1x1 64->256 @256", cpu.ConvParams{InC: 64, InH: 256, InW: 256, OutC: 256, KH: 1, KW: 1, Stride: 1}},
			{"depthwise 3x3 256ch @256", cpu.ConvParams{InC: 256, InH: 256, InW: 256, OutC: 256, KH: 3, KW: 3, Stride: 1, Pad: 1, Groups: 256}},
			{"depthwise 3x3 s2 320ch @64", cpu.ConvParams{InC: 320, InH: 64, InW: 64, OutC: 320, KH: 3, KW: 3, Stride: 2, Pad: 1, Groups: 320}},
		} {
			report("  "+c.name, timeConv(c.p, *dur))
		}
	}
	if ok {
		fmt.Printf("FMA peak (register-only asm FMA loop on all cores, best of %d samples): %.1f GFLOP/s\n", len(lines)+1, peak)
	} else {
		fmt.Println("FMA peak: no FMA loop for this CPU")
	}
	for _, l := range lines {
		l()
	}
	return nil
}

// medianRate runs f until d has passed (at least 3 times) and returns
// flops divided by the median run time, in GFLOP/s.
func medianRate(flops float64, d time.Duration, f func()) float64 {
	f() // warm-up: page faults, pools
	var times []float64
	start := time.Now()
	for len(times) < 3 || time.Since(start) < d {
		t0 := time.Now()
		f()
		times = append(times, time.Since(t0).Seconds())
	}
	slices.Sort(times)
	return flops / times[len(times)/2] / 1e9
}

type gemmFunc func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)

func timeGemm(f gemmFunc, transB bool, m, n, k int, d time.Duration) float64 {
	a, b, c := randFloats(m*k), randFloats(k*n), make([]float32, m*n)
	ldb := n
	if transB {
		ldb = k
	}
	return medianRate(2*float64(m)*float64(n)*float64(k), d, func() {
		f(false, transB, m, n, k, 1, a, k, b, ldb, 0, c, n)
	})
}

// timeAttention runs the two products of window attention for 4 heads with
// head dim 32 as a batch (Q, K, V [heads, n, 32]; scores [heads, n, n]).
func timeAttention(n int, d time.Duration) float64 {
	const heads, dim = 4, 32
	q, k, v := randFloats(heads*n*dim), randFloats(heads*n*dim), randFloats(heads*n*dim)
	s, o := make([]float32, heads*n*n), make([]float32, heads*n*dim)
	return medianRate(4*float64(heads*n*n*dim), d, func() {
		cpu.GemmBatched(false, true, n, n, dim, 1, q, dim, n*dim, k, dim, n*dim, 0, s, n, n*n, heads)
		cpu.GemmBatched(false, false, n, dim, n, 1, s, n, n*n, v, dim, n*dim, 0, o, dim, n*dim, heads)
	})
}

// timeConv times the HWC kernels the encoder runs for such a layer: a
// depthwise conv (the only grouped one it has) directly, a 1x1 one as one
// Linear, a dense one as im2col + Linear in bands of about 1024 pixels;
// then the bias.
func timeConv(p cpu.ConvParams, d time.Duration) float64 {
	g := max(p.Groups, 1)
	oh, ow := p.OutSize()
	src, w := randFloats(p.InC*p.InH*p.InW), randFloats(p.OutC*p.InC/g*p.KH*p.KW)
	bias, dst := randFloats(p.OutC), make([]float32, p.OutC*oh*ow)
	flops := 2 * float64(p.OutC*oh*ow) * float64(p.InC/g*p.KH*p.KW)
	kc := p.KH * p.KW * p.InC
	band := max(1, 1024/ow)
	var col []float32
	if g == 1 && p.KH > 1 {
		col = make([]float32, min(band, oh)*ow*kc)
	}
	return medianRate(flops, d, func() {
		switch {
		case g > 1:
			cpu.Depthwise(dst, src, p.InH, p.InW, p.InC, p.KH, p.Stride, w, bias, false)
			return
		case p.KH == 1 && p.Stride == 1:
			cpu.Linear(dst, src, p.InH*p.InW, p.InC, p.OutC, w, false)
		default:
			for oy0 := 0; oy0 < oh; oy0 += band {
				oy1 := min(oy0+band, oh)
				cpu.Im2colRows(col, src, p.InH, p.InW, p.InC, p.KH, p.Stride, p.Pad, ow, oy0, oy1)
				cpu.Linear(dst[oy0*ow*p.OutC:], col, (oy1-oy0)*ow, kc, p.OutC, w, false)
			}
		}
		cpu.BiasAct(dst, oh*ow, p.OutC, bias, false)
	})
}

func randFloats(n int) []float32 {
	r := rand.New(rand.NewPCG(1, uint64(n)))
	s := make([]float32, n)
	for i := range s {
		s[i] = r.Float32()*2 - 1
	}
	return s
}
