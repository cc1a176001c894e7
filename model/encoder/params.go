package encoder

import (
	"fmt"
	"math"
	"strings"
	"sync"

	"github.com/busam/busam/model/tensor"
)

// This file is the one description of the model's parameters that every
// backend shares (this package's CPU forward and model/webgpu/tinyvit):
// which tensors exist, their names (PyTorch module paths of MobileSAM's
// TinyViT), their shapes, how they are validated and how the attention
// bias is gathered. Backends re-lay weights out for their kernels, but
// never re-derive names or shapes.

// Weight is one tensor of the model, in PyTorch layout.
type Weight struct {
	Name  string // module path, e.g. "layers.1.blocks.0.attn.qkv.weight"
	Shape []int  // PyTorch shape; attention biases are [Heads, N, N] after gathering
	Data  []float32
}

// Conv is a Conv2d with its batch norm folded in: Weight [OutC,
// InC/Groups, K, K], padding K/2. Bias is nil for the neck's convs.
type Conv struct {
	InC, OutC, Kernel, Stride, Groups int
	Weight, Bias                      *Weight
}

// Depthwise reports a conv with one group per channel.
func (c *Conv) Depthwise() bool { return c.Groups > 1 && c.Groups == c.InC && c.InC == c.OutC }

// Pad is the zero padding on each side (TinyViT pads K/2).
func (c *Conv) Pad() int { return c.Kernel / 2 }

// OutSize is the output resolution for an h x w input.
func (c *Conv) OutSize(h, w int) (int, int) {
	p := c.Pad()
	return (h+2*p-c.Kernel)/c.Stride + 1, (w+2*p-c.Kernel)/c.Stride + 1
}

// FLOPs counts multiply-adds x2 for an h x w input, padding taps included.
func (c *Conv) FLOPs(h, w int) int64 {
	oh, ow := c.OutSize(h, w)
	return 2 * int64(oh*ow) * int64(c.OutC) * int64(c.Kernel*c.Kernel*c.InC/c.Groups)
}

// Linear is nn.Linear: Weight [Out, In], Bias [Out].
type Linear struct {
	In, Out      int
	Weight, Bias *Weight
}

// Norm is a LayerNorm over Dim channels (LayerNorm2d in the neck).
type Norm struct {
	Dim          int
	Eps          float32
	Weight, Bias *Weight
}

// Attention is TinyViT's window attention. QKV's output rows are laid out
// per head as [q | k | v] (qkv.view(n, heads, 3*KeyDim)), each KeyDim
// long. Bias is [Heads, N, N], N = Window^2, added to the scaled scores.
type Attention struct {
	Dim, Heads, KeyDim, Window int
	Norm                       Norm
	QKV, Proj                  Linear
	Bias                       *Weight
}

// Scale is the factor of the query-key products, 1/sqrt(KeyDim).
func (a *Attention) Scale() float32 { return float32(1 / math.Sqrt(float64(a.KeyDim))) }

// Windows is the window grid of an h x w map (bottom/right padded).
func (a *Attention) Windows(h, w int) (nh, nw int) {
	return (h + a.Window - 1) / a.Window, (w + a.Window - 1) / a.Window
}

// FLOPs counts what the original computes, padding tokens included.
func (a *Attention) FLOPs(h, w int) int64 {
	nh, nw := a.Windows(h, w)
	tokens := int64(nh * nw * a.Window * a.Window)
	n := int64(a.Window * a.Window)
	c := int64(a.Dim)
	qkv := 2 * tokens * c * 3 * c
	attn := 2 * 2 * int64(nh*nw) * int64(a.Heads) * n * n * int64(a.KeyDim)
	proj := 2 * tokens * c * c
	return qkv + attn + proj
}

// MLP is LayerNorm, FC1, GELU, FC2 (added to the residual).
type MLP struct {
	Norm     Norm
	FC1, FC2 Linear
}

// FLOPs for rows tokens.
func (m *MLP) FLOPs(rows int) int64 {
	return 2 * 2 * int64(rows) * int64(m.FC1.In) * int64(m.FC1.Out)
}

