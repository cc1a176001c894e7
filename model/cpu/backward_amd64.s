#include "textflag.h"

// The AVX-512 GELU derivative: the GELU macro of fastmath_amd64.s up to
// erf (same constants, same instructions), then
// dz = dy * (1/2 (1 + erf) + z/sqrt(2 pi) * exp(-z^2/2)), reusing erf's
// Gaussian factor exp(-min(|z|/sqrt2, 6)^2).
DATA gconsts<>+0(SB)/4, $0x3f3504f3  // 1/sqrt(2)
DATA gconsts<>+4(SB)/4, $0x80000000  // sign bit
DATA gconsts<>+8(SB)/4, $0x40c00000  // 6
DATA gconsts<>+12(SB)/4, $0x3ea7ba05 // A&S 7.1.26 p
DATA gconsts<>+16(SB)/4, $0x3f800000 // 1
DATA gconsts<>+20(SB)/4, $0x3f87dc22 // a5
DATA gconsts<>+24(SB)/4, $0xbfba00e3 // a4
DATA gconsts<>+28(SB)/4, $0x3fb5f0e3 // a3
DATA gconsts<>+32(SB)/4, $0xbe91a98e // a2
DATA gconsts<>+36(SB)/4, $0x3e827906 // a1
DATA gconsts<>+40(SB)/4, $0x3fb8aa3b // log2(e)
DATA gconsts<>+44(SB)/4, $0x3f318000 // ln2 high part
DATA gconsts<>+48(SB)/4, $0xb95e8083 // ln2 low part
DATA gconsts<>+52(SB)/4, $0x39500d01 // 1/7!
DATA gconsts<>+56(SB)/4, $0x3ab60b61 // 1/6!
DATA gconsts<>+60(SB)/4, $0x3c088889 // 1/5!
DATA gconsts<>+64(SB)/4, $0x3d2aaaab // 1/4!
DATA gconsts<>+68(SB)/4, $0x3e2aaaab // 1/3!
DATA gconsts<>+72(SB)/4, $0x3f000000 // 1/2
DATA gconsts<>+76(SB)/4, $0x3ecc422a // 1/sqrt(2 pi)
GLOBL gconsts<>(SB), RODATA|NOPTR, $80

// func geluGradRowAVX512(dz, dy, z *float32, n int)
// dz[i] = dy[i] * gelu'(z[i]) for i < n; n > 0 is a multiple of 16.
TEXT ·geluGradRowAVX512(SB), NOSPLIT, $0-32
	MOVQ dz+0(FP), DI
	MOVQ dy+8(FP), SI
	MOVQ z+16(FP), DX
	MOVQ n+24(FP), CX
	VBROADCASTSS gconsts<>+0(SB), Z13
	VBROADCASTSS gconsts<>+4(SB), Z14
	VBROADCASTSS gconsts<>+8(SB), Z15
	VBROADCASTSS gconsts<>+12(SB), Z16
	VBROADCASTSS gconsts<>+16(SB), Z17
	VBROADCASTSS gconsts<>+20(SB), Z18
	VBROADCASTSS gconsts<>+24(SB), Z19
	VBROADCASTSS gconsts<>+28(SB), Z20
	VBROADCASTSS gconsts<>+32(SB), Z21
	VBROADCASTSS gconsts<>+36(SB), Z22
	VBROADCASTSS gconsts<>+40(SB), Z23
	VBROADCASTSS gconsts<>+44(SB), Z24
	VBROADCASTSS gconsts<>+48(SB), Z25
	VBROADCASTSS gconsts<>+52(SB), Z26
	VBROADCASTSS gconsts<>+56(SB), Z27
	VBROADCASTSS gconsts<>+60(SB), Z28
	VBROADCASTSS gconsts<>+64(SB), Z29
	VBROADCASTSS gconsts<>+68(SB), Z30
	VBROADCASTSS gconsts<>+72(SB), Z31
	VBROADCASTSS gconsts<>+76(SB), Z12

loop:
	VMOVUPS (DX), Z0
	// u = z/sqrt2, Z2 = min(|u|, 6), Z3 = t = 1/(1 + p|u|)
	VMULPS Z13, Z0, Z1
	VANDNPS Z1, Z14, Z2
	VMINPS Z15, Z2, Z2
	VMOVAPS Z17, Z3
	VFMADD231PS Z16, Z2, Z3
	VRCP14PS Z3, Z11
	VFNMADD213PS Z17, Z11, Z3
	VFMADD213PS Z11, Z11, Z3
	// Z4 = t * poly(t)
	VMOVAPS Z18, Z4
	VFMADD213PS Z19, Z3, Z4
	VFMADD213PS Z20, Z3, Z4
	VFMADD213PS Z21, Z3, Z4
	VFMADD213PS Z22, Z3, Z4
	VMULPS Z3, Z4, Z4
	// Z6 = exp(-Z2^2)
	VMULPS Z2, Z2, Z5
	VXORPS Z14, Z5, Z5
	VMULPS Z23, Z5, Z7
	VRNDSCALEPS $0, Z7, Z7
	VMOVAPS Z5, Z8
	VFNMADD231PS Z24, Z7, Z8
	VFNMADD231PS Z25, Z7, Z8
	VMOVAPS Z26, Z6
	VFMADD213PS Z27, Z8, Z6
	VFMADD213PS Z28, Z8, Z6
	VFMADD213PS Z29, Z8, Z6
	VFMADD213PS Z30, Z8, Z6
	VFMADD213PS Z31, Z8, Z6
	VFMADD213PS Z17, Z8, Z6
	VFMADD213PS Z17, Z8, Z6
	VSCALEFPS Z7, Z6, Z6
	// Z4 = erf(u) = sign(u) * (1 - t poly(t) exp(-u^2))
	VFNMADD213PS Z17, Z6, Z4
	VANDPS Z14, Z0, Z9
	VORPS Z9, Z4, Z4
	// gelu' = erf/2 + 1/2 + z/sqrt(2 pi) exp(-u^2), times dy
	VFMADD213PS Z31, Z31, Z4
	VMULPS Z12, Z0, Z9
	VFMADD231PS Z9, Z6, Z4
	VMULPS (SI), Z4, Z4
	VMOVUPS Z4, (DI)
	ADDQ $64, DI
	ADDQ $64, SI
	ADDQ $64, DX
	SUBQ $16, CX
	JGT  loop
	VZEROUPPER
	RET
