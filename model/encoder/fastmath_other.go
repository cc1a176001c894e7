//go:build !amd64 && !(js && wasm)

package encoder

// haveAVX512 is false off amd64: the plain-Go loops run (wasm included).
const haveAVX512 = false

// geluRow sets x[i] = gelu(x[i] + bias[i]); bias may be nil.
func geluRow(x, bias []float32) { geluRowGo(x, bias) }

// softmaxRow replaces row by its softmax, shifted by the row maximum.
func softmaxRow(row []float32) { softmaxRowGo(row) }

// depthwiseRowFast has no portable fast path: see fastmath_amd64.go.
func depthwiseRowFast(dst, src []float32, h, wd, c, k, stride, oy, ox0, ox1 int, w, bias []float32, act Activation) bool {
	return false
}

// attentionKernelsFast has no portable fast path: see fastmath_amd64.go.
func attentionKernelsFast(s *windowScratch, bias []float32) bool { return false }

// layerNormRow normalizes src into dst (see layerNorm); dst may be src.
func layerNormRow(dst, src, w, b []float32, eps float32) { layerNormRowGo(dst, src, w, b, eps) }
