package cpu

import "math"

// The encoder evaluates about 140 million GELUs and 40 million softmax
// exponentials per 1024x1024 image, so float64 math.Exp / math.Erf would
// cost more than some of the matrix products. These float32 versions are
// accurate to a few 1e-7 (tested against package math), well inside what
// float32 activations carry.

const (
	log2e = 1.44269504088896341
	ln2Hi = 0.693359375 // ln2 split so that n*ln2Hi is exact for |n| < 2^9
	ln2Lo = -2.12194440e-4
)

// expf returns e^x for float32 x with relative error below 3e-7; it
// saturates to 0 below -87.3 and to +Inf above 88.7. Branch-free in the
// common range: rounding uses the 1.5*2^23 trick instead of a floor.
func expf(x float32) float32 {
	if x < -87.3 {
		return 0
	}
	if x > 88.7 {
		return float32(math.Inf(1))
	}
	// x = n*ln2 + r with |r| <= ln2/2; e^x = 2^n * e^r. Adding 1.5*2^23
	// rounds x*log2e to an integer held in the low mantissa bits.
	const magic = 12582912 // 1.5 * 2^23
	k := x*log2e + magic
	n := int32(math.Float32bits(k)) - int32(math.Float32bits(magic))
	fn := k - magic
	r := x - fn*ln2Hi - fn*ln2Lo
	// Taylor series to degree 7: the remainder r^8/8! < 1e-8 on |r|<=0.347.
	p := float32(1.0 / 5040)
	p = p*r + 1.0/720
	p = p*r + 1.0/120
	p = p*r + 1.0/24
	p = p*r + 1.0/6
	p = p*r + 0.5
	p = p*r + 1
	p = p*r + 1
	return p * math.Float32frombits(uint32(n+127)<<23)
}

// erff returns erf(x) by Abramowitz & Stegun 7.1.26 (absolute error below
// 1.5e-7), with expf for the Gaussian factor. The sign is restored with bit
// operations: GELU inputs change sign at random, which a branch mispredicts.
func erff(x float32) float32 {
	bits := math.Float32bits(x)
	ax := math.Float32frombits(bits &^ (1 << 31))
	ax = min(ax, 6) // erf(6) = 1 - 2e-17
	t := 1 / (1 + 0.3275911*ax)
	p := float32(1.061405429)
	p = p*t - 1.453152027
	p = p*t + 1.421413741
	p = p*t - 0.284496736
	p = p*t + 0.254829592
	y := 1 - p*t*expf(-ax*ax)
	return math.Float32frombits(math.Float32bits(y) | bits&(1<<31))
}

// gelu is the exact (erf) GELU of PyTorch's nn.GELU(), which is what the
// ONNX graph spells out as Div(sqrt 2), Erf, Add 1, Mul x, Mul 0.5.
func gelu(x float32) float32 {
	return 0.5 * x * (1 + erff(x*(1/math.Sqrt2)))
}
