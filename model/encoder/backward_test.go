package encoder

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/busam/busam/internal/testutil"
	"github.com/busam/busam/model/tensor"
)

// The gradient checks compare Backward with central differences of
// L = sum(r * f(x, params)) for a fixed random r, L summed in float64. The
// model computes in float32: each output carries a rounding error of a few
// 1e-7 relative, which in L (some hundreds of O(1) terms) is about 1e-5 and,
// divided by the 2e-2 between the two evaluations, up to ~1e-3 in the
// numeric derivative; hence the absolute tolerance. The step is as large as
// that allows, since its truncation error (step^2/6 times the third
// derivative) is the other term; the relative tolerance covers it.
const (
	fdStep = float32(1e-2)
	fdAtol = 2e-3
	fdRtol = 2e-2
	// fdProbes is how many entries of each tensor are probed.
	fdProbes = 10
)

// fdTensor is one differentiated tensor: its values (perturbed in place,
// then apply is called to make the model see them) and its gradient.
type fdTensor struct {
	name  string
	data  []float32
	grad  []float32
	apply func()
}

// opFn runs one Backend op on module m.
type opFn func(b Backend[[]float32], m any, x []float32, h, w int) []float32

// fdStats is the worst agreement a check saw, for the test log.
type fdStats struct {
	maxRel, maxAbs float64
	probes         int
}

func (s fdStats) String() string {
	return fmt.Sprintf("%d probes, max rel err %.2g (|g| > 0.05), max abs err %.2g", s.probes, s.maxRel, s.maxAbs)
}

// checkFD probes every tensor at up to n random entries (0: all of them)
// with central differences of the given step.
func checkFD(t *testing.T, name string, loss func() float64, ts []fdTensor, n int, step float32, rng *rand.Rand) fdStats {
	t.Helper()
	var st fdStats
	for _, x := range ts {
		if x.grad == nil {
			t.Errorf("%s: no gradient for %s", name, x.name)
			continue
		}
		if len(x.grad) != len(x.data) {
			t.Fatalf("%s: %s: gradient has %d values, want %d", name, x.name, len(x.grad), len(x.data))
		}
		idx := rng.Perm(len(x.data))
		if n > 0 && len(idx) > n {
			idx = idx[:n]
		}
		for _, i := range idx {
			old := x.data[i]
			x.data[i] = old + step
			xu := float64(x.data[i])
			x.apply()
			up := loss()
			x.data[i] = old - step
			xd := float64(x.data[i])
			x.apply()
			down := loss()
			x.data[i] = old
			x.apply()
			// Divide by the step float32 really took, not the nominal one.
			num, ana := (up-down)/(xu-xd), float64(x.grad[i])
			diff, mag := math.Abs(num-ana), max(math.Abs(num), math.Abs(ana))
			st.probes++
			st.maxAbs = max(st.maxAbs, diff)
			if mag > 0.05 {
				st.maxRel = max(st.maxRel, diff/mag)
			}
			if diff > fdAtol+fdRtol*mag {
				t.Errorf("%s: %s[%d]: analytic %.6g, numeric %.6g", name, x.name, i, ana, num)
			}
		}
	}
	return st
}

func dot(y, r []float32) float64 {
	var s float64
	for i, v := range y {
		s += float64(v) * float64(r[i])
	}
	return s
}

func randFloats(rng *rand.Rand, n int, scale float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(scale * rng.NormFloat64())
	}
	return x
}

