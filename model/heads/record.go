package heads

import (
	"math/rand/v2"

	"github.com/busam/busam/model/tensor"
)

// recorder is the training backend: Infer's CPU backend that also keeps,
// in a Tape, what Backward needs, with the two ways training departs from
// inference as hooks: dropout after the classifier's hidden layer (rng,
// nil for none) and a fixed attention in place of the one derived from
// the predicted mask (teacher forcing, and the gradient checks).
type recorder struct {
	cpuBackend
	t     *Tape
	rng   *rand.Rand
	fixed *attention
}

var _ Backend[*tensor.Tensor] = (*recorder)(nil)

func (r *recorder) Block(x *tensor.Tensor, c *Conv2d, norm *GroupNorm, _, _ int) *tensor.Tensor {
	y, bt := (&convBlock{conv: c, norm: norm}).forward(x)
	r.t.blocks[c] = bt
	return y
}

func (r *recorder) Conv(x *tensor.Tensor, c *Conv2d, _, _ int) *tensor.Tensor {
	r.t.convIn[c] = x
	return c.Forward(x)
}

func (r *recorder) Attention(logits *tensor.Tensor, h, w int, eps float64) *tensor.Tensor {
	att := r.m.maskAttention(logits)
	if r.fixed != nil {
		att = *r.fixed
	}
	r.t.att = att
	t := tensor.New(h*w + 2)
	copy(t.Data, att.weights)
	t.Data[h*w], t.Data[h*w+1] = att.mean, att.peak
	return t
}

func (r *recorder) Pool(f *tensor.Tensor, c, h, w int, att *tensor.Tensor) *tensor.Tensor {
	r.t.feats = f
	r.t.z = r.cpuBackend.Pool(f, c, h, w, att)
	return r.t.z
}

func (r *recorder) LayerNorm(x *tensor.Tensor, n *LayerNorm) *tensor.Tensor {
	r.t.zn, r.t.zst = n.Forward(x)
	return r.t.zn
}

// Linear records the hidden layer's pre-activation and applies dropout
// after its GELU; the output layer's input is then the dropped-out vector.
func (r *recorder) Linear(x *tensor.Tensor, l *Linear, gelu bool) *tensor.Tensor {
	y := l.Forward(x)
	if !gelu {
		return y
	}
	r.t.h1 = y
	a := GELU(y)
	r.t.h1d = a
	if r.rng != nil && r.m.Config.Dropout > 0 {
		r.t.h1d, r.t.keep = Dropout(a, r.m.Config.Dropout, r.rng)
	}
	return r.t.h1d
}

// Evidence is skipped in training: nothing reads it there.
func (r *recorder) Evidence(_, _ *tensor.Tensor, _ []float32, _, _, _, _ int) (*tensor.Tensor, error) {
	return nil, nil
}

// forward runs Infer on the recorder: the training forward pass. fixed,
// when set, replaces the attention derived from the mask (the gradient
// check holds it still, as Backward does). in must pass Check.
func (m *Model) forward(in Input, rng *rand.Rand, fixed *attention) (Output, *Tape) {
	t := &Tape{blocks: map[*Conv2d]blockTape{}, convIn: map[*Conv2d]*tensor.Tensor{}}
	e := in.Embedding
	h, w, k := e.Shape[1], e.Shape[2], 1
	if m.Config.Kind == "unet" {
		k = in.Image.Shape[1] / (4 * h)
	}
	out, _ := Infer[*tensor.Tensor](&recorder{cpuBackend: cpuBackend{m}, t: t, rng: rng, fixed: fixed}, m, e, in.Image, h, w, k)
	return out, t
}
