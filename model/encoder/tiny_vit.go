package encoder

import "github.com/busam/busam/model/cpu"

// The CPU forward: one *Op per module of Params (params.go), holding the
// weights re-laid out for this package's kernels; every forward works on
// HWC token maps.

// convOp runs one Conv with its weight in the layout its kernel wants:
// pointwise [Out, In]; dense [Out, K, K, In]; depthwise [K*K, C].
type convOp struct {
	*Conv
	weight []float32
	bias   []float32 // [Out], nil when the conv has none
}

func newConvOp(c *Conv) *convOp {
	op := &convOp{Conv: c}
	w, k, inC, outC := c.Weight.Data, c.Kernel, c.InC, c.OutC
	if c.Bias != nil {
		op.bias = c.Bias.Data
	}
	switch {
	case c.Depthwise(): // [C,1,K,K] -> [K*K, C]
		op.weight = make([]float32, k*k*outC)
		for ch := 0; ch < outC; ch++ {
			for t := 0; t < k*k; t++ {
				op.weight[t*outC+ch] = w[ch*k*k+t]
			}
		}
	case k == 1:
		op.weight = w
	default: // [O,I,K,K] -> [O,K,K,I], matching cpu.Im2colRows' (ky,kx,c) order
		op.weight = make([]float32, len(w))
		for o := 0; o < outC; o++ {
			for i := 0; i < inC; i++ {
				for t := 0; t < k*k; t++ {
					op.weight[(o*k*k+t)*inC+i] = w[(o*inC+i)*k*k+t]
				}
			}
		}
	}
	return op
}

// imcolPixels bounds the im2col scratch of a dense conv (pixels per chunk):
// 1024 pixels keep the stem's chunk (1024 x 288 floats) in L2; measured a few
// percent faster on the stem and neck than 8192.
var imcolPixels = 1024 // a variable so tests can force several chunks

// forward computes dst = act(conv(src) + bias [+ dst when accumulate]) for
// an HWC map of h x w and returns the output size. Accumulate is how
// residual connections are fused: dst already holds the shortcut.
func (c *convOp) forward(a *arena, dst, src []float32, h, w int, act Activation, accumulate bool) (oh, ow int) {
	oh, ow = c.OutSize(h, w)
	switch {
	case c.Depthwise():
		if accumulate {
			panic("encoder: depthwise conv does not accumulate")
		}
		return cpu.Depthwise(dst, src, h, w, c.InC, c.Kernel, c.Stride, c.weight, c.bias, act == ActGELU)
	case c.Kernel == 1 && c.Stride == 1:
		cpu.Linear(dst, src, h*w, c.InC, c.OutC, c.weight, accumulate)
	default:
		kc := c.Kernel * c.Kernel * c.InC
		rowsPerChunk := max(1, imcolPixels/ow)
		col := a.get(min(rowsPerChunk, oh) * ow * kc)
		for oy0 := 0; oy0 < oh; oy0 += rowsPerChunk {
			oy1 := min(oy0+rowsPerChunk, oh)
			cpu.Im2colRows(col, src, h, w, c.InC, c.Kernel, c.Stride, c.Kernel/2, ow, oy0, oy1)
			cpu.Linear(dst[oy0*ow*c.OutC:], col, (oy1-oy0)*ow, kc, c.OutC, c.weight, accumulate)
		}
		a.put(col)
	}
	cpu.BiasAct(dst, oh*ow, c.OutC, c.bias, act == ActGELU)
	return oh, ow
}

// mbconvOp is stage 0's inverted residual (see MBConv).
type mbconvOp struct {
	Conv1, Conv2, Conv3 *convOp
}

func newMBConvOp(m *MBConv) *mbconvOp {
	return &mbconvOp{newConvOp(&m.Conv1), newConvOp(&m.Conv2), newConvOp(&m.Conv3)}
}

// forward updates x (h x w x dim) in place.
func (m *mbconvOp) forward(a *arena, x []float32, h, w int) {
	hid := m.Conv1.OutC
	t1 := a.get(h * w * hid)
	m.Conv1.forward(a, t1, x, h, w, ActGELU, false)
	// The depthwise conv and conv3 run in bands of output rows on one
	// worker each, so the band's depthwise output is still in cache when
	// conv3 reads it (instead of a second full [h*w, hidden] map).
	bandRows := max(1, mbBandPixels/w)
	per := bandRows * w * hid
	nwk := cpu.Workers()
	scratch := a.get(nwk * per)
	bands := (h + bandRows - 1) / bandRows
	c := m.Conv3.OutC
	cpu.ParallelForWorker(bands, 1, nwk, func(worker, lo, hi int) {
		t2 := scratch[worker*per : (worker+1)*per]
		for band := lo; band < hi; band++ {
			y0, y1 := band*bandRows, min((band+1)*bandRows, h)
			cpu.DepthwiseRows(t2, t1, h, w, hid, m.Conv2.Kernel, 1, y0, y1, m.Conv2.weight, m.Conv2.bias, true)
			xb := x[y0*w*c : y1*w*c]
			cpu.GemmSerial(false, true, (y1-y0)*w, c, hid, 1, t2, hid, m.Conv3.weight, hid, 1, xb, c)
			for r := 0; r < (y1-y0)*w; r++ {
				cpu.GELURow(xb[r*c:(r+1)*c], m.Conv3.bias)
			}
		}
	})
	a.put(t1, scratch)
}

