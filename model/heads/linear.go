package heads

import (
	"math/rand/v2"

	"github.com/busam/busam/model/cpu"
	"github.com/busam/busam/model/tensor"
)

// Linear is y = W x + b with W shaped [Out, In].
type Linear struct {
	In, Out int
	W, B    *Param
}

func newLinear(s *paramSet, name string, in, out int, std float64) *Linear {
	return &Linear{In: in, Out: out,
		W: s.normal(s.add(name+".weight", out, in), std),
		B: s.add(name+".bias", out)}
}

// Forward maps x [In] to [Out].
func (l *Linear) Forward(x *tensor.Tensor) *tensor.Tensor {
	y := tensor.From(append([]float32(nil), l.B.Value.Data...), l.Out)
	cpu.Gemm(false, false, l.Out, 1, l.In, 1, l.W.Value.Data, l.In, x.Data, 1, 1, y.Data, 1)
	return y
}

// Backward adds the parameter gradients into g (unless g is nil: the
// input gradient only) and returns dL/dx.
func (l *Linear) Backward(x, dy *tensor.Tensor, g Grads) *tensor.Tensor {
	if g != nil {
		cpu.Gemm(false, false, l.Out, l.In, 1, 1, dy.Data, 1, x.Data, l.In, 1, g[l.W.Index], l.In)
		gb := g[l.B.Index]
		for i, d := range dy.Data {
			gb[i] += d
		}
	}
	dx := tensor.New(l.In)
	cpu.Gemm(true, false, l.In, 1, l.Out, 1, l.W.Value.Data, l.In, dy.Data, 1, 0, dx.Data, 1)
	return dx
}

// Dropout zeroes each value with probability p and scales the rest by
// 1/(1-p). The caller passes a seeded generator, so a training run is
// reproducible whatever the goroutine schedule. keep is what Backward needs.
func Dropout(x *tensor.Tensor, p float64, rng *rand.Rand) (y *tensor.Tensor, keep []float32) {
	y = tensor.New(x.Shape...)
	keep = make([]float32, x.Len())
	scale := float32(1 / (1 - p))
	for i, v := range x.Data {
		if rng.Float64() >= p {
			keep[i] = scale
			y.Data[i] = v * scale
		}
	}
	return y, keep
}

// DropoutBackward returns dy masked and scaled as the forward pass was.
func DropoutBackward(keep []float32, dy *tensor.Tensor) *tensor.Tensor {
	dx := tensor.New(dy.Shape...)
	for i, k := range keep {
		dx.Data[i] = dy.Data[i] * k
	}
	return dx
}

// MaskPool is mask-guided attention pooling over a feature map f [C,H,W]
// with pixel weights a [H*W] (summing to at most 1): it returns the
// weighted sum under the mask followed by the plain average, [2C].
func MaskPool(f *tensor.Tensor, a []float32) *tensor.Tensor {
	c, p := f.Shape[0], f.Shape[1]*f.Shape[2]
	y := tensor.New(2 * c)
	inv := 1 / float64(p)
	for ch := range c {
		var s, m float64
		for i, v := range f.Data[ch*p : (ch+1)*p] {
			s += float64(v) * float64(a[i])
			m += float64(v)
		}
		y.Data[ch] = float32(s)
		y.Data[c+ch] = float32(m * inv)
	}
	return y
}

// MaskPoolBackward returns dL/df for dy [2C]; the weights a are treated as
// constants (the classifier does not reshape the mask, see Model).
func MaskPoolBackward(shape []int, a []float32, dy *tensor.Tensor) *tensor.Tensor {
	c, p := shape[0], shape[1]*shape[2]
	df := tensor.New(shape...)
	inv := 1 / float32(p)
	for ch := range c {
		ds, dm := dy.Data[ch], dy.Data[c+ch]*inv
		row := df.Data[ch*p : (ch+1)*p]
		for i := range row {
			row[i] = ds*a[i] + dm
		}
	}
	return df
}
