#include "textflag.h"

// AVX-512 versions of gelu and softmaxRow (fastmath.go, ops.go): the same
// formulas, 16 lanes at a time. Constants, one float32 each, broadcast
// into registers Z13..Z31 by LOADCONSTS.
DATA consts<>+0(SB)/4, $0x3f3504f3  // 1/sqrt(2)
DATA consts<>+4(SB)/4, $0x80000000  // sign bit
DATA consts<>+8(SB)/4, $0x40c00000  // 6: erf(6) = 1 in float32
DATA consts<>+12(SB)/4, $0x3ea7ba05 // A&S 7.1.26 p
DATA consts<>+16(SB)/4, $0x3f800000 // 1
DATA consts<>+20(SB)/4, $0x3f87dc22 // a5
DATA consts<>+24(SB)/4, $0xbfba00e3 // a4
DATA consts<>+28(SB)/4, $0x3fb5f0e3 // a3
DATA consts<>+32(SB)/4, $0xbe91a98e // a2
DATA consts<>+36(SB)/4, $0x3e827906 // a1
DATA consts<>+40(SB)/4, $0x3fb8aa3b // log2(e)
DATA consts<>+44(SB)/4, $0x3f318000 // ln2 high part
DATA consts<>+48(SB)/4, $0xb95e8083 // ln2 low part
DATA consts<>+52(SB)/4, $0x39500d01 // 1/7!
DATA consts<>+56(SB)/4, $0x3ab60b61 // 1/6!
DATA consts<>+60(SB)/4, $0x3c088889 // 1/5!
DATA consts<>+64(SB)/4, $0x3d2aaaab // 1/4!
DATA consts<>+68(SB)/4, $0x3e2aaaab // 1/3!
DATA consts<>+72(SB)/4, $0x3f000000 // 1/2
DATA consts<>+76(SB)/4, $0xff800000 // -Inf
GLOBL consts<>(SB), RODATA|NOPTR, $80

#define RSQRT2 Z13
#define SIGN Z14
#define SIX Z15
#define P Z16
#define ONE Z17
#define A5 Z18
#define A4 Z19
#define A3 Z20
#define A2 Z21
#define A1 Z22
#define LOG2E Z23
#define LN2HI Z24
#define LN2LO Z25
#define C7 Z26
#define C6 Z27
#define C5 Z28
#define C4 Z29
#define C3 Z30
#define HALF Z31

#define LOADCONSTS \
	VBROADCASTSS consts<>+0(SB), RSQRT2; \
	VBROADCASTSS consts<>+4(SB), SIGN; \
	VBROADCASTSS consts<>+8(SB), SIX; \
	VBROADCASTSS consts<>+12(SB), P; \
	VBROADCASTSS consts<>+16(SB), ONE; \
	VBROADCASTSS consts<>+20(SB), A5; \
	VBROADCASTSS consts<>+24(SB), A4; \
	VBROADCASTSS consts<>+28(SB), A3; \
	VBROADCASTSS consts<>+32(SB), A2; \
	VBROADCASTSS consts<>+36(SB), A1; \
	VBROADCASTSS consts<>+40(SB), LOG2E; \
	VBROADCASTSS consts<>+44(SB), LN2HI; \
	VBROADCASTSS consts<>+48(SB), LN2LO; \
	VBROADCASTSS consts<>+52(SB), C7; \
	VBROADCASTSS consts<>+56(SB), C6; \
	VBROADCASTSS consts<>+60(SB), C5; \
	VBROADCASTSS consts<>+64(SB), C4; \
	VBROADCASTSS consts<>+68(SB), C3; \
	VBROADCASTSS consts<>+72(SB), HALF

// EXP sets out = e^w (as expf): k = round(w*log2e), r = w - k*ln2,
// out = 2^k * (degree-7 Taylor polynomial of e^r). k, r are scratch.
#define EXP(w, out, k, r) \
	VMULPS LOG2E, w, k; \
	VRNDSCALEPS $0, k, k; \
	VMOVAPS w, r; \
	VFNMADD231PS LN2HI, k, r; \
	VFNMADD231PS LN2LO, k, r; \
	VMOVAPS C7, out; \
	VFMADD213PS C6, r, out; \
	VFMADD213PS C5, r, out; \
	VFMADD213PS C4, r, out; \
	VFMADD213PS C3, r, out; \
	VFMADD213PS HALF, r, out; \
	VFMADD213PS ONE, r, out; \
	VFMADD213PS ONE, r, out; \
	VSCALEFPS k, out, out

