package cpu

import (
	xcpu "golang.org/x/sys/cpu"
)

//go:noescape
func kernel8x32AVX512(k int, a *float32, rsA, csA int, b *float32, rsB int, c *float32, ldc int, alpha, beta float32, bias *float32, rows int, mask uint32)

//go:noescape
func fmaLoopAVX512(iters int)

//go:noescape
func fmaLoopAVX2(iters int)

//go:noescape
func kernel6x16AVX2(k int, a *float32, rsA, csA int, b *float32, rsB int, c *float32, ldc int, alpha, beta float32, bias *float32)

var (
	hasAVX512 = xcpu.X86.HasAVX512F && xcpu.X86.HasAVX512VL && xcpu.X86.HasAVX512DQ
	hasAVX2   = xcpu.X86.HasAVX2 && xcpu.X86.HasFMA
)

var avx512Kernel = &kernel{
	name: "avx512-8x32",
	mr:   8, nr: 32,
	// Zen 4 (32 KiB L1d, 1 MiB L2): a 192 x 384 block of A (288 KiB) stays
	// in L2; the 384 x 32 sliver of B (48 KiB) streams from L2 well within
	// its bandwidth. kc = 384 also measured best of 256/384/512 on a quiet
	// Xeon (BenchmarkGemmTune).
	kc: 384, mc: 192, nc: 2048,
	direct: true,
	micro:  kernel8x32,
	dot:    dot4x4,
}

var avx2Kernel = &kernel{
	name: "avx2-6x16",
	mr:   6, nr: 16,
	kc: 384, mc: 192, nc: 2048,
	direct: true,
	micro:  kernel6x16,
}

// bestKernel is the micro-kernel Gemm runs on this machine.
var bestKernel = fastKernels()[0]

// fastKernels lists the kernels this CPU can run, fastest first; the
// plain-Go one is always last.
func fastKernels() []*kernel {
	var ks []*kernel
	if hasAVX512 {
		ks = append(ks, avx512Kernel)
	}
	if hasAVX2 {
		ks = append(ks, avx2Kernel)
	}
	return append(ks, genericKernel)
}

// noBias is what the assembly reads as bias when there is none.
var noBias [8]float32

func kernel8x32(k int, a []float32, rsA, csA int, b []float32, rsB int, c []float32, ldc int, alpha, beta float32, bias []float32, rows, cols int) {
	// Bounds checks on the last element each operand is read at, so the
	// assembly never touches memory outside the slices.
	_ = a[7*rsA+(k-1)*csA]
	_ = b[(k-1)*rsB+cols-1]
	_ = c[(rows-1)*ldc+cols-1]
	bp := &noBias[0]
	if bias != nil {
		_ = bias[rows-1]
		bp = &bias[0]
	}
	mask := uint32(0xffffffff)
	if cols < 32 {
		mask = 1<<uint(cols) - 1
	}
	kernel8x32AVX512(k, &a[0], rsA, csA, &b[0], rsB, &c[0], ldc, alpha, beta, bp, rows, mask)
}

func kernel6x16(k int, a []float32, rsA, csA int, b []float32, rsB int, c []float32, ldc int, alpha, beta float32, bias []float32, rows, cols int) {
	_ = a[5*rsA+(k-1)*csA]
	_ = b[(k-1)*rsB+15]
	if rows == 6 && cols == 16 {
		_ = c[5*ldc+15]
		bp := &noBias[0]
		if bias != nil {
			_ = bias[5]
			bp = &bias[0]
		}
		kernel6x16AVX2(k, &a[0], rsA, csA, &b[0], rsB, &c[0], ldc, alpha, beta, bp)
		return
	}
	// Edge tile: the full tile into scratch, then only the valid part.
	var tile [6 * 16]float32
	kernel6x16AVX2(k, &a[0], rsA, csA, &b[0], rsB, &tile[0], 16, alpha, 0, &noBias[0])
	for i := 0; i < rows; i++ {
		row := c[i*ldc : i*ldc+cols]
		var bi float32
		if bias != nil {
			bi = bias[i]
		}
		for j := range row {
			v := tile[i*16+j] + bi
			if beta != 0 {
				v += beta * row[j]
			}
			row[j] = v
		}
	}
}

// fmaPeakLoop runs iters iterations of the widest register-only FMA loop
// this CPU has and returns the flops that makes (0 when it has no FMA).
func fmaPeakLoop(iters int) float64 {
	switch {
	case hasAVX512:
		fmaLoopAVX512(iters)
		return 512 * float64(iters)
	case hasAVX2:
		fmaLoopAVX2(iters)
		return 192 * float64(iters)
	}
	return 0
}

//go:noescape
func packB32AVX512(dst, src *float32, ldb, kc int, mask uint32)

// packRowsB32 copies kc rows of cols (<= 32) floats at stride ldb from src
// into dst as rows of 32, zero padded; nil where there is no vector copy.
var packRowsB32 = func() func(dst, src []float32, ldb, kc, cols int) {
	if !hasAVX512 {
		return nil
	}
	return func(dst, src []float32, ldb, kc, cols int) {
		if kc == 0 {
			return
		}
		_, _ = dst[32*kc-1], src[(kc-1)*ldb+cols-1]
		kernelMask := uint32(0xffffffff)
		if cols < 32 {
			kernelMask = 1<<uint(cols) - 1
		}
		packB32AVX512(&dst[0], &src[0], ldb, kc, kernelMask)
	}
}()

//go:noescape
func packBT32AVX512(dst, src *float32, ldb, kc int, mask uint32)

//go:noescape
func transpose16AVX512(dst, src *float32, ldb, blocks int)

// packColsB32 packs a transposed B: dst[p*32+j] = src[j*ldb+p] for p < kc,
// j < cols (<= 32), zero for j >= cols; nil where there is no vector copy.
// Full slivers go through 16x16 in-register transposes, the rest through
// gathers.
var packColsB32 = func() func(dst, src []float32, ldb, kc, cols int) {
	if !hasAVX512 {
		return nil
	}
	return func(dst, src []float32, ldb, kc, cols int) {
		if kc == 0 {
			return
		}
		_, _ = dst[32*kc-1], src[(cols-1)*ldb+kc-1]
		done := 0
		if cols == 32 {
			done = kc / 16 * 16
			if done > 0 {
				transpose16AVX512(&dst[0], &src[0], ldb, done/16)
				transpose16AVX512(&dst[16], &src[16*ldb], ldb, done/16)
			}
		}
		if done == kc {
			return
		}
		// The gather offsets are int32 element offsets.
		if ldb > (1<<31-1)/32 {
			packColsGo(dst[done*32:], src[done:], ldb, kc-done, cols, 32)
			return
		}
		mask := uint32(0xffffffff)
		if cols < 32 {
			mask = 1<<uint(cols) - 1
		}
		packBT32AVX512(&dst[done*32], &src[done], ldb, kc-done, mask)
	}
}()

//go:noescape
func dot4x4AVX512(a, b *[4]*float32, k int, out *[16]float32)

func dot4x4(a, b *[4][]float32, k int, out *[16]float32) {
	var ap, bp [4]*float32
	for r := range ap {
		ap[r] = &a[r][:k][0]
		bp[r] = &b[r][:k][0]
	}
	dot4x4AVX512(&ap, &bp, k, out)
}
