package encoder

import (
	"fmt"

	"github.com/busam/busam/model/cpu"
	"github.com/busam/busam/model/tensor"
)

// Grads holds dLoss/dParameter for the modules a Tape recorded, keyed by
// PyTorch parameter name (Weight.Name) in PyTorch layout, except that an
// attention's bias comes as the gradient of its trainable table,
// BiasTableName() [Heads, Window^2] (apply it with BiasTable and
// SetBiasTable), not of the gathered Bias.
type Grads map[string][]float32

// of returns the (zeroed on first use) gradient of w.
func (g Grads) of(w *Weight) []float32 {
	d, ok := g[w.Name]
	if !ok {
		d = make([]float32, len(w.Data))
		g[w.Name] = d
	}
	return d
}

// Backward returns the gradients of the loss whose gradient with respect to
// the forward's output is dy ([NeckDim, h, w]): the parameters of every
// module in the tape's scope, and the input image's gradient ([C, H, W])
// when the scope asked for it (else nil). The tape can be used again.
func (t *Tape) Backward(dy *tensor.Tensor) (Grads, *tensor.Tensor, error) {
	if dy == nil || fmt.Sprint(dy.Shape) != fmt.Sprint([]int{t.outC, t.outH, t.outW}) || len(dy.Data) != tensor.Numel(dy.Shape) {
		shape := []int(nil)
		if dy != nil {
			shape = dy.Shape
		}
		return nil, nil, fmt.Errorf("encoder: output gradient shape %v, want [%d,%d,%d]", shape, t.outC, t.outH, t.outW)
	}
	b := &backward{e: t.e, g: Grads{}, a: &arena{}}
	d := make([]float32, len(dy.Data))
	cpu.CHWToHWC(d, dy.Data, t.outC, t.outH, t.outW)
	for i := len(t.entries) - 1; i >= 0; i-- {
		// The first recorded module needs no input gradient unless asked:
		// nothing before it is trained.
		d = b.step(&t.entries[i], d, i > 0 || t.scope.Input)
	}
	if !t.scope.Input {
		return b.g, nil, nil
	}
	dx := tensor.New(t.inShape...)
	cpu.HWCToCHW(dx.Data, d, t.inShape[0], t.inShape[1], t.inShape[2])
	return b.g, dx, nil
}

// backward is one Backward pass: the encoder's ops, the gradients being
// summed and scratch for the forward recomputations.
type backward struct {
	e *Encoder
	g Grads
	a *arena
}

// step back-propagates dy (the gradient of the entry's output, which step
// may overwrite) through one recorded module, returning the gradient of
// its input (nil when needDx is false).
func (b *backward) step(en *tapeEntry, dy []float32, needDx bool) []float32 {
	switch en.kind {
	case opConv:
		return b.conv(b.e.convs[en.module.(*Conv)], en.x, en.h, en.w, en.act, dy, needDx)
	case opMBConv:
		return b.mbconv(b.e.mbconvs[en.module.(*MBConv)], en.x, en.h, en.w, dy)
	case opMerge:
		return b.merge(b.e.merges[en.module.(*Merge)], en.x, en.h, en.w, dy, needDx)
	case opAttention:
		return b.attention(b.e.attns[en.module.(*Attention)], en.x, en.h, en.w, dy)
	case opMLP:
		return b.mlp(en.module.(*MLP), en.x, en.h*en.w, dy)
	case opNorm:
		n := en.module.(*Norm)
		dx := make([]float32, len(en.x))
		cpu.LayerNormBackward(dx, dy, en.x, en.h*en.w, n.Dim, n.Weight.Data, n.Eps, b.g.of(n.Weight), b.g.of(n.Bias))
		return dx
	}
	panic("encoder: backward: unknown op")
}

// preact recomputes conv(x) + bias, the pre-activation of c.
func (b *backward) preact(c *convOp, x []float32, h, w int) []float32 {
	oh, ow := c.OutSize(h, w)
	z := make([]float32, oh*ow*c.OutC)
	c.forward(b.a, z, x, h, w, ActNone, false)
	return z
}

// gelu returns GELU(z) in a new buffer.
func gelu(z []float32, rows, c int) []float32 {
	t := append([]float32(nil), z...)
	cpu.BiasAct(t, rows, c, nil, true)
	return t
}

// conv back-propagates through act(conv(x) + bias).
func (b *backward) conv(c *convOp, x []float32, h, w int, act Activation, dy []float32, needDx bool) []float32 {
	if act == ActGELU {
		cpu.GELUBackward(dy, dy, b.preact(c, x, h, w))
	}
	var dx []float32
	if needDx {
		dx = make([]float32, len(x))
	}
	b.convGrad(c, x, h, w, dy, dx)
	return dx
}