// GELU sets Z4 = gelu(Z0) = x/2 * (1 + erf(x/sqrt 2)); clobbers Z1..Z11.
// t = 1/(1 + p|u|) is VRCP14PS refined by one Newton step (relative error
// ~1e-8), much cheaper than a 512-bit divide.
#define GELU \
	VMULPS RSQRT2, Z0, Z1; \
	VANDNPS Z1, SIGN, Z2; \
	VMINPS SIX, Z2, Z2; \
	VMOVAPS ONE, Z3; \
	VFMADD231PS P, Z2, Z3; \
	VRCP14PS Z3, Z11; \
	VFNMADD213PS ONE, Z11, Z3; \
	VFMADD213PS Z11, Z11, Z3; \
	VMOVAPS A5, Z4; \
	VFMADD213PS A4, Z3, Z4; \
	VFMADD213PS A3, Z3, Z4; \
	VFMADD213PS A2, Z3, Z4; \
	VFMADD213PS A1, Z3, Z4; \
	VMULPS Z3, Z4, Z4; \
	VMULPS Z2, Z2, Z5; \
	VXORPS SIGN, Z5, Z5; \
	EXP(Z5, Z6, Z7, Z8); \
	VFNMADD213PS ONE, Z6, Z4; \
	VANDPS SIGN, Z0, Z9; \
	VORPS Z9, Z4, Z4; \
	VMULPS HALF, Z0, Z10; \
	VFMADD213PS Z10, Z10, Z4

// func geluRowAVX512(x, bias *float32, n int)
// x[i] = gelu(x[i] + bias[i]) for i < n; n > 0 is a multiple of 16; bias
// may be nil.
TEXT ·geluRowAVX512(SB), NOSPLIT, $0-24
	MOVQ x+0(FP), DI
	MOVQ bias+8(FP), SI
	MOVQ n+16(FP), CX
	LOADCONSTS
	TESTQ SI, SI
	JZ   nobias

withbias:
	VMOVUPS (DI), Z0
	VADDPS  (SI), Z0, Z0
	GELU
	VMOVUPS Z4, (DI)
	ADDQ    $64, DI
	ADDQ    $64, SI
	SUBQ    $16, CX
	JGT     withbias
	VZEROUPPER
	RET

nobias:
	VMOVUPS (DI), Z0
	GELU
	VMOVUPS Z4, (DI)
	ADDQ    $64, DI
	SUBQ    $16, CX
	JGT     nobias
	VZEROUPPER
	RET

// func softmaxRowAVX512(x *float32, n int, tail uint16)
// Softmax of x[:n] in place, n > 0; tail has the low n%16 bits set (the
// lanes of the last, partial vector).
TEXT ·softmaxRowAVX512(SB), NOSPLIT, $0-18
	MOVQ x+0(FP), DI
	MOVQ n+8(FP), CX
	KMOVW tail+16(FP), K1
	LOADCONSTS
	MOVQ CX, R8
	SHRQ $4, R8             // full vectors
	MOVW tail+16(FP), R9    // nonzero when there is a partial vector

	// Pass 1: maximum.
	VBROADCASTSS consts<>+76(SB), Z0
	MOVQ DI, SI
	MOVQ R8, DX
	TESTQ DX, DX
	JZ   maxtail
maxloop:
	VMAXPS (SI), Z0, Z0
	ADDQ $64, SI
	DECQ DX
	JNZ  maxloop
maxtail:
	TESTW R9, R9
	JZ   maxreduce
	VBROADCASTSS consts<>+76(SB), Z1
	VMOVUPS (SI), K1, Z1    // lanes past n stay -Inf
	VMAXPS Z1, Z0, Z0
maxreduce:
	VEXTRACTF32X8 $1, Z0, Y1
	VMAXPS Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VMAXPS X1, X0, X0
	VPERMILPS $0x4e, X0, X1
	VMAXPS X1, X0, X0
	VPERMILPS $0xb1, X0, X1
	VMAXPS X1, X0, X0
	VBROADCASTSS X0, Z11    // Z11 = max

	// Pass 2: x = exp(x - max), Z12 = sum.
	VXORPS Z12, Z12, Z12
	MOVQ DI, SI
	MOVQ R8, DX
	TESTQ DX, DX
	JZ   exptail
