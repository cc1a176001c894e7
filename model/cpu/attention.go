package cpu

// AttentionHead holds one attention head's buffers for one window of N
// tokens, in the padded shapes of the AVX-512 kernels: Rows = N rounded up
// to 4, Cols = N rounded up to 16 (see AttentionShape). The caller fills
// Q, KT and V (rows and columns past N stay zero); Run computes O. The heads
// of one worker share S and O, which are only used while that head runs.
type AttentionHead struct {
	N, Rows, Cols, KD int
	Q                 []float32 // [Rows, KD], pre-scaled by 1/sqrt(KD)
	KT                []float32 // [KD, Cols]
	V                 []float32 // [N, KD]
	S                 []float32 // [Rows, Cols] scores, then probabilities
	O                 []float32 // [Rows, KD] attention output
}

// AttentionShape returns the padded score shape of a window of n tokens:
// rows = n rounded up to 4, cols = n rounded up to 16. The bias Run adds is
// laid out [rows, cols], zeros outside n x n.
func AttentionShape(n int) (rows, cols int) { return roundUp(n, 4), roundUp(n, 16) }

// AttentionScratchSize is the number of floats NewAttentionHeads takes for
// heads heads of n tokens and head dimension kd.
func AttentionScratchSize(heads, n, kd int) int {
	rows, cols := AttentionShape(n)
	return heads*(rows*kd+kd*cols+n*kd) + rows*cols + rows*kd
}

// NewAttentionHeads carves one worker's buffers for all heads out of buf
// (at least AttentionScratchSize values).
func NewAttentionHeads(buf []float32, heads, n, kd int) []*AttentionHead {
	rows, cols := AttentionShape(n)
	take := func(size int) []float32 {
		b := buf[:size:size]
		buf = buf[size:]
		return b
	}
	s, o := take(rows*cols), take(rows*kd)
	hs := make([]*AttentionHead, heads)
	for h := range hs {
		hs[h] = &AttentionHead{N: n, Rows: rows, Cols: cols, KD: kd,
			Q: take(rows * kd), KT: take(kd * cols), V: take(n * kd), S: s, O: o}
		clear(hs[h].Q) // rows past N stay zero: computed, never used
		clear(hs[h].KT)
	}
	return hs
}

// Run computes O = softmax(Q KT + bias) V on the calling goroutine, bias
// being [Rows, Cols] (see AttentionShape): the AVX-512 kernels where they
// apply (head dimension 32), else two GemmSerial products around SoftmaxRow.
func (s *AttentionHead) Run(bias []float32) {
	if attentionKernelsFast(s, bias) {
		return
	}
	n, kd, cols := s.N, s.KD, s.Cols
	copy(s.S, bias[:n*cols])
	GemmSerial(false, false, n, n, kd, 1, s.Q, kd, s.KT, cols, 1, s.S, cols)
	for i := 0; i < n; i++ {
		SoftmaxRow(s.S[i*cols : i*cols+n])
	}
	GemmSerial(false, false, n, kd, n, 1, s.S, cols, s.V, kd, 0, s.O, kd)
}
