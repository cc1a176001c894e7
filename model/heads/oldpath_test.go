package heads

// The training forward pass as it was before it became Infer on a
// recording backend (record.go), kept here to show both give the same bits.

import (
	"math"
	"strings"
	"testing"

	"math/rand/v2"

	"github.com/busam/busam/model/tensor"
)

// Tape is what a training forward pass keeps for its backward pass.
type oldTape struct {
	stem4, stem2, in, up1, up2 blockTape
	mids                       []blockTape
	s4                         *tensor.Tensor
	a2, b, c                   *tensor.Tensor
	att                        attention
	feats                      *tensor.Tensor // [E+W0, h, w]
	z                          *tensor.Tensor // classifier input
	zst                        normStats
	zn, h1, h1a, h1d           *tensor.Tensor
	keep                       []float32
}

// forward runs the model; fixed, when set, replaces the attention derived
// from the mask (the gradient check holds it still, as Backward does).
func (m *Model) forwardOld(in Input, rng *rand.Rand, fixed *attention) (Output, *oldTape) {
	t := &oldTape{}
	e := in.Embedding
	h, w := e.Shape[1], e.Shape[2]
	var s2 *tensor.Tensor
	if m.Config.Kind == "unet" {
		img := in.Image
		if k := img.Shape[1] / (4 * h); k > 1 {
			img = AvgPool(img, k)
		}
		t.s4, t.stem4 = m.stem4.forward(img)
		s2, t.stem2 = m.stem2.forward(AvgPool(t.s4, 2))
	}
	a1, tin := m.in.forward(e)
	t.in = tin
	a2 := a1
	for _, blk := range m.mids { // a <- block(a) + a
		y, tb := blk.forward(a2)
		t.mids = append(t.mids, tb)
		for i, v := range a2.Data {
			y.Data[i] += v
		}
		a2 = y
	}
	t.a2 = a2
	u1 := Upsample2x(m.red1.Forward(a2))
	if s2 != nil {
		u1 = Concat(u1, s2)
	}
	t.b, t.up1 = m.up1.forward(u1)
	u2 := Upsample2x(m.red2.Forward(t.b))
	if t.s4 != nil {
		u2 = Concat(u2, t.s4)
	}
	t.c, t.up2 = m.up2.forward(u2)
	logits := m.out.Forward(t.c)

	att := m.maskAttention(logits)
	if fixed != nil {
		att = *fixed
	}
	t.att = att
	t.feats = Concat(e, a2)
	pooled := MaskPool(t.feats, att.weights)
	t.z = tensor.New(pooled.Len() + 2)
	copy(t.z.Data, pooled.Data)
	t.z.Data[pooled.Len()] = att.mean
	t.z.Data[pooled.Len()+1] = att.peak

	zs := tensor.New(t.z.Len())
	for i, v := range t.z.Data {
		zs.Data[i] = (v - m.featShift.Value.Data[i]) * m.featScale.Value.Data[i]
	}
	t.zn, t.zst = m.norm.Forward(zs)
	t.h1 = m.fc1.Forward(t.zn)
	t.h1a = GELU(t.h1)
	t.h1d = t.h1a
	if rng != nil && m.Config.Dropout > 0 {
		t.h1d, t.keep = Dropout(t.h1a, m.Config.Dropout, rng)
	}
	cls := m.fc2.Forward(t.h1d)
	return Output{MaskLogits: logits, ClassLogits: cls.Data,
		Attention: tensor.From(att.weights, 1, h, w)}, t
}

