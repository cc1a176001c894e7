//go:build js && wasm

package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/busam/busam/model/cpu"
	"github.com/busam/busam/model/cpu/wasmsimd"
)

// opsChecks compares the SIMD GELU, softmax and depthwise kernels with the
// plain-Go loops they replace; they must agree bit for bit.
func opsChecks() []check {
	rng := rand.New(rand.NewPCG(7, 8))
	var out []check
	add := func(name string, got, want []float32) {
		out = append(out, compare(name, got, want, 1, 1, len(got), len(got)))
	}
	for _, n := range []int{16, 17, 19, 64, 255, 1280} {
		x := randScaled(rng, n, 8)
		// Values around the edges of the approximations: erf's clamp at 6,
		// large negative exponents, zeros of both signs.
		copy(x, []float32{0, float32(math.Copysign(0, -1)), 6.5, -6.5, 5.99, -30, 30, 1e-8})
		bias := randScaled(rng, n, 1)
		for _, withBias := range []bool{false, true} {
			var b []float32
			if withBias {
				b = bias
			}
			got, want := slices.Clone(x), slices.Clone(x)
			if !wasmsimd.GELU(got, b) {
				panic("wasmsimd.GELU did nothing")
			}
			cpu.GELURowReference(want, b)
			add(fmt.Sprintf("gelu n=%d bias=%v", n, withBias), got, want)
		}
	}
	for _, n := range []int{16, 18, 49, 196, 197} {
		for _, scale := range []float32{1, 10, 200} {
			x := randScaled(rng, n, scale)
			x[n/3] = -1e30 // exp underflow: exactly 0
			got, want := slices.Clone(x), slices.Clone(x)
			if !wasmsimd.Softmax(got) {
				panic("wasmsimd.Softmax did nothing")
			}
			cpu.SoftmaxRowReference(want)
			add(fmt.Sprintf("softmax n=%d scale=%g", n, scale), got, want)
		}
	}
	for _, p := range []struct{ h, wd, c, k, stride int }{
		{5, 6, 4, 3, 1}, {9, 7, 64, 3, 2}, {8, 8, 128, 3, 1}, {6, 9, 12, 5, 1}, {7, 7, 160, 3, 2},
	} {
		src := randScaled(rng, p.h*p.wd*p.c, 1)
		w := randScaled(rng, p.k*p.k*p.c, 1)
		bias := randScaled(rng, p.c, 1)
		oh := (p.h+2*(p.k/2)-p.k)/p.stride + 1
		ow := (p.wd+2*(p.k/2)-p.k)/p.stride + 1
		for _, act := range []bool{false, true} {
			got, want := make([]float32, oh*ow*p.c), make([]float32, oh*ow*p.c)
			for oy := 0; oy < oh; oy++ {
				// Border pixels in Go, the rest in SIMD, as a caller would;
				// and every pixel in SIMD for the first row.
				ox0, ox1 := 1, ow-1
				if oy == 0 {
					ox0, ox1 = 0, ow
				}
				row := got[oy*ow*p.c : (oy+1)*ow*p.c]
				if !wasmsimd.Depthwise(row, src, p.h, p.wd, p.c, p.k, p.stride, oy, ox0, ox1, w, bias, act) {
					panic("wasmsimd.Depthwise did nothing")
				}
				cpu.DepthwisePixelsReference(row, src, p.h, p.wd, p.c, p.k, p.stride, oy, 0, ox0, w, bias, act)
				cpu.DepthwisePixelsReference(row, src, p.h, p.wd, p.c, p.k, p.stride, oy, ox1, ow, w, bias, act)
				cpu.DepthwisePixelsReference(want[oy*ow*p.c:(oy+1)*ow*p.c], src, p.h, p.wd, p.c, p.k, p.stride, oy, 0, ow, w, bias, act)
			}
			add(fmt.Sprintf("depthwise %+v gelu=%v", p, act), got, want)
		}
	}
	return out
}

// opsBench times the elementwise kernels on encoder-like sizes: GELU over
// a stage-0 MBConv map (64x64 px, 256 channels, in rows of 256), softmax
// over 49-wide attention rows, a 3x3 depthwise with GELU over 64x64x256.
func opsBench(reps int) []bench {
	rng := rand.New(rand.NewPCG(9, 10))
	med := func(f func()) float64 {
		f()
		var ts []float64
		for range reps {
			t0 := time.Now()
			f()
			ts = append(ts, float64(time.Since(t0).Microseconds())/1000)
		}
		slices.Sort(ts)
		return ts[len(ts)/2]
	}
	var out []bench
	{
		const rows, c = 4096, 256
		x := randScaled(rng, rows*c, 3)
		b := randScaled(rng, c, 1)
		goMs := med(func() {
			for r := range rows {
				cpu.GELURowReference(x[r*c:(r+1)*c], b)
			}
		})
		simdMs := med(func() {
			for r := range rows {
				wasmsimd.GELU(x[r*c:(r+1)*c], b)
			}
		})
		out = append(out, bench{Name: "GELU 4096 rows x 256", PlainGoMS: goMs, SIMDMS: simdMs})
	}
	{
		const rows, n = 20000, 49
		x := randScaled(rng, rows*n, 3)
		goMs := med(func() {
			for r := range rows {
				cpu.SoftmaxRowReference(x[r*n : (r+1)*n])
			}
		})
		simdMs := med(func() {
			for r := range rows {
				wasmsimd.Softmax(x[r*n : (r+1)*n])
			}
		})
		out = append(out, bench{Name: "softmax 20000 rows x 49", PlainGoMS: goMs, SIMDMS: simdMs})
	}
	{
		const h, wd, c = 64, 64, 256
		src := randScaled(rng, h*wd*c, 1)
		w := randScaled(rng, 9*c, 1)
		bias := randScaled(rng, c, 1)
		dst := make([]float32, h*wd*c)
		goMs := med(func() {
			for oy := range h {
				cpu.DepthwisePixelsReference(dst[oy*wd*c:], src, h, wd, c, 3, 1, oy, 0, wd, w, bias, true)
			}
		})
		simdMs := med(func() {
			for oy := range h {
				wasmsimd.Depthwise(dst[oy*wd*c:(oy+1)*wd*c], src, h, wd, c, 3, 1, oy, 0, wd, w, bias, true)
			}
		})
		out = append(out, bench{Name: "depthwise 3x3 + GELU 64x64x256", PlainGoMS: goMs, SIMDMS: simdMs})
	}
	return out
}

func randScaled(rng *rand.Rand, n int, scale float32) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = (rng.Float32()*2 - 1) * scale
	}
	return s
}
