package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// convCases covers every Conv2D path: pointwise (as one Gemm), im2col
// (3x3 stride 1/2 with and without padding, other kernel sizes, a strided
// 1x1), depthwise with its stride-1 and strided loops and a channel
// multiplier, and grouped convs (pointwise and im2col per group).
var convCases = []ConvParams{
	{InC: 16, InH: 9, InW: 11, OutC: 24, KH: 1, KW: 1, Stride: 1},
	{InC: 3, InH: 1, InW: 1, OutC: 5, KH: 1, KW: 1, Stride: 1},
	{InC: 64, InH: 16, InW: 16, OutC: 128, KH: 1, KW: 1, Stride: 1},
	{InC: 8, InH: 13, InW: 10, OutC: 6, KH: 1, KW: 1, Stride: 2},
	{InC: 7, InH: 12, InW: 12, OutC: 9, KH: 3, KW: 3, Stride: 1, Pad: 1},
	{InC: 7, InH: 12, InW: 13, OutC: 9, KH: 3, KW: 3, Stride: 1, Pad: 0},
	{InC: 3, InH: 33, InW: 31, OutC: 16, KH: 3, KW: 3, Stride: 2, Pad: 1},
	{InC: 5, InH: 10, InW: 10, OutC: 4, KH: 2, KW: 2, Stride: 2},
	{InC: 4, InH: 9, InW: 14, OutC: 3, KH: 5, KW: 3, Stride: 3, Pad: 2},
	{InC: 2, InH: 6, InW: 6, OutC: 2, KH: 7, KW: 7, Stride: 1, Pad: 3},
	{InC: 32, InH: 15, InW: 17, OutC: 32, KH: 3, KW: 3, Stride: 1, Pad: 1, Groups: 32},
	{InC: 32, InH: 15, InW: 17, OutC: 32, KH: 3, KW: 3, Stride: 2, Pad: 1, Groups: 32},
	{InC: 5, InH: 8, InW: 9, OutC: 5, KH: 3, KW: 3, Stride: 1, Pad: 0, Groups: 5},
	{InC: 3, InH: 6, InW: 40, OutC: 3, KH: 3, KW: 3, Stride: 1, Pad: 1, Groups: 3},
	{InC: 3, InH: 5, InW: 34, OutC: 3, KH: 3, KW: 3, Stride: 1, Pad: 1, Groups: 3},
	{InC: 2, InH: 7, InW: 37, OutC: 2, KH: 3, KW: 3, Stride: 1, Pad: 2, Groups: 2},
	{InC: 2, InH: 4, InW: 50, OutC: 2, KH: 3, KW: 3, Stride: 1, Pad: 0, Groups: 2},
	{InC: 2, InH: 3, InW: 2, OutC: 2, KH: 3, KW: 3, Stride: 1, Pad: 1, Groups: 2},
	{InC: 3, InH: 9, InW: 70, OutC: 3, KH: 3, KW: 3, Stride: 2, Pad: 1, Groups: 3},
	{InC: 3, InH: 8, InW: 69, OutC: 6, KH: 3, KW: 3, Stride: 2, Pad: 1, Groups: 3},
	{InC: 2, InH: 7, InW: 67, OutC: 2, KH: 3, KW: 3, Stride: 2, Pad: 0, Groups: 2},
	{InC: 2, InH: 6, InW: 40, OutC: 2, KH: 3, KW: 3, Stride: 2, Pad: 2, Groups: 2},
	{InC: 2, InH: 3, InW: 3, OutC: 2, KH: 3, KW: 3, Stride: 2, Pad: 1, Groups: 2},
	{InC: 4, InH: 7, InW: 7, OutC: 12, KH: 3, KW: 3, Stride: 1, Pad: 1, Groups: 4},
	{InC: 6, InH: 11, InW: 9, OutC: 6, KH: 5, KW: 5, Stride: 2, Pad: 2, Groups: 6},
	{InC: 1, InH: 5, InW: 5, OutC: 3, KH: 3, KW: 3, Stride: 1, Pad: 1},
	{InC: 8, InH: 10, InW: 10, OutC: 12, KH: 3, KW: 3, Stride: 1, Pad: 1, Groups: 2},
	{InC: 12, InH: 9, InW: 7, OutC: 8, KH: 1, KW: 1, Stride: 1, Groups: 4},
	{InC: 16, InH: 12, InW: 12, OutC: 16, KH: 3, KW: 3, Stride: 2, Pad: 1, Groups: 4},
}