// gradParams builds cfg's parameters with RandomParams, as *Params.
func gradParams(t *testing.T, cfg Config, seed uint64) *Params {
	t.Helper()
	p, err := NewParams(cfg, randomParams(cfg, seed))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// weightsOf lists the parameter tensors of one module, and its attention
// biases (whose gradient is the table's, probed separately).
func weightsOf(module any) (ws []*Weight, attns []*Attention) {
	conv := func(c *Conv) {
		ws = append(ws, c.Weight)
		if c.Bias != nil {
			ws = append(ws, c.Bias)
		}
	}
	switch m := module.(type) {
	case *Conv:
		conv(m)
	case *MBConv:
		conv(&m.Conv1)
		conv(&m.Conv2)
		conv(&m.Conv3)
	case *Merge:
		conv(&m.Conv1)
		conv(&m.Conv2)
		conv(&m.Conv3)
	case *Attention:
		ws = append(ws, m.Norm.Weight, m.Norm.Bias, m.QKV.Weight, m.QKV.Bias, m.Proj.Weight, m.Proj.Bias)
		attns = append(attns, m)
	case *MLP:
		ws = append(ws, m.Norm.Weight, m.Norm.Bias, m.FC1.Weight, m.FC1.Bias, m.FC2.Weight, m.FC2.Bias)
	case *Norm:
		ws = append(ws, m.Weight, m.Bias)
	}
	return ws, attns
}

// fdTensors wraps weights and attention tables of p as fdTensors whose
// apply rebuilds the CPU ops into *e.
func fdTensors(p *Params, e **Encoder, g Grads, ws []*Weight, attns []*Attention) []fdTensor {
	rebuild := func() { *e = fromParams(p) }
	var ts []fdTensor
	for _, w := range ws {
		ts = append(ts, fdTensor{name: w.Name, data: w.Data, grad: g[w.Name], apply: rebuild})
	}
	for _, a := range attns {
		table := a.BiasTable()
		ts = append(ts, fdTensor{name: a.BiasTableName(), data: table, grad: g[a.BiasTableName()],
			apply: func() { a.SetBiasTable(table); rebuild() }})
	}
	return ts
}

// TestOpGradients checks the backward of every module kind, one module at
// a time, on maps small enough to probe quickly: both stem convs (dense
// 3x3 stride 2, with and without GELU), MBConv, PatchMerging (strides 2 and
// 1), window attention (maps that are and are not whole windows, a head
// dimension of 32 for the AVX-512 forward kernels), the depthwise local
// conv, the MLP, and the neck's convs (1x1, 3x3, no bias) and LayerNorms.
func TestOpGradients(t *testing.T) {
	wide := Tiny // head dimension 32 and 49-token windows, as MobileSAM's
	wide.EmbedDims[1], wide.Windows[1] = 64, 7
	type opCase struct {
		name    string
		cfg     Config
		module  func(p *Params) any
		c, h, w int
		run     opFn
	}
	conv := func(act Activation) opFn {
		return func(b Backend[[]float32], m any, x []float32, h, w int) []float32 {
			return b.Conv(x, m.(*Conv), h, w, act)
		}
	}
	mbconv := func(b Backend[[]float32], m any, x []float32, h, w int) []float32 {
		return b.MBConv(x, m.(*MBConv), h, w)
	}
	merge := func(b Backend[[]float32], m any, x []float32, h, w int) []float32 {
		return b.Merge(x, m.(*Merge), h, w)
	}
	attn := func(b Backend[[]float32], m any, x []float32, h, w int) []float32 {
		return b.Attention(x, m.(*Attention), h, w)
	}
	mlp := func(b Backend[[]float32], m any, x []float32, h, w int) []float32 { return b.MLP(x, m.(*MLP), h, w) }
	norm := func(b Backend[[]float32], m any, x []float32, h, w int) []float32 { return b.Norm(x, m.(*Norm), h, w) }
	cases := []opCase{
		{"stem conv 3x3 s2 gelu", Tiny, func(p *Params) any { return &p.Stem[0] }, 3, 7, 9, conv(ActGELU)},
		{"stem conv 3x3 s2", Tiny, func(p *Params) any { return &p.Stem[1] }, 4, 6, 5, conv(ActNone)},
		{"mbconv", Tiny, func(p *Params) any { return &p.MBConv[1] }, 8, 5, 6, mbconv},
		{"merge s2", Tiny, func(p *Params) any { return &p.Merges[0] }, 8, 7, 5, merge},
		{"merge s1", Tiny, func(p *Params) any { return &p.Merges[2] }, 16, 4, 5, merge},
		{"attention padded", Tiny, func(p *Params) any { return &p.Blocks[1][0].Attn }, 12, 5, 4, attn},
		{"attention whole windows", Tiny, func(p *Params) any { return &p.Blocks[2][1].Attn }, 16, 4, 8, attn},
		{"attention smaller than a window", Tiny, func(p *Params) any { return &p.Blocks[3][0].Attn }, 20, 2, 1, attn},
		{"attention head dim 32", wide, func(p *Params) any { return &p.Blocks[1][0].Attn }, 64, 8, 9, attn},
		{"local conv depthwise", Tiny, func(p *Params) any { return &p.Blocks[1][0].LocalConv }, 12, 5, 4, conv(ActNone)},
		{"mlp", Tiny, func(p *Params) any { return &p.Blocks[2][0].MLP }, 16, 3, 5, mlp},
		{"neck conv 1x1", Tiny, func(p *Params) any { return &p.Neck.Conv1 }, 20, 3, 4, conv(ActNone)},
		{"neck norm", Tiny, func(p *Params) any { return &p.Neck.Norm1 }, 12, 3, 4, norm},
		{"neck conv 3x3", Tiny, func(p *Params) any { return &p.Neck.Conv2 }, 12, 3, 4, conv(ActNone)},
	}
	for k, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(11, uint64(k)))
			p := gradParams(t, tc.cfg, uint64(k+1))
			e := fromParams(p)
			module := tc.module(p)
			x := randFloats(rng, tc.h*tc.w*tc.c, 1)
			// One recorded op, then its backward.
			tape := &Tape{e: e}
			rec := &recorder{pass: &cpuPass{e: e, a: &arena{}}, t: tape, stage: stages(p)}
			y := tc.run(rec, module, slices.Clone(x), tc.h, tc.w)
			plain := tc.run(&cpuPass{e: e, a: &arena{}}, module, slices.Clone(x), tc.h, tc.w)
			if !slices.Equal(y, plain) {
				t.Fatal("recorded op differs from the inference op")
			}
			if len(tape.entries) != 1 {
				t.Fatalf("%d tape entries, want 1", len(tape.entries))
			}
			r := randFloats(rng, len(y), 1)
			b := &backward{e: e, g: Grads{}, a: &arena{}}
			dx := b.step(&tape.entries[0], slices.Clone(r), true)

			loss := func() float64 {
				return dot(tc.run(&cpuPass{e: e, a: &arena{}}, tc.module(p), slices.Clone(x), tc.h, tc.w), r)
			}
			ws, attns := weightsOf(module)
			if got, want := len(b.g), len(ws)+len(attns); got != want {
				t.Errorf("%d gradients, want %d", got, want)
			}
			ts := append(fdTensors(p, &e, b.g, ws, attns), fdTensor{name: "input", data: x, grad: dx, apply: func() {}})
			st := checkFD(t, tc.name, loss, ts, fdProbes, fdStep, rng)
			t.Log(st)
		})
	}
}

