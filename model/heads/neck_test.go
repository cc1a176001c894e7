package heads

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/busam/busam/model/encoder"
	"github.com/busam/busam/model/tensor"
)

// The trainable neck, built from an encoder's tensors, computes what the
// encoder's own neck computes.
func TestNeckMatchesEncoder(t *testing.T) {
	p, err := encoder.RandomParams(encoder.Tiny, 4)
	if err != nil {
		t.Fatal(err)
	}
	e, err := encoder.NewWithConfig(encoder.Tiny, p)
	if err != nil {
		t.Fatal(err)
	}
	n, err := NewNeck(p)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	f := randTensor(rng, encoder.Tiny.EmbedDims[3], 7, 5)
	want, err := e.Neck(f)
	if err != nil {
		t.Fatal(err)
	}
	got := n.Forward(f)
	if len(got.Data) != len(want.Data) || got.Shape[0] != encoder.Tiny.NeckDim {
		t.Fatalf("neck output %v, encoder's %v", got.Shape, want.Shape)
	}
	for i := range want.Data {
		if d := math.Abs(float64(got.Data[i] - want.Data[i])); d > 1e-5*max(1, math.Abs(float64(want.Data[i]))) {
			t.Fatalf("value %d: trainable neck %g, encoder %g", i, got.Data[i], want.Data[i])
		}
	}
	// Its tensors, as overrides, leave the encoder unchanged.
	tensors := n.Tensors()
	for _, name := range NeckTensorNames {
		if tensors[name] == nil || !equalData(tensors[name], p[name]) {
			t.Errorf("Tensors()[%s] differs from the encoder's tensor", name)
		}
	}
	if err := n.Check(tensor.New(encoder.Tiny.EmbedDims[3]+1, 2, 2)); err == nil {
		t.Error("Check accepted the wrong channel count")
	}
}

func equalData(a, b *tensor.Tensor) bool {
	if len(a.Data) != len(b.Data) {
		return false
	}
	for i := range a.Data {
		if a.Data[i] != b.Data[i] {
			return false
		}
	}
	return true
}

func TestNewNeckRejects(t *testing.T) {
	good, err := encoder.RandomParams(encoder.Tiny, 4)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, drop, want string
		reshape          []int
	}{
		{name: "no conv1", drop: "neck.0.weight", want: "neck.0.weight"},
		{name: "no norm bias", drop: "neck.3.bias", want: "neck.3.bias"},
		{name: "conv2 1x1", reshape: []int{12, 12, 1, 1}, want: "neck.2.weight"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := map[string]*tensor.Tensor{}
			for k, v := range good {
				p[k] = v
			}
			delete(p, c.drop)
			if c.reshape != nil {
				p["neck.2.weight"] = tensor.New(c.reshape...)
			}
			if _, err := NewNeck(p); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one naming %s", err, c.want)
			}
		})
	}
}

func TestNeckGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	p, err := encoder.RandomParams(encoder.Tiny, 8)
	if err != nil {
		t.Fatal(err)
	}
	n, err := NewNeck(p)
	if err != nil {
		t.Fatal(err)
	}
	x := randTensor(rng, 5, 3, 4)
	s := newParamSet(1)
	ln := &LayerNorm2d{C: 5, Eps: neckEps, Gamma: s.normal(s.add("ln.weight", 5), 1), Beta: s.normal(s.add("ln.bias", 5), 1)}
	f := randTensor(rng, encoder.Tiny.EmbedDims[3], 4, 3)
	one := func(y *tensor.Tensor) []*tensor.Tensor { return []*tensor.Tensor{y} }
	cases := []gradCase{
		{name: "layernorm2d", inputs: []*tensor.Tensor{x}, params: []*Param{ln.Gamma, ln.Beta},
			forward: func() []*tensor.Tensor { y, _ := ln.Forward(x); return one(y) },
			backward: func(d []*tensor.Tensor, g Grads) []*tensor.Tensor {
				_, st := ln.Forward(x)
				return one(ln.Backward(st, d[0], g))
			}},
		{name: "neck", params: n.Params(),
			forward: func() []*tensor.Tensor { return one(n.Forward(f)) },
			backward: func(d []*tensor.Tensor, g Grads) []*tensor.Tensor {
				_, tape := n.ForwardTrain(f)
				n.Backward(tape, d[0], g)
				return nil
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { checkGradients(t, c) })
	}
}

// BackwardEmbedding's input gradient covers both paths from the embedding:
// the decoder and the classifier's pooling.
func TestEmbeddingGradient(t *testing.T) {
	for _, kind := range []string{"conv", "unet"} {
		t.Run(kind, func(t *testing.T) {
			m, err := New(tinyConfig(kind))
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(9, 10))
			for _, p := range m.Params() {
				for i := range p.Value.Data {
					p.Value.Data[i] += float32(rng.NormFloat64() * 0.2)
				}
			}
			emb := randTensor(rng, 6, 3, 2)
			in := Input{Embedding: emb, Image: randTensor(rng, 3, 24, 16)}
			_, t0 := m.ForwardTrain(in, nil)
			att := t0.att // a constant of the backward pass
			run := func() (Output, *Tape) { return m.forward(in, rand.New(rand.NewPCG(4, 4)), &att) }
			for _, part := range []string{"mask", "class", "both"} {
				checkGradients(t, gradCase{name: kind + " " + part, inputs: []*tensor.Tensor{emb},
					forward: func() []*tensor.Tensor {
						out, _ := run()
						ys := []*tensor.Tensor{}
						if part != "class" {
							ys = append(ys, out.MaskLogits)
						}
						if part != "mask" {
							ys = append(ys, tensor.From(out.ClassLogits, len(out.ClassLogits)))
						}
						return ys
					},
					backward: func(d []*tensor.Tensor, g Grads) []*tensor.Tensor {
						_, tape := run()
						var dMask *tensor.Tensor
						var dClass []float32
						switch part {
						case "mask":
							dMask = d[0]
						case "class":
							dClass = d[0].Data
						default:
							dMask, dClass = d[0], d[1].Data
						}
						return []*tensor.Tensor{m.BackwardEmbedding(tape, dMask, dClass, NewGrads(m.Params()))}
					}})
			}
		})
	}
}

// BenchmarkNeck times the neck on MobileSAM-sized trunk features
// [320,64,64]: inference, and a training step (forward + backward).
func BenchmarkNeck(b *testing.B) {
	p, err := encoder.RandomParams(encoder.MobileSAM, 1)
	if err != nil {
		b.Fatal(err)
	}
	n, err := NewNeck(p)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	f := randTensor(rng, encoder.MobileSAM.EmbedDims[3], 64, 64)
	dy := randTensor(rng, encoder.MobileSAM.NeckDim, 64, 64)
	b.Run("forward", func(b *testing.B) {
		for b.Loop() {
			n.Forward(f)
		}
	})
	b.Run("train", func(b *testing.B) {
		g := NewGrads(n.Params())
		for b.Loop() {
			_, tape := n.ForwardTrain(f)
			n.Backward(tape, dy, g)
		}
	})
}
