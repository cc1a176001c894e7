package encoder

// This file follows the module structure of MobileSAM's TinyViT
// (tiny_vit_sam.py): the types carry the original module names so tensor
// names map one to one, but every forward works on HWC token maps.

// Conv2dBN is a convolution whose batch norm has been folded into its
// weight and bias (the ONNX export and the converted weights are folded).
// Three shapes occur in TinyViT: pointwise (1x1), depthwise (groups = C)
// and dense KxK; each keeps its weight in the layout its kernel wants.
type Conv2dBN struct {
	InC, OutC, Kernel, Stride int
	Depthwise                 bool
	weight                    []float32 // pointwise [Out, In]; dense [Out, K, K, In]; depthwise [K*K, C]
	bias                      []float32 // [Out], nil when the conv has none
}

// newConv2dBN reads prefix+".weight" (PyTorch [Out, In/groups, K, K]) and,
// when withBias, prefix+".bias".
func newConv2dBN(l *loader, prefix string, inC, outC, k, stride int, depthwise, withBias bool) *Conv2dBN {
	c := &Conv2dBN{InC: inC, OutC: outC, Kernel: k, Stride: stride, Depthwise: depthwise}
	inPerGroup := inC
	if depthwise {
		inPerGroup = 1
	}
	w := l.get(prefix+".weight", outC, inPerGroup, k, k)
	if withBias {
		c.bias = l.get(prefix+".bias", outC)
	}
	if l.err != nil {
		return nil
	}
	switch {
	case depthwise: // [C,1,K,K] -> [K*K, C]
		c.weight = make([]float32, k*k*outC)
		for ch := 0; ch < outC; ch++ {
			for t := 0; t < k*k; t++ {
				c.weight[t*outC+ch] = w[ch*k*k+t]
			}
		}
	case k == 1:
		c.weight = w
	default: // [O,I,K,K] -> [O,K,K,I], matching im2colRows' (ky,kx,c) order
		c.weight = make([]float32, len(w))
		for o := 0; o < outC; o++ {
			for i := 0; i < inC; i++ {
				for t := 0; t < k*k; t++ {
					c.weight[(o*k*k+t)*inC+i] = w[(o*inC+i)*k*k+t]
				}
			}
		}
	}
	return c
}

// outSize is the output resolution for an h x w input (padding K/2).
func (c *Conv2dBN) outSize(h, w int) (int, int) {
	p := c.Kernel / 2
	return (h+2*p-c.Kernel)/c.Stride + 1, (w+2*p-c.Kernel)/c.Stride + 1
}

// imcolPixels bounds the im2col scratch of a dense conv (pixels per chunk):
// 1024 pixels keep the stem's chunk (1024 x 288 floats) in L2; measured a few
// percent faster on the stem and neck than 8192.
var imcolPixels = 1024 // a variable so tests can force several chunks

// forward computes dst = act(conv(src) + bias [+ dst when accumulate]) for
// an HWC map of h x w and returns the output size. Accumulate is how
// residual connections are fused: dst already holds the shortcut.
func (c *Conv2dBN) forward(a *arena, dst, src []float32, h, w int, act activation, accumulate bool) (oh, ow int) {
	oh, ow = c.outSize(h, w)
	switch {
	case c.Depthwise:
		if accumulate {
			panic("encoder: depthwise conv does not accumulate")
		}
		return depthwiseConv(dst, src, h, w, c.InC, c.Kernel, c.Stride, c.weight, c.bias, act)
	case c.Kernel == 1 && c.Stride == 1:
		linear(dst, src, h*w, c.InC, c.OutC, c.weight, accumulate)
	default:
		kc := c.Kernel * c.Kernel * c.InC
		rowsPerChunk := max(1, imcolPixels/ow)
		col := a.get(min(rowsPerChunk, oh) * ow * kc)
		for oy0 := 0; oy0 < oh; oy0 += rowsPerChunk {
			oy1 := min(oy0+rowsPerChunk, oh)
			im2colRows(col, src, h, w, c.InC, c.Kernel, c.Stride, c.Kernel/2, ow, oy0, oy1)
			linear(dst[oy0*ow*c.OutC:], col, (oy1-oy0)*ow, kc, c.OutC, c.weight, accumulate)
		}
		a.put(col)
	}
	biasAct(dst, oh*ow, c.OutC, c.bias, act)
	return oh, ow
}

// flops counts multiply-adds x2 for an h x w input.
func (c *Conv2dBN) flops(h, w int) int64 {
	oh, ow := c.outSize(h, w)
	per := int64(c.Kernel * c.Kernel * c.InC)
	if c.Depthwise {
		per = int64(c.Kernel * c.Kernel)
	}
	return 2 * int64(oh*ow) * int64(c.OutC) * per
}

