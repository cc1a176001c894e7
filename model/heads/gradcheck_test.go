package heads

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/busam/busam/model/tensor"
)

// The gradient checks compare every backward pass with central differences
// of L = sum(r * f(inputs, params)) for a random r, accumulating L in
// float64. Values are float32, so the step is 1e-2 and the tolerance
// allows for float32 rounding of the outputs divided by the step.
const (
	fdStep = 1e-2
	fdAtol = 2e-3
	fdRtol = 2e-2
	// fdProbes is how many entries of each tensor are probed; small
	// tensors are probed completely.
	fdProbes = 24
)

func randTensor(rng *rand.Rand, shape ...int) *tensor.Tensor {
	t := tensor.New(shape...)
	for i := range t.Data {
		t.Data[i] = float32(rng.NormFloat64())
	}
	return t
}

// awayFromZero moves values out of (-0.1, 0.1) so that a finite-difference
// step never crosses a kink (ReLU) of the function being checked.
func awayFromZero(t *tensor.Tensor) *tensor.Tensor {
	for i, v := range t.Data {
		if v >= 0 && v < 0.1 {
			t.Data[i] += 0.1
		} else if v < 0 && v > -0.1 {
			t.Data[i] -= 0.1
		}
	}
	return t
}

func weightedSum(ys []*tensor.Tensor, rs []*tensor.Tensor) float64 {
	var s float64
	for k, y := range ys {
		for i, v := range y.Data {
			s += float64(v) * float64(rs[k].Data[i])
		}
	}
	return s
}

// gradCase is one differentiable function under test. forward reads the
// current values of inputs and params; backward gets dL/dy for each output
// and returns dL/d(input) for each input (nil = input not differentiated).
type gradCase struct {
	name     string
	inputs   []*tensor.Tensor
	params   []*Param
	forward  func() []*tensor.Tensor
	backward func(dys []*tensor.Tensor, g Grads) []*tensor.Tensor
}

func checkGradients(t *testing.T, c gradCase) {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, 7))
	ys := c.forward()
	rs := make([]*tensor.Tensor, len(ys))
	for i, y := range ys {
		rs[i] = randTensor(rng, y.Shape...)
	}
	// Param indices may come from a bigger model; map them densely here.
	g := make(Grads, 0)
	for _, p := range c.params {
		for len(g) <= p.Index {
			g = append(g, nil)
		}
		g[p.Index] = make([]float32, p.Value.Len())
	}
	dxs := c.backward(rs, g)
	loss := func() float64 { return weightedSum(c.forward(), rs) }
	probe := func(what string, data []float32, grad []float32) {
		idx := rng.Perm(len(data))
		if len(idx) > fdProbes {
			idx = idx[:fdProbes]
		}
		for _, i := range idx {
			old := data[i]
			// Divide by the step float32 really took, not the nominal one.
			data[i] = old + fdStep
			xu := float64(data[i])
			up := loss()
			data[i] = old - fdStep
			xd := float64(data[i])
			down := loss()
			data[i] = old
			num := (up - down) / (xu - xd)
			ana := float64(grad[i])
			if math.Abs(num-ana) > fdAtol+fdRtol*max(math.Abs(num), math.Abs(ana)) {
				t.Errorf("%s: %s[%d]: analytic %.6g, numeric %.6g", c.name, what, i, ana, num)
			}
		}
	}
	for k, x := range c.inputs {
		if dxs[k] == nil {
			continue
		}
		if len(dxs[k].Data) != len(x.Data) {
			t.Fatalf("%s: input %d gradient has %d values, want %d", c.name, k, len(dxs[k].Data), len(x.Data))
		}
		probe("input", x.Data, dxs[k].Data)
	}
	for _, p := range c.params {
		probe(p.Name, p.Value.Data, g[p.Index])
	}
}

func TestLayerGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	s := newParamSet(3)
	randomize := func(ps ...*Param) {
		for _, p := range ps {
			for i := range p.Value.Data {
				p.Value.Data[i] = float32(rng.NormFloat64() * 0.5)
			}
		}
	}
	conv3 := newConv2d(s, "conv3", 3, 4, 3, true)
	conv1 := newConv2d(s, "conv1", 5, 2, 1, true)
	conv5 := newConv2d(s, "conv5", 2, 3, 5, false)
	gn := newGroupNorm(s, "gn", 6, 3)
	ln := newLayerNorm(s, "ln", 7)
	lin := newLinear(s, "lin", 5, 3, 0.5)
	randomize(conv3.B, conv1.B, gn.Gamma, gn.Beta, ln.Gamma, ln.Beta, lin.B)

	x334 := randTensor(rng, 3, 3, 4)
	x544 := randTensor(rng, 5, 4, 4)
	x255 := randTensor(rng, 2, 5, 5)
	x635 := randTensor(rng, 6, 3, 5)
	x7 := randTensor(rng, 7)
	x5 := randTensor(rng, 5)
	x234 := randTensor(rng, 2, 3, 4)
	x248 := randTensor(rng, 2, 4, 8)
	xr := awayFromZero(randTensor(rng, 2, 3, 3))
	a := make([]float32, 12)
	for i := range a {
		a[i] = rng.Float32() / 12
	}
	one := func(y *tensor.Tensor) []*tensor.Tensor { return []*tensor.Tensor{y} }

	cases := []gradCase{
		{name: "conv3x3", inputs: []*tensor.Tensor{x334}, params: []*Param{conv3.W, conv3.B},
			forward:  func() []*tensor.Tensor { return one(conv3.Forward(x334)) },
			backward: func(d []*tensor.Tensor, g Grads) []*tensor.Tensor { return one(conv3.Backward(x334, d[0], g, true)) }},
		{name: "conv1x1", inputs: []*tensor.Tensor{x544}, params: []*Param{conv1.W, conv1.B},
			forward:  func() []*tensor.Tensor { return one(conv1.Forward(x544)) },
			backward: func(d []*tensor.Tensor, g Grads) []*tensor.Tensor { return one(conv1.Backward(x544, d[0], g, true)) }},
		{name: "conv5x5 no bias", inputs: []*tensor.Tensor{x255}, params: []*Param{conv5.W},
			forward:  func() []*tensor.Tensor { return one(conv5.Forward(x255)) },
			backward: func(d []*tensor.Tensor, g Grads) []*tensor.Tensor { return one(conv5.Backward(x255, d[0], g, true)) }},
		{name: "groupnorm", inputs: []*tensor.Tensor{x635}, params: []*Param{gn.Gamma, gn.Beta},
			forward: func() []*tensor.Tensor { y, _ := gn.Forward(x635); return one(y) },
			backward: func(d []*tensor.Tensor, g Grads) []*tensor.Tensor {
				_, st := gn.Forward(x635)
				return one(gn.Backward(st, d[0], g))
			}},
		{name: "layernorm", inputs: []*tensor.Tensor{x7}, params: []*Param{ln.Gamma, ln.Beta},
			forward: func() []*tensor.Tensor { y, _ := ln.Forward(x7); return one(y) },
			backward: func(d []*tensor.Tensor, g Grads) []*tensor.Tensor {
				_, st := ln.Forward(x7)
				return one(ln.Backward(st, d[0], g))
			}},
		{name: "linear", inputs: []*tensor.Tensor{x5}, params: []*Param{lin.W, lin.B},
			forward:  func() []*tensor.Tensor { return one(lin.Forward(x5)) },
			backward: func(d []*tensor.Tensor, g Grads) []*tensor.Tensor { return one(lin.Backward(x5, d[0], g)) }},
		{name: "gelu", inputs: []*tensor.Tensor{x234},
			forward:  func() []*tensor.Tensor { return one(GELU(x234)) },
			backward: func(d []*tensor.Tensor, _ Grads) []*tensor.Tensor { return one(GELUBackward(x234, d[0])) }},
		{name: "relu", inputs: []*tensor.Tensor{xr},
			forward:  func() []*tensor.Tensor { return one(ReLU(xr)) },
			backward: func(d []*tensor.Tensor, _ Grads) []*tensor.Tensor { return one(ReLUBackward(xr, d[0])) }},
		{name: "sigmoid", inputs: []*tensor.Tensor{x234},
			forward:  func() []*tensor.Tensor { return one(Sigmoid(x234)) },
			backward: func(d []*tensor.Tensor, _ Grads) []*tensor.Tensor { return one(SigmoidBackward(Sigmoid(x234), d[0])) }},
		{name: "upsample2x", inputs: []*tensor.Tensor{x234},
			forward:  func() []*tensor.Tensor { return one(Upsample2x(x234)) },
			backward: func(d []*tensor.Tensor, _ Grads) []*tensor.Tensor { return one(Upsample2xBackward(d[0])) }},
		{name: "avgpool2", inputs: []*tensor.Tensor{x248},
			forward:  func() []*tensor.Tensor { return one(AvgPool(x248, 2)) },
			backward: func(d []*tensor.Tensor, _ Grads) []*tensor.Tensor { return one(AvgPoolBackward(d[0], 2)) }},
		{name: "avgpool4", inputs: []*tensor.Tensor{x248},
			forward:  func() []*tensor.Tensor { return one(AvgPool(x248, 4)) },
			backward: func(d []*tensor.Tensor, _ Grads) []*tensor.Tensor { return one(AvgPoolBackward(d[0], 4)) }},
		{name: "concat", inputs: []*tensor.Tensor{x234, x334},
			forward: func() []*tensor.Tensor { return one(Concat(x234, x334)) },
			backward: func(d []*tensor.Tensor, _ Grads) []*tensor.Tensor {
				return Split(d[0], 2, 3)
			}},
		{name: "maskpool", inputs: []*tensor.Tensor{x234},
			forward: func() []*tensor.Tensor { return one(MaskPool(x234, a)) },
			backward: func(d []*tensor.Tensor, _ Grads) []*tensor.Tensor {
				return one(MaskPoolBackward(x234.Shape, a, d[0]))
			}},
		{name: "dropout", inputs: []*tensor.Tensor{x234},
			forward: func() []*tensor.Tensor {
				y, _ := Dropout(x234, 0.4, rand.New(rand.NewPCG(5, 5)))
				return one(y)
			},
			backward: func(d []*tensor.Tensor, _ Grads) []*tensor.Tensor {
				_, keep := Dropout(x234, 0.4, rand.New(rand.NewPCG(5, 5)))
				return one(DropoutBackward(keep, d[0]))
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { checkGradients(t, c) })
	}
}

