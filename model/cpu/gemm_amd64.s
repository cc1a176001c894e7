#include "textflag.h"

// AVX-512 GEMM micro-kernel, 8 rows x 32 columns of C. Registers:
//   Z0..Z15  accumulators, row i in Z(2i) (columns 0-15) and Z(2i+1) (16-31)
//   Z16,Z17  the two 16-wide halves of the B row for one k (masked loads:
//            K1, K2 hold the valid columns, so edge tiles read nothing past
//            the last column)
//   Z18..Z25 A values of the 8 rows for one k, broadcast to all lanes
// A element (i, p) is at a + i*rsA + p*csA and B element (p, j) at
// b + p*rsB + j (in floats), so the same code reads packed panels
// (rsA=1, csA=8, rsB=32) or A and B in place (e.g. rsA=lda, csA=1, rsB=ldb).
//   AX  A row 0 at the current k     R11 A row 4 (AX + 4*rsA)
//   R9  rsA bytes   R10 3*rsA bytes  R12 csA bytes
//   BX  B row at the current k       R13 rsB bytes
//   DX  k left   CX C row   R8 ldc bytes   SI bias   R14 rows left   DI scratch

// STEP does one k: 2 B loads, 8 broadcasts, 16 FMAs.
#define STEP \
	VMOVUPS.Z (BX), K1, Z16; \
	VMOVUPS.Z 64(BX), K2, Z17; \
	VBROADCASTSS (AX), Z18; \
	VBROADCASTSS (AX)(R9*1), Z19; \
	VBROADCASTSS (AX)(R9*2), Z20; \
	VBROADCASTSS (AX)(R10*1), Z21; \
	VFMADD231PS Z16, Z18, Z0; \
	VFMADD231PS Z17, Z18, Z1; \
	VFMADD231PS Z16, Z19, Z2; \
	VFMADD231PS Z17, Z19, Z3; \
	VBROADCASTSS (R11), Z22; \
	VBROADCASTSS (R11)(R9*1), Z23; \
	VFMADD231PS Z16, Z20, Z4; \
	VFMADD231PS Z17, Z20, Z5; \
	VFMADD231PS Z16, Z21, Z6; \
	VFMADD231PS Z17, Z21, Z7; \
	VBROADCASTSS (R11)(R9*2), Z24; \
	VBROADCASTSS (R11)(R10*1), Z25; \
	VFMADD231PS Z16, Z22, Z8; \
	VFMADD231PS Z17, Z22, Z9; \
	VFMADD231PS Z16, Z23, Z10; \
	VFMADD231PS Z17, Z23, Z11; \
	VFMADD231PS Z16, Z24, Z12; \
	VFMADD231PS Z17, Z24, Z13; \
	VFMADD231PS Z16, Z25, Z14; \
	VFMADD231PS Z17, Z25, Z15; \
	ADDQ R12, AX; \
	ADDQ R12, R11; \
	ADDQ R13, BX

// ROW0 stores one row when beta == 0: C = alpha*acc + bias[i].
#define ROW0(r0, r1) \
	VBROADCASTSS (SI), Z18; \
	VFMADD213PS Z18, Z16, r0; \
	VFMADD213PS Z18, Z16, r1; \
	VMOVUPS r0, K1, (CX); \
	VMOVUPS r1, K2, 64(CX); \
	ADDQ $4, SI; \
	ADDQ R8, CX; \
	DECQ R14; \
	JZ   done

// ROWB stores one row when beta != 0: C = alpha*acc + beta*C + bias[i].
#define ROWB(r0, r1) \
	VBROADCASTSS (SI), Z18; \
	VFMADD213PS Z18, Z16, r0; \
	VFMADD213PS Z18, Z16, r1; \
	VMOVUPS.Z (CX), K1, Z19; \
	VMOVUPS.Z 64(CX), K2, Z20; \
	VFMADD231PS Z19, Z17, r0; \
	VFMADD231PS Z20, Z17, r1; \
	VMOVUPS r0, K1, (CX); \
	VMOVUPS r1, K2, 64(CX); \
	ADDQ $4, SI; \
	ADDQ R8, CX; \
	DECQ R14; \
	JZ   done

// func kernel8x32AVX512(k int, a *float32, rsA, csA int, b *float32, rsB int, c *float32, ldc int, alpha, beta float32, bias *float32, rows int, mask uint32)
// C[0:rows, columns set in mask] = alpha*A*B + beta*C + bias[0:rows] (bias
// broadcast along the row); k >= 1, 1 <= rows <= 8, bits of mask contiguous
// from bit 0. C is not read when beta == 0.
TEXT ·kernel8x32AVX512(SB), NOSPLIT, $0-92
	MOVQ k+0(FP), DX
	MOVQ a+8(FP), AX
	MOVQ rsA+16(FP), R9
	SHLQ $2, R9
	LEAQ (R9)(R9*2), R10
	LEAQ (AX)(R9*4), R11
	MOVQ csA+24(FP), R12
	SHLQ $2, R12
	MOVQ b+32(FP), BX
	MOVQ rsB+40(FP), R13
	SHLQ $2, R13
	MOVL mask+88(FP), DI
	KMOVW DI, K1
	SHRL $16, DI
	KMOVW DI, K2

	VXORPS Z0, Z0, Z0
	VXORPS Z1, Z1, Z1
	VXORPS Z2, Z2, Z2
	VXORPS Z3, Z3, Z3
	VXORPS Z4, Z4, Z4
	VXORPS Z5, Z5, Z5
	VXORPS Z6, Z6, Z6
	VXORPS Z7, Z7, Z7
	VXORPS Z8, Z8, Z8
	VXORPS Z9, Z9, Z9
	VXORPS Z10, Z10, Z10
	VXORPS Z11, Z11, Z11
	VXORPS Z12, Z12, Z12
	VXORPS Z13, Z13, Z13
	VXORPS Z14, Z14, Z14
	VXORPS Z15, Z15, Z15

	CMPQ DX, $4
	JLT  tail

