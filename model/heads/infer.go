package heads

import (
	"fmt"
	"slices"

	"github.com/busam/busam/model/tensor"
)

// Backend runs the heads' inference ops on one kind of device; T is its
// buffer type (host tensors here, device buffers in
// model/webgpu/samheads). Infer is the one definition of the inference
// data flow that every backend runs, over the Model's own layers and
// parameters, so the backends share weight names, shapes and order of
// operations. Maps are CHW; an op does not change its inputs, except Add,
// which may reuse x's storage for its result.
type Backend[T any] interface {
	// Block is GELU(norm(conv(x))) (a convolution block); norm nil means
	// the convolution's own bias instead.
	Block(x T, c *Conv2d, norm *GroupNorm, h, w int) T
	// Conv is conv(x) + bias (stride 1, same padding).
	Conv(x T, c *Conv2d, h, w int) T
	// Add is x + y over n values.
	Add(x, y T, n int) T
	// Upsample2x is Upsample2x of a [c,h,w] map.
	Upsample2x(x T, c, h, w int) T
	// AvgPool is AvgPool of a [c,h,w] map over k x k blocks.
	AvgPool(x T, c, h, w, k int) T
	// Concat stacks x [cx,h,w] and y [cy,h,w] along channels.
	Concat(x T, cx int, y T, cy int, h, w int) T
	// Attention is the classifier's view of mask logits [1,4h,4w]: the
	// pooling weights [h*w], then the soft mask's mean and peak (h*w+2
	// values; see Model.attentionFrom).
	Attention(logits T, h, w int, eps float64) T
	// Pool is MaskPool of f [c,h,w] under the weights of att, followed
	// by att's mean and peak: the classifier input [2c+2].
	Pool(f T, c, h, w int, att T) T
	// Standardize is (x - shift) * scale per feature.
	Standardize(x T, shift, scale *Param) T
	// LayerNorm is n applied to the vector x.
	LayerNorm(x T, n *LayerNorm) T
	// Linear is l applied to the vector x, then GELU when gelu is set.
	Linear(x T, l *Linear, gelu bool) T
	// Output collects the results: mask logits [1,4h,4w], attention
	// [h*w+2], class logits and the classifier's input z [2c+2]
	// (Output.ClassifierInput); or the first error of the pass. Infer
	// fills in the rest of Output.
	Output(logits, att, cls, z T, h, w, classes, c int) (Output, error)
	// Evidence is ClassEvidence of the features f [c,h,w] under the
	// pooling weights of att (its first h*w values) for the host weights
	// wts [classes,2c] of EvidenceWeights, on the host: [classes,h,w]. A
	// backend may return nil (the training recorder, which has no use for
	// it).
	Evidence(f, att T, wts []float32, c, h, w, classes int) (*tensor.Tensor, error)
}

// Infer runs the heads in inference mode on backend b: emb is the
// embedding [EmbedDim,h,w]; img (read by "unet" only) the encoder input
// [3,4hk,4wk], average-pooled by k first. The caller validates the shapes
// (Model.Check for host tensors).
func Infer[T any](b Backend[T], m *Model, emb, img T, h, w, k int) (Output, error) {
	c := m.Config
	if h < 1 || w < 1 || k < 1 {
		return Output{}, fmt.Errorf("heads: infer on a %dx%d embedding with image scale %d", h, w, k)
	}
	var s2, s4 T
	if c.Kind == "unet" {
		if k > 1 {
			img = b.AvgPool(img, 3, 4*h*k, 4*w*k, k)
		}
		s4 = b.Block(img, m.stem4.conv, m.stem4.norm, 4*h, 4*w)
		s2 = b.Block(b.AvgPool(s4, c.Stem[0], 4*h, 4*w, 2), m.stem2.conv, m.stem2.norm, 2*h, 2*w)
	}
	a := b.Block(emb, m.in.conv, m.in.norm, h, w)
	for _, blk := range m.mids { // a <- block(a) + a
		a = b.Add(b.Block(a, blk.conv, blk.norm, h, w), a, c.Width[0]*h*w)
	}
	u1 := b.Upsample2x(b.Conv(a, m.red1, h, w), c.Width[1], h, w)
	if c.Kind == "unet" {
		u1 = b.Concat(u1, c.Width[1], s2, c.Stem[1], 2*h, 2*w)
	}
	d1 := b.Block(u1, m.up1.conv, m.up1.norm, 2*h, 2*w)
	u2 := b.Upsample2x(b.Conv(d1, m.red2, 2*h, 2*w), c.Width[2], 2*h, 2*w)
	if c.Kind == "unet" {
		u2 = b.Concat(u2, c.Width[2], s4, c.Stem[0], 4*h, 4*w)
	}
	d2 := b.Block(u2, m.up2.conv, m.up2.norm, 4*h, 4*w)
	logits := b.Conv(d2, m.out, 4*h, 4*w)

	att := b.Attention(logits, h, w, c.AttnEps)
	feats := c.poolFeatures()
	f := b.Concat(emb, c.EmbedDim, a, c.Width[0], h, w)
	pooled := b.Pool(f, feats, h, w, att)
	z := b.Standardize(pooled, m.featShift, m.featScale)
	z = b.LayerNorm(z, m.norm)
	cls := b.Linear(b.Linear(z, m.fc1, true), m.fc2, false)
	out, err := b.Output(logits, att, cls, pooled, h, w, c.Classes, feats)
	if err != nil {
		return Output{}, err
	}
	if len(out.ClassifierInput) != 2*feats+2 {
		return Output{}, fmt.Errorf("heads: backend gave %d classifier inputs, want %d", len(out.ClassifierInput), 2*feats+2)
	}
	out.Context = slices.Clone(out.ClassifierInput[feats : 2*feats])
	// Class evidence (evidence.go): the score's gradient on the host from
	// the pooled vector, then gradient x input over the grid on the backend.
	wts, err := m.EvidenceWeights(out.ClassifierInput, h*w)
	if err != nil {
		return Output{}, err
	}
	if out.Evidence, err = b.Evidence(f, att, wts, feats, h, w, c.Classes); err != nil {
		return Output{}, err
	}
	return out, nil
}

