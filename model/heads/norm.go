package heads

import (
	"math"

	"github.com/busam/busam/model/tensor"
)

const normEps = 1e-5

// GroupNorm normalises each group of C/Groups channels of a CHW map over
// the group's channels and pixels, then applies a per-channel affine map.
// It works per sample, which keeps the samples of a batch independent.
type GroupNorm struct {
	C, Groups   int
	Gamma, Beta *Param
}

func newGroupNorm(s *paramSet, name string, c, groups int) *GroupNorm {
	return &GroupNorm{C: c, Groups: groups,
		Gamma: s.fill(s.add(name+".weight", c), 1),
		Beta:  s.add(name+".bias", c)}
}

// normStats holds what GroupNorm's backward pass needs: the normalised
// input and each group's reciprocal standard deviation.
type normStats struct {
	xhat *tensor.Tensor
	rstd []float32
}

// Forward normalises x [C,H,W].
func (n *GroupNorm) Forward(x *tensor.Tensor) (*tensor.Tensor, normStats) {
	p := x.Shape[1] * x.Shape[2]
	cg := n.C / n.Groups
	y := tensor.New(x.Shape...)
	xhat := tensor.New(x.Shape...)
	rstd := make([]float32, n.Groups)
	for g := range n.Groups {
		mean, r := moments(x.Data[g*cg*p : (g+1)*cg*p])
		rstd[g] = float32(r)
		for ci := range cg {
			c := g*cg + ci
			gam, bet := n.Gamma.Value.Data[c], n.Beta.Value.Data[c]
			for i := c * p; i < (c+1)*p; i++ {
				xh := float32((float64(x.Data[i]) - mean) * r)
				xhat.Data[i] = xh
				y.Data[i] = xh*gam + bet
			}
		}
	}
	return y, normStats{xhat, rstd}
}

// Backward adds the affine gradients into g and returns the input gradient.
func (n *GroupNorm) Backward(st normStats, dy *tensor.Tensor, g Grads) *tensor.Tensor {
	p := dy.Shape[1] * dy.Shape[2]
	cg := n.C / n.Groups
	gg, gb := g[n.Gamma.Index], g[n.Beta.Index]
	dx := tensor.New(dy.Shape...)
	for grp := range n.Groups {
		// dx = rstd * (dxhat - mean(dxhat) - xhat*mean(dxhat*xhat))
		var sumD, sumDX float64
		for ci := range cg {
			c := grp*cg + ci
			gam := n.Gamma.Value.Data[c]
			var sg, sb float64
			for i := c * p; i < (c+1)*p; i++ {
				d, xh := float64(dy.Data[i]), float64(st.xhat.Data[i])
				sg += d * xh
				sb += d
				dxh := d * float64(gam)
				sumD += dxh
				sumDX += dxh * xh
			}
			gg[c] += float32(sg)
			gb[c] += float32(sb)
		}
		cnt := float64(cg * p)
		mD, mDX := sumD/cnt, sumDX/cnt
		r := float64(st.rstd[grp])
		for ci := range cg {
			c := grp*cg + ci
			gam := float64(n.Gamma.Value.Data[c])
			for i := c * p; i < (c+1)*p; i++ {
				dx.Data[i] = float32(r * (float64(dy.Data[i])*gam - mD - float64(st.xhat.Data[i])*mDX))
			}
		}
	}
	return dx
}

// moments returns the mean and 1/sqrt(variance + eps) of seg, in float64.
func moments(seg []float32) (mean, rstd float64) {
	var sum, sq float64
	for _, v := range seg {
		sum += float64(v)
	}
	mean = sum / float64(len(seg))
	for _, v := range seg {
		d := float64(v) - mean
		sq += d * d
	}
	return mean, 1 / math.Sqrt(sq/float64(len(seg))+normEps)
}

// LayerNorm normalises a feature vector and applies a per-feature affine
// map; the classifier uses it to put pooled features of very different
// scales (embedding, decoder, mask area) on one footing.
type LayerNorm struct {
	N           int
	Gamma, Beta *Param
}

func newLayerNorm(s *paramSet, name string, n int) *LayerNorm {
	return &LayerNorm{N: n, Gamma: s.fill(s.add(name+".weight", n), 1), Beta: s.add(name+".bias", n)}
}

// Forward normalises x [N].
func (n *LayerNorm) Forward(x *tensor.Tensor) (*tensor.Tensor, normStats) {
	mean, r := moments(x.Data)
	st := normStats{xhat: tensor.New(n.N), rstd: []float32{float32(r)}}
	y := tensor.New(n.N)
	for i, v := range x.Data {
		xh := float32((float64(v) - mean) * r)
		st.xhat.Data[i] = xh
		y.Data[i] = xh*n.Gamma.Value.Data[i] + n.Beta.Value.Data[i]
	}
	return y, st
}

// Backward adds the affine gradients into g (unless g is nil: the input
// gradient only) and returns the input gradient.
func (n *LayerNorm) Backward(st normStats, dy *tensor.Tensor, g Grads) *tensor.Tensor {
	var mD, mDX float64
	for i, d := range dy.Data {
		xh := float64(st.xhat.Data[i])
		if g != nil {
			g[n.Gamma.Index][i] += float32(float64(d) * xh)
			g[n.Beta.Index][i] += d
		}
		dxh := float64(d) * float64(n.Gamma.Value.Data[i])
		mD += dxh
		mDX += dxh * xh
	}
	mD /= float64(n.N)
	mDX /= float64(n.N)
	r := float64(st.rstd[0])
	dx := tensor.New(n.N)
	for i, d := range dy.Data {
		dx.Data[i] = float32(r * (float64(d)*float64(n.Gamma.Value.Data[i]) - mD - float64(st.xhat.Data[i])*mDX))
	}
	return dx
}
