package cpu

// The dot path: C = alpha*A*B^T + beta*C with A [m,k] and B stored [n,k],
// both row-major, when k is long and m small (a conv's weight gradient: dW =
// dY * cols^T, m = out channels, n = in channels * taps, k = pixels). Both
// operands then have rows contiguous in k, so each C value is a dot product
// of two rows read in place: no packing and no transposing of B.

// The dot path is taken for k >= dotMinK and m <= dotMaxM: the packed path
// then spends about 16/m of the product on packing B (each packed value
// serves only m FMA lanes), while the dot kernel, bound by L2 bandwidth,
// runs at roughly half the packed kernel's rate.
const (
	dotMinK = 1024
	dotMaxM = 64
	// dotChunk is the k range done per pass: 4 rows of A (16 KiB) stay in
	// L1 while a block of dotBlockN rows of B (128 KiB) streams from L2.
	dotChunk  = 1024
	dotBlockN = 32
)

func useDot(kn *kernel, transA, transB bool, m, n, k int) bool {
	return kn.dot != nil && !transA && transB && k >= dotMinK && m <= dotMaxM
}

// dotKernel sets out[4*i+j] to the dot product of a[i] and b[j] (all of
// length >= k).
type dotKernel func(a, b *[4][]float32, k int, out *[16]float32)

// gemmDotAll runs gemmDot over all of C, split over the cores along its
// longer side (in whole 4-wide blocks) when parallel is set.
func gemmDotAll(dot dotKernel, parallel bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, bias []float32) {
	switch {
	case !parallel:
		gemmDot(dot, 0, m, 0, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias)
	case m >= n:
		ParallelSplit(ceilDiv(m, 4), 1, func(lo, hi int) {
			gemmDot(dot, 4*lo, min(4*hi, m), 0, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias)
		})
	default:
		ParallelSplit(ceilDiv(n, 4), 1, func(lo, hi int) {
			gemmDot(dot, 0, m, 4*lo, min(4*hi, n), k, alpha, a, lda, b, ldb, beta, c, ldc, bias)
		})
	}
}

// gemmDot computes the product over the rows [i0, i1) and columns [j0, j1)
// of C, on the calling goroutine.
func gemmDot(dot dotKernel, i0, i1, j0, j1, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, bias []float32) {
	var ap, bp [4][]float32
	var sums [16]float32
	for p0 := 0; p0 < k; p0 += dotChunk {
		kc := min(dotChunk, k-p0)
		for jb := j0; jb < j1; jb += dotBlockN {
			jbEnd := min(jb+dotBlockN, j1)
			for i := i0; i < i1; i += 4 {
				rows := min(4, i1-i)
				for r := range ap {
					// Rows past the edge repeat the first; their sums are dropped.
					ap[r] = a[(i+r%rows)*lda+p0:][:kc]
				}
				for j := jb; j < jbEnd; j += 4 {
					cols := min(4, jbEnd-j)
					for r := range bp {
						bp[r] = b[(j+r%cols)*ldb+p0:][:kc]
					}
					dot(&ap, &bp, kc, &sums)
					for r := 0; r < rows; r++ {
						row := c[(i+r)*ldc+j : (i+r)*ldc+j+cols]
						var bi float32
						if bias != nil {
							bi = bias[i+r]
						}
						for q := range row {
							v := alpha * sums[4*r+q]
							switch {
							case p0 > 0:
								v += row[q]
							case beta != 0:
								v += beta*row[q] + bi
							default:
								v += bi
							}
							row[q] = v
						}
					}
				}
			}
		}
	}
}
