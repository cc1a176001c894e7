package heads

import (
	"fmt"
	"math"

	"github.com/busam/busam/model/tensor"
)

// Class evidence: where on the grid the image's features pushed the
// classifier towards or away from a class.
//
// The classifier sees z = [sum_i a_i f_i, (1/p) sum_i f_i, mean, peak]: the
// features f_i (embedding ++ first decoder block, c channels) of the p grid
// cells i pooled under the mask-guided weights a_i, their plain average
// over the whole grid, and the soft mask's mean and peak. The class score
// s_k(z) is the log-odds of class k against the others, l_k -
// logsumexp_{j!=k} l_j of the class logits l (it does not saturate when
// class k is certain, as log p_k does). Its gradient g = ds_k/dz is taken
// through Standardize, LayerNorm, Linear+GELU and Linear on the host
// (EvidenceWeights), and the evidence of cell i is gradient x input at the
// pooling:
//
//	evidence_k,i = sum_ch f_i,ch (g_ch a_i + g_{c+ch} / p)
//
// Summed over the grid this is g . z over z's two pooled halves (the mask's
// mean and peak are not spatial and are left out): to first order, the
// change of s_k when every cell's features are scaled away to nothing, so
// cell i's share is what its features contribute to the class score, with
// a sign: positive for evidence for class k, negative against. The global
// average covers the whole grid, so cells outside the mask carry evidence
// too; inside the mask the pooled half usually dominates. The weights a are
// constants, as in training (the classifier does not reshape the mask).

// EvidenceWeights returns, for the classifier input z [2c+2] (before
// standardisation, Output.ClassifierInput) on a grid of p cells, the
// weights [classes, 2c] that turn features into class evidence (see
// ClassEvidence): row k is ds_k/dz over z's pooled halves, the second half
// divided by p.
func (m *Model) EvidenceWeights(z []float32, p int) ([]float32, error) {
	n := m.featShift.Value.Len()
	if len(z) != n || p < 1 {
		return nil, fmt.Errorf("heads: evidence from %d classifier inputs over %d cells, want %d", len(z), p, n)
	}
	c := (n - 2) / 2
	x := tensor.New(n)
	for i, v := range z {
		x.Data[i] = (v - m.featShift.Value.Data[i]) * m.featScale.Value.Data[i]
	}
	zn, st := m.norm.Forward(x)
	h1 := m.fc1.Forward(zn)
	logits := m.fc2.Forward(GELU(h1)).Data
	k := len(logits)
	w := make([]float32, k*2*c)
	for cls := range k {
		d := tensor.New(k)
		d.Data = scoreGradient(logits, cls)
		d = m.fc2.Backward(nil, d, nil)
		d = GELUBackward(h1, d)
		d = m.fc1.Backward(nil, d, nil)
		d = m.norm.Backward(st, d, nil)
		row := w[cls*2*c : (cls+1)*2*c]
		for i := range row {
			row[i] = d.Data[i] * m.featScale.Value.Data[i]
		}
		for i := c; i < 2*c; i++ {
			row[i] /= float32(p)
		}
	}
	return w, nil
}

// scoreGradient is the gradient of s_k = l_k - logsumexp_{j!=k} l_j with
// respect to the logits l: 1 at k, minus the softmax of the other logits
// elsewhere.
func scoreGradient(l []float32, k int) []float32 {
	top := math.Inf(-1)
	for j, v := range l {
		if j != k {
			top = max(top, float64(v))
		}
	}
	g := make([]float32, len(l))
	var sum float64
	for j, v := range l {
		if j != k {
			e := math.Exp(float64(v) - top)
			g[j] = float32(e)
			sum += e
		}
	}
	for j := range g {
		g[j] = float32(-float64(g[j]) / sum)
	}
	g[k] = 1
	return g
}

// ClassScore is s_k(z), the score whose gradient EvidenceWeights takes,
// in float64 from the classifier input z [2c+2]; for tests and checks.
func (m *Model) ClassScore(z []float32, k int) float64 {
	x := tensor.New(len(z))
	for i, v := range z {
		x.Data[i] = (v - m.featShift.Value.Data[i]) * m.featScale.Value.Data[i]
	}
	zn, _ := m.norm.Forward(x)
	l := m.fc2.Forward(GELU(m.fc1.Forward(zn))).Data
	top := math.Inf(-1)
	for j, v := range l {
		if j != k {
			top = max(top, float64(v))
		}
	}
	var sum float64
	for j, v := range l {
		if j != k {
			sum += math.Exp(float64(v) - top)
		}
	}
	return float64(l[k]) - top - math.Log(sum)
}

// ClassEvidence is the class evidence map [classes, h, w] of features f
// [c,h,w] pooled under weights a [h*w], for the weights w [classes, 2c] of
// EvidenceWeights: out[k,i] = a_i sum_ch f[ch,i] w[k,ch] + sum_ch f[ch,i]
// w[k,c+ch], accumulated in float64.
func ClassEvidence(f *tensor.Tensor, a, w []float32, classes int) *tensor.Tensor {
	c, h, wd := f.Shape[0], f.Shape[1], f.Shape[2]
	p := h * wd
	out := tensor.New(classes, h, wd)
	pooled, plain := make([]float64, p), make([]float64, p)
	for k := range classes {
		clear(pooled)
		clear(plain)
		row := w[k*2*c : (k+1)*2*c]
		for ch := range c {
			u, v := float64(row[ch]), float64(row[c+ch])
			for i, x := range f.Data[ch*p : (ch+1)*p] {
				pooled[i] += float64(x) * u
				plain[i] += float64(x) * v
			}
		}
		o := out.Data[k*p : (k+1)*p]
		for i := range o {
			o[i] = float32(float64(a[i])*pooled[i] + plain[i])
		}
	}
	return out
}
