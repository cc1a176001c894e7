package safetensors

import (
	"math"
	"testing"
)

// halfValue is an independent float64 reference decoding of binary16.
func halfValue(h uint16) float64 {
	sign := 1.0
	if h&0x8000 != 0 {
		sign = -1
	}
	exp := int(h>>10) & 0x1f
	mant := float64(h & 0x3ff)
	switch exp {
	case 0:
		return sign * math.Ldexp(mant, -24)
	case 31:
		if mant != 0 {
			return math.NaN()
		}
		return math.Inf(int(sign))
	}
	return sign * math.Ldexp(1024+mant, exp-25)
}

func TestFloat16ToFloat32AllHalves(t *testing.T) {
	for i := 0; i < 1<<16; i++ {
		h := uint16(i)
		got := Float16ToFloat32(h)
		want := halfValue(h)
		if math.IsNaN(want) {
			if !math.IsNaN(float64(got)) || math.Signbit(float64(got)) != (h&0x8000 != 0) {
				t.Fatalf("half %#04x: got %v, want NaN with the same sign", h, got)
			}
			continue
		}
		if float64(got) != want || math.Signbit(float64(got)) != math.Signbit(want) {
			t.Fatalf("half %#04x: got %v, want %v", h, got, want)
		}
	}
}

func TestFloat16RoundTripAllHalves(t *testing.T) {
	for i := 0; i < 1<<16; i++ {
		h := uint16(i)
		back := Float32ToFloat16(Float16ToFloat32(h))
		isNaN := h&0x7c00 == 0x7c00 && h&0x3ff != 0
		if isNaN {
			if back&0x7c00 != 0x7c00 || back&0x3ff == 0 || back&0x8000 != h&0x8000 {
				t.Fatalf("NaN %#04x came back as %#04x", h, back)
			}
			continue
		}
		if back != h {
			t.Fatalf("half %#04x came back as %#04x", h, back)
		}
	}
}

// TestFloat32ToFloat16RoundsToNearestEven checks the rounding of the exact
// midpoint between every pair of neighbouring halves (it must go to the
// even one) and of the float32 values just either side of it.
func TestFloat32ToFloat16RoundsToNearestEven(t *testing.T) {
	for _, sign := range []uint16{0, 0x8000} {
		for lo := uint16(0); lo < 0x7c00; lo++ {
			a, b := sign|lo, sign|(lo+1) // b may be Inf: the overflow threshold
			va, vb := halfValue(a), halfValue(b)
			if math.IsInf(vb, 0) {
				vb = math.Copysign(65536, va) // where the next half would sit
			}
			mid64 := (va + vb) / 2
			mid := float32(mid64)
			if float64(mid) != mid64 {
				t.Fatalf("midpoint of %#04x,%#04x not exact in float32", a, b)
			}
			even := a
			if lo&1 == 1 {
				even = b
			}
			if got := Float32ToFloat16(mid); got != even {
				t.Fatalf("midpoint %g of %#04x,%#04x: got %#04x, want %#04x", mid, a, b, got, even)
			}
			toA := math.Nextafter32(mid, float32(va))
			toB := math.Nextafter32(mid, float32(vb))
			if got := Float32ToFloat16(toA); got != a {
				t.Fatalf("%g (just toward %#04x): got %#04x", toA, a, got)
			}
			if got := Float32ToFloat16(toB); got != b {
				t.Fatalf("%g (just toward %#04x): got %#04x", toB, b, got)
			}
		}
	}
}

func TestFloat32ToFloat16Specials(t *testing.T) {
	tests := []struct {
		name string
		in   float32
		want uint16
	}{
		{"zero", 0, 0},
		{"negative zero", float32(math.Copysign(0, -1)), 0x8000},
		{"one", 1, 0x3c00},
		{"max half", 65504, 0x7bff},
		{"overflow", 1e6, 0x7c00},
		{"negative overflow", -1e6, 0xfc00},
		{"+inf", float32(math.Inf(1)), 0x7c00},
		{"-inf", float32(math.Inf(-1)), 0xfc00},
		{"min subnormal", float32(math.Ldexp(1, -24)), 0x0001},
		{"tiny underflows", 1e-10, 0},
		{"negative tiny keeps sign", -1e-10, 0x8000},
		{"largest subnormal", float32(math.Ldexp(1023, -24)), 0x03ff},
		{"min normal", float32(math.Ldexp(1, -14)), 0x0400},
		{"float32 subnormal", math.Float32frombits(1), 0},
	}
	for _, tc := range tests {
		if got := Float32ToFloat16(tc.in); got != tc.want {
			t.Errorf("%s: Float32ToFloat16(%g) = %#04x, want %#04x", tc.name, tc.in, got, tc.want)
		}
	}
	if h := Float32ToFloat16(float32(math.NaN())); h&0x7c00 != 0x7c00 || h&0x3ff == 0 {
		t.Errorf("NaN became %#04x", h)
	}
}

func TestDecodeLengthMismatch(t *testing.T) {
	if err := DecodeF16(make([]float32, 2), make([]byte, 3)); err == nil {
		t.Error("DecodeF16 accepted 3 bytes for 2 values")
	}
	if err := DecodeF32(make([]float32, 2), make([]byte, 7)); err == nil {
		t.Error("DecodeF32 accepted 7 bytes for 2 values")
	}
}
