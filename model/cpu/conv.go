package cpu

import (
	"fmt"
	"sync"
)

// ConvParams describes a 2-D convolution over a CHW input (batch 1), with
// PyTorch semantics: weight is [OutC, InC/Groups, KH, KW], symmetric zero
// padding, equal stride in both directions.
type ConvParams struct {
	InC, InH, InW int
	OutC          int
	KH, KW        int
	Stride, Pad   int
	Groups        int
}

// OutSize returns the output height and width.
func (p ConvParams) OutSize() (int, int) {
	return (p.InH+2*p.Pad-p.KH)/p.Stride + 1, (p.InW+2*p.Pad-p.KW)/p.Stride + 1
}

// Conv2D writes the convolution of src with w (+ bias, may be nil) into dst,
// which must hold OutC*OH*OW values. Groups == 0 means 1. Pointwise (1x1)
// convolutions are one Gemm, depthwise ones (one input channel per group) a
// direct kernel, the rest im2col + Gemm per group.
func Conv2D(dst, src, w, bias []float32, p ConvParams) {
	if p.Groups == 0 {
		p.Groups = 1
	}
	checkConv(dst, src, w, bias, p)
	switch {
	case p.InC == p.Groups:
		convDepthwise(dst, src, w, bias, p)
	default:
		convGemm(dst, src, w, bias, p)
	}
}

func checkConv(dst, src, w, bias []float32, p ConvParams) {
	bad := func(format string, args ...any) {
		panic(fmt.Sprintf("cpu.Conv2D %+v: ", p) + fmt.Sprintf(format, args...))
	}
	if p.InC <= 0 || p.OutC <= 0 || p.InH <= 0 || p.InW <= 0 || p.KH <= 0 || p.KW <= 0 || p.Stride <= 0 || p.Pad < 0 || p.Groups < 0 {
		bad("sizes must be positive (pad non-negative)")
	}
	if p.InC%p.Groups != 0 || p.OutC%p.Groups != 0 {
		bad("groups must divide InC and OutC")
	}
	oh, ow := p.OutSize()
	if p.InH+2*p.Pad < p.KH || p.InW+2*p.Pad < p.KW {
		bad("kernel larger than the padded input")
	}
	if need := p.OutC * oh * ow; len(dst) < need {
		bad("dst has %d values, needs %d", len(dst), need)
	}
	if need := p.InC * p.InH * p.InW; len(src) < need {
		bad("src has %d values, needs %d", len(src), need)
	}
	if need := p.OutC * p.InC / p.Groups * p.KH * p.KW; len(w) < need {
		bad("weight has %d values, needs %d", len(w), need)
	}
	if bias != nil && len(bias) < p.OutC {
		bad("bias has %d values, needs %d", len(bias), p.OutC)
	}
}

// im2colBudget bounds the im2col buffer (in floats: 16 MiB); the output is
// produced in bands of rows whose columns fit. A var so tests can shrink it.
var im2colBudget = 1 << 22

var colPool sync.Pool

// convGemm runs each group as W_g[ocg, icg*KH*KW] x cols(X_g), where
// cols(X_g) is X_g itself for a 1x1 stride-1 unpadded conv and an im2col
// band of output rows otherwise. The Gemm adds the bias as it stores.
func convGemm(dst, src, w, bias []float32, p ConvParams) {
	oh, ow := p.OutSize()
	hw := oh * ow
	icg, ocg := p.InC/p.Groups, p.OutC/p.Groups
	kdim := icg * p.KH * p.KW
	groupBias := func(g int) []float32 {
		if bias == nil {
			return nil
		}
		return bias[g*ocg:]
	}
	pointwise := p.KH == 1 && p.KW == 1 && p.Stride == 1 && p.Pad == 0
	if pointwise {
		for g := 0; g < p.Groups; g++ {
			gemm(bestKernel, true, false, false, ocg, hw, icg, 1, w[g*ocg*kdim:], kdim, src[g*icg*hw:], hw, 0, dst[g*ocg*hw:], hw, groupBias(g))
		}
		return
	}
	band := max(1, min(oh, im2colBudget/(kdim*ow)))
	cols, _ := colPool.Get().(*[]float32)
	if cols == nil || cap(*cols) < kdim*band*ow {
		s := make([]float32, kdim*band*ow)
		cols = &s
	}
	defer colPool.Put(cols)
	for g := 0; g < p.Groups; g++ {
		for y0 := 0; y0 < oh; y0 += band {
			rows := min(band, oh-y0)
			n := rows * ow
			col := (*cols)[:kdim*n]
			im2col(col, src[g*icg*p.InH*p.InW:], p, icg, y0, rows)
			gemm(bestKernel, true, false, false, ocg, n, kdim, 1, w[g*ocg*kdim:], kdim, col, n, 0, dst[g*ocg*hw+y0*ow:], hw, groupBias(g))
		}
	}
}