exploop:
	VMOVUPS (SI), Z1
	VSUBPS Z11, Z1, Z1
	EXP(Z1, Z2, Z3, Z4)
	VMOVUPS Z2, (SI)
	VADDPS Z2, Z12, Z12
	ADDQ $64, SI
	DECQ DX
	JNZ  exploop
exptail:
	TESTW R9, R9
	JZ   sumreduce
	VMOVUPS.Z (SI), K1, Z1
	VSUBPS Z11, Z1, Z1
	EXP(Z1, Z2, Z3, Z4)
	VMOVUPS Z2, K1, (SI)
	VADDPS Z2, Z12, K1, Z12
sumreduce:
	VEXTRACTF32X8 $1, Z12, Y1
	VADDPS Y1, Y12, Y12
	VEXTRACTF128 $1, Y12, X1
	VADDPS X1, X12, X12
	VPERMILPS $0x4e, X12, X1
	VADDPS X1, X12, X12
	VPERMILPS $0xb1, X12, X1
	VADDPS X1, X12, X12
	VBROADCASTSS X12, Z12
	VDIVPS Z12, ONE, Z12    // Z12 = 1/sum

	// Pass 3: scale.
	MOVQ DI, SI
	MOVQ R8, DX
	TESTQ DX, DX
	JZ   scaletail
scaleloop:
	VMULPS (SI), Z12, Z1
	VMOVUPS Z1, (SI)
	ADDQ $64, SI
	DECQ DX
	JNZ  scaleloop
scaletail:
	TESTW R9, R9
	JZ   done
	VMOVUPS.Z (SI), K1, Z1
	VMULPS Z12, Z1, Z1
	VMOVUPS Z1, K1, (SI)
done:
	VZEROUPPER
	RET

// TAPROW adds one kernel row (3 taps) for one 16-channel chunk to Z0:
// R14 = input pixel (row r, first tap), BX = its weights, CX = C bytes.
#define TAPROW \
	VMOVUPS (R14), Z11; \
	VFMADD231PS (BX), Z11, Z0; \
	VMOVUPS (R14)(CX*1), Z11; \
	VFMADD231PS (BX)(CX*1), Z11, Z0; \
	VMOVUPS (R14)(CX*2), Z12; \
	VFMADD231PS (BX)(CX*2), Z12, Z0

// func dwRow3x3AVX512(dst, src0, src1, src2, w, bias *float32, c, n, pixStride, gelu int)
// One output row of a 3x3 depthwise convolution on HWC maps, for n output
// pixels whose 3x3 taps all lie inside the image columns. srcR points at
// the first tap (column) of kernel row R for the first pixel, or is nil
// when that input row is padding. w is [9, c], bias [c]; c > 0 is a
// multiple of 16; pixStride is the input step between output pixels
// (stride*c floats). gelu != 0 applies GELU.
TEXT ·dwRow3x3AVX512(SB), NOSPLIT, $0-80
	MOVQ dst+0(FP), DI
	MOVQ c+48(FP), CX
	SHLQ $2, CX
	MOVQ n+56(FP), R8
	MOVQ pixStride+64(FP), R10
	SHLQ $2, R10
	MOVQ gelu+72(FP), R12
	LEAQ (CX)(CX*2), AX
	XORQ R9, R9
	TESTQ R12, R12
	JZ   dwpixel
	LOADCONSTS

dwpixel:
	XORQ R13, R13

dwchunk:
	MOVQ bias+40(FP), BX
	VMOVUPS (BX)(R13*1), Z0
	MOVQ w+32(FP), BX
	ADDQ R13, BX
	MOVQ src0+8(FP), R14
	TESTQ R14, R14
	JZ   dwrow1
	ADDQ R9, R14
	ADDQ R13, R14
	TAPROW

dwrow1:
	ADDQ AX, BX
	MOVQ src1+16(FP), R14
	TESTQ R14, R14
	JZ   dwrow2
	ADDQ R9, R14
	ADDQ R13, R14
	TAPROW

dwrow2:
	ADDQ AX, BX
	MOVQ src2+24(FP), R14
	TESTQ R14, R14
	JZ   dwstore
	ADDQ R9, R14
	ADDQ R13, R14
	TAPROW