// tinyConfig is a model small enough to finite-difference every parameter.
func tinyConfig(kind string) Config {
	return Config{Kind: kind, EmbedDim: 6, Classes: 3, Width: [3]int{4, 4, 2}, Stem: [2]int{2, 4},
		Groups: 2, Hidden: 5, Dropout: 0.3, AttnEps: 1, InitSeed: 11}
}

func TestModelGradients(t *testing.T) {
	for _, kind := range []string{"conv", "unet", "conv-deep"} {
		t.Run(kind, func(t *testing.T) {
			cfg := tinyConfig(strings.TrimSuffix(kind, "-deep"))
			if strings.HasSuffix(kind, "-deep") {
				cfg.MidBlocks = 3
			}
			m, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(9, 9))
			// Random non-trivial affine and bias values, so no gradient
			// path is hidden behind a zero.
			for _, p := range m.Params() {
				for i := range p.Value.Data {
					p.Value.Data[i] += float32(rng.NormFloat64() * 0.2)
				}
			}
			in := Input{Embedding: randTensor(rng, 6, 3, 2), Image: randTensor(rng, 3, 24, 16)}
			// The attention is a constant of the backward pass: hold it at
			// the value of the unperturbed model.
			_, t0 := m.ForwardTrain(in, nil)
			att := t0.att
			run := func() (Output, *Tape) {
				return m.forward(in, rand.New(rand.NewPCG(4, 4)), &att)
			}
			// Frozen parameters get no gradient by design; they are set
			// to non-trivial values above and take part in the forward pass.
			var learned []*Param
			for _, p := range m.Params() {
				if !p.Frozen {
					learned = append(learned, p)
				}
			}
			checkGradients(t, gradCase{name: kind, params: learned,
				forward: func() []*tensor.Tensor {
					out, _ := run()
					return []*tensor.Tensor{out.MaskLogits, tensor.From(out.ClassLogits, len(out.ClassLogits))}
				},
				backward: func(d []*tensor.Tensor, g Grads) []*tensor.Tensor {
					_, tape := run()
					m.Backward(tape, d[0], d[1].Data, g)
					return nil
				}})
		})
	}
}

func TestFastExp(t *testing.T) {
	for x := float32(-87); x <= 88; x += 0.0137 {
		want := math.Exp(float64(x))
		if got := float64(fastExp(x)); math.Abs(got-want) > 4e-7*want {
			t.Fatalf("fastExp(%v) = %v, want %v", x, got, want)
		}
	}
	if fastExp(-200) != 0 || !math.IsInf(float64(fastExp(200)), 1) {
		t.Errorf("fastExp does not saturate")
	}
	if s := sigmoid(-200); s != 0 {
		t.Errorf("sigmoid(-200) = %v", s)
	}
}