// PatchEmbed is the stem: two 3x3 stride-2 convs with a GELU between.
type PatchEmbed struct {
	Conv0, Conv1 *Conv2dBN
}

func newPatchEmbed(l *loader, inC, dim int) *PatchEmbed {
	return &PatchEmbed{
		Conv0: newConv2dBN(l, "patch_embed.seq.0.c", inC, dim/2, 3, 2, false, true),
		Conv1: newConv2dBN(l, "patch_embed.seq.2.c", dim/2, dim, 3, 2, false, true),
	}
}

func (p *PatchEmbed) forward(a *arena, x []float32, h, w int) ([]float32, int, int) {
	h1, w1 := p.Conv0.outSize(h, w)
	t := a.get(h1 * w1 * p.Conv0.OutC)
	p.Conv0.forward(a, t, x, h, w, actGELU, false)
	h2, w2 := p.Conv1.outSize(h1, w1)
	out := a.get(h2 * w2 * p.Conv1.OutC)
	p.Conv1.forward(a, out, t, h1, w1, actNone, false)
	a.put(t)
	return out, h2, w2
}

// MBConv is the inverted-residual block of stage 0:
// x = GELU(x + conv3(GELU(dw3x3(GELU(conv1(x)))))).
type MBConv struct {
	Conv1, Conv2, Conv3 *Conv2dBN
}

func newMBConv(l *loader, prefix string, dim, hidden int) *MBConv {
	return &MBConv{
		Conv1: newConv2dBN(l, prefix+".conv1.c", dim, hidden, 1, 1, false, true),
		Conv2: newConv2dBN(l, prefix+".conv2.c", hidden, hidden, 3, 1, true, true),
		Conv3: newConv2dBN(l, prefix+".conv3.c", hidden, dim, 1, 1, false, true),
	}
}

// forward updates x (h x w x dim) in place.
func (m *MBConv) forward(a *arena, x []float32, h, w int) {
	hid := m.Conv1.OutC
	t1 := a.get(h * w * hid)
	m.Conv1.forward(a, t1, x, h, w, actGELU, false)
	// The depthwise conv and conv3 run in bands of output rows on one
	// worker each, so the band's depthwise output is still in cache when
	// conv3 reads it (instead of a second full [h*w, hidden] map).
	bandRows := max(1, mbBandPixels/w)
	per := bandRows * w * hid
	nwk := workers()
	scratch := a.get(nwk * per)
	bands := (h + bandRows - 1) / bandRows
	c := m.Conv3.OutC
	parallelForWorker(bands, 1, nwk, func(worker, lo, hi int) {
		t2 := scratch[worker*per : (worker+1)*per]
		for band := lo; band < hi; band++ {
			y0, y1 := band*bandRows, min((band+1)*bandRows, h)
			depthwiseRows(t2, t1, h, w, hid, m.Conv2.Kernel, 1, y0, y1, m.Conv2.weight, m.Conv2.bias, actGELU)
			xb := x[y0*w*c : y1*w*c]
			gemmSerial(false, true, (y1-y0)*w, c, hid, 1, t2, hid, m.Conv3.weight, hid, 1, xb, c)
			for r := 0; r < (y1-y0)*w; r++ {
				geluRow(xb[r*c:(r+1)*c], m.Conv3.bias)
			}
		}
	})
	a.put(t1, scratch)
}

// mbBandPixels is about how many pixels an MBConv band holds: 512 x 256
// hidden channels is 512 KiB, half of a Zen 4 core's L2. A variable so
// tests can force many bands.
var mbBandPixels = 512

// PatchMerging changes resolution and width between stages: 1x1 conv,
// GELU, 3x3 depthwise (stride 2, or 1 before MobileSAM's last stage),
// GELU, 1x1 conv. No residual.
type PatchMerging struct {
	Conv1, Conv2, Conv3 *Conv2dBN
}

func newPatchMerging(l *loader, prefix string, dim, outDim, stride int) *PatchMerging {
	return &PatchMerging{
		Conv1: newConv2dBN(l, prefix+".conv1.c", dim, outDim, 1, 1, false, true),
		Conv2: newConv2dBN(l, prefix+".conv2.c", outDim, outDim, 3, stride, true, true),
		Conv3: newConv2dBN(l, prefix+".conv3.c", outDim, outDim, 1, 1, false, true),
	}
}

func (p *PatchMerging) forward(a *arena, x []float32, h, w int) ([]float32, int, int) {
	c := p.Conv1.OutC
	t1 := a.get(h * w * c)
	p.Conv1.forward(a, t1, x, h, w, actGELU, false)
	oh, ow := p.Conv2.outSize(h, w)
	t2 := a.get(oh * ow * c)
	p.Conv2.forward(a, t2, t1, h, w, actGELU, false)
	out := a.get(oh * ow * c)
	p.Conv3.forward(a, out, t2, oh, ow, actNone, false)
	a.put(t1, t2)
	return out, oh, ow
}

