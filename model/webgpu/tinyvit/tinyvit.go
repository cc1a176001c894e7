// Package tinyvit runs MobileSAM's TinyViT image encoder (the model of
// package model/encoder) on the WebGPU backend: same tensors, named by
// PyTorch module path, same Config, same [3,H,W] -> [NeckDim,h,w] contract.
//
// Layouts on the device: the stem and stage 0 (convolutions) keep CHW
// maps; the transformer stages keep token rows [h*w, c]. Pointwise
// convolutions switch layout for free by transposing operands inside the
// matmul, and the neck writes the CHW embedding directly.
//
// New takes float32 tensors (encoder.safetensors); NewInt8 takes a quant
// int8 file and keeps the transformer linears in int8 on the device.
package tinyvit

import (
	"fmt"
	"image"
	"math"
	"strings"

	"github.com/busam/busam/model/cpu"
	"github.com/busam/busam/model/encoder"
	"github.com/busam/busam/model/tensor"
	"github.com/busam/busam/model/webgpu"
	"github.com/busam/busam/quant"
)

// Encoder holds the encoder's weights on one device.
type Encoder struct {
	Config encoder.Config
	d      *webgpu.Device
	w      map[string]*webgpu.Buffer
	// q holds the token linears kept in int8 (NewInt8), by weight name.
	q map[string]*webgpu.QWeight
}

const (
	lnEps   = 1e-5 // nn.LayerNorm in the transformer blocks
	neckEps = 1e-6 // SAM's LayerNorm2d in the neck
)

// New uploads the tensors of a TinyViT of shape cfg to d, checking that
// every tensor the forward pass reads is present with the right size.
func New(d *webgpu.Device, cfg encoder.Config, p map[string]*tensor.Tensor) (*Encoder, error) {
	e := &Encoder{Config: cfg, d: d, w: map[string]*webgpu.Buffer{}}
	if err := e.upload(p, func(string) bool { return false }); err != nil {
		e.Release()
		return nil, err
	}
	return e, nil
}

// NewInt8 is New for an int8 weights file (package quant): the linear
// layers of the transformer blocks (qkv, proj, fc1, fc2) stay int8 on the
// device and run through LinearQ8, dequantized in the shader; every other
// tensor is uploaded dequantized to float32.
func NewInt8(d *webgpu.Device, cfg encoder.Config, m *quant.Model) (*Encoder, error) {
	p, err := m.Float32()
	if err != nil {
		return nil, fmt.Errorf("tinyvit: %w", err)
	}
	int8s := map[string]bool{}
	for _, t := range m.Manifest.Tensors {
		if t.Scheme == quant.SchemeInt8 && isTokenLinear(t.Name) {
			int8s[t.Name] = true
		}
	}
	e := &Encoder{Config: cfg, d: d, w: map[string]*webgpu.Buffer{}, q: map[string]*webgpu.QWeight{}}
	for _, s := range weightShapes(cfg) {
		if !int8s[s.name] {
			continue
		}
		q, err := m.Int8(s.name)
		if err != nil {
			e.Release()
			return nil, fmt.Errorf("tinyvit: %w", err)
		}
		if len(q.Q) != s.numel || len(q.Shape) < 2 {
			e.Release()
			return nil, fmt.Errorf("tinyvit: int8 tensor %s has shape %v, want %d values", s.name, q.Shape, s.numel)
		}
		out := q.Shape[0]
		qw, err := d.UploadQWeight(q.Q, q.Scale, out, len(q.Q)/out)
		if err != nil {
			e.Release()
			return nil, fmt.Errorf("tinyvit: upload %s: %w", s.name, err)
		}
		e.q[s.name] = qw
		delete(p, s.name) // not needed in float32
	}
	if err := e.upload(p, func(name string) bool { return e.q[name] != nil }); err != nil {
		e.Release()
		return nil, err
	}
	return e, nil
}

// isTokenLinear reports the weights that pointwise() runs as tokens x
// W^T, the only layout LinearQ8 computes.
func isTokenLinear(name string) bool {
	for _, suffix := range []string{".attn.qkv.weight", ".attn.proj.weight", ".mlp.fc1.weight", ".mlp.fc2.weight"} {
		if strings.HasSuffix(name, suffix) {
			return true
		}
	}
	return false
}

// upload checks and uploads every float tensor of the model, except those
// skip names.
func (e *Encoder) upload(p map[string]*tensor.Tensor, skip func(string) bool) error {
	for _, s := range weightShapes(e.Config) {
		if skip(s.name) {
			continue
		}
		t, err := lookup(p, s, e.Config)
		if err != nil {
			return err
		}
		b, err := e.d.UploadFloats(t, len(t))
		if err != nil {
			return fmt.Errorf("tinyvit: upload %s: %w", s.name, err)
		}
		e.w[s.name] = b
	}
	return nil
}

