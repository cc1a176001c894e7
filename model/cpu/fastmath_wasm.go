//go:build js && wasm

package cpu

import "github.com/busam/busam/model/cpu/wasmsimd"

// In js/wasm builds the elementwise loops go to the WebAssembly SIMD
// kernels of package model/cpu/wasmsimd (bit-identical to the plain-Go loops), when
// the page let them load; otherwise the plain-Go loops run.

// GELURow sets x[i] = gelu(x[i] + bias[i]); bias may be nil.
func GELURow(x, bias []float32) {
	if !wasmsimd.GELU(x, bias) {
		geluRowGo(x, bias)
	}
}

// SoftmaxRow replaces row by its softmax, shifted by the row maximum.
func SoftmaxRow(row []float32) {
	if !wasmsimd.Softmax(row) {
		softmaxRowGo(row)
	}
}

// depthwiseRowFast computes the interior pixels [ox0, ox1) of output row oy
// with the SIMD kernel; false (nothing done) where it does not apply.
func depthwiseRowFast(dst, src []float32, h, wd, c, k, stride, oy, ox0, ox1 int, w, bias []float32, gelu bool) bool {
	return wasmsimd.Depthwise(dst, src, h, wd, c, k, stride, oy, ox0, ox1, w, bias, gelu)
}

// attentionKernelsFast has no wasm version: the generic window loop runs
// (its products go to model/cpu's SIMD GEMM, its softmax to softmaxRow).
func attentionKernelsFast(s *AttentionHead, bias []float32) bool { return false }

// LayerNormRow normalizes src into dst (see LayerNorm); dst may be src.
func LayerNormRow(dst, src, w, b []float32, eps float32) { layerNormRowGo(dst, src, w, b, eps) }
