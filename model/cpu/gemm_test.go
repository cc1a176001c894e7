package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

type gemmFunc func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)

// gemmCase is one product; pad adds extra columns to each stored matrix so
// strides are not tight.
type gemmCase struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	pad            int
}

func (tc gemmCase) String() string {
	return fmt.Sprintf("tA=%v,tB=%v,m=%d,n=%d,k=%d,alpha=%g,beta=%g,pad=%d", tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, tc.beta, tc.pad)
}

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = r.Float32()*2 - 1
	}
	return s
}

// sentinel marks C entries outside the m x n block; they must survive.
const sentinel = float32(-12345.5)

// runGemmCase runs tc through f and compares with a float64 evaluation. The
// allowed error is the standard bound for a float32 dot product of length k
// (k * 2^-24 * sum |a_p b_p|, plus the beta term), times a safety factor 2.
func runGemmCase(t *testing.T, f gemmFunc, tc gemmCase, seed uint64) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, uint64(tc.m*1000003+tc.n*1009+tc.k)))
	ar, ac := tc.m, tc.k
	if tc.transA {
		ar, ac = ac, ar
	}
	br, bc := tc.k, tc.n
	if tc.transB {
		br, bc = bc, br
	}
	lda, ldb, ldc := ac+tc.pad, bc+tc.pad, tc.n+tc.pad
	a := randSlice(r, max(0, (ar-1)*lda+ac))
	b := randSlice(r, max(0, (br-1)*ldb+bc))
	c := make([]float32, max(0, (tc.m-1)*ldc+tc.n+tc.pad)) // tail padding too
	for i := range c {
		c[i] = sentinel
	}
	c0 := make([]float32, len(c))
	for i := 0; i < tc.m; i++ {
		for j := 0; j < tc.n; j++ {
			if tc.beta == 0 {
				c[i*ldc+j] = float32(math.NaN()) // must not be read
			} else {
				c[i*ldc+j] = r.Float32()*2 - 1
			}
		}
	}
	copy(c0, c)
	f(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, c, ldc)

	at := func(i, p int) float64 {
		if tc.transA {
			return float64(a[p*lda+i])
		}
		return float64(a[i*lda+p])
	}
	bt := func(p, j int) float64 {
		if tc.transB {
			return float64(b[j*ldb+p])
		}
		return float64(b[p*ldb+j])
	}
	const eps = 1.0 / (1 << 24)
	for i := 0; i < tc.m; i++ {
		for j := 0; j < tc.n; j++ {
			var s, mag float64
			for p := 0; p < tc.k; p++ {
				s += at(i, p) * bt(p, j)
				mag += math.Abs(at(i, p) * bt(p, j))
			}
			want := float64(tc.alpha) * s
			tol := 2 * float64(tc.k+2) * eps * math.Abs(float64(tc.alpha)) * mag
			if tc.beta != 0 {
				old := float64(c0[i*ldc+j])
				want += float64(tc.beta) * old
				tol += 4 * eps * (math.Abs(float64(tc.beta)*old) + math.Abs(want))
			}
			got := c[i*ldc+j]
			if d := math.Abs(float64(got) - want); !(d <= tol) {
				t.Fatalf("%v: C[%d][%d] = %g, want %g (|diff| %g > tol %g)", tc, i, j, got, want, d, tol)
			}
		}
		for j := tc.n; j < ldc && i*ldc+j < len(c); j++ {
			if c[i*ldc+j] != sentinel {
				t.Fatalf("%v: C[%d][%d] outside the product was overwritten with %g", tc, i, j, c[i*ldc+j])
			}
		}
	}
}

// gemmCases covers every dimension from 1 to 70 (tile edges of both
// kernels), sizes that cross the cache blocks (kc, mc, nc), the parallel
// split in both directions, all transposes, alpha/beta and loose strides.
func gemmCases() []gemmCase {
	var cases []gemmCase
	add := func(m, n, k int, alpha, beta float32, pad int) {
		for _, ta := range []bool{false, true} {
			for _, tb := range []bool{false, true} {
				cases = append(cases, gemmCase{ta, tb, m, n, k, alpha, beta, pad})
			}
		}
	}
	for d := 1; d <= 70; d++ {
		add(d, 33, 17, 1, 0, 0)
		add(19, d, 9, 1, 0.5, 3)
		add(9, 37, d, -0.75, 0, 1)
		add(d, d, d, 1.5, -1, 2)
	}
	for _, s := range [][3]int{
		{1, 1, 1}, {1, 1, 1000}, {1, 700, 3}, {700, 1, 3},
		{8, 32, 257}, {193, 65, 300}, {400, 47, 520}, {17, 2100, 40},
		{128, 128, 128}, {130, 250, 70}, {40, 1100, 24}, {1100, 40, 30}, {96, 600, 50},
		{49, 49, 32}, {196, 32, 196}, {320, 160, 160},
		// k >> m, n (the dot path for C = A*B^T): chunk tails, 4-block edges,
		// both parallel splits.
		{7, 13, 1100}, {1, 1, 2049}, {64, 37, 4100}, {5, 250, 1030}, {40, 30, 5000}, {17, 70, 3000},
	} {
		add(s[0], s[1], s[2], 1, 0, 0)
		add(s[0], s[1], s[2], 0.5, 2, 5)
	}
	// Degenerate: k == 0 and alpha == 0 only scale C.
	add(5, 6, 0, 1, 0, 1)
	add(5, 6, 0, 1, 3, 1)
	add(7, 40, 9, 0, 0.5, 0)
	return cases
}

func testGemm(t *testing.T, f gemmFunc) {
	cases := gemmCases()
	if testing.Short() {
		cases = cases[:len(cases)/4]
	}
	for i, tc := range cases {
		runGemmCase(t, f, tc, uint64(i))
	}
}