// convGrad adds the weight and bias gradients of conv(x) + bias given dz,
// the gradient of its output, and adds the input gradient into dx (skipped
// when dx is nil).
func (b *backward) convGrad(c *convOp, x []float32, h, w int, dz, dx []float32) {
	oh, ow := c.OutSize(h, w)
	n, k, inC, outC := oh*ow, c.Kernel, c.InC, c.OutC
	if c.Bias != nil {
		cpu.ColSumAdd(b.g.of(c.Bias), dz, n, outC)
	}
	dW := b.g.of(c.Weight)
	switch {
	case c.Depthwise():
		dw := make([]float32, k*k*outC) // the op's [K*K, C] layout
		cpu.DepthwiseBackward(dx, dw, dz, x, c.weight, h, w, outC, k, c.Stride)
		for ch := 0; ch < outC; ch++ {
			for t := 0; t < k*k; t++ {
				dW[ch*k*k+t] += dw[t*outC+ch]
			}
		}
	case k == 1 && c.Stride == 1:
		cpu.Gemm(true, false, outC, inC, n, 1, dz, outC, x, inC, 1, dW, inC)
		if dx != nil {
			cpu.Gemm(false, false, n, inC, outC, 1, dz, outC, c.weight, inC, 1, dx, inC)
		}
	default: // im2col in chunks of output rows, as the forward
		kc := k * k * inC
		dw := make([]float32, outC*kc) // the op's [Out, K, K, In] layout
		rowsPerChunk := max(1, imcolPixels/ow)
		col := b.a.get(min(rowsPerChunk, oh) * ow * kc)
		for oy0 := 0; oy0 < oh; oy0 += rowsPerChunk {
			oy1 := min(oy0+rowsPerChunk, oh)
			m := (oy1 - oy0) * ow
			dzc := dz[oy0*ow*outC:]
			cpu.Im2colRows(col, x, h, w, inC, k, c.Stride, k/2, ow, oy0, oy1)
			cpu.Gemm(true, false, outC, kc, m, 1, dzc, outC, col, kc, 1, dw, kc)
			if dx != nil {
				cpu.Gemm(false, false, m, kc, outC, 1, dzc, outC, c.weight, kc, 0, col, kc)
				cpu.Col2imRowsAdd(dx, col, h, w, inC, k, c.Stride, k/2, ow, oy0, oy1)
			}
		}
		b.a.put(col)
		for o := 0; o < outC; o++ {
			for i := 0; i < inC; i++ {
				for t := 0; t < k*k; t++ {
					dW[(o*inC+i)*k*k+t] += dw[(o*k*k+t)*inC+i]
				}
			}
		}
	}
}

// mbconv back-propagates through x = GELU(x + Conv3(GELU(Conv2(GELU(Conv1(x)))))).
func (b *backward) mbconv(m *mbconvOp, x []float32, h, w int, dy []float32) []float32 {
	n, hid := h*w, m.Conv1.OutC
	z1 := b.preact(m.Conv1, x, h, w)
	t1 := gelu(z1, n, hid)
	z2 := b.preact(m.Conv2, t1, h, w)
	t2 := gelu(z2, n, hid)
	z3 := append([]float32(nil), x...) // x + Conv3(t2) + bias
	m.Conv3.forward(b.a, z3, t2, h, w, ActNone, true)

	cpu.GELUBackward(dy, dy, z3)
	dt := make([]float32, n*hid)
	b.convGrad(m.Conv3, t2, h, w, dy, dt)
	cpu.GELUBackward(dt, dt, z2)
	dt1 := make([]float32, n*hid)
	b.convGrad(m.Conv2, t1, h, w, dt, dt1)
	cpu.GELUBackward(dt1, dt1, z1)
	dx := dy // the residual's gradient, then Conv1's added
	b.convGrad(m.Conv1, x, h, w, dt1, dx)
	return dx
}

// merge back-propagates through Conv3(GELU(Conv2(GELU(Conv1(x))))).
func (b *backward) merge(m *mergeOp, x []float32, h, w int, dy []float32, needDx bool) []float32 {
	c := m.Conv1.OutC
	oh, ow := m.Conv2.OutSize(h, w)
	z1 := b.preact(m.Conv1, x, h, w)
	t1 := gelu(z1, h*w, c)
	z2 := b.preact(m.Conv2, t1, h, w)
	t2 := gelu(z2, oh*ow, c)

	dt2 := make([]float32, len(t2))
	b.convGrad(m.Conv3, t2, oh, ow, dy, dt2)
	cpu.GELUBackward(dt2, dt2, z2)
	dt1 := make([]float32, len(t1))
	b.convGrad(m.Conv2, t1, h, w, dt2, dt1)
	cpu.GELUBackward(dt1, dt1, z1)
	var dx []float32
	if needDx {
		dx = make([]float32, len(x))
	}
	b.convGrad(m.Conv1, x, h, w, dt1, dx)
	return dx
}