// im2col fills col[(c*KH+ky)*KW+kx][(y-y0)*OW+x] with the input value under
// tap (ky, kx) of output pixel (y, x) of channel c (0 in the padding), for
// output rows y0..y0+rows-1.
func im2col(col, src []float32, p ConvParams, channels, y0, rows int) {
	_, ow := p.OutSize()
	taps := p.KH * p.KW
	n := rows * ow
	ParallelForGrain(channels*taps, max(1, (1<<14)/n), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			c, t := r/taps, r%taps
			ky, kx := t/p.KW, t%p.KW
			plane := src[c*p.InH*p.InW : (c+1)*p.InH*p.InW]
			out := col[r*n : (r+1)*n]
			// Output columns whose input column is inside the image.
			xlo, xhi := validRange(ow, p.Stride, kx-p.Pad, p.InW)
			for y := 0; y < rows; y++ {
				orow := out[y*ow : (y+1)*ow]
				iy := (y0+y)*p.Stride - p.Pad + ky
				if iy < 0 || iy >= p.InH || xlo >= xhi {
					clear(orow)
					continue
				}
				clear(orow[:xlo])
				clear(orow[xhi:])
				irow := plane[iy*p.InW : (iy+1)*p.InW]
				if p.Stride == 1 {
					copy(orow[xlo:xhi], irow[xlo+kx-p.Pad:])
					continue
				}
				ix := xlo*p.Stride + kx - p.Pad
				for x := xlo; x < xhi; x++ {
					orow[x] = irow[ix]
					ix += p.Stride
				}
			}
		}
	})
}

// validRange returns the output indices [lo, hi) of n whose input index
// o*stride + off falls inside [0, size).
func validRange(n, stride, off, size int) (lo, hi int) {
	if off < 0 {
		lo = (-off + stride - 1) / stride
	}
	// Largest o with o*stride + off <= size-1.
	if size-1-off < 0 {
		return lo, lo
	}
	hi = min(n, (size-1-off)/stride+1)
	if hi < lo {
		hi = lo
	}
	return lo, hi
}

// convDepthwise handles Groups == InC (each output channel reads a single
// input channel, OutC/InC outputs per input). It works output row by output
// row so the row stays in L1 while its KH*KW taps are added as whole-row
// multiply-adds.
func convDepthwise(dst, src, w, bias []float32, p ConvParams) {
	oh, ow := p.OutSize()
	mult := p.OutC / p.InC
	taps := p.KH * p.KW
	vec := dwTaps != nil && p.KH == 3 && p.KW == 3 && (p.Stride == 1 || p.Stride == 2)
	var zeros []float32 // stands in for padding rows in the vector path
	if vec {
		zeros = make([]float32, p.InW+2)
	}
	ParallelForGrain(p.OutC, max(1, (1<<13)/(oh*ow*taps)), func(lo, hi int) {
		var split []float32 // even/odd columns of a plane, for stride 2
		if vec && p.Stride == 2 {
			split = make([]float32, p.InH*(p.InW+1))
		}
		for oc := lo; oc < hi; oc++ {
			plane := src[oc/mult*p.InH*p.InW : (oc/mult+1)*p.InH*p.InW]
			out := dst[oc*oh*ow : (oc+1)*oh*ow]
			wk := w[oc*taps : (oc+1)*taps]
			var b float32
			if bias != nil {
				b = bias[oc]
			}
			if vec {
				depthwise3x3Plane(out, plane, wk, b, p, oh, ow, zeros, split)
			} else {
				depthwisePlane(out, plane, wk, b, p, oh, ow)
			}
		}
	})
}