// withDirectMaxN runs f with the threshold that chooses between packing A
// and reading it in place set to maxN.
func withDirectMaxN(maxN int, f func()) {
	old := directMaxN
	defer func() { directMaxN = old }()
	directMaxN = maxN
	f()
}

// directModes are the settings of directMaxN the tests run under: the
// default, A always packed, A read in place wherever the kernel can.
var directModes = []struct {
	name string
	maxN int
}{{"default", directMaxN}, {"packed", 0}, {"in-place", 1 << 30}}

// withKernel runs f with Gemm (and the kernels built on it) on kernel kn.
func withKernel(kn *kernel, f func()) {
	old := bestKernel
	defer func() { bestKernel = old }()
	bestKernel = kn
	f()
}

// TestGemm runs the cases on every kernel this CPU can run (the plain-Go
// one included), each in every packing mode.
func TestGemm(t *testing.T) {
	t.Logf("best kernel %s", KernelName())
	for _, kn := range fastKernels() {
		for _, mode := range directModes {
			t.Run(kn.name+"/"+mode.name, func(t *testing.T) {
				if !kn.direct && mode.maxN != directMaxN {
					t.Skip("the kernel only reads packed panels")
				}
				if testing.Short() && kn == genericKernel {
					t.Skip("TestGemmGeneric covers it")
				}
				withKernel(kn, func() {
					withDirectMaxN(mode.maxN, func() { testGemm(t, Gemm) })
				})
			})
		}
	}
}

// TestGemmGeneric forces the plain-Go micro-kernel, which is what wasm runs,
// on any machine.
func TestGemmGeneric(t *testing.T) { testGemm(t, GemmGeneric) }

// TestGemmReference checks the test's own float64 oracle against gemmRef.
func TestGemmReference(t *testing.T) {
	for i, tc := range gemmCases()[:200] {
		runGemmCase(t, gemmRef, tc, uint64(i))
	}
}

// TestGemmPathsAgree compares each kernel with the generic one directly:
// they must agree to float rounding on a product that uses blocking, edges
// and the parallel split.
func TestGemmPathsAgree(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	m, n, k := 301, 517, 300
	a, b := randSlice(r, m*k), randSlice(r, k*n)
	want := make([]float32, m*n)
	GemmGeneric(false, false, m, n, k, 1, a, k, b, n, 0, want, n)
	for _, kn := range fastKernels() {
		got := make([]float32, m*n)
		withKernel(kn, func() { Gemm(false, false, m, n, k, 1, a, k, b, n, 0, got, n) })
		for i := range got {
			// |a|,|b| <= 1: each product term is at most 1, k of them.
			if d := math.Abs(float64(got[i] - want[i])); d > 2*float64(k)*float64(k)/(1<<24) {
				t.Fatalf("C[%d]: %s %g vs generic %g", i, kn.name, got[i], want[i])
			}
		}
	}
}

func TestGemmBatched(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const heads, n, d = 5, 49, 32
	// Q and K interleaved by head in [n, heads*d] matrices, as a qkv
	// projection produces them; scores stored [heads, n, n].
	q := randSlice(r, n*heads*d)
	k := randSlice(r, n*heads*d)
	got := make([]float32, heads*n*n)
	want := make([]float32, heads*n*n)
	GemmBatched(false, true, n, n, d, 0.25, q, heads*d, d, k, heads*d, d, 0, got, n, n*n, heads)
	for h := 0; h < heads; h++ {
		gemmRef(false, true, n, n, d, 0.25, q[h*d:], heads*d, k[h*d:], heads*d, 0, want[h*n*n:], n)
	}
	for i := range got {
		if d := math.Abs(float64(got[i] - want[i])); d > 1e-5 {
			t.Fatalf("scores[%d] = %g, want %g", i, got[i], want[i])
		}
	}
	// Attention output written head-interleaved into [n, heads*d].
	v := randSlice(r, n*heads*d)
	out := make([]float32, n*heads*d)
	ref := make([]float32, n*heads*d)
	GemmBatched(false, false, n, d, n, 1, got, n, n*n, v, heads*d, d, 0, out, heads*d, d, heads)
	for h := 0; h < heads; h++ {
		gemmRef(false, false, n, d, n, 1, got[h*n*n:], n, v[h*d:], heads*d, 0, ref[h*d:], heads*d)
	}
	for i := range out {
		if d := math.Abs(float64(out[i] - ref[i])); d > 1e-4 {
			t.Fatalf("out[%d] = %g, want %g", i, out[i], ref[i])
		}
	}
}

func TestGemmBadArgsPanic(t *testing.T) {
	s := make([]float32, 10)
	tests := []struct {
		name string
		call func()
		msg  string
	}{
		{"short A", func() { Gemm(false, false, 3, 3, 3, 1, s[:8], 3, s, 3, 0, s, 3) }, "A is 3x3"},
		{"short C", func() { Gemm(false, false, 2, 5, 1, 1, s, 1, s, 5, 0, s[:9], 5) }, "C is 2x5"},
		{"small ldb", func() { Gemm(false, true, 2, 2, 3, 1, s, 3, s, 2, 0, s, 2) }, "row stride is 2"},
		{"negative", func() { Gemm(false, false, -1, 2, 2, 1, s, 2, s, 2, 0, s, 2) }, "negative size"},
		{"batched short", func() { GemmBatched(false, false, 2, 2, 2, 1, s, 2, 4, s, 2, 4, 0, s, 2, 4, 3) }, "needs 4 values"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				r := recover()
				if r == nil || !strings.Contains(fmt.Sprint(r), tt.msg) {
					t.Fatalf("panic %v, want one mentioning %q", r, tt.msg)
				}
			}()
			tt.call()
		})
	}
}