// checkConvAgainstRef runs Conv2D and conv2DRef on random data and demands
// agreement within 1e-4 relative to the largest output magnitude.
func checkConvAgainstRef(t *testing.T, p ConvParams, withBias bool, seed uint64) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 99))
	g := max(p.Groups, 1)
	oh, ow := p.OutSize()
	src := randSlice(r, p.InC*p.InH*p.InW)
	w := randSlice(r, p.OutC*p.InC/g*p.KH*p.KW)
	var bias []float32
	if withBias {
		bias = randSlice(r, p.OutC)
	}
	got := make([]float32, p.OutC*oh*ow)
	for i := range got {
		got[i] = float32(math.NaN()) // every output must be written
	}
	want := make([]float32, len(got))
	Conv2D(got, src, w, bias, p)
	conv2DRef(want, src, w, bias, p)
	var scale float64
	for _, v := range want {
		scale = max(scale, math.Abs(float64(v)))
	}
	for i := range got {
		if d := math.Abs(float64(got[i] - want[i])); !(d <= 1e-4*scale) {
			t.Fatalf("%+v bias=%v: out[%d] = %g, want %g", p, withBias, i, got[i], want[i])
		}
	}
}

// TestConv2DKernels runs the cases on every GEMM kernel this CPU can run,
// and on the plain-Go kernels only (no vector depthwise either): what wasm
// runs.
func TestConv2DKernels(t *testing.T) {
	for _, kn := range fastKernels() {
		t.Run(kn.name, func(t *testing.T) {
			oldDW := dwTaps
			defer func() { dwTaps = oldDW }()
			if kn == genericKernel {
				dwTaps = nil
			}
			withKernel(kn, func() {
				for i, p := range convCases {
					checkConvAgainstRef(t, p, true, uint64(i))
				}
			})
		})
	}
}

func TestConv2D(t *testing.T) {
	for _, mode := range directModes {
		withDirectMaxN(mode.maxN, func() {
			for i, p := range convCases {
				t.Run(fmt.Sprintf("%s/%d", mode.name, i), func(t *testing.T) {
					checkConvAgainstRef(t, p, true, uint64(i))
					checkConvAgainstRef(t, p, false, uint64(i)+100)
				})
			}
		})
	}
}

// TestConv2DBands makes the im2col budget tiny so outputs are produced in
// many bands of rows (including a final short band).
func TestConv2DBands(t *testing.T) {
	old := im2colBudget
	defer func() { im2colBudget = old }()
	im2colBudget = 500
	for i, p := range []ConvParams{
		{InC: 4, InH: 23, InW: 9, OutC: 5, KH: 3, KW: 3, Stride: 1, Pad: 1},
		{InC: 6, InH: 21, InW: 20, OutC: 8, KH: 3, KW: 3, Stride: 2, Pad: 1, Groups: 2},
		{InC: 64, InH: 8, InW: 8, OutC: 8, KH: 3, KW: 3, Stride: 1, Pad: 1}, // one row exceeds the budget
	} {
		checkConvAgainstRef(t, p, true, uint64(i))
	}
}

func TestConv2DBadParamsPanic(t *testing.T) {
	ok := ConvParams{InC: 4, InH: 5, InW: 5, OutC: 4, KH: 3, KW: 3, Stride: 1, Pad: 1}
	buf := make([]float32, 1000)
	tests := []struct {
		name  string
		p     ConvParams
		dst   []float32
		wantS string
	}{
		{"groups", ConvParams{InC: 4, InH: 5, InW: 5, OutC: 6, KH: 3, KW: 3, Stride: 1, Groups: 4}, buf, "groups must divide"},
		{"stride", ConvParams{InC: 4, InH: 5, InW: 5, OutC: 4, KH: 3, KW: 3}, buf, "positive"},
		{"kernel", ConvParams{InC: 4, InH: 2, InW: 5, OutC: 4, KH: 3, KW: 3, Stride: 1}, buf, "larger than"},
		{"dst", ok, buf[:99], "dst has 99"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				r := recover()
				if r == nil || !strings.Contains(fmt.Sprint(r), tt.wantS) {
					t.Fatalf("panic %v, want one mentioning %q", r, tt.wantS)
				}
			}()
			Conv2D(tt.dst, buf, buf, nil, tt.p)
		})
	}
}

func TestValidRange(t *testing.T) {
	for n := 1; n < 12; n++ {
		for stride := 1; stride < 4; stride++ {
			for off := -5; off < 6; off++ {
				for size := 1; size < 10; size++ {
					lo, hi := validRange(n, stride, off, size)
					for o := 0; o < n; o++ {
						in := o*stride+off >= 0 && o*stride+off < size
						if in != (o >= lo && o < hi) {
							t.Fatalf("validRange(%d,%d,%d,%d) = [%d,%d), wrong at %d", n, stride, off, size, lo, hi, o)
						}
					}
				}
			}
		}
	}
}
