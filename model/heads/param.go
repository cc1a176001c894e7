package heads

import (
	"math"
	"math/rand/v2"

	"github.com/busam/busam/model/tensor"
)

// Param is one trainable tensor. Index is its position in the model's
// parameter list and also where its gradient lives in a Grads.
type Param struct {
	Name  string
	Value *tensor.Tensor
	Index int
	// Frozen parameters are set from data, not learned: Backward leaves
	// their gradient at zero and optimisers skip them.
	Frozen bool
}

// Grads holds one gradient slice per parameter, indexed by Param.Index.
// Each goroutine of a training step owns its own Grads.
type Grads [][]float32

// NewGrads allocates zeroed gradients for params.
func NewGrads(params []*Param) Grads {
	g := make(Grads, len(params))
	for i, p := range params {
		g[i] = make([]float32, p.Value.Len())
	}
	return g
}

// Zero clears every gradient.
func (g Grads) Zero() {
	for _, s := range g {
		clear(s)
	}
}

// Add accumulates o into g; both must come from the same parameter list.
func (g Grads) Add(o Grads) {
	for i, s := range g {
		for j, v := range o[i] {
			s[j] += v
		}
	}
}

// paramSet builds a parameter list in a fixed order with seeded
// initialisation, so two models built from one seed are identical.
type paramSet struct {
	params []*Param
	rng    *rand.Rand
}

func newParamSet(seed uint64) *paramSet {
	return &paramSet{rng: rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))}
}

func (s *paramSet) add(name string, shape ...int) *Param {
	p := &Param{Name: name, Value: tensor.New(shape...), Index: len(s.params)}
	s.params = append(s.params, p)
	return p
}

// normal fills p with N(0, std^2) values.
func (s *paramSet) normal(p *Param, std float64) *Param {
	for i := range p.Value.Data {
		p.Value.Data[i] = float32(s.rng.NormFloat64() * std)
	}
	return p
}

func (s *paramSet) fill(p *Param, v float32) *Param {
	for i := range p.Value.Data {
		p.Value.Data[i] = v
	}
	return p
}

// heStd is the He initialisation scale for a layer with fanIn inputs that
// feeds a ReLU-like activation.
func heStd(fanIn int) float64 { return math.Sqrt(2 / float64(fanIn)) }
