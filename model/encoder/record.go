package encoder

import (
	"fmt"

	"github.com/busam/busam/model/tensor"
)

// Training runs the one model definition, Forward, through a recording
// backend: the CPU backend's own ops compute every output (so the training
// forward is the inference forward, bit for bit), and the recorder keeps a
// copy of each trained module's input on a Tape. Backward (backward.go)
// walks the tape in reverse and recomputes each module's internals from its
// saved input before differentiating it: the tape holds one map per
// module, not every activation. For MobileSAM at 1024x1024 that is 242 MiB,
// and a whole step (forward, backward, input gradient) peaks at 1.3 GB
// resident: the largest recomputation is an MBConv's hidden maps and their
// gradients, some 400 MB. Nothing needs recomputing per stage.

// Scope selects what a recorded forward pass differentiates.
type Scope struct {
	// FromStage is the first trained stage: 0 trains everything (the stem
	// counts with stage 0), k in 1..3 trains layers.k, later stages and the
	// neck, 4 the neck alone. The PatchMerging after stage s
	// (layers.s.downsample) belongs to stage s. Earlier modules run as in
	// inference, unrecorded, and get no gradients.
	FromStage int
	// Input asks for the gradient of the input image too (FromStage 0).
	Input bool
}

// neckStage is the stage number of the neck's modules.
const neckStage = 4

// opKind is the Backend op a tape entry recorded.
type opKind int

const (
	opConv opKind = iota
	opMBConv
	opMerge
	opAttention
	opMLP
	opNorm
)

// tapeEntry is one recorded op: its module (*Conv, *MBConv, *Merge,
// *Attention, *MLP or *Norm), the input resolution and a copy of its HWC
// input.
type tapeEntry struct {
	kind   opKind
	module any
	h, w   int
	act    Activation
	x      []float32
}

// Tape is what a recorded forward pass keeps for Backward.
type Tape struct {
	e       *Encoder
	scope   Scope
	entries []tapeEntry
	inShape []int // the input image's [C, H, W]
	outC    int   // the output's channels; outH x outW pixels
	outH    int
	outW    int
}

// Floats is the number of float32 values the tape holds.
func (t *Tape) Floats() int {
	n := 0
	for _, en := range t.entries {
		n += len(en.x)
	}
	return n
}

// recorder is the training backend: the CPU pass, recording the inputs of
// the modules in scope. The pass is a named field, not embedded, so that an
// op added to Backend fails to compile here instead of running unrecorded.
type recorder struct {
	pass  *cpuPass
	t     *Tape
	stage map[any]int
}

var _ Backend[[]float32] = (*recorder)(nil)

// stages maps every module of p to its stage (see Scope).
func stages(p *Params) map[any]int {
	m := map[any]int{&p.Stem[0]: 0, &p.Stem[1]: 0,
		&p.Neck.Conv1: neckStage, &p.Neck.Norm1: neckStage, &p.Neck.Conv2: neckStage, &p.Neck.Norm2: neckStage}
	for i := range p.MBConv {
		m[&p.MBConv[i]] = 0
	}
	for s := range p.Blocks {
		for i := range p.Blocks[s] {
			b := &p.Blocks[s][i]
			m[&b.Attn], m[&b.LocalConv], m[&b.MLP] = s, s, s
		}
	}
	for s := range p.Merges {
		m[&p.Merges[s]] = s
	}
	return m
}

// record keeps a copy of x (the op may overwrite it) when module is in
// scope.
func (r *recorder) record(kind opKind, module any, x []float32, h, w int, act Activation) {
	s, ok := r.stage[module]
	if !ok {
		panic(fmt.Sprintf("encoder: recorder: module %T is not part of the encoder", module))
	}
	if s < r.t.scope.FromStage {
		return
	}
	r.t.entries = append(r.t.entries, tapeEntry{kind: kind, module: module, h: h, w: w, act: act, x: append([]float32(nil), x...)})
}

func (r *recorder) Input(x *tensor.Tensor) []float32 {
	r.t.inShape = append([]int(nil), x.Shape...)
	return r.pass.Input(x)
}

func (r *recorder) Conv(x []float32, c *Conv, h, w int, act Activation) []float32 {
	r.record(opConv, c, x, h, w, act)
	return r.pass.Conv(x, c, h, w, act)
}

func (r *recorder) MBConv(x []float32, m *MBConv, h, w int) []float32 {
	r.record(opMBConv, m, x, h, w, ActNone)
	return r.pass.MBConv(x, m, h, w)
}

func (r *recorder) Merge(x []float32, m *Merge, h, w int) []float32 {
	r.record(opMerge, m, x, h, w, ActNone)
	return r.pass.Merge(x, m, h, w)
}

func (r *recorder) Attention(x []float32, a *Attention, h, w int) []float32 {
	r.record(opAttention, a, x, h, w, ActNone)
	return r.pass.Attention(x, a, h, w)
}

func (r *recorder) MLP(x []float32, m *MLP, h, w int) []float32 {
	r.record(opMLP, m, x, h, w, ActNone)
	return r.pass.MLP(x, m, h, w)
}

func (r *recorder) Norm(x []float32, n *Norm, h, w int) []float32 {
	r.record(opNorm, n, x, h, w, ActNone)
	return r.pass.Norm(x, n, h, w)
}

func (r *recorder) Output(x []float32, c, h, w int) (*tensor.Tensor, error) {
	r.t.outC, r.t.outH, r.t.outW = c, h, w
	return r.pass.Output(x, c, h, w)
}

// ForwardRecord is Forward (the same output) that also returns the Tape
// Backward needs for the modules in scope s.
func (e *Encoder) ForwardRecord(x *tensor.Tensor, s Scope) (*tensor.Tensor, *Tape, error) {
	if s.FromStage < 0 || s.FromStage > neckStage {
		return nil, nil, fmt.Errorf("encoder: scope: first stage %d not in 0..%d", s.FromStage, neckStage)
	}
	if s.Input && s.FromStage != 0 {
		return nil, nil, fmt.Errorf("encoder: scope: the input gradient needs every stage (FromStage 0), not %d", s.FromStage)
	}
	t := &Tape{e: e, scope: s}
	out, err := e.onCPU(func(b Backend[[]float32], p *Params, x *tensor.Tensor) (*tensor.Tensor, error) {
		return Forward[[]float32](&recorder{pass: b.(*cpuPass), t: t, stage: stages(p)}, p, x)
	}, x)
	if err != nil {
		return nil, nil, err
	}
	return out, t, nil
}