// TestEncoderGradients checks the backward of the whole encoder (Tiny at
// 64x64: windows padded in stages 1 and 3) against central differences on
// a few entries of a parameter of every module kind and stage, the
// attention-bias tables, and the input.
func TestEncoderGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	p := gradParams(t, Tiny, 3)
	e := fromParams(p)
	x, g, dx, loss := recordWhole(t, &e, rng)
	if len(g) != len(p.Weights()) {
		t.Errorf("%d gradients, want one per parameter (%d)", len(g), len(p.Weights()))
	}
	b1, b2, b3 := &p.Blocks[1][0], &p.Blocks[2][1], &p.Blocks[3][0]
	ws := []*Weight{
		p.Stem[0].Weight, p.Stem[1].Bias,
		p.MBConv[0].Conv1.Weight, p.MBConv[1].Conv2.Weight, p.MBConv[1].Conv3.Bias,
		p.Merges[0].Conv2.Weight, p.Merges[1].Conv1.Weight, p.Merges[2].Conv3.Weight,
		b1.Attn.Norm.Weight, b1.Attn.QKV.Weight, b1.LocalConv.Weight, b1.MLP.FC2.Weight,
		b2.Attn.Proj.Weight, b2.Attn.Norm.Bias, b2.MLP.Norm.Bias, b2.MLP.FC1.Weight,
		b3.Attn.QKV.Bias, b3.LocalConv.Bias,
		p.Neck.Conv1.Weight, p.Neck.Norm1.Bias, p.Neck.Conv2.Weight, p.Neck.Norm2.Weight,
	}
	ts := fdTensors(p, &e, g, ws, []*Attention{&b1.Attn, &b3.Attn})
	ts = append(ts, fdTensor{name: "input", data: x.Data, grad: dx.Data, apply: func() {}})
	st := checkFD(t, "encoder", loss, ts, 3, fdStep, rng)
	t.Log(st)
}