// Block is a TinyViT block: x += Attn(x); x = LocalConv(x); x += MLP(x).
type Block struct {
	Attn      Attention
	LocalConv Conv
	MLP       MLP
}

// MBConv is stage 0's inverted residual:
// x = GELU(x + Conv3(GELU(Conv2(GELU(Conv1(x)))))), Conv2 depthwise.
type MBConv struct{ Conv1, Conv2, Conv3 Conv }

// Merge is PatchMerging: Conv1 (1x1) + GELU, Conv2 (3x3 depthwise,
// strided) + GELU, Conv3 (1x1). No residual.
type Merge struct{ Conv1, Conv2, Conv3 Conv }

// OutSize is the merge's output resolution.
func (m *Merge) OutSize(h, w int) (int, int) { return m.Conv2.OutSize(h, w) }

// FLOPs for an h x w input.
func (m *Merge) FLOPs(h, w int) int64 {
	oh, ow := m.OutSize(h, w)
	return m.Conv1.FLOPs(h, w) + m.Conv2.FLOPs(h, w) + m.Conv3.FLOPs(oh, ow)
}

// Neck is SAM's neck: Conv1 (1x1), Norm1, Conv2 (3x3), Norm2 (LayerNorm2d,
// eps 1e-6; convs without bias).
type Neck struct {
	Conv1, Conv2 Conv
	Norm1, Norm2 Norm
}

// Params is every tensor of a TinyViT encoder of shape Config, arranged
// as its modules: the stem (two 3x3 stride-2 convs, GELU between), stage 0
// (MBConvs), stages 1..3 (Blocks), a Merge after stages 0..2, the neck.
type Params struct {
	Config Config
	Stem   [2]Conv
	MBConv []MBConv   // stage 0
	Blocks [4][]Block // stages 1..3 (index 0 unused)
	Merges [3]Merge   // after stages 0, 1, 2
	Neck   Neck
}

// Norm epsilons of the original: nn.LayerNorm in the blocks, LayerNorm2d
// in the neck.
const (
	blockEps = 1e-5
	neckEps  = 1e-6
)

// Layout returns the parameters of a cfg-shaped encoder with every name
// and shape set and no data: the list a loader fills (NewParams), a
// converter or test generator writes, a backend uploads.
func Layout(cfg Config) (*Params, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	w := func(name string, shape ...int) *Weight { return &Weight{Name: name, Shape: shape} }
	conv := func(prefix string, in, out, k, stride, groups int, bias bool) Conv {
		c := Conv{InC: in, OutC: out, Kernel: k, Stride: stride, Groups: groups,
			Weight: w(prefix+".weight", out, in/groups, k, k)}
		if bias {
			c.Bias = w(prefix+".bias", out)
		}
		return c
	}
	linear := func(prefix string, in, out int) Linear {
		return Linear{In: in, Out: out, Weight: w(prefix+".weight", out, in), Bias: w(prefix+".bias", out)}
	}
	norm := func(prefix string, dim int, eps float32) Norm {
		return Norm{Dim: dim, Eps: eps, Weight: w(prefix+".weight", dim), Bias: w(prefix+".bias", dim)}
	}
	d := cfg.EmbedDims
	p := &Params{Config: cfg}
	p.Stem[0] = conv("patch_embed.seq.0.c", cfg.InChans, d[0]/2, 3, 2, 1, true)
	p.Stem[1] = conv("patch_embed.seq.2.c", d[0]/2, d[0], 3, 2, 1, true)
	hid := d[0] * cfg.MBConvExpand
	for i := 0; i < cfg.Depths[0]; i++ {
		pre := fmt.Sprintf("layers.0.blocks.%d", i)
		p.MBConv = append(p.MBConv, MBConv{
			Conv1: conv(pre+".conv1.c", d[0], hid, 1, 1, 1, true),
			Conv2: conv(pre+".conv2.c", hid, hid, 3, 1, hid, true),
			Conv3: conv(pre+".conv3.c", hid, d[0], 1, 1, 1, true),
		})
	}
	for s := 0; s < 3; s++ {
		pre, out, stride := fmt.Sprintf("layers.%d.downsample", s), d[s+1], 2
		if s == 2 {
			stride = cfg.LastMergeStride
		}
		p.Merges[s] = Merge{
			Conv1: conv(pre+".conv1.c", d[s], out, 1, 1, 1, true),
			Conv2: conv(pre+".conv2.c", out, out, 3, stride, out, true),
			Conv3: conv(pre+".conv3.c", out, out, 1, 1, 1, true),
		}
	}
	for s := 1; s < 4; s++ {
		dim, heads, win := d[s], cfg.Heads[s], cfg.Windows[s]
		n := win * win
		for i := 0; i < cfg.Depths[s]; i++ {
			pre := fmt.Sprintf("layers.%d.blocks.%d", s, i)
			p.Blocks[s] = append(p.Blocks[s], Block{
				Attn: Attention{Dim: dim, Heads: heads, KeyDim: dim / heads, Window: win,
					Norm: norm(pre+".attn.norm", dim, blockEps),
					QKV:  linear(pre+".attn.qkv", dim, 3*dim),
					Proj: linear(pre+".attn.proj", dim, dim),
					Bias: w(pre+".attn.attention_bias", heads, n, n),
				},
				LocalConv: conv(pre+".local_conv.c", dim, dim, 3, 1, dim, true),
				MLP: MLP{
					Norm: norm(pre+".mlp.norm", dim, blockEps),
					FC1:  linear(pre+".mlp.fc1", dim, 4*dim),
					FC2:  linear(pre+".mlp.fc2", 4*dim, dim),
				},
			})
		}
	}
	p.Neck = NeckLayout(d[3], cfg.NeckDim)
	return p, nil
}

