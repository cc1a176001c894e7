package webgpu

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/busam/busam/model/cpu"
	"github.com/busam/busam/model/tensor"
	"github.com/busam/busam/quant"
)

// Bound for float32 sums of up to a few hundred terms in a different order
// than the reference: a few ulps of the largest partial sum.
const gemmBound = 2e-6

func TestGemmMatchesCPU(t *testing.T) {
	d := testDevice(t)
	r := rand.New(rand.NewPCG(3, 4))
	shapes := []struct{ m, n, k int }{
		{1, 1, 1}, {5, 7, 3}, {64, 64, 16}, {65, 63, 17}, {130, 67, 129}, {3, 200, 300}, {197, 5, 64},
	}
	for _, s := range shapes {
		for _, tr := range []struct{ a, b bool }{{false, false}, {false, true}, {true, false}, {true, true}} {
			for _, ab := range []struct{ alpha, beta float32 }{{1, 0}, {0.5, 1}, {-2, 0.25}} {
				name := fmt.Sprintf("%dx%dx%d/tA=%v,tB=%v/alpha=%v,beta=%v", s.m, s.n, s.k, tr.a, tr.b, ab.alpha, ab.beta)
				t.Run(name, func(t *testing.T) {
					// Padded leading dimensions exercise the strides.
					lda, ldb, ldc := s.k+1, s.n+2, s.n+3
					ar, br := s.m, s.k
					if tr.a {
						lda, ar = s.m+1, s.k
					}
					if tr.b {
						ldb, br = s.k+2, s.n
					}
					a := randSlice(r, ar*lda, 1)
					b := randSlice(r, br*ldb, 1)
					c := randSlice(r, s.m*ldc, 1)
					want := append([]float32(nil), c...)
					cpu.Gemm(tr.a, tr.b, s.m, s.n, s.k, ab.alpha, a, lda, b, ldb, ab.beta, want, ldc)
					ga, gb, gc := upload(t, d, a), upload(t, d, b), upload(t, d, c)
					defer ga.Release()
					defer gb.Release()
					defer gc.Release()
					if err := d.Gemm(tr.a, tr.b, s.m, s.n, s.k, ab.alpha, ga, lda, gb, ldb, ab.beta, gc, ldc); err != nil {
						t.Fatal(err)
					}
					check(t, "gemm", read(t, d, gc), want, gemmBound)
				})
			}
		}
	}
}

func TestLinearEpilogue(t *testing.T) {
	d := testDevice(t)
	r := rand.New(rand.NewPCG(5, 6))
	for _, tc := range []struct {
		rows, in, out int
		bias          bool
		act           Activation
		beta          float32
	}{
		{1, 3, 2, true, ActNone, 0},
		{49, 64, 192, true, ActGELU, 0},
		{50, 33, 17, false, ActGELU, 1},
		{70, 128, 64, true, ActNone, 1},
		{9, 16, 9, true, ActSigmoid, 0},
		{9, 16, 9, true, ActReLU, 0.5},
	} {
		t.Run(fmt.Sprintf("%dx%d->%d/bias=%v/act=%d/beta=%v", tc.rows, tc.in, tc.out, tc.bias, tc.act, tc.beta), func(t *testing.T) {
			x := randSlice(r, tc.rows*tc.in, 1)
			w := randSlice(r, tc.out*tc.in, 0.5)
			bias := randSlice(r, tc.out, 1)
			prev := randSlice(r, tc.rows*tc.out, 1)
			want := make([]float32, tc.rows*tc.out)
			cpu.Gemm(false, true, tc.rows, tc.out, tc.in, 1, x, tc.in, w, tc.in, 0, want, tc.out)
			for i := range want {
				v := want[i]
				if tc.bias {
					v += bias[i%tc.out]
				}
				want[i] = actRef(v, tc.act) + tc.beta*prev[i]
			}
			gx, gw, gdst := upload(t, d, x), upload(t, d, w), upload(t, d, prev)
			ep := Epilogue{Act: tc.act, Beta: tc.beta}
			if tc.bias {
				ep.Bias = upload(t, d, bias)
			}
			if err := d.Linear(gdst, gx, gw, tc.rows, tc.in, tc.out, ep); err != nil {
				t.Fatal(err)
			}
			check(t, "linear", read(t, d, gdst), want, 4e-6)
		})
	}
}

