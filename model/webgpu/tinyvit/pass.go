package tinyvit

import (
	"fmt"
	"slices"

	"github.com/busam/busam/model/cpu"
	"github.com/busam/busam/model/encoder"
	"github.com/busam/busam/model/tensor"
	"github.com/busam/busam/model/webgpu"
)

// buf is a feature map on the device and its layout: CHW [c, h*w] for the
// stem, stage 0 and the neck, token rows [h*w, c] in the transformer
// stages. Pointwise convolutions switch layout for free by transposing
// operands inside the matmul.
type buf struct {
	b      *webgpu.Buffer
	tokens bool
}

// pass is one forward pass, encoder.Backend over device buffers: it keeps
// the first error (later ops become no-ops) and the scratch buffers to
// release.
type pass struct {
	e     *Encoder
	d     *webgpu.Device
	err   error
	owned []*webgpu.Buffer
	// keep leaves the input and the output on the device for the caller
	// (ForwardOnDevice) instead of releasing them and reading back.
	keep          bool
	input, output *webgpu.Buffer
}

var _ encoder.Backend[*buf] = (*pass)(nil)

func (f *pass) fail(err error) {
	if f.err == nil && err != nil {
		f.err = err
	}
}

func (f *pass) alloc(n int) *webgpu.Buffer {
	if f.err != nil {
		return nil
	}
	b, err := f.d.NewBuffer(n)
	f.fail(err)
	if b != nil {
		f.owned = append(f.owned, b)
	}
	return b
}

// drop releases a scratch buffer early (its pending uses still run).
func (f *pass) drop(b *webgpu.Buffer) {
	for i, o := range f.owned {
		if o == b {
			o.Release()
			f.owned = append(f.owned[:i], f.owned[i+1:]...)
			return
		}
	}
}

func (f *pass) releaseAll() {
	for _, b := range f.owned {
		b.Release()
	}
	f.owned = nil
}

// wt is the device buffer of a weight; nil for a nil weight (no bias).
func (f *pass) wt(w *encoder.Weight) *webgpu.Buffer {
	if w == nil {
		return nil
	}
	return f.e.w[w]
}

func gpuAct(a encoder.Activation) webgpu.Activation {
	if a == encoder.ActGELU {
		return webgpu.ActGELU
	}
	return webgpu.ActNone
}

func (f *pass) Input(x *tensor.Tensor) *buf {
	b, err := f.d.Upload(x)
	f.fail(err)
	switch {
	case b != nil && f.keep:
		f.input = b // not owned: the pass's drop and releaseAll leave it alone
	case b != nil:
		f.owned = append(f.owned, b)
	}
	return &buf{b: b}
}

// convParams is c as model/cpu's ConvParams for an h x w input.
func convParams(c *encoder.Conv, h, w int) cpu.ConvParams {
	return cpu.ConvParams{InC: c.InC, InH: h, InW: w, OutC: c.OutC, KH: c.Kernel, KW: c.Kernel, Stride: c.Stride, Pad: c.Pad(), Groups: c.Groups}
}

// Conv: depthwise convs keep the input's layout, 1x1 convs write CHW from
// either layout, dense KxK convs run on CHW.
func (f *pass) Conv(x *buf, c *encoder.Conv, h, w int, act encoder.Activation) *buf {
	p := convParams(c, h, w)
	oh, ow := p.OutSize()
	y := &buf{b: f.alloc(c.OutC * oh * ow), tokens: x.tokens && c.Depthwise()}
	if f.err != nil {
		return y
	}
	ep := webgpu.Epilogue{Bias: f.wt(c.Bias), Act: gpuAct(act)}
	switch {
	case c.Depthwise() && x.tokens:
		f.fail(f.d.DepthwiseConv2DHWC(y.b, x.b, f.wt(c.Weight), p, ep))
	case c.Kernel == 1 && c.Stride == 1:
		f.conv1x1(y.b, x.b, c, h*w, layoutOf(x), chw, gpuAct(act), 0)
	case x.tokens:
		f.fail(fmt.Errorf("%s: dense convolution on token rows", c.Weight.Name))
	default:
		f.fail(f.d.Conv2DEpilogue(y.b, x.b, f.wt(c.Weight), p, ep))
	}
	f.drop(x.b)
	return y
}

// Pointwise (1x1) convolutions and linears as one matmul with weight W
// [out, in] and bias; the layout letters say how the input and output are
// stored.
type layout int

