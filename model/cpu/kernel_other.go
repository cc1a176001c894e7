//go:build !amd64

package cpu

// bestKernel is the micro-kernel Gemm runs: plain Go off amd64.
var bestKernel = genericKernel

// fmaPeakLoop has no assembly off amd64.
func fmaPeakLoop(iters int) float64 { return 0 }

// dw3x3Row has no vector kernel off amd64.
var dw3x3Row func(out, r0, r1, r2, w []float32, bias float32)

// packRowsB32 has no vector copy off amd64.
var packRowsB32 func(dst, src []float32, ldb, kc, cols int)