// mbBandPixels is about how many pixels an mbconvOp band holds: 512 x 256
// hidden channels is 512 KiB, half of a Zen 4 core's L2. A variable so
// tests can force many bands.
var mbBandPixels = 512

// mergeOp is PatchMerging (see Merge).
type mergeOp struct {
	Conv1, Conv2, Conv3 *convOp
}

func newMergeOp(m *Merge) *mergeOp {
	return &mergeOp{newConvOp(&m.Conv1), newConvOp(&m.Conv2), newConvOp(&m.Conv3)}
}

func (p *mergeOp) forward(a *arena, x []float32, h, w int) ([]float32, int, int) {
	c := p.Conv1.OutC
	t1 := a.get(h * w * c)
	p.Conv1.forward(a, t1, x, h, w, ActGELU, false)
	oh, ow := p.Conv2.OutSize(h, w)
	t2 := a.get(oh * ow * c)
	p.Conv2.forward(a, t2, t1, h, w, ActGELU, false)
	out := a.get(oh * ow * c)
	p.Conv3.forward(a, out, t2, oh, ow, ActNone, false)
	a.put(t1, t2)
	return out, oh, ow
}

// mlpOp is LayerNorm, fc1, GELU, fc2.
type mlpOp struct {
	Dim, Hidden  int
	eps          float32
	normW, normB []float32
	fc1W, fc1B   []float32
	fc2W, fc2B   []float32
}

func newMLPOp(m *MLP) *mlpOp {
	return &mlpOp{
		Dim: m.FC1.In, Hidden: m.FC1.Out, eps: m.Norm.Eps,
		normW: m.Norm.Weight.Data, normB: m.Norm.Bias.Data,
		fc1W: m.FC1.Weight.Data, fc1B: m.FC1.Bias.Data,
		fc2W: m.FC2.Weight.Data, fc2B: m.FC2.Bias.Data,
	}
}

// forward adds the MLP branch to x (rows tokens) in place.
func (m *mlpOp) forward(a *arena, x []float32, rows int) {
	// Bands of mlpBand tokens run start to finish on one worker (norm, fc1,
	// GELU, fc2 added into x), so the 4x wider hidden activations stay in
	// cache instead of streaming a [rows, Hidden] matrix through memory.
	c := m.Dim
	per := mlpBand*c + mlpBand*m.Hidden
	nwk := cpu.Workers()
	scratch := a.get(nwk * per)
	bands := (rows + mlpBand - 1) / mlpBand
	cpu.ParallelForWorker(bands, 1, nwk, func(worker, lo, hi int) {
		t := scratch[worker*per : worker*per+mlpBand*c]
		hid := scratch[worker*per+mlpBand*c : (worker+1)*per]
		for band := lo; band < hi; band++ {
			r0, r1 := band*mlpBand, min((band+1)*mlpBand, rows)
			n := r1 - r0
			xb := x[r0*c : r1*c]
			for r := 0; r < n; r++ {
				src := xb[r*c : (r+1)*c]
				cpu.LayerNormRow(t[r*c:(r+1)*c], src, m.normW, m.normB, m.eps)
				for i, b := range m.fc2B { // fc2's bias, added to the residual
					src[i] += b
				}
			}
			cpu.GemmSerial(false, true, n, m.Hidden, c, 1, t, c, m.fc1W, c, 0, hid, m.Hidden)
			for r := 0; r < n; r++ {
				cpu.GELURow(hid[r*m.Hidden:(r+1)*m.Hidden], m.fc1B)
			}
			cpu.GemmSerial(false, true, n, c, m.Hidden, 1, hid, m.Hidden, m.fc2W, m.Hidden, 1, xb, c)
		}
	})
	a.put(scratch)
}

// mlpBand is the number of tokens an MLP band processes at once: its
// hidden activations (at most 256 x 1280 floats) fit in L2. A variable so
// tests can force many bands.
var mlpBand = 256
