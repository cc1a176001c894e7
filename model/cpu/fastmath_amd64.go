package cpu

// The assembly versions of the row loops (fastmath_amd64.s) run where
// hasAVX512 (kernel_amd64.go) is set; they need AVX-512 F and DQ (VANDNPS,
// VEXTRACTF32X8).

//go:noescape
func geluRowAVX512(x, bias *float32, n int)

//go:noescape
func softmaxRowAVX512(x *float32, n int, tail uint16)

//go:noescape
func layerNormRowAVX512(dst, src, w, b *float32, c int, eps float32)

// LayerNormRow normalizes src into dst (see LayerNorm); dst may be src.
func LayerNormRow(dst, src, w, b []float32, eps float32) {
	c := len(src)
	if hasAVX512 && c > 0 && c%16 == 0 {
		_, _, _ = dst[c-1], w[c-1], b[c-1]
		layerNormRowAVX512(&dst[0], &src[0], &w[0], &b[0], c, eps)
		return
	}
	layerNormRowGo(dst, src, w, b, eps)
}

//go:noescape
func attnScoresAVX512(s, q, kT, bias *float32, rows, cols, kd int)

//go:noescape
func attnPV32AVX512(o, p, v *float32, rows, n, cols int)

// attentionKernelsFast computes s.O = softmax(s.Q s.KT + bias) s.V for one
// window and head with the AVX-512 kernels, and reports whether it could
// (they need head dimension 32, MobileSAM's in every stage).
func attentionKernelsFast(s *AttentionHead, bias []float32) bool {
	if !hasAVX512 || s.KD != 32 {
		return false
	}
	_ = bias[s.Rows*s.Cols-1]
	attnScoresAVX512(&s.S[0], &s.Q[0], &s.KT[0], &bias[0], s.Rows, s.Cols, s.KD)
	tail := uint16(1<<(s.N%16) - 1)
	for i := 0; i < s.Rows; i++ {
		softmaxRowAVX512(&s.S[i*s.Cols], s.N, tail)
	}
	attnPV32AVX512(&s.O[0], &s.S[0], &s.V[0], s.Rows, s.N, s.Cols)
	return true
}

//go:noescape
func dwRow3x3AVX512(dst, src0, src1, src2, w, bias *float32, c, n, pixStride, gelu int)

// depthwiseRowFast computes output pixels [ox0, ox1) of row oy of a 3x3
// depthwise convolution whose taps all lie inside the image columns, and
// reports whether it could (AVX-512, k = 3, C a multiple of 16).
func depthwiseRowFast(dst, src []float32, h, wd, c, k, stride, oy, ox0, ox1 int, w, bias []float32, gelu bool) bool {
	if !hasAVX512 || k != 3 || c%16 != 0 || ox1 <= ox0 {
		return false
	}
	// Bounds: the last pixel's last tap and the last output value.
	_ = src[((min(oy*stride+1, h-1))*wd+(ox1-1)*stride+1)*c+c-1]
	_ = dst[(ox1-1)*c+c-1]
	_ = w[9*c-1]
	_ = bias[c-1]
	var rows [3]*float32
	for r := 0; r < 3; r++ {
		if iy := oy*stride - 1 + r; iy >= 0 && iy < h {
			rows[r] = &src[(iy*wd+ox0*stride-1)*c]
		}
	}
	g := 0
	if gelu {
		g = 1
	}
	dwRow3x3AVX512(&dst[ox0*c], rows[0], rows[1], rows[2], &w[0], &bias[0], c, ox1-ox0, stride*c, g)
	return true
}

// GELURow sets x[i] = gelu(x[i] + bias[i]); bias may be nil.
func GELURow(x, bias []float32) {
	n := len(x)
	if hasAVX512 && n >= 16 {
		full := n &^ 15
		var bp *float32
		if bias != nil {
			_ = bias[n-1]
			bp = &bias[0]
		}
		geluRowAVX512(&x[0], bp, full)
		x, n = x[full:], n-full
		if bias != nil {
			bias = bias[full:]
		}
	}
	geluRowGo(x, bias)
}

// SoftmaxRow replaces row by its softmax, shifted by the row maximum.
func SoftmaxRow(row []float32) {
	if hasAVX512 && len(row) > 0 {
		softmaxRowAVX512(&row[0], len(row), uint16(1<<(len(row)%16)-1))
		return
	}
	softmaxRowGo(row)
}
