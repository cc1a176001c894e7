//go:build !amd64 && !(js && wasm)

package cpu

// GELURow sets x[i] = gelu(x[i] + bias[i]); bias may be nil.
func GELURow(x, bias []float32) { geluRowGo(x, bias) }

// SoftmaxRow replaces row by its softmax, shifted by the row maximum.
func SoftmaxRow(row []float32) { softmaxRowGo(row) }

// depthwiseRowFast has no portable fast path: see fastmath_amd64.go.
func depthwiseRowFast(dst, src []float32, h, wd, c, k, stride, oy, ox0, ox1 int, w, bias []float32, gelu bool) bool {
	return false
}

// attentionKernelsFast has no portable fast path: see fastmath_amd64.go.
func attentionKernelsFast(s *AttentionHead, bias []float32) bool { return false }

// LayerNormRow normalizes src into dst (see LayerNorm); dst may be src.
func LayerNormRow(dst, src, w, b []float32, eps float32) { layerNormRowGo(dst, src, w, b, eps) }