// cpuBackend is Backend on host tensors. The training forward pass is
// Infer on it too, with a recorder on top (record.go), so inference and
// training give the same bits.
type cpuBackend struct{ m *Model }

var _ Backend[*tensor.Tensor] = cpuBackend{}

func (cpuBackend) Block(x *tensor.Tensor, c *Conv2d, norm *GroupNorm, _, _ int) *tensor.Tensor {
	y, _ := (&convBlock{conv: c, norm: norm}).forward(x)
	return y
}

func (cpuBackend) Conv(x *tensor.Tensor, c *Conv2d, _, _ int) *tensor.Tensor { return c.Forward(x) }

func (cpuBackend) Add(x, y *tensor.Tensor, _ int) *tensor.Tensor {
	for i, v := range y.Data {
		x.Data[i] += v
	}
	return x
}

func (cpuBackend) Upsample2x(x *tensor.Tensor, _, _, _ int) *tensor.Tensor { return Upsample2x(x) }

func (cpuBackend) AvgPool(x *tensor.Tensor, _, _, _, k int) *tensor.Tensor { return AvgPool(x, k) }

func (cpuBackend) Concat(x *tensor.Tensor, _ int, y *tensor.Tensor, _, _, _ int) *tensor.Tensor {
	return Concat(x, y)
}

func (b cpuBackend) Attention(logits *tensor.Tensor, h, w int, _ float64) *tensor.Tensor {
	att := b.m.maskAttention(logits)
	t := tensor.New(h*w + 2)
	copy(t.Data, att.weights)
	t.Data[h*w], t.Data[h*w+1] = att.mean, att.peak
	return t
}

func (cpuBackend) Pool(f *tensor.Tensor, c, h, w int, att *tensor.Tensor) *tensor.Tensor {
	pooled := MaskPool(f, att.Data[:h*w])
	z := tensor.New(2*c + 2)
	copy(z.Data, pooled.Data)
	copy(z.Data[2*c:], att.Data[h*w:])
	return z
}

func (cpuBackend) Standardize(x *tensor.Tensor, shift, scale *Param) *tensor.Tensor {
	y := tensor.New(x.Len())
	for i, v := range x.Data {
		y.Data[i] = (v - shift.Value.Data[i]) * scale.Value.Data[i]
	}
	return y
}

func (cpuBackend) LayerNorm(x *tensor.Tensor, n *LayerNorm) *tensor.Tensor {
	y, _ := n.Forward(x)
	return y
}

func (cpuBackend) Linear(x *tensor.Tensor, l *Linear, gelu bool) *tensor.Tensor {
	y := l.Forward(x)
	if gelu {
		y = GELU(y)
	}
	return y
}

func (cpuBackend) Output(logits, att, cls, z *tensor.Tensor, h, w, _, _ int) (Output, error) {
	return Output{MaskLogits: logits, ClassLogits: cls.Data, Attention: tensor.From(att.Data[:h*w], 1, h, w),
		ClassifierInput: slices.Clone(z.Data)}, nil
}

func (cpuBackend) Evidence(f, att *tensor.Tensor, wts []float32, _, h, w, classes int) (*tensor.Tensor, error) {
	return ClassEvidence(f, att.Data[:h*w], wts, classes), nil
}

// infer is Infer on the host for an input that passed Check.
func (m *Model) infer(in Input) (Output, error) {
	e := in.Embedding
	h, w, k := e.Shape[1], e.Shape[2], 1
	if m.Config.Kind == "unet" {
		k = in.Image.Shape[1] / (4 * h)
	}
	return Infer[*tensor.Tensor](cpuBackend{m}, m, e, in.Image, h, w, k)
}

// NormEps is the epsilon of the heads' GroupNorm and LayerNorm, for
// backends that run them.
const NormEps = normEps