// NeckLayout is the neck of Layout from in trunk channels to out
// embedding channels: names, shapes and epsilons, no data (the trainable
// neck of model/heads is built from it too).
func NeckLayout(in, out int) Neck {
	w := func(name string, shape ...int) *Weight { return &Weight{Name: name, Shape: shape} }
	conv := func(prefix string, in, out, k int) Conv {
		return Conv{InC: in, OutC: out, Kernel: k, Stride: 1, Groups: 1, Weight: w(prefix+".weight", out, in, k, k)}
	}
	norm := func(prefix string) Norm {
		return Norm{Dim: out, Eps: neckEps, Weight: w(prefix+".weight", out), Bias: w(prefix+".bias", out)}
	}
	return Neck{Conv1: conv("neck.0", in, out, 1), Norm1: norm("neck.1"), Conv2: conv("neck.2", out, out, 3), Norm2: norm("neck.3")}
}

// Weights lists every tensor of p in a fixed order (module order).
func (p *Params) Weights() []*Weight {
	var ws []*Weight
	conv := func(c *Conv) {
		ws = append(ws, c.Weight)
		if c.Bias != nil {
			ws = append(ws, c.Bias)
		}
	}
	lin := func(l *Linear) { ws = append(ws, l.Weight, l.Bias) }
	norm := func(n *Norm) { ws = append(ws, n.Weight, n.Bias) }
	conv(&p.Stem[0])
	conv(&p.Stem[1])
	for i := range p.MBConv {
		m := &p.MBConv[i]
		conv(&m.Conv1)
		conv(&m.Conv2)
		conv(&m.Conv3)
	}
	for s := 0; s < 4; s++ {
		for i := range p.Blocks[s] {
			b := &p.Blocks[s][i]
			norm(&b.Attn.Norm)
			lin(&b.Attn.QKV)
			lin(&b.Attn.Proj)
			ws = append(ws, b.Attn.Bias)
			conv(&b.LocalConv)
			norm(&b.MLP.Norm)
			lin(&b.MLP.FC1)
			lin(&b.MLP.FC2)
		}
		if s < 3 {
			m := &p.Merges[s]
			conv(&m.Conv1)
			conv(&m.Conv2)
			conv(&m.Conv3)
		}
	}
	conv(&p.Neck.Conv1)
	norm(&p.Neck.Norm1)
	conv(&p.Neck.Conv2)
	norm(&p.Neck.Norm2)
	return ws
}

