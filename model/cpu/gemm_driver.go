package cpu

import (
	"sync"
	"unsafe"
)

// microKernel computes one tile of C:
// C[0:rows, 0:cols] = alpha*A*B + beta*C + bias[0:rows] (bias added along
// rows, nil for none), where A element (i, p) is a[i*rsA + p*csA] and B
// element (p, j) is b[p*rsB + j], 1 <= rows <= mr, 1 <= cols <= nr. A kernel
// that is not direct only gets packed panels (see packA, packB: rsA = 1,
// csA = mr, rsB = nr, zero padded to full tiles). C is not read when
// beta == 0.
type microKernel func(k int, a []float32, rsA, csA int, b []float32, rsB int, c []float32, ldc int, alpha, beta float32, bias []float32, rows, cols int)

// kernel is a micro-kernel with its tile shape and cache blocking: a kc x nc
// panel of B is packed once and reused for all of M; an mc x kc block of A
// (meant to stay in L2) is reused across the whole panel; each nr-wide
// sliver of B (kc x nr, meant to stay in L1) meets every mr-high sliver of A.
// A direct kernel can also read A in place, which saves the packing copy
// where A is reused too little to pay for it.
type kernel struct {
	name       string
	mr, nr     int
	kc, mc, nc int
	direct     bool
	micro      microKernel
	dot        dotKernel // nil: no dot path (see gemm_dot.go)
}

// KernelName names the micro-kernel Gemm uses on this machine, e.g.
// "avx512-8x32" or "generic-4x4".
func KernelName() string { return bestKernel.name }

// directMaxN is the largest n for which a direct kernel reads A in place
// instead of packing it: each A value then serves at most n/16 vector FMAs,
// too few to pay for the copy. (B is always packed: read in place, its
// rows ldb apart alias in L1 and it measured slower.)
var directMaxN = 512

// gemmBlocked is the blocked product on the calling goroutine (GotoBLAS loop
// order: jc over N panels, pc over K blocks, ic over M blocks, then tiles).
func gemmBlocked(kn *kernel, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, bias []float32) {
	mr, nr := kn.mr, kn.nr
	directA := kn.direct && n <= directMaxN
	kcMax := min(kn.kc, k)
	aRows := min(kn.mc, roundUp(m, mr))
	if directA {
		aRows = mr // only the last, partial sliver of A is packed
	}
	bufA := getPacked(aRows * kcMax)
	bufB := getPacked(min(kn.nc, roundUp(n, nr)) * kcMax)
	pa, pb := bufA.data, bufB.data
	for jc := 0; jc < n; jc += kn.nc {
		nc := min(kn.nc, n-jc)
		for pc := 0; pc < k; pc += kn.kc {
			kc := min(kn.kc, k-pc)
			packB(pb, transB, b, ldb, pc, jc, kc, nc, nr)
			// Later K blocks accumulate onto what the first one wrote.
			bet, bs := beta, bias
			if pc > 0 {
				bet, bs = 1, nil
			}
			for ic := 0; ic < m; ic += kn.mc {
				mc := min(kn.mc, m-ic)
				full := mc // rows of A read in place
				if directA {
					full = mc / mr * mr
					if full < mc {
						packA(pa, transA, a, lda, ic+full, pc, mc-full, kc, mr)
					}
				} else {
					packA(pa, transA, a, lda, ic, pc, mc, kc, mr)
				}
				for jr := 0; jr < nc; jr += nr {
					cols := min(nr, nc-jr)
					bp := pb[jr*kc : (jr+nr)*kc]
					for ir := 0; ir < mc; ir += mr {
						rows := min(mr, mc-ir)
						var ap []float32
						rsA, csA := 1, mr
						switch {
						case !directA:
							ap = pa[ir*kc : (ir+mr)*kc]
						case ir >= full:
							ap = pa[:mr*kc]
						case transA:
							ap, rsA, csA = a[pc*lda+ic+ir:], 1, lda
						default:
							ap, rsA, csA = a[(ic+ir)*lda+pc:], lda, 1
						}
						var bb []float32
						if bs != nil {
							bb = bs[ic+ir:]
						}
						kn.micro(kc, ap, rsA, csA, bp, nr, c[(ic+ir)*ldc+jc+jr:], ldc, alpha, bet, bb, rows, cols)
					}
				}
			}
		}
	}
	putPacked(bufA)
	putPacked(bufB)
}