func (m *Model) backwardOld(t *oldTape, dMask *tensor.Tensor, dClass []float32, g Grads, wantDE bool) *tensor.Tensor {
	h, w := t.a2.Shape[1], t.a2.Shape[2]
	da2 := tensor.New(t.a2.Shape...)
	var dePool []float32 // the classifier's part of the embedding gradient
	if dClass != nil {
		d := tensor.From(append([]float32(nil), dClass...), len(dClass))
		d = m.fc2.Backward(t.h1d, d, g)
		if t.keep != nil {
			d = DropoutBackward(t.keep, d)
		}
		d = GELUBackward(t.h1, d)
		d = m.fc1.Backward(t.zn, d, g)
		d = m.norm.Backward(t.zst, d, g)
		for i, sc := range m.featScale.Value.Data {
			d.Data[i] *= sc
		}
		// Only a2 is trainable among the pooled features; the mask stats
		// are constants for the classifier (see Model).
		np := 2 * t.feats.Shape[0]
		df := MaskPoolBackward(t.feats.Shape, t.att.weights, tensor.From(d.Data[:np], np))
		copy(da2.Data, df.Data[m.Config.EmbedDim*h*w:])
		dePool = df.Data[:m.Config.EmbedDim*h*w]
	}
	if dMask != nil {
		dc := m.out.Backward(t.c, dMask, g, true)
		du2 := m.up2.backward(t.up2, dc, g, true)
		var ds4 *tensor.Tensor
		if t.s4 != nil {
			parts := Split(du2, m.Config.Width[2], m.Config.Stem[0])
			du2, ds4 = parts[0], parts[1]
		}
		db := m.red2.Backward(t.b, Upsample2xBackward(du2), g, true)
		du1 := m.up1.backward(t.up1, db, g, true)
		if t.s4 != nil {
			parts := Split(du1, m.Config.Width[1], m.Config.Stem[1])
			du1 = parts[0]
			ds4p := m.stem2.backward(t.stem2, parts[1], g, true)
			up := AvgPoolBackward(ds4p, 2)
			for i, v := range up.Data {
				ds4.Data[i] += v
			}
			m.stem4.backward(t.stem4, ds4, g, false)
		}
		dr1 := m.red1.Backward(t.a2, Upsample2xBackward(du1), g, true)
		for i, v := range dr1.Data {
			da2.Data[i] += v
		}
	}
	da1 := da2
	for k := len(m.mids) - 1; k >= 0; k-- { // residual a <- block(a) + a
		d := m.mids[k].backward(t.mids[k], da1, g, true)
		for i, v := range da1.Data {
			d.Data[i] += v
		}
		da1 = d
	}
	de := m.in.backward(t.in, da1, g, wantDE)
	if de != nil && dePool != nil {
		for i, v := range dePool {
			de.Data[i] += v
		}
	}
	return de
}

// One training step (forward with dropout, optionally with a fixed
// attention, then backward with the embedding gradient) gives the same
// bits on the recording backend as on the old second graph.
func TestTrainStepMatchesOldPath(t *testing.T) {
	for _, kind := range []string{"conv", "unet", "conv-deep", "unet-fixed"} {
		t.Run(kind, func(t *testing.T) {
			cfg := tinyConfig(strings.TrimSuffix(strings.TrimSuffix(kind, "-deep"), "-fixed"))
			if strings.HasSuffix(kind, "-deep") {
				cfg.MidBlocks = 3
			}
			m, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(9, 9))
			for _, p := range m.Params() {
				for i := range p.Value.Data {
					p.Value.Data[i] += float32(rng.NormFloat64() * 0.2)
				}
			}
			in := Input{Embedding: randTensor(rng, 6, 3, 2), Image: randTensor(rng, 3, 24, 16)}
			var fixed *attention
			if strings.HasSuffix(kind, "-fixed") {
				att := m.attentionFrom(Sigmoid(randTensor(rng, 1, 12, 8)))
				fixed = &att
			}
			dMask := randTensor(rng, 1, 12, 8)
			dClass := []float32{0.3, -0.1, 0.2}
			oldOut, oldT := m.forwardOld(in, rand.New(rand.NewPCG(4, 4)), fixed)
			gOld := NewGrads(m.Params())
			deOld := m.backwardOld(oldT, dMask, dClass, gOld, true)
			newOut, newT := m.forward(in, rand.New(rand.NewPCG(4, 4)), fixed)
			gNew := NewGrads(m.Params())
			deNew := m.backward(newT, dMask, dClass, gNew, true)
			same := func(what string, a, b []float32) {
				t.Helper()
				if len(a) != len(b) {
					t.Fatalf("%s: %d values, old %d", what, len(b), len(a))
				}
				for i := range a {
					if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
						t.Fatalf("%s[%d]: new %v, old %v", what, i, b[i], a[i])
					}
				}
			}
			same("mask logits", oldOut.MaskLogits.Data, newOut.MaskLogits.Data)
			same("class logits", oldOut.ClassLogits, newOut.ClassLogits)
			same("attention", oldOut.Attention.Data, newOut.Attention.Data)
			same("embedding gradient", deOld.Data, deNew.Data)
			for i, p := range m.Params() {
				same(p.Name, gOld[i], gNew[i])
			}
			same("classifier input", oldT.z.Data, newT.z.Data)
		})
	}
}
