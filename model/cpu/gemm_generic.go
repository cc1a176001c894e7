package cpu

// The plain-Go micro-kernel: a 4x4 tile of C in 16 local accumulators. It is
// what wasm (no SIMD in Go's wasm backend) and CPUs without AVX-512 run, so
// it keeps the inner loop free of bounds checks and branches.

var genericKernel = &kernel{
	name: "generic-4x4",
	mr:   4, nr: 4,
	// A 4 x 256 sliver of B (4 KiB) stays in L1 while a 128 x 256 block of
	// A (128 KiB) streams from L2.
	kc: 256, mc: 128, nc: 1024,
	micro: kernel4x4Generic,
}

// kernel4x4Generic only reads packed panels (the kernel is not direct), so
// it ignores the strides.
func kernel4x4Generic(k int, a []float32, _, _ int, b []float32, _ int, c []float32, ldc int, alpha, beta float32, bias []float32, rows, cols int) {
	var c00, c01, c02, c03 float32
	var c10, c11, c12, c13 float32
	var c20, c21, c22, c23 float32
	var c30, c31, c32, c33 float32
	a = a[:4*k]
	b = b[:4*k]
	for p := 0; p+4 <= len(a) && p+4 <= len(b); p += 4 {
		ap := a[p : p+4 : p+4]
		bp := b[p : p+4 : p+4]
		a0, a1, a2, a3 := ap[0], ap[1], ap[2], ap[3]
		b0, b1, b2, b3 := bp[0], bp[1], bp[2], bp[3]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
		c20 += a2 * b0
		c21 += a2 * b1
		c22 += a2 * b2
		c23 += a2 * b3
		c30 += a3 * b0
		c31 += a3 * b1
		c32 += a3 * b2
		c33 += a3 * b3
	}
	acc := [4][4]float32{
		{c00, c01, c02, c03},
		{c10, c11, c12, c13},
		{c20, c21, c22, c23},
		{c30, c31, c32, c33},
	}
	storeTile(acc[:rows], c, ldc, alpha, beta, bias, cols)
}

// storeTile writes C[i][j] = alpha*acc[i][j] + beta*C[i][j] + bias[i] for
// the first cols columns of each row of acc (C unread when beta == 0, no
// bias when it is nil).
func storeTile(acc [][4]float32, c []float32, ldc int, alpha, beta float32, bias []float32, cols int) {
	for i := range acc {
		row := c[i*ldc : i*ldc+cols]
		var bi float32
		if bias != nil {
			bi = bias[i]
		}
		if beta == 0 {
			for j := range row {
				row[j] = alpha*acc[i][j] + bi
			}
		} else {
			for j := range row {
				row[j] = alpha*acc[i][j] + beta*row[j] + bi
			}
		}
	}
}