loop4:
	STEP
	STEP
	STEP
	STEP
	SUBQ $4, DX
	CMPQ DX, $4
	JGE  loop4

tail:
	TESTQ DX, DX
	JZ    store

loop1:
	STEP
	DECQ DX
	JNZ  loop1

store:
	MOVQ c+48(FP), CX
	MOVQ ldc+56(FP), R8
	SHLQ $2, R8
	MOVQ bias+72(FP), SI
	MOVQ rows+80(FP), R14
	VBROADCASTSS alpha+64(FP), Z16
	MOVL beta+68(FP), DI
	ANDL $0x7fffffff, DI
	JNZ  storeb

	ROW0(Z0, Z1)
	ROW0(Z2, Z3)
	ROW0(Z4, Z5)
	ROW0(Z6, Z7)
	ROW0(Z8, Z9)
	ROW0(Z10, Z11)
	ROW0(Z12, Z13)
	ROW0(Z14, Z15)
	JMP done

storeb:
	VBROADCASTSS beta+68(FP), Z17
	ROWB(Z0, Z1)
	ROWB(Z2, Z3)
	ROWB(Z4, Z5)
	ROWB(Z6, Z7)
	ROWB(Z8, Z9)
	ROWB(Z10, Z11)
	ROWB(Z12, Z13)
	ROWB(Z14, Z15)

done:
	VZEROUPPER
	RET

// func fmaLoopAVX512(iters int)
// Register-only FMA throughput: 16 independent zmm chains, 512 flop per iteration.
TEXT ·fmaLoopAVX512(SB), NOSPLIT, $0-8
	MOVQ iters+0(FP), CX
	VXORPS Z0, Z0, Z0
	VXORPS Z1, Z1, Z1
	VXORPS Z2, Z2, Z2
	VXORPS Z3, Z3, Z3
	VXORPS Z4, Z4, Z4
	VXORPS Z5, Z5, Z5
	VXORPS Z6, Z6, Z6
	VXORPS Z7, Z7, Z7
	VXORPS Z8, Z8, Z8
	VXORPS Z9, Z9, Z9
	VXORPS Z10, Z10, Z10
	VXORPS Z11, Z11, Z11
	VXORPS Z12, Z12, Z12
	VXORPS Z13, Z13, Z13
	VXORPS Z14, Z14, Z14
	VXORPS Z15, Z15, Z15
	VXORPS Z30, Z30, Z30
	VXORPS Z31, Z31, Z31

peak512:
	VFMADD231PS Z30, Z31, Z0
	VFMADD231PS Z30, Z31, Z1
	VFMADD231PS Z30, Z31, Z2
	VFMADD231PS Z30, Z31, Z3
	VFMADD231PS Z30, Z31, Z4
	VFMADD231PS Z30, Z31, Z5
	VFMADD231PS Z30, Z31, Z6
	VFMADD231PS Z30, Z31, Z7
	VFMADD231PS Z30, Z31, Z8
	VFMADD231PS Z30, Z31, Z9
	VFMADD231PS Z30, Z31, Z10
	VFMADD231PS Z30, Z31, Z11
	VFMADD231PS Z30, Z31, Z12
	VFMADD231PS Z30, Z31, Z13
	VFMADD231PS Z30, Z31, Z14
	VFMADD231PS Z30, Z31, Z15
	DECQ CX
	JNZ  peak512
	VZEROUPPER
	RET

