package cpu

import "math"

// Kernels on HWC feature maps (token-major, [H*W, C]), the layout the
// encoder works in: the transformer stages work on tokens, pointwise
// convolutions and linear layers become one matrix product over all tokens,
// and a depthwise convolution's inner loop runs over contiguous channels.
// Each runs on all cores (ParallelFor) unless it says otherwise; the row
// kernels (GELURow, SoftmaxRow, LayerNormRow) dispatch to AVX-512 assembly
// (fastmath_amd64.s) or to the wasm SIMD kernels (package wasmsimd) where
// those exist, and to the plain-Go loops elsewhere.

// RowGrain is how many rows of C values one parallel chunk should hold at
// least, so that each chunk does some 16K values of work.
func RowGrain(c int) int { return max(1, 16384/max(c, 1)) }

// BiasAct adds bias (per channel, may be nil) to rows of C values, then
// GELU when gelu is set.
func BiasAct(x []float32, rows, c int, bias []float32, gelu bool) {
	if bias == nil && !gelu {
		return
	}
	ParallelFor(rows, RowGrain(c), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			row := x[r*c : (r+1)*c]
			if gelu {
				GELURow(row, bias)
				continue
			}
			if bias != nil {
				b := bias[:c]
				for i := range row {
					row[i] += b[i]
				}
			}
		}
	})
}

// Linear computes dst[rows, out] = src[rows, in] * w^T (+ dst when
// accumulate), w being [out, in] as PyTorch stores Linear and 1x1 Conv weights.
func Linear(dst, src []float32, rows, in, out int, w []float32, accumulate bool) {
	beta := float32(0)
	if accumulate {
		beta = 1
	}
	Gemm(false, true, rows, out, in, 1, src, in, w, in, beta, dst, out)
}

// LayerNorm normalizes each row of C values of src into dst (which may be
// src) over the channels, then scales by w and shifts by b. The variance is
// the biased mean of squared deviations, as in torch.nn.LayerNorm.
func LayerNorm(dst, src []float32, rows, c int, w, b []float32, eps float32) {
	ParallelFor(rows, RowGrain(c), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			LayerNormRow(dst[r*c:(r+1)*c], src[r*c:(r+1)*c], w, b, eps)
		}
	})
}

// layerNormRowGo is the portable LayerNormRow.
func layerNormRowGo(dst, src, w, b []float32, eps float32) {
	// Sums in float64: scalar float64 adds cost the same as float32 ones
	// and keep a large mean from eating the variance's digits.
	c := len(src)
	var sum float64
	for _, v := range src {
		sum += float64(v)
	}
	mean := sum / float64(c)
	var sq float64
	for _, v := range src {
		d := float64(v) - mean
		sq += d * d
	}
	inv := float32(1 / math.Sqrt(sq/float64(c)+float64(eps)))
	m := float32(mean)
	w, b, dst = w[:c], b[:c], dst[:c]
	for i, v := range src {
		dst[i] = (v-m)*inv*w[i] + b[i]
	}
}

// softmaxRowGo is the portable SoftmaxRow.
func softmaxRowGo(row []float32) {
	m := float32(math.Inf(-1))
	for _, v := range row {
		m = max(m, v)
	}
	var sum float32
	for i, v := range row {
		e := expf(v - m)
		row[i] = e
		sum += e
	}
	inv := 1 / sum
	for i := range row {
		row[i] *= inv
	}
}

// Depthwise applies a KxK depthwise convolution (zero padding K/2) with
// bias, then GELU when gelu is set, to an HWC map. w is laid out [K*K, C]
// so the inner loop runs over contiguous channels. Pixels whose taps are
// all inside the image columns go to depthwiseRowFast (the AVX-512 or wasm
// SIMD 3x3 kernel) when it applies; the rest (and every pixel elsewhere)
// take the generic loop.
func Depthwise(dst, src []float32, h, wd, c, k, stride int, w, bias []float32, gelu bool) (oh, ow int) {
	pad := k / 2
	oh = (h+2*pad-k)/stride + 1
	ow = (wd+2*pad-k)/stride + 1
	ParallelFor(oh, max(1, RowGrain(ow*c*k*k)), func(lo, hi int) {
		DepthwiseRows(dst[lo*ow*c:], src, h, wd, c, k, stride, lo, hi, w, bias, gelu)
	})
	return oh, ow
}