// Release frees the weights on the device.
func (e *Encoder) Release() {
	for _, b := range e.w {
		b.Release()
	}
	for _, q := range e.q {
		q.Release()
	}
	e.w, e.q = nil, nil
}

// OutputSize is the embedding's spatial size for an h x w input.
func (e *Encoder) OutputSize(h, w int) (int, int) {
	down := func(n, stride int) int { return (n+2-3)/stride + 1 } // 3x3, pad 1
	h, w = down(down(h, 2), 2), down(down(w, 2), 2)
	strides := []int{2, 2, e.Config.LastMergeStride}
	for _, s := range strides {
		h, w = down(h, s), down(w, s)
	}
	return h, w
}

// Forward encodes a normalized [InChans,H,W] image into the
// [NeckDim,h,w] embedding, h x w = OutputSize(H, W).
func (e *Encoder) Forward(x *tensor.Tensor) (*tensor.Tensor, error) {
	cfg := e.Config
	if x == nil || len(x.Shape) != 3 || x.Shape[0] != cfg.InChans || x.Shape[1] < 1 || x.Shape[2] < 1 || len(x.Data) != tensor.Numel(x.Shape) {
		return nil, fmt.Errorf("tinyvit: input %v, want [%d,H,W] with matching data", x, cfg.InChans)
	}
	f := &pass{e: e, d: e.d}
	defer f.releaseAll()
	h, w := x.Shape[1], x.Shape[2]
	in, err := e.d.Upload(x)
	if err != nil {
		return nil, fmt.Errorf("tinyvit: %w", err)
	}
	f.owned = append(f.owned, in)
	d := cfg.EmbedDims

	// Stem: two 3x3 stride-2 convolutions, CHW.
	t, h, w := f.conv3x3(in, "patch_embed.seq.0.c", cfg.InChans, d[0]/2, 2, h, w, webgpu.ActGELU, true)
	cur, h, w := f.conv3x3(t, "patch_embed.seq.2.c", d[0]/2, d[0], 2, h, w, webgpu.ActNone, true)
	f.drop(t)
	for i := 0; i < cfg.Depths[0]; i++ {
		cur = f.mbconv(cur, fmt.Sprintf("layers.0.blocks.%d", i), d[0], d[0]*cfg.MBConvExpand, h, w)
	}
	cur, h, w = f.merge(cur, "layers.0.downsample", d[0], d[1], 2, h, w, false)
	for s := 1; s < 4; s++ {
		for i := 0; i < cfg.Depths[s]; i++ {
			cur = f.block(cur, fmt.Sprintf("layers.%d.blocks.%d", s, i), d[s], cfg.Heads[s], cfg.Windows[s], h, w)
		}
		if s < 3 {
			stride := 2
			if s == 2 {
				stride = cfg.LastMergeStride
			}
			cur, h, w = f.merge(cur, fmt.Sprintf("layers.%d.downsample", s), d[s], d[s+1], stride, h, w, true)
		}
	}
	out := f.neck(cur, d[3], cfg.NeckDim, h, w)
	if f.err != nil {
		return nil, f.err
	}
	res, err := e.d.Read(out)
	if err != nil {
		return nil, fmt.Errorf("tinyvit: %w", err)
	}
	return tensor.From(res, cfg.NeckDim, h, w), nil
}

// Embed preprocesses img as SAM does (longest side encoder.DefaultSize,
// top-left, zero padding) and encodes it: the WebGPU twin of
// (*encoder.Encoder).Embed.
func (e *Encoder) Embed(img image.Image) (*tensor.Tensor, encoder.Geometry, error) {
	return e.EmbedSize(img, encoder.DefaultSize)
}

// EmbedSize is Embed at another input side (a multiple of 16; smaller is
// faster and less accurate).
func (e *Encoder) EmbedSize(img image.Image, size int) (*tensor.Tensor, encoder.Geometry, error) {
	if img == nil || img.Bounds().Empty() {
		return nil, encoder.Geometry{}, fmt.Errorf("tinyvit: empty image")
	}
	if size < 16 || size > 4096 {
		return nil, encoder.Geometry{}, fmt.Errorf("tinyvit: input size %d outside 16..4096", size)
	}
	x, g := encoder.Preprocess(img, size)
	emb, err := e.Forward(x)
	return emb, g, err
}