// func fmaLoopAVX2(iters int)
// Register-only FMA throughput: 12 independent ymm chains, 192 flop per iteration.
TEXT ·fmaLoopAVX2(SB), NOSPLIT, $0-8
	MOVQ iters+0(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11
	VXORPS Y14, Y14, Y14
	VXORPS Y15, Y15, Y15

peak256:
	VFMADD231PS Y14, Y15, Y0
	VFMADD231PS Y14, Y15, Y1
	VFMADD231PS Y14, Y15, Y2
	VFMADD231PS Y14, Y15, Y3
	VFMADD231PS Y14, Y15, Y4
	VFMADD231PS Y14, Y15, Y5
	VFMADD231PS Y14, Y15, Y6
	VFMADD231PS Y14, Y15, Y7
	VFMADD231PS Y14, Y15, Y8
	VFMADD231PS Y14, Y15, Y9
	VFMADD231PS Y14, Y15, Y10
	VFMADD231PS Y14, Y15, Y11
	DECQ CX
	JNZ  peak256
	VZEROUPPER
	RET

// func dwTapsAVX512(out *float32, taps *[9]*float32, w *float32, bias float32, n int)
// One output row of a 3x3 depthwise conv, interior columns only:
// out[x] = bias + sum over t of w[t] * taps[t][x], x in [0, n). 16 outputs
// per iteration in two partial sums; the last partial vector uses masked
// loads and stores, so nothing past taps[t][n-1] or out[n-1] is touched.
TEXT ·dwTapsAVX512(SB), NOSPLIT, $0-40
	MOVQ out+0(FP), DI
	MOVQ taps+8(FP), CX
	MOVQ 0(CX), AX
	MOVQ 8(CX), BX
	MOVQ 16(CX), DX
	MOVQ 24(CX), SI
	MOVQ 32(CX), R9
	MOVQ 40(CX), R10
	MOVQ 48(CX), R11
	MOVQ 56(CX), R12
	MOVQ 64(CX), R13
	MOVQ w+16(FP), CX
	VBROADCASTSS 0(CX), Z1
	VBROADCASTSS 4(CX), Z2
	VBROADCASTSS 8(CX), Z3
	VBROADCASTSS 12(CX), Z4
	VBROADCASTSS 16(CX), Z5
	VBROADCASTSS 20(CX), Z6
	VBROADCASTSS 24(CX), Z7
	VBROADCASTSS 28(CX), Z8
	VBROADCASTSS 32(CX), Z9
	VBROADCASTSS bias+24(FP), Z31
	MOVQ n+32(FP), R14
	XORQ R8, R8

dwloop:
	CMPQ R14, $16
	JLT  dwtail
	VMOVAPS Z31, Z0
	VXORPS Z10, Z10, Z10
	VFMADD231PS (AX)(R8*1), Z1, Z0
	VFMADD231PS (BX)(R8*1), Z2, Z10
	VFMADD231PS (DX)(R8*1), Z3, Z0
	VFMADD231PS (SI)(R8*1), Z4, Z10
	VFMADD231PS (R9)(R8*1), Z5, Z0
	VFMADD231PS (R10)(R8*1), Z6, Z10
	VFMADD231PS (R11)(R8*1), Z7, Z0
	VFMADD231PS (R12)(R8*1), Z8, Z10
	VFMADD231PS (R13)(R8*1), Z9, Z0
	VADDPS Z10, Z0, Z0
	VMOVUPS Z0, (DI)(R8*1)
	ADDQ $64, R8
	SUBQ $16, R14
	JMP  dwloop

dwtail:
	TESTQ R14, R14
	JZ    dwdone
	MOVQ  R14, CX
	MOVL  $1, R14
	SHLL  CX, R14
	DECL  R14
	KMOVW R14, K1
	VMOVAPS Z31, Z0
	VMOVUPS.Z (AX)(R8*1), K1, Z11
	VMOVUPS.Z (BX)(R8*1), K1, Z12
	VMOVUPS.Z (DX)(R8*1), K1, Z13
	VFMADD231PS Z11, Z1, Z0
	VFMADD231PS Z12, Z2, Z0
	VFMADD231PS Z13, Z3, Z0
	VMOVUPS.Z (SI)(R8*1), K1, Z11
	VMOVUPS.Z (R9)(R8*1), K1, Z12
	VMOVUPS.Z (R10)(R8*1), K1, Z13
	VFMADD231PS Z11, Z4, Z0
	VFMADD231PS Z12, Z5, Z0
	VFMADD231PS Z13, Z6, Z0
	VMOVUPS.Z (R11)(R8*1), K1, Z11
	VMOVUPS.Z (R12)(R8*1), K1, Z12
	VMOVUPS.Z (R13)(R8*1), K1, Z13
	VFMADD231PS Z11, Z7, Z0
	VFMADD231PS Z12, Z8, Z0
	VFMADD231PS Z13, Z9, Z0
	VMOVUPS Z0, K1, (DI)(R8*1)

dwdone:
	VZEROUPPER
	RET

// func packB32AVX512(dst, src *float32, ldb, kc int, mask uint32)
// Copies kc rows of 32 floats (row stride ldb floats, columns set in mask;
// the others become 0) from src into the contiguous panel dst.
TEXT ·packB32AVX512(SB), NOSPLIT, $0-36
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ ldb+16(FP), R8
	SHLQ $2, R8
	MOVQ kc+24(FP), CX
	MOVL mask+32(FP), DX
	KMOVW DX, K1
	SHRL $16, DX
	KMOVW DX, K2
	TESTQ CX, CX
	JZ    packdone

packloop:
	VMOVUPS.Z (SI), K1, Z0
	VMOVUPS.Z 64(SI), K2, Z1
	VMOVUPS Z0, (DI)
	VMOVUPS Z1, 64(DI)
	ADDQ R8, SI
	ADDQ $128, DI
	DECQ CX
	JNZ  packloop

packdone:
	VZEROUPPER
	RET
