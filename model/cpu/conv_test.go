package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// convCases are the convolutions the HWC kernels run (square odd kernels,
// padding K/2): dense ones as im2col + Linear (one Linear when 1x1),
// depthwise ones as Depthwise, with channel counts on and off the AVX-512
// kernel's multiples of 16 and maps whose interior is empty.
var convCases = []ConvParams{
	{InC: 16, InH: 9, InW: 11, OutC: 24, KH: 1, KW: 1, Stride: 1},
	{InC: 3, InH: 1, InW: 1, OutC: 5, KH: 1, KW: 1, Stride: 1},
	{InC: 7, InH: 12, InW: 12, OutC: 9, KH: 3, KW: 3, Stride: 1, Pad: 1},
	{InC: 3, InH: 33, InW: 31, OutC: 16, KH: 3, KW: 3, Stride: 2, Pad: 1},
	{InC: 2, InH: 6, InW: 6, OutC: 2, KH: 7, KW: 7, Stride: 1, Pad: 3},
	{InC: 32, InH: 15, InW: 17, OutC: 32, KH: 3, KW: 3, Stride: 1, Pad: 1, Groups: 32},
	{InC: 32, InH: 15, InW: 17, OutC: 32, KH: 3, KW: 3, Stride: 2, Pad: 1, Groups: 32},
	{InC: 48, InH: 7, InW: 9, OutC: 48, KH: 3, KW: 3, Stride: 2, Pad: 1, Groups: 48},
	{InC: 5, InH: 8, InW: 9, OutC: 5, KH: 3, KW: 3, Stride: 1, Pad: 1, Groups: 5},
	{InC: 16, InH: 2, InW: 2, OutC: 16, KH: 3, KW: 3, Stride: 1, Pad: 1, Groups: 16},
	{InC: 16, InH: 5, InW: 1, OutC: 16, KH: 3, KW: 3, Stride: 2, Pad: 1, Groups: 16},
	{InC: 6, InH: 11, InW: 9, OutC: 6, KH: 5, KW: 5, Stride: 2, Pad: 2, Groups: 6},
}

// convHWC runs p on the HWC kernels: src and the result are CHW, the
// weight is PyTorch's [OutC, InC/Groups, K, K].
func convHWC(src, w, bias []float32, p ConvParams) []float32 {
	oh, ow := p.OutSize()
	k := p.KH
	in := make([]float32, len(src))
	CHWToHWC(in, src, p.InC, p.InH, p.InW)
	out := make([]float32, p.OutC*oh*ow)
	for i := range out {
		out[i] = float32(math.NaN()) // every output must be written
	}
	if p.Groups > 1 { // depthwise: weight [K*K, C]
		wt := make([]float32, k*k*p.OutC)
		for ch := 0; ch < p.OutC; ch++ {
			for t := 0; t < k*k; t++ {
				wt[t*p.OutC+ch] = w[ch*k*k+t]
			}
		}
		Depthwise(out, in, p.InH, p.InW, p.InC, k, p.Stride, wt, bias, false)
	} else { // dense: weight [Out, K, K, In], im2col in bands of 3 rows
		wt := make([]float32, len(w))
		for o := 0; o < p.OutC; o++ {
			for i := 0; i < p.InC; i++ {
				for t := 0; t < k*k; t++ {
					wt[(o*k*k+t)*p.InC+i] = w[(o*p.InC+i)*k*k+t]
				}
			}
		}
		kc := k * k * p.InC
		col := make([]float32, 3*ow*kc)
		for oy0 := 0; oy0 < oh; oy0 += 3 {
			oy1 := min(oy0+3, oh)
			Im2colRows(col, in, p.InH, p.InW, p.InC, k, p.Stride, p.Pad, ow, oy0, oy1)
			Linear(out[oy0*ow*p.OutC:], col, (oy1-oy0)*ow, kc, p.OutC, wt, false)
		}
		BiasAct(out, oh*ow, p.OutC, bias, false)
	}
	chw := make([]float32, len(out))
	HWCToCHW(chw, out, p.OutC, oh, ow)
	return chw
}

// TestConvKernelsMatchReference runs the cases on every GEMM kernel this
// CPU can run (the plain-Go one is what wasm runs) against
// Conv2DReference, within 1e-4 relative to the largest output magnitude.
func TestConvKernelsMatchReference(t *testing.T) {
	for _, kn := range fastKernels() {
		withKernel(kn, func() {
			for i, p := range convCases {
				t.Run(fmt.Sprintf("%s/%d", kn.name, i), func(t *testing.T) {
					r := rand.New(rand.NewPCG(uint64(i), 99))
					g := max(p.Groups, 1)
					src := randSlice(r, p.InC*p.InH*p.InW)
					w := randSlice(r, p.OutC*p.InC/g*p.KH*p.KW)
					bias := randSlice(r, p.OutC)
					got := convHWC(src, w, bias, p)
					want := make([]float32, len(got))
					Conv2DReference(want, src, w, bias, p)
					var scale float64
					for _, v := range want {
						scale = max(scale, math.Abs(float64(v)))
					}
					for i := range got {
						if d := math.Abs(float64(got[i] - want[i])); !(d <= 1e-4*scale) {
							t.Fatalf("%+v: out[%d] = %g, want %g", p, i, got[i], want[i])
						}
					}
				})
			}
		})
	}
}
