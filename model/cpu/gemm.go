package cpu

import (
	"fmt"
)

// Gemm computes C = alpha*op(A)*op(B) + beta*C for row-major matrices, where
// op(X) is X or its transpose. op(A) is m x k, op(B) is k x n, C is m x n;
// lda, ldb, ldc are the row strides of the stored matrices. As in BLAS, C is
// not read when beta == 0. Large products run on all cores (GOMAXPROCS).
func Gemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkGemm("Gemm", transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	gemm(bestKernel, true, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, nil)
}

// GemmGeneric is Gemm on the plain-Go micro-kernel, whatever the CPU: the
// path wasm builds run. It exists for tests and benchmarks.
func GemmGeneric(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkGemm("GemmGeneric", transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	gemm(genericKernel, true, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, nil)
}

// GemmBatched runs batch independent products of the same shape (as Gemm):
// product i reads a[i*strideA:], b[i*strideB:] and updates c[i*strideC:].
// The batch is spread over the cores and each product runs single-threaded,
// which suits attention: many small [N,d]x[d,N] and [N,N]x[N,d] products
// (windows x heads), e.g. scores = Q*K^T is
//
//	GemmBatched(false, true, n, n, d, scale, q, d, n*d, k, d, n*d, 0, s, n, n*n, heads)
//
// for Q, K of shape [heads, n, d] and scores [heads, n, n]. Strides smaller
// than a matrix are fine (e.g. head h of Q read as columns h*d.. of a [n, C]
// matrix: lda = C, strideA = d) as long as the products write disjoint
// elements of C.
func GemmBatched(transA, transB bool, m, n, k int, alpha float32, a []float32, lda, strideA int, b []float32, ldb, strideB int, beta float32, c []float32, ldc, strideC int, batch int) {
	if batch <= 0 || m <= 0 || n <= 0 {
		return
	}
	// Check the last product of the batch: strides are non-negative, so it
	// needs the longest slices.
	last := batch - 1
	if strideA < 0 || strideB < 0 || strideC < 0 {
		panic(fmt.Sprintf("cpu.GemmBatched: negative stride (%d, %d, %d)", strideA, strideB, strideC))
	}
	checkGemm("GemmBatched", transA, transB, m, n, k, tailFrom(a, last*strideA), lda, tailFrom(b, last*strideB), ldb, tailFrom(c, last*strideC), ldc)
	if batch == 1 {
		gemm(bestKernel, false, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, nil)
		return
	}
	grain := 1
	if work := m * n * max(k, 1); work < parallelMinWork {
		grain = (parallelMinWork + work - 1) / work
	}
	ParallelSplit(batch, grain, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			gemm(bestKernel, false, transA, transB, m, n, k, alpha,
				tailFrom(a, i*strideA), lda, tailFrom(b, i*strideB), ldb, beta, c[i*strideC:], ldc, nil)
		}
	})
}

// tailFrom returns s[off:], or an empty slice when off is past the end (so
// the length check reports the problem instead of a slice panic).
func tailFrom(s []float32, off int) []float32 {
	if off > len(s) {
		return nil
	}
	return s[off:]
}

// parallelMinWork is the m*n*k below which a product stays on one core: the
// goroutine hand-off costs a few microseconds, about 2^18 multiply-adds.
const parallelMinWork = 1 << 18

// checkGemm panics with a readable message when a slice cannot hold the
// matrix its shape and stride describe.
func checkGemm(name string, transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("cpu.%s: negative size m=%d n=%d k=%d", name, m, n, k))
	}
	if m == 0 || n == 0 {
		return
	}
	checkMatrix(name, "C", m, n, c, ldc)
	if k == 0 {
		return
	}
	if transA {
		checkMatrix(name, "A", k, m, a, lda)
	} else {
		checkMatrix(name, "A", m, k, a, lda)
	}
	if transB {
		checkMatrix(name, "B", n, k, b, ldb)
	} else {
		checkMatrix(name, "B", k, n, b, ldb)
	}
}

func checkMatrix(name, which string, rows, cols int, s []float32, ld int) {
	if ld < cols {
		panic(fmt.Sprintf("cpu.%s: %s is %dx%d but its row stride is %d", name, which, rows, cols, ld))
	}
	if need := (rows-1)*ld + cols; len(s) < need {
		panic(fmt.Sprintf("cpu.%s: %s is %dx%d with stride %d and needs %d values, has %d", name, which, rows, cols, ld, need, len(s)))
	}
}

// gemm handles the degenerate cases, then picks the dot path (gemm_dot.go)
// or the blocked one, on the calling goroutine or, for a large product when
// parallel is set, on all cores. bias (nil for none) holds m values added to
// the rows of C.
func gemm(kn *kernel, parallel bool, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, bias []float32) {
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scaleC(m, n, beta, c, ldc, bias)
		return
	}
	parallel = parallel && Workers() > 1 && m*n*k >= parallelMinWork
	switch {
	case useDot(kn, transA, transB, m, n, k):
		gemmDotAll(kn.dot, parallel, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias)
	case parallel:
		gemmSplit(kn, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias)
	default:
		gemmBlocked(kn, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias)
	}
}

// gemmSplit splits the product over the cores along whichever of M and N
// has more tiles, so that every worker owns a disjoint block of C and packs
// its own panels (no synchronisation).
func gemmSplit(kn *kernel, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, bias []float32) {
	mTiles, nTiles := ceilDiv(m, kn.mr), ceilDiv(n, kn.nr)
	splitN := nTiles >= mTiles
	tiles, step, size := mTiles, kn.mr, m
	if splitN {
		tiles, step, size = nTiles, kn.nr, n
	}
	ParallelSplit(tiles, 1, func(lo, hi int) {
		lo, hi = lo*step, min(hi*step, size)
		if splitN {
			bOff := lo
			if transB {
				bOff = lo * ldb
			}
			gemmBlocked(kn, transA, transB, m, hi-lo, k, alpha, a, lda, b[bOff:], ldb, beta, c[lo:], ldc, bias)
			return
		}
		aOff := lo * lda
		if transA {
			aOff = lo
		}
		var bs []float32
		if bias != nil {
			bs = bias[lo:]
		}
		gemmBlocked(kn, transA, transB, hi-lo, n, k, alpha, a[aOff:], lda, b, ldb, beta, c[lo*ldc:], ldc, bs)
	})
}

// scaleC sets C = beta*C + bias (C = bias when beta == 0, even if C held
// NaNs; no bias when it is nil).
func scaleC(m, n int, beta float32, c []float32, ldc int, bias []float32) {
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		var bi float32
		if bias != nil {
			bi = bias[i]
		}
		if beta == 0 {
			for j := range row {
				row[j] = bi
			}
			continue
		}
		for j := range row {
			row[j] = beta*row[j] + bi
		}
	}
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }
