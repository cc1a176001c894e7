package encoder

import (
	"math"
	"math/rand/v2"

	"github.com/busam/busam/model/tensor"
)

// RandomParams draws a full set of tensors for a cfg-shaped encoder, named
// as NewParams reads them, for tests and benchmarks that run without the
// weights file. Values are scaled so activations stay O(1) through the
// stack, as in a trained model; LayerNorms get non-trivial affine parts,
// and attention biases come as PyTorch's [heads, offsets] tables
// (attention_biases), so loading exercises the gather.
func RandomParams(cfg Config, seed uint64) (map[string]*tensor.Tensor, error) {
	layout, err := Layout(cfg)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(seed, 1))
	p := map[string]*tensor.Tensor{}
	put := func(w *Weight, scale, offset float64, shape ...int) {
		t := tensor.New(shape...)
		for i := range t.Data {
			t.Data[i] = float32(offset + scale*(2*rng.Float64()-1))
		}
		p[w.Name] = t
	}
	conv := func(c *Conv) {
		fan := c.InC / c.Groups * c.Kernel * c.Kernel
		put(c.Weight, 1.7/math.Sqrt(float64(fan)), 0, c.Weight.Shape...)
		if c.Bias != nil {
			put(c.Bias, 0.2, 0, c.Bias.Shape...)
		}
	}
	lin := func(l *Linear) {
		put(l.Weight, 1.7/math.Sqrt(float64(l.In)), 0, l.Weight.Shape...)
		put(l.Bias, 0.2, 0, l.Bias.Shape...)
	}
	norm := func(n *Norm) {
		put(n.Weight, 0.3, 1, n.Dim)
		put(n.Bias, 0.2, 0, n.Dim)
	}
	l := layout
	conv(&l.Stem[0])
	conv(&l.Stem[1])
	for i := range l.MBConv {
		conv(&l.MBConv[i].Conv1)
		conv(&l.MBConv[i].Conv2)
		conv(&l.MBConv[i].Conv3)
	}
	for s := range l.Merges {
		conv(&l.Merges[s].Conv1)
		conv(&l.Merges[s].Conv2)
		conv(&l.Merges[s].Conv3)
	}
	for s := range l.Blocks {
		for i := range l.Blocks[s] {
			b := &l.Blocks[s][i]
			norm(&b.Attn.Norm)
			lin(&b.Attn.QKV)
			lin(&b.Attn.Proj)
			table := &Weight{Name: b.Attn.Bias.Name + "es"} // attention_biases
			put(table, 1, 0, b.Attn.Heads, b.Attn.Window*b.Attn.Window)
			conv(&b.LocalConv)
			norm(&b.MLP.Norm)
			lin(&b.MLP.FC1)
			lin(&b.MLP.FC2)
		}
	}
	conv(&l.Neck.Conv1)
	norm(&l.Neck.Norm1)
	conv(&l.Neck.Conv2)
	norm(&l.Neck.Norm2)
	return p, nil
}
