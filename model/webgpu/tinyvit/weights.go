package tinyvit

import (
	"fmt"

	"github.com/busam/busam/model/encoder"
	"github.com/busam/busam/model/tensor"
)

// weightShape is one tensor the forward pass reads: its name (PyTorch
// module path), PyTorch shape and element count. Attention biases are
// special: see lookup.
type weightShape struct {
	name  string
	shape []int
	numel int
	// attention bias of a window attention: heads and window size.
	heads, window int
}

// weightShapes lists every tensor of a TinyViT of shape cfg.
func weightShapes(cfg encoder.Config) []weightShape {
	var ws []weightShape
	add := func(name string, shape ...int) {
		ws = append(ws, weightShape{name: name, shape: shape, numel: tensor.Numel(shape)})
	}
	conv := func(prefix string, in, out, k int, bias bool) {
		add(prefix+".weight", out, in, k, k)
		if bias {
			add(prefix+".bias", out)
		}
	}
	linear := func(prefix string, in, out int) {
		add(prefix+".weight", out, in)
		add(prefix+".bias", out)
	}
	dw := func(prefix string, c int) { conv(prefix, 1, c, 3, true) } // [c,1,3,3]
	merge := func(prefix string, dim, out int) {
		conv(prefix+".conv1.c", dim, out, 1, true)
		dw(prefix+".conv2.c", out)
		conv(prefix+".conv3.c", out, out, 1, true)
	}
	d := cfg.EmbedDims
	conv("patch_embed.seq.0.c", cfg.InChans, d[0]/2, 3, true)
	conv("patch_embed.seq.2.c", d[0]/2, d[0], 3, true)
	for i := 0; i < cfg.Depths[0]; i++ {
		p := fmt.Sprintf("layers.0.blocks.%d", i)
		hid := d[0] * cfg.MBConvExpand
		conv(p+".conv1.c", d[0], hid, 1, true)
		dw(p+".conv2.c", hid)
		conv(p+".conv3.c", hid, d[0], 1, true)
	}
	merge("layers.0.downsample", d[0], d[1])
	for s := 1; s < 4; s++ {
		dim := d[s]
		for i := 0; i < cfg.Depths[s]; i++ {
			p := fmt.Sprintf("layers.%d.blocks.%d", s, i)
			add(p+".attn.norm.weight", dim)
			add(p+".attn.norm.bias", dim)
			linear(p+".attn.qkv", dim, 3*dim)
			linear(p+".attn.proj", dim, dim)
			ws = append(ws, weightShape{name: p + ".attn.bias", heads: cfg.Heads[s], window: cfg.Windows[s]})
			dw(p+".local_conv.c", dim)
			add(p+".mlp.norm.weight", dim)
			add(p+".mlp.norm.bias", dim)
			linear(p+".mlp.fc1", dim, 4*dim)
			linear(p+".mlp.fc2", 4*dim, dim)
		}
		if s < 3 {
			merge(fmt.Sprintf("layers.%d.downsample", s), dim, d[s+1])
		}
	}
	conv("neck.0", d[3], cfg.NeckDim, 1, false)
	add("neck.1.weight", cfg.NeckDim)
	add("neck.1.bias", cfg.NeckDim)
	conv("neck.2", cfg.NeckDim, cfg.NeckDim, 3, false)
	add("neck.3.weight", cfg.NeckDim)
	add("neck.3.bias", cfg.NeckDim)
	return ws
}

// lookup returns the data of one weight, checking its size. Only the
// element count is checked (converters disagree on singleton dims).
func lookup(p map[string]*tensor.Tensor, s weightShape, cfg encoder.Config) ([]float32, error) {
	if s.heads > 0 {
		return attentionBias(p, s.name[:len(s.name)-len(".bias")], s.heads, s.window)
	}
	t, ok := p[s.name]
	if !ok || t == nil {
		return nil, fmt.Errorf("tinyvit: missing tensor %s", s.name)
	}
	if len(t.Data) != s.numel || tensor.Numel(t.Shape) != s.numel {
		return nil, fmt.Errorf("tinyvit: tensor %s has shape %v, want %d values", s.name, t.Shape, s.numel)
	}
	return t.Data, nil
}

// attentionBias returns the [heads, N, N] bias of a window attention
// (N = window^2), stored either already gathered (as in the ONNX export) or
// as PyTorch's table [heads, offsets] indexed by the (|dy|, |dx|) offset of
// two tokens, offsets numbered in order of first appearance.
func attentionBias(p map[string]*tensor.Tensor, prefix string, heads, window int) ([]float32, error) {
	n := window * window
	for _, name := range []string{prefix + ".ab", prefix + ".attention_bias", prefix + ".attention_biases"} {
		t, ok := p[name]
		if !ok || t == nil {
			continue
		}
		switch len(t.Data) {
		case heads * n * n:
			return t.Data, nil
		case heads * n:
			return gatherBias(t.Data, heads, window), nil
		default:
			return nil, fmt.Errorf("tinyvit: tensor %s has shape %v, want [%d,%d,%d] or [%d,%d]", name, t.Shape, heads, n, n, heads, n)
		}
	}
	return nil, fmt.Errorf("tinyvit: missing tensor %s.attention_biases", prefix)
}

func gatherBias(table []float32, heads, window int) []float32 {
	n := window * window
	ids := map[[2]int]int{}
	idx := make([]int, n*n)
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			off := [2]int{absInt(i/window - j/window), absInt(i%window - j%window)}
			id, ok := ids[off]
			if !ok {
				id = len(ids)
				ids[off] = id
			}
			idx[i*n+j] = id
		}
	}
	out := make([]float32, heads*n*n)
	for h := 0; h < heads; h++ {
		for k, id := range idx {
			out[h*n*n+k] = table[h*n+id]
		}
	}
	return out
}

func absInt(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