// TokenLinears are the linear layers that run on token rows (qkv, proj,
// fc1, fc2 of every block): the ones int8 backends keep quantized.
func (p *Params) TokenLinears() []*Linear {
	var ls []*Linear
	for s := range p.Blocks {
		for i := range p.Blocks[s] {
			b := &p.Blocks[s][i]
			ls = append(ls, &b.Attn.QKV, &b.Attn.Proj, &b.MLP.FC1, &b.MLP.FC2)
		}
	}
	return ls
}

// NewParams fills Layout(cfg) from tensors named by module path, checking
// every size, so a wrong or truncated weights file is an error naming the
// tensor, never an index panic later. The data is used in place (except
// gathered attention biases): the caller must not modify it afterwards.
func NewParams(cfg Config, tensors map[string]*tensor.Tensor) (*Params, error) {
	p, err := Layout(cfg)
	if err != nil {
		return nil, err
	}
	heads := map[*Weight]int{}
	for s := range p.Blocks {
		for i := range p.Blocks[s] {
			a := &p.Blocks[s][i].Attn
			heads[a.Bias] = a.Heads
		}
	}
	for _, w := range p.Weights() {
		if h, ok := heads[w]; ok {
			w.Data, err = attentionBias(tensors, w.Name, h, w.Shape[1])
		} else {
			w.Data, err = lookup(tensors, w)
		}
		if err != nil {
			return nil, err
		}
	}
	return p, nil
}

// lookup returns the data of w's tensor. Only the element count is
// checked: converters disagree on singleton dimensions (LayerNorm2d
// weights as [256] or [256,1,1]).
func lookup(tensors map[string]*tensor.Tensor, w *Weight) ([]float32, error) {
	t, ok := tensors[w.Name]
	if !ok || t == nil {
		return nil, fmt.Errorf("encoder: missing tensor %s", w.Name)
	}
	if want := tensor.Numel(w.Shape); len(t.Data) != want || tensor.Numel(t.Shape) != want {
		return nil, fmt.Errorf("encoder: tensor %s has shape %v, want %v", w.Name, t.Shape, w.Shape)
	}
	return t.Data, nil
}

// attentionBiasNames are the names the bias goes by: the converted ONNX
// export's attention_bias (gathered), PyTorch's attention_biases (table),
// and ab (the buffer TinyViT caches in eval mode, gathered).
var attentionBiasNames = []string{"attention_bias", "attention_biases", "ab"}

// attentionBias returns the [heads, N, N] bias of a window attention,
// N = window^2, stored either gathered or as PyTorch's table [heads,
// offsets] indexed by the (|dy|, |dx|) offset of two tokens, offsets
// numbered in order of first appearance.
func attentionBias(tensors map[string]*tensor.Tensor, name string, heads, n int) ([]float32, error) {
	prefix := name[:len(name)-len("attention_bias")]
	window := isqrt(n)
	for _, suffix := range attentionBiasNames {
		t, ok := tensors[prefix+suffix]
		if !ok || t == nil {
			continue
		}
		if len(t.Data) != tensor.Numel(t.Shape) {
			return nil, fmt.Errorf("encoder: tensor %s has shape %v but %d values", prefix+suffix, t.Shape, len(t.Data))
		}
		switch len(t.Data) {
		case heads * n * n:
			return t.Data, nil
		case heads * n: // window^2 distinct offsets, one table entry each
			return gatherAttentionBias(t.Data, heads, window), nil
		default:
			return nil, fmt.Errorf("encoder: tensor %s has shape %v, want [%d,%d,%d] or [%d,%d]", prefix+suffix, t.Shape, heads, n, n, heads, n)
		}
	}
	return nil, fmt.Errorf("encoder: missing tensor %sattention_biases", prefix)
}

