package encoder

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
	rows, cols := roundUp(n, 4), roundUp(n, 16)
	at.biasPadded = make([]float32, heads*rows*cols)
	for h := 0; h < heads; h++ {
		for i := 0; i < n; i++ {
			copy(at.biasPadded[(h*rows+i)*cols:], at.bias[(h*n+i)*n:(h*n+i+1)*n])
		}
	}
	return at
}

func roundUp(v, m int) int { return (v + m - 1) / m * m }

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
	parallelFor(tokens, rowGrain(c), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			src := x[r*c : (r+1)*c]
			layerNormRow(t[r*c:(r+1)*c], src, at.normW, at.normB, at.Norm.Eps)
			for i, b := range at.projB {
				src[i] += b
			}
		}
	})
	// qkv without its bias: window adds it while gathering, which
	// saves a pass over the whole [tokens, 3*Dim] matrix.
	qkv := a.get(tokens * qkvC)
	linear(qkv, t, tokens, c, qkvC, at.qkvW, false)
	a.put(t)

	out := a.get(tokens * c)
	per := windowScratchSize(at.Heads, at.Window, at.KeyDim)
	nwk := workers()
	scratch := a.get(nwk * per)
	nh, nw := at.Windows(h, w)
	parallelForWorker(nh*nw, 1, nwk, func(worker, lo, hi int) {
		ss := newWindowScratch(scratch[worker*per:(worker+1)*per], at.Heads, at.Window, at.KeyDim)
		for win := lo; win < hi; win++ {
			at.window(ss, qkv, out, h, w, (win/nw)*at.Window, (win%nw)*at.Window)
		}
	})
	a.put(qkv, scratch)
	linear(x, out, tokens, c, c, at.projW, true)
	a.put(out)
}

// windowScratch holds one head's buffers for one window, in the padded
// shapes of the AVX-512 kernels: rows = N rounded up to 4, cols = N
// rounded up to 16. The heads of a worker share s and o, which are only
// used while that head runs.
type windowScratch struct {
	n, rows, cols, kd int
	q                 []float32 // [rows, kd], pre-scaled by 1/sqrt(kd)
	kT                []float32 // [kd, cols]
	v                 []float32 // [N, kd]
	s                 []float32 // [rows, cols] scores, then probabilities
	o                 []float32 // [rows, kd] attention output
}

func windowScratchSize(heads, window, kd int) int {
	n := window * window
	rows, cols := roundUp(n, 4), roundUp(n, 16)
	return heads*(rows*kd+kd*cols+n*kd) + rows*cols + rows*kd
}

// newWindowScratch carves one worker's buffers for all heads out of buf.
func newWindowScratch(buf []float32, heads, window, kd int) []*windowScratch {
	n := window * window
	rows, cols := roundUp(n, 4), roundUp(n, 16)
	take := func(size int) []float32 {
		b := buf[:size:size]
		buf = buf[size:]
		return b
	}
	shared := &windowScratch{s: take(rows * cols), o: take(rows * kd)}
	ss := make([]*windowScratch, heads)
	for h := range ss {
		ss[h] = &windowScratch{n: n, rows: rows, cols: cols, kd: kd,
			q: take(rows * kd), kT: take(kd * cols), v: take(n * kd), s: shared.s, o: shared.o}
		clear(ss[h].q) // rows past N stay zero: computed, never used
		clear(ss[h].kT)
	}
	return ss
}

// window runs all heads of the window whose top-left token is (y0, x0):
// gather each token's q, k, v (one pass over its qkv row, adding the qkv
// bias), then per head softmax(q k^T + bias) v, written into the head's
// columns of out for the real (unpadded) tokens.
func (at *attentionOp) window(ss []*windowScratch, qkv, out []float32, h, w, y0, x0 int) {
	ws, kd, c := at.Window, at.KeyDim, at.Dim
	n, cols := ss[0].n, ss[0].cols
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
			q, v := s.q[i*kd:(i+1)*kd], s.v[i*kd:(i+1)*kd]
			for d := range q {
				q[d] = (rq[d] + bq[d]) * scale
				v[d] = rv[d] + bv[d]
			}
			kT := s.kT[i:]
			for d := range rk {
				kT[d*cols] = rk[d] + bk[d]
			}
		}
	}
	for hd, s := range ss {
		bias := at.biasPadded[hd*s.rows*s.cols : (hd+1)*s.rows*s.cols]
		if !attentionKernelsFast(s, bias) {
			// Portable path: two matrix products around a row softmax.
			copy(s.s, bias[:n*cols])
			gemmSerial(false, false, n, n, kd, 1, s.q, kd, s.kT, cols, 1, s.s, cols)
			for i := 0; i < n; i++ {
				softmaxRow(s.s[i*cols : i*cols+n])
			}
			gemmSerial(false, false, n, kd, n, 1, s.s, cols, s.v, kd, 0, s.o, kd)
		}
		for i := 0; i < n; i++ {
			y, xx := y0+i/ws, x0+i%ws
			if y < h && xx < w {
				copy(out[(y*w+xx)*c+hd*kd:(y*w+xx)*c+(hd+1)*kd], s.o[i*kd:(i+1)*kd])
			}
		}
	}
}
