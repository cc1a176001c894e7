package encoder

import "github.com/busam/busam/model/cpu"

// attentionOp runs one window Attention (see params.go). The map is cut
// into Window x Window windows after padding the bottom and right with zero
// tokens, which (as in the original) take part in every softmax of their
// window.
type attentionOp struct {
	*Attention
	normW, normB []float32
	qkvW, qkvB   []float32 // [Heads*3*KeyDim, Dim], per head [q | k | v]
	projW, projB []float32 // [Dim, Heads*KeyDim]
	bias         []float32 // [Heads, N, N], N = Window^2

	// padQKV is the qkv row of a padding token: LayerNorm maps the zero
	// token to normB, so it is the same for every padding token.
	padQKV  []float32
	zeroQKV []float32 // zeros, the "bias" added to padQKV rows
	// biasPadded is bias laid out [Heads, rows, cols] with rows = N rounded
	// up to 4 and cols = N rounded up to 16 (zeros outside N x N), the
	// shapes the AVX-512 kernels work in.
	biasPadded []float32
}

func newAttentionOp(p *Attention) *attentionOp {
	dim, heads, window := p.Dim, p.Heads, p.Window
	at := &attentionOp{Attention: p,
		normW: p.Norm.Weight.Data, normB: p.Norm.Bias.Data,
		qkvW: p.QKV.Weight.Data, qkvB: p.QKV.Bias.Data,
		projW: p.Proj.Weight.Data, projB: p.Proj.Bias.Data,
		bias: p.Bias.Data,
	}
	at.padQKV = make([]float32, 3*dim)
	at.zeroQKV = make([]float32, 3*dim)
	for o := range at.padQKV {
		s := float64(at.qkvB[o])
		for i, b := range at.normB {
			s += float64(b) * float64(at.qkvW[o*dim+i])
		}
		at.padQKV[o] = float32(s)
	}
	n := window * window
	rows, cols := cpu.AttentionShape(n)
	at.biasPadded = make([]float32, heads*rows*cols)
	for h := 0; h < heads; h++ {
		for i := 0; i < n; i++ {
			copy(at.biasPadded[(h*rows+i)*cols:], at.bias[(h*n+i)*n:(h*n+i+1)*n])
		}
	}
	return at
}

// forward adds the attention branch to x (h*w tokens of Dim) in place:
// x = x + proj(attention(norm(window_partition(pad(x))))).
//
// Rather than materializing the padded, window-partitioned map, qkv is
// computed for the real tokens only and each window task gathers its q,
// k, v rows, using padQKV for padding tokens: same result, less work and
// memory traffic.
func (at *attentionOp) forward(a *arena, x []float32, h, w int) {
	c := at.Dim
	qkvC := 3 * c
	tokens := h * w

	// Normalize; add the projection bias to the residual in the same pass.
	t := a.get(tokens * c)
	cpu.ParallelFor(tokens, cpu.RowGrain(c), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			src := x[r*c : (r+1)*c]
			cpu.LayerNormRow(t[r*c:(r+1)*c], src, at.normW, at.normB, at.Norm.Eps)
			for i, b := range at.projB {
				src[i] += b
			}
		}
	})
	// qkv without its bias: window adds it while gathering, which
	// saves a pass over the whole [tokens, 3*Dim] matrix.
	qkv := a.get(tokens * qkvC)
	cpu.Linear(qkv, t, tokens, c, qkvC, at.qkvW, false)
	a.put(t)

	out := a.get(tokens * c)
	n := at.Window * at.Window
	per := cpu.AttentionScratchSize(at.Heads, n, at.KeyDim)
	nwk := cpu.Workers()
	scratch := a.get(nwk * per)
	nh, nw := at.Windows(h, w)
	cpu.ParallelForWorker(nh*nw, 1, nwk, func(worker, lo, hi int) {
		ss := cpu.NewAttentionHeads(scratch[worker*per:(worker+1)*per], at.Heads, n, at.KeyDim)
		for win := lo; win < hi; win++ {
			at.window(ss, qkv, out, h, w, (win/nw)*at.Window, (win%nw)*at.Window)
		}
	})
	a.put(qkv, scratch)
	cpu.Linear(x, out, tokens, c, c, at.projW, true)
	a.put(out)
}

// window runs all heads of the window whose top-left token is (y0, x0):
// gather each token's q, k, v (one pass over its qkv row, adding the qkv
// bias), then per head softmax(q k^T + bias) v, written into the head's
// columns of out for the real (unpadded) tokens.
func (at *attentionOp) window(ss []*cpu.AttentionHead, qkv, out []float32, h, w, y0, x0 int) {
	ws, kd, c := at.Window, at.KeyDim, at.Dim
	n, cols := ss[0].N, ss[0].Cols
	qkvC := 3 * c
	scale := at.Scale()
	for i := 0; i < n; i++ {
		y, xx := y0+i/ws, x0+i%ws
		pad := y >= h || xx >= w
		row, b := at.padQKV, at.zeroQKV // padding: bias is in padQKV
		if !pad {
			row, b = qkv[(y*w+xx)*qkvC:(y*w+xx+1)*qkvC], at.qkvB
		}
		for hd, s := range ss {
			rq, bq := row[hd*3*kd:hd*3*kd+kd], b[hd*3*kd:hd*3*kd+kd]
			rk, bk := row[hd*3*kd+kd:hd*3*kd+2*kd], b[hd*3*kd+kd:hd*3*kd+2*kd]
			rv, bv := row[hd*3*kd+2*kd:(hd+1)*3*kd], b[hd*3*kd+2*kd:(hd+1)*3*kd]
			q, v := s.Q[i*kd:(i+1)*kd], s.V[i*kd:(i+1)*kd]
			for d := range q {
				q[d] = (rq[d] + bq[d]) * scale
				v[d] = rv[d] + bv[d]
			}
			kT := s.KT[i:]
			for d := range rk {
				kT[d*cols] = rk[d] + bk[d]
			}
		}
	}
	for hd, s := range ss {
		s.Run(at.biasPadded[hd*s.Rows*s.Cols : (hd+1)*s.Rows*s.Cols])
		for i := 0; i < n; i++ {
			y, xx := y0+i/ws, x0+i%ws
			if y < h && xx < w {
				copy(out[(y*w+xx)*c+hd*kd:(y*w+xx)*c+(hd+1)*kd], s.O[i*kd:(i+1)*kd])
			}
		}
	}
}
