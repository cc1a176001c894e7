//go:build js && wasm

package encoder

import "github.com/busam/busam/model/cpu/wasmsimd"

// In js/wasm builds the elementwise loops go to the WebAssembly SIMD
// kernels of package model/cpu/wasmsimd (bit-identical to the plain-Go loops), when
// the page let them load; otherwise the plain-Go loops run.

// haveAVX512 is false in wasm.
const haveAVX512 = false

// geluRow sets x[i] = gelu(x[i] + bias[i]); bias may be nil.
func geluRow(x, bias []float32) {
	if !wasmsimd.GELU(x, bias) {
		geluRowGo(x, bias)
	}
}

// softmaxRow replaces row by its softmax, shifted by the row maximum.
func softmaxRow(row []float32) {
	if !wasmsimd.Softmax(row) {
		softmaxRowGo(row)
	}
}

// depthwiseRowFast computes the interior pixels [ox0, ox1) of output row oy
// with the SIMD kernel; false (nothing done) where it does not apply.
func depthwiseRowFast(dst, src []float32, h, wd, c, k, stride, oy, ox0, ox1 int, w, bias []float32, act Activation) bool {
	return wasmsimd.Depthwise(dst, src, h, wd, c, k, stride, oy, ox0, ox1, w, bias, act == ActGELU)
}

// attentionKernelsFast has no wasm version: the generic window loop runs
// (its products go to model/cpu's SIMD GEMM, its softmax to softmaxRow).
func attentionKernelsFast(s *windowScratch, bias []float32) bool { return false }

// layerNormRow normalizes src into dst (see layerNorm); dst may be src.
func layerNormRow(dst, src, w, b []float32, eps float32) { layerNormRowGo(dst, src, w, b, eps) }
