package encoder

import (
	"github.com/busam/busam/model/cpu"
	"github.com/busam/busam/model/tensor"
)

// cpuPass is one CPU forward pass: the Backend of this package over HWC
// maps in the pass's scratch arena.
type cpuPass struct {
	e *Encoder
	a *arena
}

var _ Backend[[]float32] = (*cpuPass)(nil)

func (p *cpuPass) Input(x *tensor.Tensor) []float32 {
	c, h, w := x.Shape[0], x.Shape[1], x.Shape[2]
	in := p.a.get(c * h * w)
	cpu.CHWToHWC(in, x.Data, c, h, w)
	return in
}

func (p *cpuPass) Conv(x []float32, c *Conv, h, w int, act Activation) []float32 {
	oh, ow := c.OutSize(h, w)
	y := p.a.get(oh * ow * c.OutC)
	p.e.convs[c].forward(p.a, y, x, h, w, act, false)
	p.a.put(x)
	return y
}

func (p *cpuPass) MBConv(x []float32, m *MBConv, h, w int) []float32 {
	p.e.mbconvs[m].forward(p.a, x, h, w)
	return x
}

func (p *cpuPass) Merge(x []float32, m *Merge, h, w int) []float32 {
	y, _, _ := p.e.merges[m].forward(p.a, x, h, w)
	p.a.put(x)
	return y
}

func (p *cpuPass) Attention(x []float32, at *Attention, h, w int) []float32 {
	p.e.attns[at].forward(p.a, x, h, w)
	return x
}

func (p *cpuPass) MLP(x []float32, m *MLP, h, w int) []float32 {
	p.e.mlps[m].forward(p.a, x, h*w)
	return x
}

func (p *cpuPass) Norm(x []float32, n *Norm, h, w int) []float32 {
	cpu.LayerNorm(x, x, h*w, n.Dim, n.Weight.Data, n.Bias.Data, n.Eps)
	return x
}

func (p *cpuPass) Output(x []float32, c, h, w int) (*tensor.Tensor, error) {
	out := tensor.New(c, h, w)
	cpu.HWCToCHW(out.Data, x, c, h, w)
	p.a.put(x)
	return out, nil
}
