package heads

import (
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/busam/busam/model/encoder"

	"github.com/busam/busam/model/tensor"
)

// LayerNorm2d normalises each pixel of a CHW map over its channels, then
// applies a per-channel affine map (SAM's LayerNorm2d).
type LayerNorm2d struct {
	C           int
	Eps         float64
	Gamma, Beta *Param
}

// Forward normalises x [C,H,W]; the stats feed Backward.
func (n *LayerNorm2d) Forward(x *tensor.Tensor) (*tensor.Tensor, normStats) {
	p := x.Shape[1] * x.Shape[2]
	mean := make([]float64, p)
	sq := make([]float64, p)
	for c := range n.C {
		for i, v := range x.Data[c*p : (c+1)*p] {
			mean[i] += float64(v)
		}
	}
	for i := range mean {
		mean[i] /= float64(n.C)
	}
	for c := range n.C {
		for i, v := range x.Data[c*p : (c+1)*p] {
			d := float64(v) - mean[i]
			sq[i] += d * d
		}
	}
	st := normStats{xhat: tensor.New(x.Shape...), rstd: make([]float32, p)}
	for i := range sq {
		sq[i] = 1 / math.Sqrt(sq[i]/float64(n.C)+n.Eps)
		st.rstd[i] = float32(sq[i])
	}
	y := tensor.New(x.Shape...)
	for c := range n.C {
		gam, bet := n.Gamma.Value.Data[c], n.Beta.Value.Data[c]
		for i, v := range x.Data[c*p : (c+1)*p] {
			xh := float32((float64(v) - mean[i]) * sq[i])
			st.xhat.Data[c*p+i] = xh
			y.Data[c*p+i] = xh*gam + bet
		}
	}
	return y, st
}

// Backward adds the affine gradients into g and returns the input gradient:
// per pixel, dx = rstd * (dxhat - mean_c(dxhat) - xhat*mean_c(dxhat*xhat)).
func (n *LayerNorm2d) Backward(st normStats, dy *tensor.Tensor, g Grads) *tensor.Tensor {
	p := dy.Shape[1] * dy.Shape[2]
	gg, gb := g[n.Gamma.Index], g[n.Beta.Index]
	mD := make([]float64, p)
	mDX := make([]float64, p)
	for c := range n.C {
		gam := float64(n.Gamma.Value.Data[c])
		var sg, sb float64
		xh := st.xhat.Data[c*p : (c+1)*p]
		for i, d := range dy.Data[c*p : (c+1)*p] {
			sg += float64(d) * float64(xh[i])
			sb += float64(d)
			dxh := float64(d) * gam
			mD[i] += dxh
			mDX[i] += dxh * float64(xh[i])
		}
		gg[c] += float32(sg)
		gb[c] += float32(sb)
	}
	inv := 1 / float64(n.C)
	dx := tensor.New(dy.Shape...)
	for c := range n.C {
		gam := float64(n.Gamma.Value.Data[c])
		xh := st.xhat.Data[c*p : (c+1)*p]
		for i, d := range dy.Data[c*p : (c+1)*p] {
			dx.Data[c*p+i] = float32(float64(st.rstd[i]) * (float64(d)*gam - mD[i]*inv - float64(xh[i])*mDX[i]*inv))
		}
	}
	return dx
}

// Neck is SAM's neck as a trainable module: 1x1 conv (no bias),
// LayerNorm2d, 3x3 conv (no bias), LayerNorm2d. It turns trunk features
// [In,h,w] into the embedding [Out,h,w]. Its parameters carry the
// encoder's tensor names, so the tuned values ship as encoder overrides.
type Neck struct {
	Conv1, Conv2 *Conv2d
	Norm1, Norm2 *LayerNorm2d
	params       []*Param
}

// NeckTensorNames are the encoder tensors of the neck, in parameter order
// (encoder.NeckLayout's).
var NeckTensorNames = neckWeightNames(encoder.NeckLayout(1, 1))

// neckWeights lists the weights of n in parameter order: conv1, norm1
// (weight, bias), conv2, norm2 (weight, bias).
func neckWeights(n *encoder.Neck) []*encoder.Weight {
	return []*encoder.Weight{n.Conv1.Weight, n.Norm1.Weight, n.Norm1.Bias, n.Conv2.Weight, n.Norm2.Weight, n.Norm2.Bias}
}

func neckWeightNames(n encoder.Neck) []string {
	var names []string
	for _, w := range neckWeights(&n) {
		names = append(names, w.Name)
	}
	return names
}

