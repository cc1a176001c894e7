package cpu

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The backward kernels against central differences of their forward
// kernels, L = sum(r * f(x)) in float64. Steps of 1e-2 on O(1) float32
// values: the outputs' rounding (~1e-7 relative, summed over a few hundred
// terms) divided by the step is a few 1e-5, hence the tolerances.
func checkKernelFD(t *testing.T, name string, x, grad []float32, loss func() float64) {
	t.Helper()
	const step, atol, rtol = 1e-2, 1e-3, 1e-2
	for i := range x {
		old := x[i]
		x[i] = old + step
		xu, up := float64(x[i]), loss()
		x[i] = old - step
		xd, down := float64(x[i]), loss()
		x[i] = old
		num, ana := (up-down)/(xu-xd), float64(grad[i])
		if math.Abs(num-ana) > atol+rtol*max(math.Abs(num), math.Abs(ana)) {
			t.Errorf("%s[%d]: analytic %.6g, numeric %.6g", name, i, ana, num)
		}
	}
}

func dot64(y, r []float32) float64 {
	var s float64
	for i, v := range y {
		s += float64(v) * float64(r[i])
	}
	return s
}

func TestGELUBackward(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	z := randSlice(rng, 64)
	for i := range z {
		z[i] *= 4 // both tails
	}
	r := randSlice(rng, len(z))
	dz := make([]float32, len(z))
	GELUBackward(dz, r, z)
	checkKernelFD(t, "gelu", z, dz, func() float64 {
		y := append([]float32(nil), z...)
		GELURow(y, nil)
		return dot64(y, r)
	})
	// The AVX-512 rows (where available) and their tail agree with the Go
	// loop to float32 rounding.
	z = make([]float32, 1037)
	for i := range z {
		z[i] = float32(i)/50 - 10
	}
	r = randSlice(rng, len(z))
	fast, slow := make([]float32, len(z)), make([]float32, len(z))
	geluGradRow(fast, r, z)
	geluGradRowGo(slow, r, z)
	for i := range z {
		if d := math.Abs(float64(fast[i] - slow[i])); d > 1e-6*(1+math.Abs(float64(slow[i]))) {
			t.Fatalf("gelu'(%g): row kernel %g, Go %g", z[i], fast[i], slow[i])
		}
	}
}

func TestSoftmaxBackwardRow(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	for _, n := range []int{1, 7, 49} {
		s := randSlice(rng, n)
		r := randSlice(rng, n)
		p := append([]float32(nil), s...)
		SoftmaxRow(p)
		ds := append([]float32(nil), r...)
		SoftmaxBackwardRow(ds, p)
		checkKernelFD(t, "softmax", s, ds, func() float64 {
			y := append([]float32(nil), s...)
			SoftmaxRow(y)
			return dot64(y, r)
		})
	}
}

func TestLayerNormBackward(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	rows, c := 5, 7
	x, w, b := randSlice(rng, rows*c), randSlice(rng, c), randSlice(rng, c)
	r := randSlice(rng, rows*c)
	dx, dw, db := make([]float32, rows*c), make([]float32, c), make([]float32, c)
	LayerNormBackward(dx, r, x, rows, c, w, 1e-5, dw, db)
	loss := func() float64 {
		y := make([]float32, rows*c)
		LayerNorm(y, x, rows, c, w, b, 1e-5)
		return dot64(y, r)
	}
	checkKernelFD(t, "layernorm x", x, dx, loss)
	checkKernelFD(t, "layernorm w", w, dw, loss)
	checkKernelFD(t, "layernorm b", b, db, loss)
}

// TestDepthwiseBackward covers strides 1 and 2, a channel count that takes
// the AVX-512 forward row kernel, and maps narrower than the kernel.
func TestDepthwiseBackward(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	for _, tc := range []struct{ h, w, c, stride int }{{5, 6, 3, 1}, {7, 5, 16, 2}, {2, 1, 4, 1}} {
		k := 3
		oh, ow := (tc.h-1)/tc.stride+1, (tc.w-1)/tc.stride+1
		x, w, bias := randSlice(rng, tc.h*tc.w*tc.c), randSlice(rng, k*k*tc.c), randSlice(rng, tc.c)
		r := randSlice(rng, oh*ow*tc.c)
		dx, dw, db := make([]float32, len(x)), make([]float32, len(w)), make([]float32, tc.c)
		DepthwiseBackward(dx, dw, r, x, w, tc.h, tc.w, tc.c, k, tc.stride)
		ColSumAdd(db, r, oh*ow, tc.c)
		loss := func() float64 {
			y := make([]float32, oh*ow*tc.c)
			Depthwise(y, x, tc.h, tc.w, tc.c, k, tc.stride, w, bias, false)
			return dot64(y, r)
		}
		checkKernelFD(t, "depthwise x", x, dx, loss)
		checkKernelFD(t, "depthwise w", w, dw, loss)
		checkKernelFD(t, "depthwise bias", bias, db, loss)
	}
}

// TestCol2imAdjoint checks <Im2colRows(x), c> = <x, Col2imRowsAdd(c)>.
func TestCol2imAdjoint(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	for _, tc := range []struct{ h, w, c, k, stride int }{{6, 5, 3, 3, 2}, {4, 4, 2, 3, 1}, {3, 5, 2, 1, 2}} {
		pad := tc.k / 2
		oh, ow := (tc.h+2*pad-tc.k)/tc.stride+1, (tc.w+2*pad-tc.k)/tc.stride+1
		x := randSlice(rng, tc.h*tc.w*tc.c)
		c := randSlice(rng, oh*ow*tc.k*tc.k*tc.c)
		col := make([]float32, len(c))
		Im2colRows(col, x, tc.h, tc.w, tc.c, tc.k, tc.stride, pad, ow, 0, oh)
		dx := make([]float32, len(x))
		Col2imRowsAdd(dx, c, tc.h, tc.w, tc.c, tc.k, tc.stride, pad, ow, 0, oh)
		if a, b := dot64(col, c), dot64(x, dx); math.Abs(a-b) > 1e-4*(1+math.Abs(a)) {
			t.Errorf("%+v: <im2col x, c> = %g, <x, col2im c> = %g", tc, a, b)
		}
	}
}