// pass is one forward pass: it keeps the first error (later ops become
// no-ops) and the scratch buffers to release.
type pass struct {
	e     *Encoder
	d     *webgpu.Device
	err   error
	owned []*webgpu.Buffer
}

func (f *pass) fail(err error) {
	if f.err == nil && err != nil {
		f.err = fmt.Errorf("tinyvit: %w", err)
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

func (f *pass) wt(name string) *webgpu.Buffer { return f.e.w[name] }

// conv3x3 is a dense 3x3 convolution (padding 1) on CHW maps.
func (f *pass) conv3x3(x *webgpu.Buffer, prefix string, in, out, stride, h, w int, act webgpu.Activation, bias bool) (*webgpu.Buffer, int, int) {
	p := cpu.ConvParams{InC: in, InH: h, InW: w, OutC: out, KH: 3, KW: 3, Stride: stride, Pad: 1, Groups: 1}
	oh, ow := p.OutSize()
	y := f.alloc(out * oh * ow)
	if f.err == nil {
		ep := webgpu.Epilogue{Act: act}
		if bias {
			ep.Bias = f.wt(prefix + ".bias")
		}
		f.fail(f.d.Conv2DEpilogue(y, x, f.wt(prefix+".weight"), p, ep))
	}
	return y, oh, ow
}

// depthwise is a 3x3 depthwise convolution (padding 1) with bias on CHW
// maps, or on token rows when tokens is set.
func (f *pass) depthwise(x *webgpu.Buffer, prefix string, c, stride, h, w int, act webgpu.Activation, tokens bool) (*webgpu.Buffer, int, int) {
	p := cpu.ConvParams{InC: c, InH: h, InW: w, OutC: c, KH: 3, KW: 3, Stride: stride, Pad: 1, Groups: c}
	oh, ow := p.OutSize()
	y := f.alloc(c * oh * ow)
	if f.err == nil {
		ep := webgpu.Epilogue{Bias: f.wt(prefix + ".bias"), Act: act}
		if tokens {
			f.fail(f.d.DepthwiseConv2DHWC(y, x, f.wt(prefix+".weight"), p, ep))
		} else {
			f.fail(f.d.Conv2DEpilogue(y, x, f.wt(prefix+".weight"), p, ep))
		}
	}
	return y, oh, ow
}

// Pointwise (1x1) convolutions as one matmul with weight W [out, in] and
// bias; the layout letters say how the input and output are stored.
type layout int

const (
	chw    layout = iota // [c, h*w]
	tokens               // [h*w, c]
)

// pointwise computes dst = act(W x + bias) + beta*dst for hw pixels,
// reading x and writing dst in the given layouts.
func (f *pass) pointwise(dst, x *webgpu.Buffer, prefix string, in, out, hw int, from, to layout, act webgpu.Activation, beta float32, bias bool) {
	if f.err != nil {
		return
	}
	ep := webgpu.Epilogue{Act: act, Beta: beta}
	if bias {
		ep.Bias = f.wt(prefix + ".bias")
	}
	if q := f.e.q[prefix+".weight"]; q != nil && from == tokens && to == tokens {
		f.fail(f.d.LinearQ8(dst, x, q, hw, ep))
		return
	}
	w := f.wt(prefix + ".weight")
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

// mbconv is stage 0's inverted residual on a CHW map:
// GELU(x + conv3(GELU(dw(GELU(conv1(x)))))).
func (f *pass) mbconv(x *webgpu.Buffer, prefix string, dim, hidden, h, w int) *webgpu.Buffer {
	hw := h * w
	t1 := f.alloc(hidden * hw)
	f.pointwise(t1, x, prefix+".conv1.c", dim, hidden, hw, chw, chw, webgpu.ActGELU, 0, true)
	t2, _, _ := f.depthwise(t1, prefix+".conv2.c", hidden, 1, h, w, webgpu.ActGELU, false)
	f.drop(t1)
	// x += conv3(t2); the GELU comes after the residual, as its own pass.
	f.pointwise(x, t2, prefix+".conv3.c", hidden, dim, hw, chw, chw, webgpu.ActNone, 1, true)
	f.drop(t2)
	y := f.alloc(dim * hw)
	if f.err == nil {
		f.fail(f.d.GELU(y, x, dim*hw))
	}
	f.drop(x)
	return y
}

// merge is PatchMerging: 1x1 conv + GELU, 3x3 depthwise (stride) + GELU,
// 1x1 conv, from a CHW map or token rows to token rows.
func (f *pass) merge(x *webgpu.Buffer, prefix string, dim, out, stride, h, w int, fromTokens bool) (*webgpu.Buffer, int, int) {
	from := chw
	if fromTokens {
		from = tokens
	}
	t1 := f.alloc(out * h * w)
	f.pointwise(t1, x, prefix+".conv1.c", dim, out, h*w, from, chw, webgpu.ActGELU, 0, true)
	f.drop(x)
	t2, oh, ow := f.depthwise(t1, prefix+".conv2.c", out, stride, h, w, webgpu.ActGELU, false)
	f.drop(t1)
	y := f.alloc(out * oh * ow)
	f.pointwise(y, t2, prefix+".conv3.c", out, out, oh*ow, chw, tokens, webgpu.ActNone, 0, true)
	f.drop(t2)
	return y, oh, ow
}

// block is a TinyViT block on token rows x [h*w, dim]:
// x += attn(x); x = local_conv(x); x += mlp(x).
func (f *pass) block(x *webgpu.Buffer, prefix string, dim, heads, ws, h, w int) *webgpu.Buffer {
	nh, nw := webgpu.WindowGrid(h, w, ws)
	nt := nh * nw * ws * ws
	kd := dim / heads
	at := prefix + ".attn"

	xw := f.alloc(nt * dim)
	if f.err == nil {
		f.fail(f.d.WindowPartition(xw, x, h, w, dim, ws))
	}
	xn := f.alloc(nt * dim)
	if f.err == nil {
		f.fail(f.d.LayerNorm(xn, xw, f.wt(at+".norm.weight"), f.wt(at+".norm.bias"), nt, dim, lnEps))
	}
	f.drop(xw)
	qkv := f.alloc(nt * 3 * dim)
	f.pointwise(qkv, xn, at+".qkv", dim, 3*dim, nt, tokens, tokens, webgpu.ActNone, 0, true)
	f.drop(xn)
	att := f.alloc(nt * dim)
	if f.err == nil {
		a := webgpu.Attention{Windows: nh * nw, Tokens: ws * ws, Heads: heads, KeyDim: kd, ValDim: kd, Scale: float32(1 / math.Sqrt(float64(kd)))}
		f.fail(f.d.WindowAttention(att, qkv, f.wt(at+".bias"), nil, a))
	}
	f.drop(qkv)
	proj := f.alloc(nt * dim)
	f.pointwise(proj, att, at+".proj", dim, dim, nt, tokens, tokens, webgpu.ActNone, 0, true)
	f.drop(att)
	if f.err == nil {
		f.fail(f.d.WindowReverse(x, proj, h, w, dim, ws, 1))
	}
	f.drop(proj)

	y, _, _ := f.depthwise(x, prefix+".local_conv.c", dim, 1, h, w, webgpu.ActNone, true)
	f.drop(x)

	mlp := prefix + ".mlp"
	t := f.alloc(h * w * dim)
	if f.err == nil {
		f.fail(f.d.LayerNorm(t, y, f.wt(mlp+".norm.weight"), f.wt(mlp+".norm.bias"), h*w, dim, lnEps))
	}
	hid := f.alloc(h * w * 4 * dim)
	f.pointwise(hid, t, mlp+".fc1", dim, 4*dim, h*w, tokens, tokens, webgpu.ActGELU, 0, true)
	f.drop(t)
	f.pointwise(y, hid, mlp+".fc2", 4*dim, dim, h*w, tokens, tokens, webgpu.ActNone, 1, true)
	f.drop(hid)
	return y
}

// neck: 1x1 conv (tokens -> CHW), LayerNorm2d, 3x3 conv, LayerNorm2d;
// both convolutions without bias.
func (f *pass) neck(x *webgpu.Buffer, in, out, h, w int) *webgpu.Buffer {
	t := f.alloc(out * h * w)
	f.pointwise(t, x, "neck.0", in, out, h*w, tokens, chw, webgpu.ActNone, 0, false)
	f.drop(x)
	n1 := f.alloc(out * h * w)
	if f.err == nil {
		f.fail(f.d.LayerNorm2d(n1, t, f.wt("neck.1.weight"), f.wt("neck.1.bias"), out, h, w, neckEps))
	}
	f.drop(t)
	c, _, _ := f.conv3x3(n1, "neck.2", out, out, 1, h, w, webgpu.ActNone, false)
	f.drop(n1)
	y := f.alloc(out * h * w)
	if f.err == nil {
		f.fail(f.d.LayerNorm2d(y, c, f.wt("neck.3.weight"), f.wt("neck.3.bias"), out, h, w, neckEps))
	}
	f.drop(c)
	return y
}