// mlp back-propagates through x + FC2(GELU(FC1(Norm(x)))) over rows tokens.
func (b *backward) mlp(m *MLP, x []float32, rows int, dy []float32) []float32 {
	op := b.e.mlps[m]
	c, hid := op.Dim, op.Hidden
	xn := make([]float32, rows*c)
	cpu.LayerNorm(xn, x, rows, c, op.normW, op.normB, op.eps)
	z := make([]float32, rows*hid)
	cpu.Linear(z, xn, rows, c, hid, op.fc1W, false)
	cpu.BiasAct(z, rows, hid, op.fc1B, false)
	a := gelu(z, rows, hid)

	cpu.Gemm(true, false, c, hid, rows, 1, dy, c, a, hid, 1, b.g.of(m.FC2.Weight), hid)
	cpu.ColSumAdd(b.g.of(m.FC2.Bias), dy, rows, c)
	da := a // reused: a is not needed any more
	cpu.Gemm(false, false, rows, hid, c, 1, dy, c, op.fc2W, hid, 0, da, hid)
	cpu.GELUBackward(da, da, z)
	cpu.Gemm(true, false, hid, c, rows, 1, da, hid, xn, c, 1, b.g.of(m.FC1.Weight), c)
	cpu.ColSumAdd(b.g.of(m.FC1.Bias), da, rows, hid)
	dxn := xn
	cpu.Gemm(false, false, rows, c, hid, 1, da, hid, op.fc1W, c, 0, dxn, c)
	dx := make([]float32, rows*c)
	cpu.LayerNormBackward(dx, dxn, x, rows, c, op.normW, op.eps, b.g.of(m.Norm.Weight), b.g.of(m.Norm.Bias))
	for i, v := range dy { // the residual
		dx[i] += v
	}
	return dx
}

