package heads

import (
	"math"

	"github.com/busam/busam/model/tensor"
)

// GELU applies the tanh form of GELU elementwise (PyTorch's
// approximate="tanh"): x * sigmoid(2c(x + 0.044715x^3)), c = sqrt(2/pi).
// It needs one exponential, which fastExp makes cheap; the exact erf form
// took a third of a training step.
func GELU(x *tensor.Tensor) *tensor.Tensor {
	y := tensor.New(x.Shape...)
	for i, v := range x.Data {
		y.Data[i] = v * geluGate(v)
	}
	return y
}

// GELUBackward returns dy * GELU'(x).
func GELUBackward(x, dy *tensor.Tensor) *tensor.Tensor {
	dx := tensor.New(x.Shape...)
	for i, v := range x.Data {
		s := geluGate(v)
		du := 2 * geluC * (1 + 3*geluA*v*v)
		dx.Data[i] = dy.Data[i] * (s + v*s*(1-s)*du)
	}
	return dx
}

const (
	geluC = 0.7978845608028654 // sqrt(2/pi)
	geluA = 0.044715
)

// geluGate is sigmoid(2c(x + a x^3)).
func geluGate(x float32) float32 {
	return 1 / (1 + fastExp(-2*geluC*(x+geluA*x*x*x)))
}

// fastExp is exp for float32 within a few float32 ulps (relative error
// below 4e-7): x = n ln2 + r
// with |r| <= ln2/2, a degree-6 Taylor polynomial for e^r, and 2^n put
// straight into the exponent bits.
func fastExp(x float32) float32 {
	if x > 88 {
		return float32(math.Inf(1))
	}
	if x < -87 {
		return 0
	}
	const (
		log2e = 1.4426950408889634
		ln2hi = 0.693145751953125
		ln2lo = 1.428606820309417e-06
	)
	n := float32(math.Floor(float64(x*log2e + 0.5)))
	r := x - n*ln2hi - n*ln2lo
	p := 1 + r*(1+r*(1.0/2+r*(1.0/6+r*(1.0/24+r*(1.0/120+r*(1.0/720))))))
	return p * math.Float32frombits(uint32(int32(n)+127)<<23)
}

// ReLU applies max(x, 0) elementwise.
func ReLU(x *tensor.Tensor) *tensor.Tensor {
	y := tensor.New(x.Shape...)
	for i, v := range x.Data {
		y.Data[i] = max(v, 0)
	}
	return y
}

// ReLUBackward returns dy where x > 0, else 0.
func ReLUBackward(x, dy *tensor.Tensor) *tensor.Tensor {
	dx := tensor.New(x.Shape...)
	for i, v := range x.Data {
		if v > 0 {
			dx.Data[i] = dy.Data[i]
		}
	}
	return dx
}

// Sigmoid applies 1/(1+exp(-x)) elementwise, without overflow for large |x|.
func Sigmoid(x *tensor.Tensor) *tensor.Tensor {
	y := tensor.New(x.Shape...)
	for i, v := range x.Data {
		y.Data[i] = sigmoid(v)
	}
	return y
}

// SigmoidBackward returns dy * y * (1 - y) for y = Sigmoid(x).
func SigmoidBackward(y, dy *tensor.Tensor) *tensor.Tensor {
	dx := tensor.New(y.Shape...)
	for i, s := range y.Data {
		dx.Data[i] = dy.Data[i] * s * (1 - s)
	}
	return dx
}

func sigmoid(v float32) float32 {
	if v >= 0 {
		return 1 / (1 + fastExp(-v))
	}
	e := fastExp(v)
	return e / (1 + e)
}