const (
	chw    layout = iota // [c, h*w]
	tokens               // [h*w, c]
)

func layoutOf(x *buf) layout {
	if x.tokens {
		return tokens
	}
	return chw
}

// pointwise computes dst = act(W x + bias) + beta*dst for hw pixels,
// reading x and writing dst in the given layouts.
func (f *pass) pointwise(dst, x *webgpu.Buffer, weight, bias *encoder.Weight, in, out, hw int, from, to layout, act webgpu.Activation, beta float32) {
	if f.err != nil {
		return
	}
	ep := webgpu.Epilogue{Act: act, Beta: beta, Bias: f.wt(bias)}
	if q := f.e.q[weight]; q != nil && from == tokens && to == tokens {
		f.fail(f.d.LinearQ8(dst, x, q, hw, ep))
		return
	}
	w := f.wt(weight)
	var mm webgpu.MatMul
	var a, b *webgpu.Buffer
	switch {
	case from == chw && to == chw: // Y[out,hw] = W[out,in] X[in,hw]
		mm, a, b = webgpu.MatMul{M: out, N: hw, K: in, BiasPerRow: true}, w, x
	case from == tokens && to == chw: // Y[out,hw] = W[out,in] X[hw,in]^T
		mm, a, b = webgpu.MatMul{M: out, N: hw, K: in, TransB: true, BiasPerRow: true}, w, x
	case from == chw && to == tokens: // Y[hw,out] = X[in,hw]^T W[out,in]^T
		mm, a, b = webgpu.MatMul{M: hw, N: out, K: in, TransA: true, TransB: true}, x, w
	default: // Y[hw,out] = X[hw,in] W[out,in]^T
		mm, a, b = webgpu.MatMul{M: hw, N: out, K: in, TransB: true}, x, w
	}
	f.fail(f.d.MatMul(mm, a, b, dst, ep))
}

// conv1x1 is pointwise for a 1x1 Conv.
func (f *pass) conv1x1(dst, x *webgpu.Buffer, c *encoder.Conv, hw int, from, to layout, act webgpu.Activation, beta float32) {
	f.pointwise(dst, x, c.Weight, c.Bias, c.InC, c.OutC, hw, from, to, act, beta)
}

// linear is pointwise for a Linear on token rows.
func (f *pass) linear(dst, x *webgpu.Buffer, l *encoder.Linear, rows int, act webgpu.Activation, beta float32) {
	f.pointwise(dst, x, l.Weight, l.Bias, l.In, l.Out, rows, tokens, tokens, act, beta)
}

// depthwiseCHW is a depthwise (or dense) conv with act on a CHW map.
func (f *pass) depthwiseCHW(x *webgpu.Buffer, c *encoder.Conv, h, w int) (*webgpu.Buffer, int, int) {
	p := convParams(c, h, w)
	oh, ow := p.OutSize()
	y := f.alloc(c.OutC * oh * ow)
	if f.err == nil {
		f.fail(f.d.Conv2DEpilogue(y, x, f.wt(c.Weight), p, webgpu.Epilogue{Bias: f.wt(c.Bias), Act: webgpu.ActGELU}))
	}
	return y, oh, ow
}

// MBConv on a CHW map: the residual is added by conv3's epilogue (beta 1)
// and the GELU after it runs as its own pass.
func (f *pass) MBConv(x *buf, m *encoder.MBConv, h, w int) *buf {
	hw := h * w
	t1 := f.alloc(m.Conv1.OutC * hw)
	f.conv1x1(t1, x.b, &m.Conv1, hw, chw, chw, webgpu.ActGELU, 0)
	t2, _, _ := f.depthwiseCHW(t1, &m.Conv2, h, w)
	f.drop(t1)
	f.conv1x1(x.b, t2, &m.Conv3, hw, chw, chw, webgpu.ActNone, 1)
	f.drop(t2)
	y := f.alloc(m.Conv3.OutC * hw)
	if f.err == nil {
		f.fail(f.d.GELU(y, x.b, m.Conv3.OutC*hw))
	}
	f.drop(x.b)
	return &buf{b: y}
}

