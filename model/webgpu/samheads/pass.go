package samheads

import (
	"fmt"

	"github.com/busam/busam/model/cpu"
	"github.com/busam/busam/model/heads"
	"github.com/busam/busam/model/tensor"
	"github.com/busam/busam/model/webgpu"
)

// pass is one inference pass, heads.Backend over device buffers: it keeps
// the first error (later ops become no-ops) and hands out the Heads'
// scratch buffers in order, so a pass of the same shapes as the last one
// allocates nothing.
type pass struct {
	h    *Heads
	d    *webgpu.Device
	err  error
	next int // index of the next scratch buffer
}

var _ heads.Backend[*webgpu.Buffer] = (*pass)(nil)

func (p *pass) fail(err error) {
	if p.err == nil && err != nil {
		p.err = err
	}
}

// alloc returns scratch buffer number p.next, (re)allocated to n values.
// Every op writes all of its output, so old contents never leak through.
func (p *pass) alloc(n int) *webgpu.Buffer {
	if p.err != nil {
		return nil
	}
	s := p.h.scratch
	if p.next < len(s) && s[p.next].Len() == n {
		p.next++
		return s[p.next-1]
	}
	b, err := p.d.NewBuffer(n)
	if err != nil {
		p.fail(err)
		return nil
	}
	if p.next < len(s) {
		s[p.next].Release()
		s[p.next] = b
	} else {
		p.h.scratch = append(s, b)
	}
	p.next++
	return b
}

// wt is the device buffer of a parameter; nil for a nil one (no bias).
func (p *pass) wt(w *heads.Param) *webgpu.Buffer {
	if w == nil {
		return nil
	}
	return p.h.w[w]
}

func convParams(c *heads.Conv2d, h, w int) cpu.ConvParams {
	return cpu.ConvParams{InC: c.InC, InH: h, InW: w, OutC: c.OutC, KH: c.K, KW: c.K, Stride: 1, Pad: c.K / 2, Groups: 1}
}

// conv is act(conv(x) + bias) into a new buffer.
func (p *pass) conv(x *webgpu.Buffer, c *heads.Conv2d, h, w int, act webgpu.Activation) *webgpu.Buffer {
	y := p.alloc(c.OutC * h * w)
	if p.err == nil {
		p.fail(p.d.Conv2DEpilogue(y, x, p.wt(c.W), convParams(c, h, w), webgpu.Epilogue{Bias: p.wt(c.B), Act: act}))
	}
	return y
}

// Block: without a norm the GELU is fused into the convolution.
func (p *pass) Block(x *webgpu.Buffer, c *heads.Conv2d, norm *heads.GroupNorm, h, w int) *webgpu.Buffer {
	if norm == nil {
		return p.conv(x, c, h, w, webgpu.ActGELUTanh)
	}
	y := p.conv(x, c, h, w, webgpu.ActNone)
	n := c.OutC * h * w
	z := p.alloc(n)
	if p.err == nil {
		p.fail(p.d.GroupNorm(z, y, p.wt(norm.Gamma), p.wt(norm.Beta), c.OutC, h, w, norm.Groups, heads.NormEps))
	}
	o := p.alloc(n)
	if p.err == nil {
		p.fail(p.d.Activate(o, z, n, webgpu.ActGELUTanh))
	}
	return o
}

func (p *pass) Conv(x *webgpu.Buffer, c *heads.Conv2d, h, w int) *webgpu.Buffer {
	return p.conv(x, c, h, w, webgpu.ActNone)
}

func (p *pass) Add(x, y *webgpu.Buffer, n int) *webgpu.Buffer {
	z := p.alloc(n)
	if p.err == nil {
		p.fail(p.d.Add(z, x, y, n))
	}
	return z
}

func (p *pass) Upsample2x(x *webgpu.Buffer, c, h, w int) *webgpu.Buffer {
	y := p.alloc(c * 4 * h * w)
	if p.err == nil {
		p.fail(p.d.ResizeBilinear(y, x, c, h, w, 2*h, 2*w))
	}
	return y
}

func (p *pass) AvgPool(x *webgpu.Buffer, c, h, w, k int) *webgpu.Buffer {
	y := p.alloc(c * (h / k) * (w / k))
	if p.err == nil {
		p.fail(p.d.AvgPool(y, x, c, h, w, k))
	}
	return y
}

func (p *pass) Concat(x *webgpu.Buffer, cx int, y *webgpu.Buffer, cy int, h, w int) *webgpu.Buffer {
	z := p.alloc((cx + cy) * h * w)
	if p.err == nil {
		p.fail(p.d.Copy(z, 0, x, 0, cx*h*w))
	}
	if p.err == nil {
		p.fail(p.d.Copy(z, cx*h*w, y, 0, cy*h*w))
	}
	return z
}