// depthwise3x3Plane is depthwisePlane for 3x3 kernels with stride 1 or 2:
// the interior columns (all three taps inside the image) of each output row
// go to the vector kernel dwTaps as nine shifted input rows; for stride 2
// those are rows of the plane split into even and odd columns (split holds
// InH*(InW+1) values), so every tap is again a contiguous row.
func depthwise3x3Plane(out, plane, wk []float32, b float32, p ConvParams, oh, ow int, zeros, split []float32) {
	s := p.Stride
	half := (p.InW + 1) / 2 // even columns; odd ones follow them
	if s == 2 {
		for iy := 0; iy < p.InH; iy++ {
			row := plane[iy*p.InW : (iy+1)*p.InW]
			even := split[iy*(p.InW+1) : iy*(p.InW+1)+half]
			odd := split[iy*(p.InW+1)+half : (iy+1)*(p.InW+1)]
			for i := range even {
				even[i] = row[2*i]
			}
			for i := range p.InW / 2 {
				odd[i] = row[2*i+1]
			}
		}
	}
	// Interior columns x: x*s-Pad >= 0 and x*s-Pad+2 <= InW-1.
	xlo := min((p.Pad+s-1)/s, ow)
	xhi := max(xlo, min(ow, (p.InW-3+p.Pad)/s+1))
	var taps [9][]float32
	for y := 0; y < oh; y++ {
		orow := out[y*ow : (y+1)*ow]
		if xhi > xlo {
			for ky := 0; ky < 3; ky++ {
				iy := y*s - p.Pad + ky
				for kx := 0; kx < 3; kx++ {
					t := &taps[3*ky+kx]
					switch {
					case iy < 0 || iy >= p.InH:
						*t = zeros
					case s == 1:
						*t = plane[iy*p.InW+xlo-p.Pad+kx : (iy+1)*p.InW]
					default:
						// Input column 2x+d, d = kx-Pad: even column x+d/2
						// or odd column x+(d-1)/2.
						d := kx - p.Pad
						base := iy * (p.InW + 1)
						if d%2 == 0 {
							*t = split[base+xlo+d/2 : base+half]
						} else {
							*t = split[base+half+xlo+(d-1)/2 : base+p.InW+1]
						}
					}
				}
			}
			dwTaps(orow[xlo:xhi], &taps, wk, b)
		}
		for x := 0; x < ow; x++ {
			if x == xlo && xhi > xlo {
				x = xhi - 1 // the vector kernel did [xlo, xhi)
				continue
			}
			sum := b
			for ky := 0; ky < 3; ky++ {
				iy := y*s - p.Pad + ky
				if iy < 0 || iy >= p.InH {
					continue
				}
				for kx := 0; kx < 3; kx++ {
					if ix := x*s - p.Pad + kx; ix >= 0 && ix < p.InW {
						sum += wk[3*ky+kx] * plane[iy*p.InW+ix]
					}
				}
			}
			orow[x] = sum
		}
	}
}

func depthwisePlane(out, plane, wk []float32, b float32, p ConvParams, oh, ow int) {
	for y := 0; y < oh; y++ {
		orow := out[y*ow : (y+1)*ow]
		for i := range orow {
			orow[i] = b
		}
		for ky := 0; ky < p.KH; ky++ {
			iy := y*p.Stride - p.Pad + ky
			if iy < 0 || iy >= p.InH {
				continue
			}
			irow := plane[iy*p.InW : (iy+1)*p.InW]
			for kx := 0; kx < p.KW; kx++ {
				wv := wk[ky*p.KW+kx]
				xlo, xhi := validRange(ow, p.Stride, kx-p.Pad, p.InW)
				if xlo >= xhi {
					continue
				}
				ix := xlo*p.Stride + kx - p.Pad
				if p.Stride == 1 {
					axpy(orow[xlo:xhi], irow[ix:ix+xhi-xlo], wv)
					continue
				}
				o := orow[xlo:xhi]
				for x := range o {
					o[x] += wv * irow[ix]
					ix += p.Stride
				}
			}
		}
	}
}

// axpy computes y += a*x (len(x) >= len(y)).
func axpy(y, x []float32, a float32) {
	x = x[:len(y)]
	for i := range y {
		y[i] += a * x[i]
	}
}