// gatherAttentionBias expands a [heads, offsets] table to [heads, N, N].
func gatherAttentionBias(table []float32, heads, window int) []float32 {
	n := window * window
	idx := attentionBiasIndex(window)
	out := make([]float32, heads*n*n)
	for h := 0; h < heads; h++ {
		for k, id := range idx {
			out[h*n*n+k] = table[h*n+id]
		}
	}
	return out
}

// attentionBiasIndex is PyTorch's attention_bias_idxs: for tokens i, j of
// a window (row-major), the table entry of their (|dy|, |dx|) offset, the
// offsets numbered in order of first appearance.
func attentionBiasIndex(window int) []int {
	if idx, ok := biasIndexes.Load(window); ok {
		return idx.([]int)
	}
	n := window * window
	index := map[[2]int]int{}
	idx := make([]int, n*n)
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			off := [2]int{abs(i/window - j/window), abs(i%window - j%window)}
			id, ok := index[off]
			if !ok {
				id = len(index)
				index[off] = id
			}
			idx[i*n+j] = id
		}
	}
	biasIndexes.Store(window, idx)
	return idx
}

// biasIndexes caches attentionBiasIndex per window (read-only slices):
// every attention backward needs it.
var biasIndexes sync.Map

// BiasTableName is the name of the attention's trainable bias table,
// PyTorch's attention_biases [Heads, Window^2] (Bias is its gathered form).
func (a *Attention) BiasTableName() string {
	return strings.TrimSuffix(a.Bias.Name, "attention_bias") + "attention_biases"
}

// BiasTable returns the [Heads, Window^2] table that Bias was gathered
// from (each entry read where its offset first appears).
func (a *Attention) BiasTable() []float32 {
	n := a.Window * a.Window
	table := make([]float32, a.Heads*n)
	idx := attentionBiasIndex(a.Window)
	for h := 0; h < a.Heads; h++ {
		for k := len(idx) - 1; k >= 0; k-- { // the last write is the first appearance
			table[h*n+idx[k]] = a.Bias.Data[h*n*n+k]
		}
	}
	return table
}

// SetBiasTable gathers a [Heads, Window^2] table into Bias (in place): how
// an optimizer applies a step to the table. CPU ops built before keep
// their own copy: build a new Encoder (FromParams) after updating Params.
func (a *Attention) SetBiasTable(table []float32) {
	copy(a.Bias.Data, gatherAttentionBias(table, a.Heads, a.Window))
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func isqrt(n int) int {
	r := 0
	for (r+1)*(r+1) <= n {
		r++
	}
	return r
}

// OutputSize is the embedding's spatial size for an h x w input: every
// resolution change is a 3x3 conv with padding 1 (stem, merges).
func (c Config) OutputSize(h, w int) (int, int) {
	down := func(n, stride int) int { return (n+2-3)/stride + 1 }
	for _, s := range []int{2, 2, 2, 2, c.LastMergeStride} {
		h, w = down(h, s), down(w, s)
	}
	return h, w
}

// FLOPs is the number of floating-point operations (2 per multiply-add) of
// the convolutions, linear layers and attention products for an h x w
// input, counted as the original model computes them: window attention
// includes the padding tokens. Normalizations and activations are left out.
func (p *Params) FLOPs(h, w int) int64 {
	var f int64
	for i := range p.Stem {
		f += p.Stem[i].FLOPs(h, w)
		h, w = p.Stem[i].OutSize(h, w)
	}
	for i := range p.MBConv {
		m := &p.MBConv[i]
		f += m.Conv1.FLOPs(h, w) + m.Conv2.FLOPs(h, w) + m.Conv3.FLOPs(h, w)
	}
	for s := 0; s < 4; s++ {
		for i := range p.Blocks[s] {
			b := &p.Blocks[s][i]
			f += b.Attn.FLOPs(h, w) + b.LocalConv.FLOPs(h, w) + b.MLP.FLOPs(h*w)
		}
		if s < 3 {
			f += p.Merges[s].FLOPs(h, w)
			h, w = p.Merges[s].OutSize(h, w)
		}
	}
	return f + p.Neck.Conv1.FLOPs(h, w) + p.Neck.Conv2.FLOPs(h, w)
}