func TestMatMulBiasPerRowAndBatches(t *testing.T) {
	d := testDevice(t)
	r := rand.New(rand.NewPCG(7, 8))
	// 3x2 batch of [m,k]x[k,n] products laid out with outer/inner strides
	// and offsets, plus a per-row bias.
	const m, n, k, outer, inner = 9, 11, 7, 3, 2
	mm := MatMul{
		M: m, N: n, K: k, OffA: 5, OffB: 3, OffC: 2,
		Batch: outer * inner, Inner: inner,
		StrideA: [2]int{inner*m*k + 4, m * k}, StrideB: [2]int{0, k * n}, StrideC: [2]int{inner * m * n, m * n},
		BiasPerRow: true,
	}
	a := randSlice(r, 5+outer*(inner*m*k+4), 1)
	b := randSlice(r, 3+inner*k*n, 1)
	bias := randSlice(r, m, 1)
	want := make([]float32, 2+outer*inner*m*n)
	for o := 0; o < outer; o++ {
		for in := 0; in < inner; in++ {
			ao := 5 + o*mm.StrideA[0] + in*mm.StrideA[1]
			bo := 3 + in*mm.StrideB[1]
			co := 2 + o*mm.StrideC[0] + in*mm.StrideC[1]
			cpu.Gemm(false, false, m, n, k, 1, a[ao:], k, b[bo:], n, 0, want[co:], n)
			for i := 0; i < m; i++ {
				for j := 0; j < n; j++ {
					want[co+i*n+j] += bias[i]
				}
			}
		}
	}
	ga, gb, gc := upload(t, d, a), upload(t, d, b), zeros(t, d, len(want))
	if err := d.MatMul(mm, ga, gb, gc, Epilogue{Bias: upload(t, d, bias)}); err != nil {
		t.Fatal(err)
	}
	check(t, "batched matmul", read(t, d, gc), want, gemmBound)
}

func TestLinearQ8MatchesDequantized(t *testing.T) {
	d := testDevice(t)
	r := rand.New(rand.NewPCG(9, 10))
	for _, s := range []struct{ rows, in, out int }{{1, 1, 1}, {3, 5, 7}, {65, 130, 66}, {49, 320, 64}} {
		t.Run(fmt.Sprintf("%dx%d->%d", s.rows, s.in, s.out), func(t *testing.T) {
			q := make([]int8, s.out*s.in)
			for i := range q {
				q[i] = int8(r.IntN(256) - 128)
			}
			scale := randSlice(r, s.out, 0.01)
			x := randSlice(r, s.rows*s.in, 1)
			bias := randSlice(r, s.out, 1)
			// Reference: dequantize, then the float Linear math.
			w := make([]float32, len(q))
			for o := 0; o < s.out; o++ {
				for i := 0; i < s.in; i++ {
					w[o*s.in+i] = scale[o] * float32(q[o*s.in+i])
				}
			}
			want := make([]float32, s.rows*s.out)
			cpu.Gemm(false, true, s.rows, s.out, s.in, 1, x, s.in, w, s.in, 0, want, s.out)
			for i := range want {
				want[i] = geluRef(want[i] + bias[i%s.out])
			}
			qw, err := d.UploadQWeight(q, scale, s.out, s.in)
			if err != nil {
				t.Fatal(err)
			}
			defer qw.Release()
			gx, gdst := upload(t, d, x), zeros(t, d, s.rows*s.out)
			if err := d.LinearQ8(gdst, gx, qw, s.rows, Epilogue{Bias: upload(t, d, bias), Act: ActGELU}); err != nil {
				t.Fatal(err)
			}
			check(t, "linear q8", read(t, d, gdst), want, 4e-6)
		})
	}
}

// TestLinearQ8TakesQuantPackage checks the hand-off format: an
// tensor.Int8 from package quant (per-output-channel scales) uploads as a
// QWeight, and LinearQ8 equals Linear on its dequantized weights.
func TestLinearQ8TakesQuantPackage(t *testing.T) {
	d := testDevice(t)
	r := rand.New(rand.NewPCG(39, 40))
	const rows, in, out = 37, 160, 45
	w := tensor.From(randSlice(r, out*in, 0.2), out, in)
	q, err := quant.QuantizeInt8("w", w)
	if err != nil {
		t.Fatal(err)
	}
	deq, err := q.Dequantize()
	if err != nil {
		t.Fatal(err)
	}
	qw, err := d.UploadQWeight(q.Q, q.Scale, q.Shape[0], q.Shape[1])
	if err != nil {
		t.Fatal(err)
	}
	defer qw.Release()
	x := upload(t, d, randSlice(r, rows*in, 1))
	bias := upload(t, d, randSlice(r, out, 1))
	got, want := zeros(t, d, rows*out), zeros(t, d, rows*out)
	if err := d.LinearQ8(got, x, qw, rows, Epilogue{Bias: bias}); err != nil {
		t.Fatal(err)
	}
	if err := d.Linear(want, x, upload(t, d, deq.Data), rows, in, out, Epilogue{Bias: bias}); err != nil {
		t.Fatal(err)
	}
	check(t, "int8 linear vs dequantized", read(t, d, got), read(t, d, want), 2e-6)
}