dwstore:
	TESTQ R12, R12
	JZ   dwplain
	GELU
	VMOVUPS Z4, (DI)(R13*1)
	JMP  dwnext

dwplain:
	VMOVUPS Z0, (DI)(R13*1)

dwnext:
	ADDQ $64, R13
	CMPQ R13, CX
	JLT  dwchunk
	ADDQ CX, DI
	ADDQ R10, R9
	DECQ R8
	JNZ  dwpixel
	VZEROUPPER
	RET

// func attnScoresAVX512(s, q, kT, bias *float32, rows, cols, kd int)
// s[r][j] = sum_d q[r][d]*kT[d][j] + bias[r][j] for r < rows (a multiple
// of 4), j < cols (a multiple of 16). Rows of q are kd apart, rows of kT,
// s and bias cols apart. Four query rows at a time share each kT load and
// give four independent FMA chains.
TEXT ·attnScoresAVX512(SB), NOSPLIT, $0-56
	MOVQ s+0(FP), DI
	MOVQ q+8(FP), SI
	MOVQ kT+16(FP), DX
	MOVQ bias+24(FP), BX
	MOVQ rows+32(FP), R8
	MOVQ cols+40(FP), R9
	SHLQ $2, R9             // row stride of kT, s, bias in bytes
	MOVQ kd+48(FP), R10
	MOVQ R10, CX
	SHLQ $2, CX             // row stride of q in bytes

scgroup:
	XORQ R11, R11           // column byte offset

scchunk:
	LEAQ (BX)(R11*1), AX
	VMOVUPS (AX), Z0
	VMOVUPS (AX)(R9*1), Z1
	LEAQ (AX)(R9*2), AX
	VMOVUPS (AX), Z2
	VMOVUPS (AX)(R9*1), Z3
	LEAQ (DX)(R11*1), R14   // kT[0][chunk]
	MOVQ SI, R13            // q[row 0][0]
	MOVQ R10, R12

scd:
	VMOVUPS (R14), Z4
	VBROADCASTSS (R13), Z5
	VFMADD231PS Z5, Z4, Z0
	VBROADCASTSS (R13)(CX*1), Z6
	VFMADD231PS Z6, Z4, Z1
	LEAQ (R13)(CX*2), AX
	VBROADCASTSS (AX), Z7
	VFMADD231PS Z7, Z4, Z2
	VBROADCASTSS (AX)(CX*1), Z8
	VFMADD231PS Z8, Z4, Z3
	ADDQ $4, R13
	ADDQ R9, R14
	DECQ R12
	JNZ  scd

	LEAQ (DI)(R11*1), AX
	VMOVUPS Z0, (AX)
	VMOVUPS Z1, (AX)(R9*1)
	LEAQ (AX)(R9*2), AX
	VMOVUPS Z2, (AX)
	VMOVUPS Z3, (AX)(R9*1)
	ADDQ $64, R11
	CMPQ R11, R9
	JLT  scchunk

	LEAQ (R9*4), AX         // four rows of s and bias
	ADDQ AX, DI
	ADDQ AX, BX
	LEAQ (CX*4), AX         // four rows of q
	ADDQ AX, SI
	SUBQ $4, R8
	JGT  scgroup
	VZEROUPPER
	RET

// func attnPV32AVX512(o, p, v *float32, rows, n, cols int)
// o[r][0:32] = sum_{j<n} p[r][j] * v[j][0:32] for r < rows (a multiple of
// 4); rows of p are cols apart, rows of v and o 32 apart (head dim 32).
// Eight accumulators: four rows x two 16-lane halves.
TEXT ·attnPV32AVX512(SB), NOSPLIT, $0-48
	MOVQ o+0(FP), DI
	MOVQ p+8(FP), SI
	MOVQ v+16(FP), DX
	MOVQ rows+24(FP), R8
	MOVQ n+32(FP), R10
	MOVQ cols+40(FP), R9
	SHLQ $2, R9

pvgroup:
	VXORPS Z0, Z0, Z0
	VXORPS Z1, Z1, Z1
	VXORPS Z2, Z2, Z2
	VXORPS Z3, Z3, Z3
	VXORPS Z4, Z4, Z4
	VXORPS Z5, Z5, Z5
	VXORPS Z6, Z6, Z6
	VXORPS Z7, Z7, Z7
	MOVQ SI, R13
	MOVQ DX, R14
	MOVQ R10, R12

