package webgpu

import "fmt"

// Activation is an elementwise function applied in a kernel's epilogue or
// by Activate.
type Activation uint32

// Activations; the values are the codes the shaders switch on.
const (
	ActNone    Activation = 0
	ActGELU    Activation = 1 // erf form, as PyTorch's nn.GELU()
	ActSigmoid Activation = 2
	ActReLU    Activation = 3
	// ActGELUTanh is PyTorch's nn.GELU(approximate="tanh"), which the
	// heads use: x * sigmoid(2*sqrt(2/pi)*(x + 0.044715x^3)).
	ActGELUTanh Activation = 4
)

// Epilogue is what a producing kernel does to each output value after the
// sum, in this order: add Bias, apply Act, then add Beta times the value
// already in the destination (Beta = 1 fuses a residual add).
type Epilogue struct {
	Bias *Buffer
	Act  Activation
	Beta float32
}

// need checks that a buffer exists and holds at least words values.
func need(op, name string, b *Buffer, words int) error {
	if b == nil || b.buf == nil {
		return fmt.Errorf("webgpu: %s: %s is nil or released", op, name)
	}
	if b.words < words {
		return fmt.Errorf("webgpu: %s: %s holds %d values, needs %d", op, name, b.words, words)
	}
	return nil
}

// positive checks that every size is > 0 (or >= 0 where zero is allowed by
// the caller), so that index math in the shaders cannot wrap.
func positive(op string, sizes ...int) error {
	for _, s := range sizes {
		if s <= 0 {
			return fmt.Errorf("webgpu: %s: sizes must be positive, got %v", op, sizes)
		}
	}
	return nil
}

// fits32 rejects sizes whose products would overflow the shaders' u32
// index arithmetic.
func fits32(op string, n int) error {
	if n < 0 || n > 1<<31 {
		return fmt.Errorf("webgpu: %s: %d elements exceed the 32-bit index range", op, n)
	}
	return nil
}

func b2u(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}
