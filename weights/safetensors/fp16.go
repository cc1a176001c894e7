package safetensors

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Float32ToFloat16 converts f to IEEE 754 binary16 bits with
// round-to-nearest-even. Values too large for a half become ±Inf,
// values below half the smallest subnormal become ±0, and NaN stays a
// (quiet) NaN with the sign and the top payload bits kept.
func Float32ToFloat16(f float32) uint16 {
	bits := math.Float32bits(f)
	sign := uint16(bits>>16) & 0x8000
	exp := int(bits>>23) & 0xff
	mant := bits & 0x7fffff

	if exp == 0xff { // Inf or NaN
		if mant == 0 {
			return sign | 0x7c00
		}
		return sign | 0x7e00 | uint16(mant>>13)
	}
	e := exp - 127 + 15 // rebias to half's exponent
	if e >= 31 {
		return sign | 0x7c00
	}
	if e <= 0 {
		// Result is subnormal (or zero): its unit is 2^-24.
		if e < -10 {
			return sign // below 2^-25: rounds to zero even at the tie
		}
		m := mant | 0x800000 // make the implicit bit explicit
		return sign | roundShift(m, uint(14-e))
	}
	// Normal: drop 13 mantissa bits. A carry out of the mantissa moves
	// into the exponent, which also turns 65520+ into Inf, as wanted.
	return sign | roundShift(uint32(e)<<23|mant, 13)
}

// roundShift returns m >> s rounded to nearest, ties to even.
func roundShift(m uint32, s uint) uint16 {
	q := m >> s
	rem := m & (1<<s - 1)
	half := uint32(1) << (s - 1)
	if rem > half || (rem == half && q&1 == 1) {
		q++
	}
	return uint16(q)
}

// Float16ToFloat32 converts binary16 bits to float32 exactly (every half
// is representable as a float32).
func Float16ToFloat32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h & 0x3ff)
	switch {
	case exp == 0:
		// Zero or subnormal: mant * 2^-24, exact in float32.
		v := float32(mant) * (1.0 / (1 << 24))
		return math.Float32frombits(math.Float32bits(v) | sign)
	case exp == 31:
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	default:
		return math.Float32frombits(sign | (exp+112)<<23 | mant<<13)
	}
}

// DecodeF16 converts little-endian binary16 bytes to float32 values.
func DecodeF16(dst []float32, src []byte) error {
	if len(src) != 2*len(dst) {
		return fmt.Errorf("safetensors: %d bytes of F16 for %d values", len(src), len(dst))
	}
	for i := range dst {
		dst[i] = Float16ToFloat32(binary.LittleEndian.Uint16(src[2*i:]))
	}
	return nil
}

// EncodeF16 converts float32 values to little-endian binary16 bytes.
func EncodeF16(src []float32) []byte {
	out := make([]byte, 2*len(src))
	for i, v := range src {
		binary.LittleEndian.PutUint16(out[2*i:], Float32ToFloat16(v))
	}
	return out
}

// DecodeF32 converts little-endian float32 bytes to values.
func DecodeF32(dst []float32, src []byte) error {
	if len(src) != 4*len(dst) {
		return fmt.Errorf("safetensors: %d bytes of F32 for %d values", len(src), len(dst))
	}
	for i := range dst {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
	}
	return nil
}

// EncodeF32 converts float32 values to little-endian bytes.
func EncodeF32(src []float32) []byte {
	out := make([]byte, 4*len(src))
	for i, v := range src {
		binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(v))
	}
	return out
}
