package encoder

import "golang.org/x/sys/cpu"

// haveAVX512 selects the assembly versions of the activation and softmax
// loops (fastmath_amd64.s); they need AVX-512 F and DQ (VANDNPS, VEXTRACTF32X8).
var haveAVX512 = cpu.X86.HasAVX512F && cpu.X86.HasAVX512DQ

//go:noescape
func geluRowAVX512(x, bias *float32, n int)

//go:noescape
func softmaxRowAVX512(x *float32, n int, tail uint16)

// geluRow sets x[i] = gelu(x[i] + bias[i]); bias may be nil.
func geluRow(x, bias []float32) {
	n := len(x)
	if haveAVX512 && n >= 16 {
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

// softmaxRow replaces row by its softmax, shifted by the row maximum.
func softmaxRow(row []float32) {
	if haveAVX512 && len(row) > 0 {
		softmaxRowAVX512(&row[0], len(row), uint16(1<<(len(row)%16)-1))
		return
	}
	softmaxRowGo(row)
}