func (p *PatchMerging) flops(h, w int) int64 {
	oh, ow := p.Conv2.outSize(h, w)
	return p.Conv1.flops(h, w) + p.Conv2.flops(h, w) + p.Conv3.flops(oh, ow)
}

// ConvLayer is stage 0: MBConv blocks, then a PatchMerging.
type ConvLayer struct {
	Blocks     []*MBConv
	Downsample *PatchMerging
}

// Mlp is LayerNorm, fc1, GELU, fc2.
type Mlp struct {
	Dim, Hidden  int
	normW, normB []float32
	fc1W, fc1B   []float32
	fc2W, fc2B   []float32
}

func newMlp(l *loader, prefix string, dim, hidden int) *Mlp {
	return &Mlp{
		Dim: dim, Hidden: hidden,
		normW: l.get(prefix+".norm.weight", dim),
		normB: l.get(prefix+".norm.bias", dim),
		fc1W:  l.get(prefix+".fc1.weight", hidden, dim),
		fc1B:  l.get(prefix+".fc1.bias", hidden),
		fc2W:  l.get(prefix+".fc2.weight", dim, hidden),
		fc2B:  l.get(prefix+".fc2.bias", dim),
	}
}

// forward adds the MLP branch to x (rows tokens) in place.
func (m *Mlp) forward(a *arena, x []float32, rows int) {
	// Bands of mlpBand tokens run start to finish on one worker (norm, fc1,
	// GELU, fc2 added into x), so the 4x wider hidden activations stay in
	// cache instead of streaming a [rows, Hidden] matrix through memory.
	c := m.Dim
	per := mlpBand*c + mlpBand*m.Hidden
	nwk := workers()
	scratch := a.get(nwk * per)
	bands := (rows + mlpBand - 1) / mlpBand
	parallelForWorker(bands, 1, nwk, func(worker, lo, hi int) {
		t := scratch[worker*per : worker*per+mlpBand*c]
		hid := scratch[worker*per+mlpBand*c : (worker+1)*per]
		for band := lo; band < hi; band++ {
			r0, r1 := band*mlpBand, min((band+1)*mlpBand, rows)
			n := r1 - r0
			xb := x[r0*c : r1*c]
			for r := 0; r < n; r++ {
				src := xb[r*c : (r+1)*c]
				layerNormRow(t[r*c:(r+1)*c], src, m.normW, m.normB, 1e-5)
				for i, b := range m.fc2B { // fc2's bias, added to the residual
					src[i] += b
				}
			}
			gemmSerial(false, true, n, m.Hidden, c, 1, t, c, m.fc1W, c, 0, hid, m.Hidden)
			for r := 0; r < n; r++ {
				geluRow(hid[r*m.Hidden:(r+1)*m.Hidden], m.fc1B)
			}
			gemmSerial(false, true, n, c, m.Hidden, 1, hid, m.Hidden, m.fc2W, m.Hidden, 1, xb, c)
		}
	})
	a.put(scratch)
}

// mlpBand is the number of tokens an MLP band processes at once: its
// hidden activations (at most 256 x 1280 floats) fit in L2. A variable so
// tests can force many bands.
var mlpBand = 256

func (m *Mlp) flops(rows int) int64 {
	return 2 * 2 * int64(rows) * int64(m.Dim) * int64(m.Hidden)
}

// TinyViTBlock: x += attn(x); x = local_conv(x); x += mlp(x).
type TinyViTBlock struct {
	Attn      *Attention
	LocalConv *Conv2dBN
	Mlp       *Mlp
}

func newTinyViTBlock(l *loader, prefix string, dim, heads, window int) *TinyViTBlock {
	return &TinyViTBlock{
		Attn:      newAttention(l, prefix+".attn", dim, heads, window),
		LocalConv: newConv2dBN(l, prefix+".local_conv.c", dim, dim, 3, 1, true, true),
		Mlp:       newMlp(l, prefix+".mlp", dim, 4*dim),
	}
}

// forward returns the block output, which may be a different buffer than
// x; x is then given back to the arena.
func (b *TinyViTBlock) forward(a *arena, x []float32, h, w int) []float32 {
	b.Attn.forward(a, x, h, w)
	y := a.get(h * w * b.Attn.Dim)
	b.LocalConv.forward(a, y, x, h, w, actNone, false)
	a.put(x)
	b.Mlp.forward(a, y, h*w)
	return y
}

func (b *TinyViTBlock) flops(h, w int) int64 {
	return b.Attn.flops(h, w) + b.LocalConv.flops(h, w) + b.Mlp.flops(h*w)
}

// BasicLayer is a transformer stage: TinyViT blocks, then optionally a
// PatchMerging.
type BasicLayer struct {
	Blocks     []*TinyViTBlock
	Downsample *PatchMerging
}
