package encoder

// The plain-Go row kernels, exported as the reference that other
// implementations of them (the WebAssembly SIMD kernels of model/cpu/wasmsimd) must
// match bit for bit. They never dispatch to assembly or SIMD.

// GELURowReference sets x[i] = gelu(x[i] + bias[i]); bias may be nil.
func GELURowReference(x, bias []float32) { geluRowGo(x, bias) }

// SoftmaxRowReference replaces row by its softmax, shifted by the row maximum.
func SoftmaxRowReference(row []float32) { softmaxRowGo(row) }

// DepthwisePixelsReference computes output pixels [ox0, ox1) of row oy of a
// KxK depthwise convolution over an HWC map, then GELU when gelu is set.
func DepthwisePixelsReference(row, src []float32, h, wd, c, k, stride, oy, ox0, ox1 int, w, bias []float32, gelu bool) {
	depthwisePixels(row, src, h, wd, c, k, stride, oy, ox0, ox1, w, bias, ActNone)
	if gelu {
		geluRowGo(row[ox0*c:ox1*c], nil)
	}
}