// NewNeck builds a neck from the encoder's tensors by name (it copies
// them; other tensors are ignored). Names, shapes and epsilons are
// encoder.NeckLayout's, for the widths of neck.0.weight.
func NewNeck(tensors map[string]*tensor.Tensor) (*Neck, error) {
	first := encoder.NeckLayout(1, 1).Conv1.Weight.Name
	w0 := tensors[first]
	if w0 == nil || len(w0.Shape) != 4 || w0.Shape[2] != 1 || w0.Shape[3] != 1 {
		return nil, fmt.Errorf("heads: %s missing or not [out,in,1,1]", first)
	}
	l := encoder.NeckLayout(w0.Shape[1], w0.Shape[0])
	s := newParamSet(0)
	ps := make([]*Param, 0, 6)
	for _, w := range neckWeights(&l) {
		t := tensors[w.Name]
		if t == nil || !slices.Equal(t.Shape, w.Shape) || len(t.Data) != tensor.Numel(t.Shape) {
			shape := []int(nil)
			if t != nil {
				shape = t.Shape
			}
			return nil, fmt.Errorf("heads: neck tensor %s has shape %v, want %v", w.Name, shape, w.Shape)
		}
		p := s.add(w.Name, t.Shape...)
		copy(p.Value.Data, t.Data)
		ps = append(ps, p)
	}
	norm := func(n encoder.Norm, gamma, beta *Param) *LayerNorm2d {
		return &LayerNorm2d{C: n.Dim, Eps: eps64(n.Eps), Gamma: gamma, Beta: beta}
	}
	return &Neck{
		Conv1:  &Conv2d{InC: l.Conv1.InC, OutC: l.Conv1.OutC, K: l.Conv1.Kernel, W: ps[0]},
		Norm1:  norm(l.Norm1, ps[1], ps[2]),
		Conv2:  &Conv2d{InC: l.Conv2.InC, OutC: l.Conv2.OutC, K: l.Conv2.Kernel, W: ps[3]},
		Norm2:  norm(l.Norm2, ps[4], ps[5]),
		params: s.params,
	}, nil
}

// neckEps is the epsilon of SAM's LayerNorm2d, as encoder.NeckLayout has it.
var neckEps = eps64(encoder.NeckLayout(1, 1).Norm1.Eps)

// eps64 is a float32 epsilon as the decimal it was written as (1e-6, not
// float32(1e-6) widened), so the neck's float64 statistics are unchanged.
func eps64(e float32) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(float64(e), 'g', -1, 32), 64)
	return v
}

// Params returns the neck's tensors in NeckTensorNames order; their
// gradients live in a Grads of their own (NewGrads(n.Params())).
func (n *Neck) Params() []*Param { return n.params }

// Tensors returns copies of the current values by encoder name: a
// model's EncoderOverrides.
func (n *Neck) Tensors() map[string]*tensor.Tensor {
	out := make(map[string]*tensor.Tensor, len(n.params))
	for _, p := range n.params {
		out[p.Name] = p.Value.Clone()
	}
	return out
}

// Check reports why f cannot be fed to the neck, or nil.
func (n *Neck) Check(f *tensor.Tensor) error {
	if f == nil || len(f.Shape) != 3 || f.Shape[0] != n.Conv1.InC || f.Shape[1] < 1 || f.Shape[2] < 1 || f.Len() != tensor.Numel(f.Shape) {
		shape := []int(nil)
		if f != nil {
			shape = f.Shape
		}
		return fmt.Errorf("heads: neck input %v, want [%d,h,w]", shape, n.Conv1.InC)
	}
	return nil
}

// NeckTape is what a training forward pass keeps for the backward pass.
type NeckTape struct {
	x, a1 *tensor.Tensor // the inputs of the two convolutions
	col2  []float32
	st1   normStats
	st2   normStats
}

// Forward returns the embedding of trunk features f, which must pass Check.
func (n *Neck) Forward(f *tensor.Tensor) *tensor.Tensor {
	y, _ := n.ForwardTrain(f)
	return y
}

// ForwardTrain is Forward that also returns the tape for Backward.
func (n *Neck) ForwardTrain(f *tensor.Tensor) (*tensor.Tensor, *NeckTape) {
	t := &NeckTape{x: f}
	y := n.Conv1.Forward(f)
	t.a1, t.st1 = n.Norm1.Forward(y)
	y, t.col2 = n.Conv2.forward(t.a1)
	y, t.st2 = n.Norm2.Forward(y)
	return y, t
}

// Backward adds the neck's parameter gradients for the embedding gradient
// dy into g (the trunk is frozen, so no input gradient is formed).
func (n *Neck) Backward(t *NeckTape, dy *tensor.Tensor, g Grads) {
	d := n.Norm2.Backward(t.st2, dy, g)
	d = n.Conv2.backward(t.a1, t.col2, d, g, true)
	d = n.Norm1.Backward(t.st1, d, g)
	n.Conv1.backward(t.x, nil, d, g, false)
}
