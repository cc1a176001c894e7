package webgpu

import "fmt"

var windowSpec = &kernelSpec{name: "window", files: []string{"common.wgsl", "window.wgsl"}, writes: []bool{false, true}}

// WindowGrid is the number of windows down and across an h x w map cut into
// ws x ws windows, the map padded at the bottom and right.
func WindowGrid(h, w, ws int) (nh, nw int) { return ceilDiv(h, ws), ceilDiv(w, ws) }

func (d *Device) window(op string, dst, src *Buffer, h, w, c, ws int, reverse bool, beta float32) error {
	if err := positive(op, h, w, c, ws); err != nil {
		return err
	}
	nh, nw := WindowGrid(h, w, ws)
	windowed := nh * nw * ws * ws * c
	if err := fits32(op, windowed); err != nil {
		return err
	}
	in, out := h*w*c, windowed
	if reverse {
		in, out = out, in
	}
	if err := need(op, "src", src, in); err != nil {
		return err
	}
	if err := need(op, "dst", dst, out); err != nil {
		return err
	}
	params := []uint32{uint32(h), uint32(w), uint32(c), uint32(ws), uint32(nh), uint32(nw), b2u(reverse), f32bits(beta)}
	return d.run(windowSpec, params, groups1D(out, 256), src, dst)
}

// WindowPartition cuts tokens src [h*w, c] (row-major h x w map) into
// dst [nh*nw*ws*ws, c]: windows row-major, tokens row-major within a
// window, zero tokens where the bottom/right padding extends the map.
func (d *Device) WindowPartition(dst, src *Buffer, h, w, c, ws int) error {
	return d.window("window partition", dst, src, h, w, c, ws, false, 0)
}

// WindowReverse undoes WindowPartition and crops the padding:
// dst [h*w, c] = windows(src) + beta*dst (beta = 1 fuses the residual).
func (d *Device) WindowReverse(dst, src *Buffer, h, w, c, ws int, beta float32) error {
	return d.window("window reverse", dst, src, h, w, c, ws, true, beta)
}

// Attention describes multi-head self-attention over Windows independent
// token sets of Tokens tokens each, as in TinyViT's Attention: each token
// row of qkv holds, per head, KeyDim query values, KeyDim key values and
// ValDim values ([Windows*Tokens, Heads*(2*KeyDim+ValDim)]).
type Attention struct {
	Windows, Tokens int
	Heads           int
	KeyDim, ValDim  int
	Scale           float32 // usually KeyDim^-0.5
}

// WindowAttention computes out [Windows*Tokens, Heads*ValDim] =
// softmax(Q K^T * Scale + bias) V per window and head, heads concatenated
// along the row (PyTorch's (attn @ v).transpose(1, 2).reshape). bias is
// the [Heads, Tokens, Tokens] table (nil for none). scores is scratch of
// at least Windows*Heads*Tokens*Tokens values (nil: allocated here).
func (d *Device) WindowAttention(out, qkv, bias, scores *Buffer, a Attention) error {
	const op = "window attention"
	if err := positive(op, a.Windows, a.Tokens, a.Heads, a.KeyDim, a.ValDim); err != nil {
		return err
	}
	n := a.Tokens
	row := a.Heads * (2*a.KeyDim + a.ValDim)
	nScores := a.Windows * a.Heads * n * n
	if err := fits32(op, max(nScores, a.Windows*n*row)); err != nil {
		return err
	}
	if err := need(op, "qkv", qkv, a.Windows*n*row); err != nil {
		return err
	}
	if err := need(op, "out", out, a.Windows*n*a.Heads*a.ValDim); err != nil {
		return err
	}
	if scores == nil {
		s, err := d.NewBuffer(nScores)
		if err != nil {
			return fmt.Errorf("webgpu: %s: scores: %w", op, err)
		}
		defer s.Release()
		scores = s
	}
	head := 2*a.KeyDim + a.ValDim
	// scores[w,h] = Q[w,h] K[w,h]^T: rows of Q and K are token rows of qkv.
	qk := MatMul{
		M: n, N: n, K: a.KeyDim, TransB: true,
		LdA: row, LdB: row, LdC: n,
		OffA: 0, OffB: a.KeyDim,
		Batch: a.Windows * a.Heads, Inner: a.Heads,
		StrideA: [2]int{n * row, head}, StrideB: [2]int{n * row, head},
		StrideC: [2]int{a.Heads * n * n, n * n},
	}
	if err := d.MatMul(qk, qkv, qkv, scores, Epilogue{}); err != nil {
		return err
	}
	if err := d.SoftmaxBias(scores, a.Windows*a.Heads*n, n, a.Scale, bias, a.Heads*n); err != nil {
		return err
	}
	// out[w, :, h*ValDim:] = P[w,h] V[w,h].
	pv := MatMul{
		M: n, N: a.ValDim, K: n,
		LdA: n, LdB: row, LdC: a.Heads * a.ValDim,
		OffB:  2 * a.KeyDim,
		Batch: a.Windows * a.Heads, Inner: a.Heads,
		StrideA: [2]int{a.Heads * n * n, n * n},
		StrideB: [2]int{n * row, head},
		StrideC: [2]int{n * a.Heads * a.ValDim, a.ValDim},
	}
	return d.MatMul(pv, scores, qkv, out, Epilogue{})
}