pvj:
	VMOVUPS (R14), Z8
	VMOVUPS 64(R14), Z9
	VBROADCASTSS (R13), Z10
	VFMADD231PS Z10, Z8, Z0
	VFMADD231PS Z10, Z9, Z1
	VBROADCASTSS (R13)(R9*1), Z11
	VFMADD231PS Z11, Z8, Z2
	VFMADD231PS Z11, Z9, Z3
	LEAQ (R13)(R9*2), AX
	VBROADCASTSS (AX), Z12
	VFMADD231PS Z12, Z8, Z4
	VFMADD231PS Z12, Z9, Z5
	VBROADCASTSS (AX)(R9*1), Z13
	VFMADD231PS Z13, Z8, Z6
	VFMADD231PS Z13, Z9, Z7
	ADDQ $4, R13
	ADDQ $128, R14
	DECQ R12
	JNZ  pvj

	VMOVUPS Z0, (DI)
	VMOVUPS Z1, 64(DI)
	VMOVUPS Z2, 128(DI)
	VMOVUPS Z3, 192(DI)
	VMOVUPS Z4, 256(DI)
	VMOVUPS Z5, 320(DI)
	VMOVUPS Z6, 384(DI)
	VMOVUPS Z7, 448(DI)
	ADDQ $512, DI
	LEAQ (R9*4), AX
	ADDQ AX, SI
	SUBQ $4, R8
	JGT  pvgroup
	VZEROUPPER
	RET

// HSUM adds the 16 lanes of Z<n> into the low lane of X<n>; X<t> is scratch.
#define HSUM(zn, yn, xn, yt, xt) \
	VEXTRACTF32X8 $1, zn, yt; \
	VADDPS yt, yn, yn; \
	VEXTRACTF128 $1, yn, xt; \
	VADDPS xt, xn, xn; \
	VPERMILPS $0x4e, xn, xt; \
	VADDPS xt, xn, xn; \
	VPERMILPS $0xb1, xn, xt; \
	VADDPS xt, xn, xn

// func layerNormRowAVX512(dst, src, w, b *float32, c int, eps float32)
// dst = (src - mean) / sqrt(var + eps) * w + b over c values (c > 0 a
// multiple of 16; dst may be src). Two passes for mean and variance, as
// layerNormRow; sums are split over 16 lanes.
TEXT ·layerNormRowAVX512(SB), NOSPLIT, $0-44
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ w+16(FP), DX
	MOVQ b+24(FP), BX
	MOVQ c+32(FP), CX
	MOVQ CX, R8
	SHLQ $2, R8
	CVTSQ2SS CX, X7         // c as float

	VXORPS Z0, Z0, Z0
	XORQ AX, AX
lnsum:
	VADDPS (SI)(AX*1), Z0, Z0
	ADDQ $64, AX
	CMPQ AX, R8
	JLT  lnsum
	HSUM(Z0, Y0, X0, Y1, X1)
	VDIVSS X7, X0, X0
	VBROADCASTSS X0, Z2     // mean

	VXORPS Z3, Z3, Z3
	XORQ AX, AX
lnvar:
	VMOVUPS (SI)(AX*1), Z4
	VSUBPS Z2, Z4, Z4
	VFMADD231PS Z4, Z4, Z3
	ADDQ $64, AX
	CMPQ AX, R8
	JLT  lnvar
	HSUM(Z3, Y3, X3, Y1, X1)
	VDIVSS X7, X3, X3
	VADDSS eps+40(FP), X3, X3
	VSQRTSS X3, X3, X3
	VMOVSS consts<>+16(SB), X5
	VDIVSS X3, X5, X5
	VBROADCASTSS X5, Z5     // 1/sqrt(var + eps)

	XORQ AX, AX
lnout:
	VMOVUPS (SI)(AX*1), Z4
	VSUBPS Z2, Z4, Z4
	VMULPS Z5, Z4, Z4
	VMOVUPS (BX)(AX*1), Z6
	VFMADD231PS (DX)(AX*1), Z4, Z6
	VMOVUPS Z6, (DI)(AX*1)
	ADDQ $64, AX
	CMPQ AX, R8
	JLT  lnout
	VZEROUPPER
	RET
