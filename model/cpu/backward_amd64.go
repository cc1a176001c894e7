package cpu

//go:noescape
func geluGradRowAVX512(dz, dy, z *float32, n int)

// geluGradRow sets dz[i] = dy[i] * gelu'(z[i]); the slices have equal
// lengths.
func geluGradRow(dz, dy, z []float32) {
	n := len(z)
	if hasAVX512 && n >= 16 {
		full := n &^ 15
		_, _ = dz[n-1], dy[n-1]
		geluGradRowAVX512(&dz[0], &dy[0], &z[0], full)
		dz, dy, z = dz[full:], dy[full:], z[full:]
	}
	geluGradRowGo(dz, dy, z)
}
