//go:build !amd64

package cpu

// bestKernel is the micro-kernel Gemm runs: plain Go off amd64.
var bestKernel = genericKernel

// fastKernels lists the kernels this CPU can run: only the plain-Go one.
func fastKernels() []*kernel { return []*kernel{genericKernel} }

// fmaPeakLoop has no assembly off amd64.
func fmaPeakLoop(iters int) float64 { return 0 }

// packRowsB32 has no vector copy off amd64.
var packRowsB32 func(dst, src []float32, ldb, kc, cols int)

// packColsB32 has no vector version off amd64.
var packColsB32 func(dst, src []float32, ldb, kc, cols int)