// attention back-propagates through x + Proj(window attention(Norm(x))),
// windows padded bottom and right with zero tokens. Padding tokens are
// constants of the input, but their q, k and v (padQKV, from the norm's
// bias) depend on the parameters, so their gradients are summed too.
func (b *backward) attention(at *attentionOp, x []float32, h, w int, dy []float32) []float32 {
	p := at.Attention
	c, tokens := p.Dim, h*w
	qkvC, kd, heads, ws := 3*c, p.KeyDim, p.Heads, p.Window
	n := ws * ws
	scale := p.Scale()

	xn := make([]float32, tokens*c)
	cpu.LayerNorm(xn, x, tokens, c, at.normW, at.normB, p.Norm.Eps)
	qkv := make([]float32, tokens*qkvC)
	cpu.Linear(qkv, xn, tokens, c, qkvC, at.qkvW, false)
	cpu.BiasAct(qkv, tokens, qkvC, at.qkvB, false)
	do := make([]float32, tokens*c) // gradient of the heads' output
	cpu.Gemm(false, false, tokens, c, c, 1, dy, c, at.projW, c, 0, do, c)

	o := make([]float32, tokens*c) // the heads' output, recomputed
	dqkv := make([]float32, tokens*qkvC)
	nwk := cpu.Workers()
	per := 7*n*kd + 2*n*n
	scratch := make([]float32, nwk*per)
	// The bias and padding gradients are summed per fixed chunk of windows
	// and the chunks added in order: the same result from run to run.
	nh, nw := p.Windows(h, w)
	windows := nh * nw
	chunks := min(4*nwk, windows)
	dBias := make([]float32, chunks*heads*n*n)
	dPad := make([]float32, chunks*qkvC)
	cpu.ParallelForWorker(chunks, 1, nwk, func(worker, c0, c1 int) {
		buf := scratch[worker*per : (worker+1)*per]
		take := func(size int) []float32 {
			s := buf[:size:size]
			buf = buf[size:]
			return s
		}
		q, k, v, dO, dq, dk, dv := take(n*kd), take(n*kd), take(n*kd), take(n*kd), take(n*kd), take(n*kd), take(n*kd)
		s, dp := take(n*n), take(n*n)
		for ci := c0; ci < c1; ci++ {
			db := dBias[ci*heads*n*n : (ci+1)*heads*n*n]
			dpad := dPad[ci*qkvC : (ci+1)*qkvC]
			for win := windows * ci / chunks; win < windows*(ci+1)/chunks; win++ {
				y0, x0 := (win/nw)*ws, (win%nw)*ws
				tok := func(i int) (int, bool) {
					y, xx := y0+i/ws, x0+i%ws
					return y*w + xx, y < h && xx < w
				}
				for hd := 0; hd < heads; hd++ {
					base := hd * 3 * kd
					for i := 0; i < n; i++ {
						t, in := tok(i)
						row := at.padQKV
						if in {
							row = qkv[t*qkvC : (t+1)*qkvC]
						}
						for d := 0; d < kd; d++ {
							q[i*kd+d] = row[base+d] * scale
							k[i*kd+d] = row[base+kd+d]
							v[i*kd+d] = row[base+2*kd+d]
						}
						if in {
							copy(dO[i*kd:(i+1)*kd], do[t*c+hd*kd:])
						} else {
							clear(dO[i*kd : (i+1)*kd])
						}
					}
					copy(s, at.bias[hd*n*n:(hd+1)*n*n])
					cpu.GemmSerial(false, true, n, n, kd, 1, q, kd, k, kd, 1, s, n)
					for i := 0; i < n; i++ {
						cpu.SoftmaxRow(s[i*n : (i+1)*n])
					}
					cpu.GemmSerial(false, false, n, kd, n, 1, s, n, v, kd, 0, dq, kd) // O, in dq for now
					for i := 0; i < n; i++ {
						if t, in := tok(i); in {
							copy(o[t*c+hd*kd:t*c+(hd+1)*kd], dq[i*kd:(i+1)*kd])
						}
					}
					cpu.GemmSerial(false, true, n, n, kd, 1, dO, kd, v, kd, 0, dp, n) // dP = dO V^T
					cpu.GemmSerial(true, false, n, kd, n, 1, s, n, dO, kd, 0, dv, kd) // dV = P^T dO
					for i := 0; i < n; i++ {
						cpu.SoftmaxBackwardRow(dp[i*n:(i+1)*n], s[i*n:(i+1)*n])
					}
					for i, g := range dp { // the scores' gradient is the bias's
						db[hd*n*n+i] += g
					}
					cpu.GemmSerial(false, false, n, kd, n, scale, dp, n, k, kd, 0, dq, kd) // dq = scale dS K
					cpu.GemmSerial(true, false, n, kd, n, 1, dp, n, q, kd, 0, dk, kd)      // dK = dS^T (scale q)
					for i := 0; i < n; i++ {
						dst := dpad
						if t, in := tok(i); in {
							dst = dqkv[t*qkvC : (t+1)*qkvC]
						}
						for d := 0; d < kd; d++ {
							dst[base+d] += dq[i*kd+d]
							dst[base+kd+d] += dk[i*kd+d]
							dst[base+2*kd+d] += dv[i*kd+d]
						}
					}
				}
			}
		}
	})
	// The bias table: every gathered entry's gradient goes to its offset.
	table := b.g[p.BiasTableName()]
	if table == nil {
		table = make([]float32, heads*n)
		b.g[p.BiasTableName()] = table
	}
	idx := attentionBiasIndex(ws)
	for hd := 0; hd < heads; hd++ {
		for i, id := range idx {
			var s float32
			for ci := 0; ci < chunks; ci++ {
				s += dBias[(ci*heads+hd)*n*n+i]
			}
			table[hd*n+id] += s
		}
	}
	pad := make([]float64, qkvC)
	for ci := 0; ci < chunks; ci++ {
		for i, v := range dPad[ci*qkvC : (ci+1)*qkvC] {
			pad[i] += float64(v)
		}
	}

	cpu.Gemm(true, false, c, c, tokens, 1, dy, c, o, c, 1, b.g.of(p.Proj.Weight), c)
	cpu.ColSumAdd(b.g.of(p.Proj.Bias), dy, tokens, c)
	dW, dB := b.g.of(p.QKV.Weight), b.g.of(p.QKV.Bias)
	cpu.Gemm(true, false, qkvC, c, tokens, 1, dqkv, qkvC, xn, c, 1, dW, c)
	cpu.ColSumAdd(dB, dqkv, tokens, qkvC)
	// Padding rows: padQKV = W normB + qkvB.
	dNormB := b.g.of(p.Norm.Bias)
	for r, g := range pad {
		dB[r] += float32(g)
		for i, nb := range at.normB {
			dW[r*c+i] += float32(g * float64(nb))
		}
	}
	for i := range at.normB {
		var s float64
		for r, g := range pad {
			s += g * float64(at.qkvW[r*c+i])
		}
		dNormB[i] += float32(s)
	}
	dxn := xn
	cpu.Gemm(false, false, tokens, c, qkvC, 1, dqkv, qkvC, at.qkvW, c, 0, dxn, c)
	dx := make([]float32, tokens*c)
	cpu.LayerNormBackward(dx, dxn, x, tokens, c, at.normW, p.Norm.Eps, b.g.of(p.Norm.Weight), dNormB)
	for i, v := range dy { // the residual
		dx[i] += v
	}
	return dx
}