// packA copies the mc x kc block of op(A) at (i0, p0) into dst as slivers of
// mr rows: sliver s holds, for each p in turn, op(A)[i0+s*mr+i][p0+p] for
// i = 0..mr-1, with zeros for rows past mc.
func packA(dst []float32, transA bool, a []float32, lda, i0, p0, mc, kc, mr int) {
	for ir := 0; ir < mc; ir += mr {
		rows := min(mr, mc-ir)
		d := dst[ir*kc : (ir+mr)*kc]
		if transA {
			// op(A) row i is column i of the stored k x m matrix: each p
			// gives mr contiguous values.
			for p := 0; p < kc; p++ {
				src := a[(p0+p)*lda+i0+ir:]
				dp := d[p*mr : p*mr+mr]
				copy(dp, src[:rows])
				clear(dp[rows:])
			}
			continue
		}
		for i := 0; i < rows; i++ {
			src := a[(i0+ir+i)*lda+p0:]
			src = src[:kc]
			for p, v := range src {
				d[p*mr+i] = v
			}
		}
		for i := rows; i < mr; i++ {
			for p := 0; p < kc; p++ {
				d[p*mr+i] = 0
			}
		}
	}
}

// packB copies the kc x nc block of op(B) at (p0, j0) into dst as slivers of
// nr columns: sliver s holds, for each p in turn, op(B)[p0+p][j0+s*nr+j] for
// j = 0..nr-1, with zeros for columns past nc.
func packB(dst []float32, transB bool, b []float32, ldb, p0, j0, kc, nc, nr int) {
	for jr := 0; jr < nc; jr += nr {
		cols := min(nr, nc-jr)
		d := dst[jr*kc : (jr+nr)*kc]
		if !transB && nr == 32 && packRowsB32 != nil {
			packRowsB32(d, b[p0*ldb+j0+jr:], ldb, kc, cols)
			continue
		}
		if !transB {
			for p := 0; p < kc; p++ {
				dp := d[p*nr : p*nr+nr]
				src := b[(p0+p)*ldb+j0+jr:]
				src = src[:cols]
				// An element loop: copy's call costs more than a few values.
				for j, v := range src {
					dp[j] = v
				}
				clear(dp[cols:])
			}
			continue
		}
		// op(B) column j is row j of the stored n x k matrix.
		if nr == 32 && packColsB32 != nil {
			packColsB32(d, b[(j0+jr)*ldb+p0:], ldb, kc, cols)
			continue
		}
		packColsGo(d, b[(j0+jr)*ldb+p0:], ldb, kc, cols, nr)
	}
}

// packColsGo packs kc x nr of a transposed B: d[p*nr+j] = src[j*ldb+p]
// for j < cols, zero for the other columns.
func packColsGo(d, src []float32, ldb, kc, cols, nr int) {
	for j := 0; j < cols; j++ {
		row := src[j*ldb:]
		row = row[:kc]
		for p, v := range row {
			d[p*nr+j] = v
		}
	}
	for j := cols; j < nr; j++ {
		for p := 0; p < kc; p++ {
			d[p*nr+j] = 0
		}
	}
}

func roundUp(x, m int) int { return (x + m - 1) / m * m }

// packed is a reusable packing buffer whose data starts on a 64-byte
// boundary, so the 64-byte vector loads of the micro-kernel never straddle
// cache lines.
type packed struct {
	raw  []float32
	data []float32
}

var packedPool sync.Pool

// minPacked is the smallest buffer getPacked makes (256 KiB), so that the
// pool's buffers fit most requests instead of being dropped and remade.
const minPacked = 1 << 16

func getPacked(n int) *packed {
	if p, ok := packedPool.Get().(*packed); ok && len(p.data) >= n {
		p.data = p.data[:cap(p.data)]
		return p
	}
	n = max(n, minPacked)
	raw := make([]float32, n+16)
	off := int(uintptr(unsafe.Pointer(&raw[0]))%64) / 4
	if off != 0 {
		off = 16 - off
	}
	return &packed{raw: raw, data: raw[off : off+n]}
}

func putPacked(p *packed) { packedPool.Put(p) }
