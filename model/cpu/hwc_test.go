package cpu

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/busam/busam/internal/testutil"
)

// Tests of the HWC row kernels and the float32 math they use, against
// float64 formulas.

func TestExpf(t *testing.T) {
	worst := 0.0
	for x := -87.0; x <= 88.0; x += 0.0137 {
		got := float64(expf(float32(x)))
		want := math.Exp(float64(float32(x)))
		worst = math.Max(worst, math.Abs(got-want)/want)
	}
	if worst > 4e-7 {
		t.Errorf("expf relative error %.3g, want <= 4e-7", worst)
	}
	if got := expf(-200); got != 0 {
		t.Errorf("expf(-200) = %v, want 0", got)
	}
	if got := expf(200); !math.IsInf(float64(got), 1) {
		t.Errorf("expf(200) = %v, want +Inf", got)
	}
}

func TestGELU(t *testing.T) {
	for x := -12.0; x <= 12.0; x += 0.00731 {
		got := float64(gelu(float32(x)))
		want := refGELU(float64(float32(x)))
		if e := math.Abs(got - want); e > 4e-7*(1+math.Abs(x)) {
			t.Fatalf("gelu(%v) = %v, want %v (error %.3g)", x, got, want, e)
		}
	}
}

// rowImpls are the implementations of the row kernels: the dispatching one
// (assembly on AVX-512 machines) and the portable Go one.
var rowImpls = []struct {
	name    string
	gelu    func(x, bias []float32)
	softmax func([]float32)
}{
	{"dispatch", GELURow, SoftmaxRow},
	{"go", geluRowGo, softmaxRowGo},
}

func TestGELURow(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	for _, impl := range rowImpls {
		for _, n := range []int{1, 15, 16, 17, 32, 49, 64, 100, 1280} {
			for _, withBias := range []bool{false, true} {
				x := testutil.RandomInput(rng, n)
				var bias []float32
				want := make([]float64, n)
				for i := range x {
					x[i] = float64(float32(x[i] * 8)) // cover the erf tails
					want[i] = x[i]
				}
				if withBias {
					bias = testutil.To32(testutil.RandomInput(rng, n))
					for i := range want {
						want[i] = float64(float32(x[i]) + bias[i])
					}
				}
				refGELUAll(want)
				got := testutil.To32(x)
				impl.gelu(got, bias)
				testutil.AssertClose(t, impl.name+" GELURow", got, want, 1e-6)
			}
		}
	}
}

func TestSoftmaxRow(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	rows := [][]float32{
		{0},
		{1, 2, 3},
		{1000, 999, -1000}, // large values: must shift by the maximum
		{-5, -5, -5, -5},
	}
	for _, n := range []int{15, 16, 17, 33, 49, 196} {
		x := testutil.RandomInput(rng, n)
		for i := range x {
			x[i] *= 20
		}
		rows = append(rows, testutil.To32(x))
	}
	for _, impl := range rowImpls {
		for _, row := range rows {
			got := append([]float32(nil), row...)
			impl.softmax(got)
			m := math.Inf(-1)
			for _, v := range row {
				m = math.Max(m, float64(v))
			}
			sum := 0.0
			for _, v := range row {
				sum += math.Exp(float64(v) - m)
			}
			want := make([]float64, len(row))
			for i, v := range row {
				want[i] = math.Exp(float64(v)-m) / sum
			}
			testutil.AssertClose(t, impl.name+" softmax", got, want, 1e-6)
		}
	}
}

func TestLayerNorm(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		rows, c int
		offset  float64
		eps     float32
	}{
		{1, 1, 0, 1e-5}, // one channel: output is the shift
		{7, 13, 0, 1e-5},
		{5, 64, 100, 1e-6}, // large mean relative to spread
		{3, 320, -3, 1e-6},
		{4, 16, 50, 1e-5},
	} {
		x := testutil.RandomInput(rng, tc.rows*tc.c)
		for i := range x {
			x[i] += tc.offset
		}
		for i := range x {
			x[i] = float64(float32(x[i]))
		}
		w := testutil.To32(testutil.RandomInput(rng, tc.c))
		b := testutil.To32(testutil.RandomInput(rng, tc.c))
		want := testutil.LayerNorm(x, tc.rows, tc.c, w, b, float64(tc.eps))
		got := testutil.To32(x)
		LayerNorm(got, got, tc.rows, tc.c, w, b, tc.eps) // in place, dispatching
		testutil.AssertClose(t, "LayerNorm", got, want, 2e-5)
		got = make([]float32, len(x))
		src := testutil.To32(x)
		for r := 0; r < tc.rows; r++ {
			layerNormRowGo(got[r*tc.c:(r+1)*tc.c], src[r*tc.c:(r+1)*tc.c], w, b, tc.eps)
		}
		testutil.AssertClose(t, "layerNormRowGo", got, want, 2e-5)
	}
}

func refGELU(x float64) float64 { return 0.5 * x * (1 + math.Erf(x/math.Sqrt2)) }

func refGELUAll(x []float64) {
	for i, v := range x {
		x[i] = refGELU(v)
	}
}