// recordWhole runs a recorded forward of *e on a random 3x64x64 input x
// and the backward of L = sum(r*y) for a random r; loss recomputes L with
// the inference forward of *e, which fdTensors rebuilds as it perturbs.
func recordWhole(t *testing.T, e **Encoder, rng *rand.Rand) (x *tensor.Tensor, g Grads, dx *tensor.Tensor, loss func() float64) {
	t.Helper()
	x = tensor.From(randFloats(rng, 3*64*64, 1), 3, 64, 64)
	y, tape, err := (*e).ForwardRecord(x, Scope{Input: true})
	if err != nil {
		t.Fatal(err)
	}
	r := tensor.From(randFloats(rng, len(y.Data), 1), y.Shape...)
	if g, dx, err = tape.Backward(r); err != nil {
		t.Fatal(err)
	}
	loss = func() float64 {
		out, err := (*e).Forward(x)
		if err != nil {
			t.Fatal(err)
		}
		return dot(out.Data, r.Data)
	}
	return x, g, dx, loss
}

// TestRecordedForward checks that the training forward is the inference
// forward, bit for bit, that Backward is reproducible, and that a scope
// records and differentiates only its stages: from stage k, exactly the
// parameters of stages >= k and the neck, with the full backward's values.
func TestRecordedForward(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	p := gradParams(t, Tiny, 9)
	e := fromParams(p)
	x := tensor.From(randFloats(rng, 3*45*29, 1), 3, 45, 29)
	want, err := e.Forward(x)
	if err != nil {
		t.Fatal(err)
	}
	full, tFull, err := e.ForwardRecord(x, Scope{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(full.Data, want.Data) {
		t.Fatal("recorded forward differs from Forward")
	}
	r := tensor.From(randFloats(rng, len(want.Data), 1), want.Shape...)
	gFull, dx, err := tFull.Backward(r)
	if err != nil || dx != nil {
		t.Fatalf("full backward: %v, input gradient %v (not asked for)", err, dx != nil)
	}
	again, _, err := tFull.Backward(r)
	if err != nil {
		t.Fatal(err)
	}
	for name, g := range gFull { // a tape can be used again, and sums are reproducible
		if !slices.Equal(g, again[name]) {
			t.Fatalf("second backward: %s differs from the first", name)
		}
	}
	floats := tFull.Floats()
	for from := 1; from <= 4; from++ {
		part, tPart, err := e.ForwardRecord(x, Scope{FromStage: from})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(part.Data, want.Data) {
			t.Fatalf("from stage %d: recorded forward differs from Forward", from)
		}
		gPart, _, err := tPart.Backward(r)
		if err != nil {
			t.Fatal(err)
		}
		if tPart.Floats() >= floats {
			t.Errorf("scope from stage %d keeps %d floats, one stage earlier %d", from, tPart.Floats(), floats)
		}
		floats = tPart.Floats()
		nWant := 0
		for m, s := range stages(p) {
			if s >= from {
				ws, attns := weightsOf(m)
				nWant += len(ws) + len(attns)
			}
		}
		if len(gPart) != nWant {
			t.Errorf("scope from stage %d: %d gradients, want %d", from, len(gPart), nWant)
		}
		for name, gp := range gPart {
			trained := strings.HasPrefix(name, "neck.")
			for s := from; s < 4; s++ {
				trained = trained || strings.HasPrefix(name, fmt.Sprintf("layers.%d.", s))
			}
			if !trained {
				t.Errorf("scope from stage %d has a gradient for %s", from, name)
			}
			if !slices.Equal(gp, gFull[name]) {
				t.Errorf("from stage %d: %s differs from the full backward's", from, name)
			}
		}
	}
	if _, _, err := e.ForwardRecord(x, Scope{FromStage: 1, Input: true}); err == nil {
		t.Error("a scope from stage 1 gave an input gradient")
	}
	if _, _, err := e.ForwardRecord(x, Scope{FromStage: 5}); err == nil {
		t.Error("ForwardRecord accepted stage 5")
	}
	if _, _, err := tFull.Backward(tensor.New(1, 2, 3)); err == nil {
		t.Error("Backward accepted a gradient of the wrong shape")
	}
}

// TestBiasTable checks that BiasTable inverts the gather.
func TestBiasTable(t *testing.T) {
	p := gradParams(t, Tiny, 4)
	a := &p.Blocks[2][0].Attn
	table := a.BiasTable()
	if got := gatherAttentionBias(table, a.Heads, a.Window); !slices.Equal(got, a.Bias.Data) {
		t.Fatal("gathering BiasTable does not give Bias")
	}
	if a.BiasTableName() != "layers.2.blocks.0.attn.attention_biases" {
		t.Errorf("table name %q", a.BiasTableName())
	}
}

// TestEncoderGradientsMobileSAM is TestEncoderGradients on MobileSAM's
// shape (random weights) at 64x64: head dimension 32 (the AVX-512 attention
// kernels), stage 1's 8x8 map padded to 7x7 windows, stage 2's 4x4 map
// inside one 14x14 window.
func TestEncoderGradientsMobileSAM(t *testing.T) {
	if testing.Short() {
		t.Skip("a few seconds")
	}
	rng := rand.New(rand.NewPCG(6, 6))
	p := gradParams(t, MobileSAM, 3)
	e := fromParams(p)
	x, g, dx, loss := recordWhole(t, &e, rng)
	b1, b2, b3 := &p.Blocks[1][1], &p.Blocks[2][3], &p.Blocks[3][1]
	ws := []*Weight{
		p.Stem[0].Weight, p.MBConv[1].Conv2.Weight, p.Merges[0].Conv3.Weight,
		b1.Attn.QKV.Weight, b1.MLP.FC1.Weight, b2.Attn.Proj.Weight, b2.LocalConv.Weight,
		p.Merges[2].Conv1.Weight, b3.MLP.FC2.Bias, p.Neck.Conv2.Weight, p.Neck.Norm1.Weight,
	}
	ts := fdTensors(p, &e, g, ws, []*Attention{&b1.Attn, &b2.Attn})
	ts = append(ts, fdTensor{name: "input", data: x.Data, grad: dx.Data, apply: func() {}})
	// 4096 outputs after some 40 layers: L's rounding noise is about 1e-4,
	// which a 1e-2 step turns into 5e-3 in the numeric derivative (seen);
	// 3e-2 brings it within fdAtol, its truncation error still far below.
	st := checkFD(t, "MobileSAM", loss, ts, 3, 3e-2, rng)
	t.Log(st)
}

// TestEncoderGradientsWeights is the whole-encoder check with MobileSAM's
// real weights (skipped without them), whose scales (trained norms,
// attention biases) random weights only imitate.
func TestEncoderGradientsWeights(t *testing.T) {
	if testing.Short() {
		t.Skip("a few seconds")
	}
	path := testutil.Need(t, filepath.Join(testutil.CacheDir(t), "weights", "encoder.safetensors"), "converted encoder weights")
	loaded, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	p := loaded.Params // this test's own copy, perturbed in place
	e := fromParams(p)
	rng := rand.New(rand.NewPCG(6, 7))
	x, g, dx, loss := recordWhole(t, &e, rng)
	b1, b2, b3 := &p.Blocks[1][0], &p.Blocks[2][5], &p.Blocks[3][1]
	ws := []*Weight{
		p.Stem[1].Weight, p.MBConv[0].Conv3.Weight, p.Merges[1].Conv2.Weight,
		b1.Attn.Proj.Weight, b1.MLP.Norm.Weight, b2.Attn.QKV.Weight, b2.MLP.FC2.Weight,
		b3.LocalConv.Weight, b3.Attn.Norm.Bias, p.Neck.Conv1.Weight, p.Neck.Norm2.Bias,
	}
	ts := fdTensors(p, &e, g, ws, []*Attention{&b2.Attn, &b3.Attn})
	ts = append(ts, fdTensor{name: "input", data: x.Data, grad: dx.Data, apply: func() {}})
	st := checkFD(t, "weights", loss, ts, 3, fdStep, rng)
	t.Log(st)
}