// DepthwiseRows computes output rows [oy0, oy1) of Depthwise on the
// calling goroutine into dst, which starts at row oy0.
func DepthwiseRows(dst, src []float32, h, wd, c, k, stride, oy0, oy1 int, w, bias []float32, gelu bool) {
	pad := k / 2
	ow := (wd+2*pad-k)/stride + 1
	// Interior columns: ox*stride-pad >= 0 and ox*stride-pad+k-1 < wd.
	ox0 := min((pad+stride-1)/stride, ow)
	ox1 := max(ox0, min(ow, (wd-k+pad)/stride+1))
	for oy := oy0; oy < oy1; oy++ {
		row := dst[(oy-oy0)*ow*c : (oy-oy0+1)*ow*c]
		if depthwiseRowFast(row, src, h, wd, c, k, stride, oy, ox0, ox1, w, bias, gelu) {
			depthwisePixels(row, src, h, wd, c, k, stride, oy, 0, ox0, w, bias, gelu)
			depthwisePixels(row, src, h, wd, c, k, stride, oy, ox1, ow, w, bias, gelu)
			continue
		}
		depthwisePixels(row, src, h, wd, c, k, stride, oy, 0, ow, w, bias, gelu)
	}
}

// depthwisePixels is the generic Depthwise loop for output pixels
// [ox0, ox1) of row oy; row is that output row.
func depthwisePixels(row, src []float32, h, wd, c, k, stride, oy, ox0, ox1 int, w, bias []float32, gelu bool) {
	pad := k / 2
	for ox := ox0; ox < ox1; ox++ {
		out := row[ox*c : (ox+1)*c]
		copy(out, bias[:c])
		for ky := 0; ky < k; ky++ {
			iy := oy*stride - pad + ky
			if iy < 0 || iy >= h {
				continue
			}
			for kx := 0; kx < k; kx++ {
				ix := ox*stride - pad + kx
				if ix < 0 || ix >= wd {
					continue
				}
				in := src[(iy*wd+ix)*c : (iy*wd+ix+1)*c]
				wk := w[(ky*k+kx)*c : (ky*k+kx+1)*c]
				for i := range out {
					out[i] += in[i] * wk[i]
				}
			}
		}
		if gelu {
			GELURow(out, nil)
		}
	}
}

// Im2colRows writes, for output rows [oy0, oy1) of a KxK convolution over
// an HWC map, one row of K*K*C input values per output pixel, ordered
// (ky, kx, c); taps outside the image are zero.
func Im2colRows(col, src []float32, h, wd, c, k, stride, pad, ow, oy0, oy1 int) {
	kc := k * k * c
	ParallelFor(oy1-oy0, 1, func(lo, hi int) {
		for oy := oy0 + lo; oy < oy0+hi; oy++ {
			for ox := 0; ox < ow; ox++ {
				row := col[((oy-oy0)*ow+ox)*kc : ((oy-oy0)*ow+ox+1)*kc]
				for ky := 0; ky < k; ky++ {
					iy := oy*stride - pad + ky
					for kx := 0; kx < k; kx++ {
						ix := ox*stride - pad + kx
						seg := row[(ky*k+kx)*c : (ky*k+kx+1)*c]
						if iy < 0 || iy >= h || ix < 0 || ix >= wd {
							clear(seg)
							continue
						}
						copy(seg, src[(iy*wd+ix)*c:(iy*wd+ix+1)*c])
					}
				}
			}
		}
	})
}

// CHWToHWC and HWCToCHW convert between the models' external layout (CHW)
// and the HWC one of these kernels.
func CHWToHWC(dst, src []float32, c, h, w int) {
	ParallelFor(h, 1, func(lo, hi int) {
		for y := lo; y < hi; y++ {
			for x := 0; x < w; x++ {
				o := dst[(y*w+x)*c : (y*w+x+1)*c]
				for ch := range o {
					o[ch] = src[(ch*h+y)*w+x]
				}
			}
		}
	})
}

func HWCToCHW(dst, src []float32, c, h, w int) {
	ParallelFor(c, 1, func(lo, hi int) {
		for ch := lo; ch < hi; ch++ {
			plane := dst[ch*h*w : (ch+1)*h*w]
			for i := range plane {
				plane[i] = src[i*c+ch]
			}
		}
	})
}

// GemmSerial is Gemm on the calling goroutine, for products inside parallel
// loops (one small product per window and head, per band of rows), where
// the kernel must not spread work over goroutines itself: GemmBatched runs
// each product of a batch on one core.
func GemmSerial(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	GemmBatched(transA, transB, m, n, k, alpha, a, lda, 0, b, ldb, 0, beta, c, ldc, 0, 1)
}

// geluRowGo is the portable GELURow.
func geluRowGo(x, bias []float32) {
	if bias != nil {
		bias = bias[:len(x)]
		for i, v := range x {
			x[i] = gelu(v + bias[i])
		}
		return
	}
	for i, v := range x {
		x[i] = gelu(v)
	}
}
