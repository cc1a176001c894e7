package train

import (
	"math"

	"github.com/busam/busam/model/heads"
)

// AdamW is Adam with decoupled weight decay (Loshchilov & Hutter), applied
// to every parameter except biases and normalisation affines (decaying
// those only fights the normalisation).
type AdamW struct {
	Beta1, Beta2, Eps, WeightDecay float64
	params                         []*heads.Param
	decay                          []bool
	m, v                           [][]float32
	step                           int
}

// NewAdamW prepares optimiser state for params.
func NewAdamW(params []*heads.Param, weightDecay float64) *AdamW {
	o := &AdamW{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: weightDecay, params: params}
	for _, p := range params {
		o.m = append(o.m, make([]float32, p.Value.Len()))
		o.v = append(o.v, make([]float32, p.Value.Len()))
		o.decay = append(o.decay, len(p.Value.Shape) > 1)
	}
	return o
}

// Step applies one update with learning rate lr and gradients g.
func (o *AdamW) Step(g heads.Grads, lr float64) {
	o.step++
	bc1 := 1 - math.Pow(o.Beta1, float64(o.step))
	bc2 := 1 - math.Pow(o.Beta2, float64(o.step))
	b1, b2 := float32(o.Beta1), float32(o.Beta2)
	for k, p := range o.params {
		if p.Frozen {
			continue
		}
		w, m, v, grad := p.Value.Data, o.m[k], o.v[k], g[k]
		decay := 1.0
		if o.decay[k] {
			decay = 1 - lr*o.WeightDecay
		}
		for i, gi := range grad {
			m[i] = b1*m[i] + (1-b1)*gi
			v[i] = b2*v[i] + (1-b2)*gi*gi
			mh := float64(m[i]) / bc1
			vh := float64(v[i]) / bc2
			w[i] = float32(float64(w[i])*decay - lr*mh/(math.Sqrt(vh)+o.Eps))
		}
	}
}

// Schedule is linear warm-up to Peak over Warmup steps, then cosine decay
// to Peak*MinFrac at Total steps.
type Schedule struct {
	Peak          float64
	Warmup, Total int
	MinFrac       float64
}

// LR returns the learning rate of step (0-based).
func (s Schedule) LR(step int) float64 {
	if step < s.Warmup {
		return s.Peak * float64(step+1) / float64(s.Warmup)
	}
	span := max(1, s.Total-s.Warmup)
	t := min(1, float64(step-s.Warmup)/float64(span))
	return s.Peak * (s.MinFrac + (1-s.MinFrac)*0.5*(1+math.Cos(math.Pi*t)))
}