// Merge from a CHW map or token rows to token rows.
func (f *pass) Merge(x *buf, m *encoder.Merge, h, w int) *buf {
	t1 := f.alloc(m.Conv1.OutC * h * w)
	f.conv1x1(t1, x.b, &m.Conv1, h*w, layoutOf(x), chw, webgpu.ActGELU, 0)
	f.drop(x.b)
	t2, oh, ow := f.depthwiseCHW(t1, &m.Conv2, h, w)
	f.drop(t1)
	y := f.alloc(m.Conv3.OutC * oh * ow)
	f.conv1x1(y, t2, &m.Conv3, oh*ow, chw, tokens, webgpu.ActNone, 0)
	f.drop(t2)
	return &buf{b: y, tokens: true}
}

// Attention on token rows: partition into padded windows, LayerNorm, qkv,
// attention, proj, and the reverse partition adds the result to x.
func (f *pass) Attention(x *buf, at *encoder.Attention, h, w int) *buf {
	if !x.tokens {
		f.fail(fmt.Errorf("%s: attention on a CHW map", at.QKV.Weight.Name))
		return x
	}
	dim, ws := at.Dim, at.Window
	nh, nw := at.Windows(h, w)
	nt := nh * nw * ws * ws
	xw := f.alloc(nt * dim)
	if f.err == nil {
		f.fail(f.d.WindowPartition(xw, x.b, h, w, dim, ws))
	}
	xn := f.alloc(nt * dim)
	if f.err == nil {
		f.fail(f.d.LayerNorm(xn, xw, f.wt(at.Norm.Weight), f.wt(at.Norm.Bias), nt, dim, at.Norm.Eps))
	}
	f.drop(xw)
	qkv := f.alloc(nt * 3 * dim)
	f.linear(qkv, xn, &at.QKV, nt, webgpu.ActNone, 0)
	f.drop(xn)
	att := f.alloc(nt * dim)
	if f.err == nil {
		a := webgpu.Attention{Windows: nh * nw, Tokens: ws * ws, Heads: at.Heads, KeyDim: at.KeyDim, ValDim: at.KeyDim, Scale: at.Scale()}
		f.fail(f.d.WindowAttention(att, qkv, f.wt(at.Bias), nil, a))
	}
	f.drop(qkv)
	proj := f.alloc(nt * dim)
	f.linear(proj, att, &at.Proj, nt, webgpu.ActNone, 0)
	f.drop(att)
	if f.err == nil {
		f.fail(f.d.WindowReverse(x.b, proj, h, w, dim, ws, 1))
	}
	f.drop(proj)
	return x
}

// MLP on token rows; fc2's epilogue adds the residual (beta 1).
func (f *pass) MLP(x *buf, m *encoder.MLP, h, w int) *buf {
	dim := m.FC1.In
	t := f.alloc(h * w * dim)
	if f.err == nil {
		f.fail(f.d.LayerNorm(t, x.b, f.wt(m.Norm.Weight), f.wt(m.Norm.Bias), h*w, dim, m.Norm.Eps))
	}
	hid := f.alloc(h * w * m.FC1.Out)
	f.linear(hid, t, &m.FC1, h*w, webgpu.ActGELU, 0)
	f.drop(t)
	f.linear(x.b, hid, &m.FC2, h*w, webgpu.ActNone, 1)
	f.drop(hid)
	return x
}

// Norm: LayerNorm on token rows, LayerNorm2d on CHW maps.
func (f *pass) Norm(x *buf, n *encoder.Norm, h, w int) *buf {
	y := &buf{b: f.alloc(n.Dim * h * w), tokens: x.tokens}
	if f.err == nil {
		if x.tokens {
			f.fail(f.d.LayerNorm(y.b, x.b, f.wt(n.Weight), f.wt(n.Bias), h*w, n.Dim, n.Eps))
		} else {
			f.fail(f.d.LayerNorm2d(y.b, x.b, f.wt(n.Weight), f.wt(n.Bias), n.Dim, h, w, n.Eps))
		}
	}
	f.drop(x.b)
	return y
}

// Output reads the CHW result back.
func (f *pass) Output(x *buf, c, h, w int) (*tensor.Tensor, error) {
	if f.err == nil && x.tokens {
		f.fail(fmt.Errorf("output in token rows, want CHW"))
	}
	if f.err != nil {
		return nil, f.err
	}
	if f.keep {
		f.output = x.b
		f.owned = slices.DeleteFunc(f.owned, func(b *webgpu.Buffer) bool { return b == x.b })
		return nil, nil
	}
	res, err := f.d.Read(x.b)
	if err != nil {
		return nil, err
	}
	return tensor.From(res, c, h, w), nil
}