// Attention: sigmoid, 4x4 average pooling, then the weights and stats.
func (p *pass) Attention(logits *webgpu.Buffer, h, w int, eps float64) *webgpu.Buffer {
	n := 16 * h * w
	prob := p.alloc(n)
	if p.err == nil {
		p.fail(p.d.Sigmoid(prob, logits, n))
	}
	soft := p.AvgPool(prob, 1, 4*h, 4*w, 4)
	att := p.alloc(h*w + 2)
	if p.err == nil {
		p.fail(p.d.MaskWeights(att, soft, h*w, float32(eps)))
	}
	return att
}

func (p *pass) Pool(f *webgpu.Buffer, c, h, w int, att *webgpu.Buffer) *webgpu.Buffer {
	z := p.alloc(2*c + 2)
	if p.err == nil {
		p.fail(p.d.MaskPool(z, f, att, c, h*w))
	}
	if p.err == nil {
		p.fail(p.d.Copy(z, 2*c, att, h*w, 2))
	}
	return z
}

func (p *pass) Standardize(x *webgpu.Buffer, shift, scale *heads.Param) *webgpu.Buffer {
	n := scale.Value.Len()
	if p.err == nil && shift != p.h.shift {
		p.fail(fmt.Errorf("standardize: shift %s is not the model's %s", shift.Name, featShiftName))
	}
	t := p.alloc(n)
	if p.err == nil {
		p.fail(p.d.Add(t, x, p.h.negShift, n))
	}
	y := p.alloc(n)
	if p.err == nil {
		p.fail(p.d.Mul(y, t, p.wt(scale), n))
	}
	return y
}

func (p *pass) LayerNorm(x *webgpu.Buffer, n *heads.LayerNorm) *webgpu.Buffer {
	y := p.alloc(n.N)
	if p.err == nil {
		p.fail(p.d.LayerNorm(y, x, p.wt(n.Gamma), p.wt(n.Beta), 1, n.N, heads.NormEps))
	}
	return y
}

func (p *pass) Linear(x *webgpu.Buffer, l *heads.Linear, gelu bool) *webgpu.Buffer {
	y := p.alloc(l.Out)
	act := webgpu.ActNone
	if gelu {
		act = webgpu.ActGELUTanh
	}
	if p.err == nil {
		p.fail(p.d.Linear(y, x, p.wt(l.W), 1, l.In, l.Out, webgpu.Epilogue{Bias: p.wt(l.B), Act: act}))
	}
	return y
}

// Output packs the results into one buffer and reads it back once: in
// the browser every read is a round trip through a promise.
func (p *pass) Output(logits, att, cls, z *webgpu.Buffer, h, w, classes, feats int) (heads.Output, error) {
	nm, na, nz := 16*h*w, h*w, 2*feats+2
	out := p.alloc(nm + na + classes + nz)
	for _, c := range []struct {
		src            *webgpu.Buffer
		off, from, len int
	}{{logits, 0, 0, nm}, {att, nm, 0, na}, {cls, nm + na, 0, classes}, {z, nm + na + classes, 0, nz}} {
		if p.err == nil {
			p.fail(p.d.Copy(out, c.off, c.src, c.from, c.len))
		}
	}
	if p.err != nil {
		return heads.Output{}, p.err
	}
	v, err := p.d.Read(out)
	if err != nil {
		return heads.Output{}, err
	}
	return heads.Output{
		MaskLogits:      tensor.From(v[:nm], 1, 4*h, 4*w),
		Attention:       tensor.From(v[nm:nm+na], 1, h, w),
		ClassLogits:     v[nm+na : nm+na+classes],
		ClassifierInput: v[nm+na+classes : nm+na+classes+nz],
	}, nil
}

// Evidence uploads the host weights, runs the evidence kernel over the
// features still on the device and reads back only the maps
// [classes,h,w]: a second round trip, after Output's.
func (p *pass) Evidence(f, att *webgpu.Buffer, wts []float32, c, h, w, classes int) (*tensor.Tensor, error) {
	wb := p.alloc(len(wts))
	if p.err == nil {
		p.fail(p.d.Write(wb, wts))
	}
	ev := p.alloc(classes * h * w)
	if p.err == nil {
		p.fail(p.d.Evidence(ev, f, att, wb, c, h*w, classes))
	}
	if p.err != nil {
		return nil, p.err
	}
	v, err := p.d.Read(ev)
	if err != nil {
		return nil, err
	}
	return tensor.From(v, classes, h, w), nil
}
