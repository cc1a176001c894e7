// Package encoder is SAM's image encoder as distilled by MobileSAM: a
// TinyViT-5M backbone (MBConv stage, then three window-attention stages)
// and SAM's neck, in float32 on the CPU. It turns a normalized [3,H,W]
// image into a [256, H/16, W/16] embedding (64x64 for SAM's 1024x1024
// input) that the project's heads decode into a mask and a class.
//
// Weights come from a safetensors file whose tensor names are the PyTorch
// module paths of MobileSAM's TinyViT with batch norms folded into the
// convolutions (see weights/ENCODER.md). Feature maps are kept HWC inside;
// every kernel (matrix products, the element-wise loops, LayerNorm,
// depthwise 3x3, window attention, with their AVX-512 assembly, wasm SIMD
// and plain-Go twins) is in package model/cpu, and so is the parallel loop
// that spreads the work over GOMAXPROCS goroutines.
//
// The model is described once for every backend: Config (shape), Layout /
// NewParams / Params (params.go: every tensor's name and PyTorch shape,
// validation, attention-bias gathering, qkv layout, FLOPs, OutputSize) and
// Forward (forward.go: the data flow, over a Backend of module-level ops).
// This package's CPU backend is cpu_backend.go; model/webgpu/tinyvit is
// the WebGPU one. Both are tested on Tiny with RandomParams.
//
// Training runs the same Forward through a recording backend
// (ForwardRecord, record.go): the CPU ops compute the outputs, a Tape keeps
// each trained module's input, and Tape.Backward (backward.go) returns the
// gradients of every parameter (Grads, by PyTorch name; attention biases as
// their relative-position tables) and of the input, recomputing each
// module's internals from its saved input. A Scope leaves the first stages
// frozen: they run unrecorded and cost nothing in the backward.
//
// The output matches ONNX Runtime on MobileSAM's encoder.onnx to about
// 1e-6 (golden_test.go; prepared by tools/ort/golden.sh).
package encoder

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"image"
	"math"
	"sort"
	"sync"

	"github.com/busam/busam/model/tensor"
)

// Config is the shape of a TinyViT encoder.
type Config struct {
	InChans      int
	EmbedDims    [4]int
	Depths       [4]int
	Heads        [4]int // stages 1..3; stage 0 is convolutional
	Windows      [4]int
	MBConvExpand int
	// LastMergeStride is the stride of the PatchMerging before the last
	// stage: MobileSAM uses 1 so the embedding stays at 1/16 resolution.
	LastMergeStride int
	NeckDim         int
}

// MobileSAM is the configuration of MobileSAM's TinyViT-5M image encoder.
var MobileSAM = Config{
	InChans:         3,
	EmbedDims:       [4]int{64, 128, 160, 320},
	Depths:          [4]int{2, 2, 6, 2},
	Heads:           [4]int{0, 4, 5, 10},
	Windows:         [4]int{0, 7, 14, 7},
	MBConvExpand:    4,
	LastMergeStride: 1,
	NeckDim:         256,
}

// Tiny has MobileSAM's structure (every module kind, a stride-1 last
// merge, windows that need padding) at a size that runs in milliseconds:
// the configuration of the tests of every backend.
var Tiny = Config{
	InChans:         3,
	EmbedDims:       [4]int{8, 12, 16, 20},
	Depths:          [4]int{2, 1, 2, 1},
	Heads:           [4]int{0, 2, 4, 5},
	Windows:         [4]int{0, 3, 4, 3},
	MBConvExpand:    2,
	LastMergeStride: 1,
	NeckDim:         12,
}

// Encoder is a loaded image encoder. Forward may be called from several
// goroutines at once; each call uses its own scratch memory.
type Encoder struct {
	Config Config
	// Params are the weights as read, in PyTorch layout, shared with other
	// backends (model/webgpu/tinyvit); the ops below hold the layouts this
	// package's kernels want, one per module of Params.
	Params *Params

	convs   map[*Conv]*convOp
	mbconvs map[*MBConv]*mbconvOp
	merges  map[*Merge]*mergeOp
	attns   map[*Attention]*attentionOp
	mlps    map[*MLP]*mlpOp

	sha string
	// trunkSHA keys trunk features (Trunk); empty means derive it from sha.
	// It ignores overrides of the neck, which the trunk does not run.
	trunkSHA string
	arenas   sync.Pool
}

// New builds the MobileSAM encoder from tensors named by PyTorch module
// path. The tensors are used in place where their layout allows; the
// caller must not modify them afterwards.
func New(p map[string]*tensor.Tensor) (*Encoder, error) {
	return NewWithConfig(MobileSAM, p)
}

// NewWithConfig builds an encoder of any TinyViT shape (tests use tiny ones).
func NewWithConfig(cfg Config, p map[string]*tensor.Tensor) (*Encoder, error) {
	params, err := NewParams(cfg, p)
	if err != nil {
		return nil, err
	}
	e := fromParams(params)
	e.sha = paramsSHA256(p) // the tensors as given (bias tables ungathered)
	return e, nil
}

// FromParams builds the CPU encoder of a loaded parameter set; its
// SHA256 hashes the parameters' names, shapes and values.
func FromParams(p *Params) *Encoder {
	tensors := map[string]*tensor.Tensor{}
	for _, w := range p.Weights() {
		tensors[w.Name] = &tensor.Tensor{Shape: w.Shape, Data: w.Data}
	}
	e := fromParams(p)
	e.sha = paramsSHA256(tensors)
	return e
}

// fromParams builds the ops of every module, without a hash.
func fromParams(p *Params) *Encoder {
	e := &Encoder{Config: p.Config, Params: p,
		convs:   map[*Conv]*convOp{},
		mbconvs: map[*MBConv]*mbconvOp{},
		merges:  map[*Merge]*mergeOp{},
		attns:   map[*Attention]*attentionOp{},
		mlps:    map[*MLP]*mlpOp{},
	}
	for _, c := range []*Conv{&p.Stem[0], &p.Stem[1], &p.Neck.Conv1, &p.Neck.Conv2} {
		e.convs[c] = newConvOp(c)
	}
	for i := range p.MBConv {
		e.mbconvs[&p.MBConv[i]] = newMBConvOp(&p.MBConv[i])
	}
	for s := range p.Blocks {
		for i := range p.Blocks[s] {
			b := &p.Blocks[s][i]
			e.attns[&b.Attn] = newAttentionOp(&b.Attn)
			e.convs[&b.LocalConv] = newConvOp(&b.LocalConv)
			e.mlps[&b.MLP] = newMLPOp(&b.MLP)
		}
	}
	for s := range p.Merges {
		e.merges[&p.Merges[s]] = newMergeOp(&p.Merges[s])
	}
	return e
}

func (c Config) validate() error {
	if c.InChans < 1 || c.MBConvExpand < 1 || c.NeckDim < 1 || c.LastMergeStride < 1 {
		return fmt.Errorf("encoder: invalid config %+v", c)
	}
	for s := 0; s < 4; s++ {
		if c.EmbedDims[s] < 1 || c.Depths[s] < 0 {
			return fmt.Errorf("encoder: invalid config %+v", c)
		}
		if s > 0 && (c.Heads[s] < 1 || c.Windows[s] < 1 || c.EmbedDims[s]%c.Heads[s] != 0) {
			return fmt.Errorf("encoder: stage %d: dim %d, %d heads, window %d", s, c.EmbedDims[s], c.Heads[s], c.Windows[s])
		}
	}
	if c.EmbedDims[0]%2 != 0 {
		return fmt.Errorf("encoder: stage 0 width %d must be even (the stem halves it)", c.EmbedDims[0])
	}
	return nil
}

// SHA256 identifies the weights: for NewIdentified the hash of the file
// (with its overrides; package modelfile loads files that way), for
// New a hash of the tensors' names, shapes and values.
func (e *Encoder) SHA256() string { return e.sha }

// OutputSize is the embedding's spatial size for an h x w input.
func (e *Encoder) OutputSize(h, w int) (int, int) { return e.Config.OutputSize(h, w) }

// Forward encodes a normalized [3,H,W] image (see Preprocess) into a
// [NeckDim, h, w] embedding, h x w = OutputSize(H, W).
func (e *Encoder) Forward(x *tensor.Tensor) (*tensor.Tensor, error) {
	return e.onCPU(Forward[[]float32], x)
}

// onCPU runs one of the model's data flows (Forward, ForwardTrunk,
// ForwardNeck) as a CPU pass in a pooled scratch arena.
func (e *Encoder) onCPU(run func(Backend[[]float32], *Params, *tensor.Tensor) (*tensor.Tensor, error), x *tensor.Tensor) (*tensor.Tensor, error) {
	a, _ := e.arenas.Get().(*arena)
	if a == nil {
		a = &arena{}
	}
	defer e.arenas.Put(a)
	return run(&cpuPass{e: e, a: a}, e.Params, x)
}

// Embed preprocesses img for SAM (longest side 1024) and encodes it.
func (e *Encoder) Embed(img image.Image) (*tensor.Tensor, Geometry, error) {
	return preprocessed(img, e.Forward)
}

// preprocessed runs forward on img preprocessed for SAM (longest side 1024).
func preprocessed(img image.Image, forward func(*tensor.Tensor) (*tensor.Tensor, error)) (*tensor.Tensor, Geometry, error) {
	if img == nil || img.Bounds().Empty() {
		return nil, Geometry{}, fmt.Errorf("encoder: empty image")
	}
	x, g := Preprocess(img, DefaultSize)
	out, err := forward(x)
	return out, g, err
}

// FLOPs is the number of floating-point operations of a forward pass on
// an h x w input (see Params.FLOPs).
func (e *Encoder) FLOPs(h, w int) int64 { return e.Params.FLOPs(h, w) }

// paramsSHA256 hashes tensors in name order, so equal weights give equal
// hashes however they were loaded.
func paramsSHA256(p map[string]*tensor.Tensor) string {
	names := make([]string, 0, len(p))
	for n := range p {
		names = append(names, n)
	}
	sort.Strings(names)
	h := sha256.New()
	buf := make([]byte, 0, 1<<16)
	for _, n := range names {
		t := p[n]
		fmt.Fprintf(h, "%s%v;", n, t.Shape)
		for _, v := range t.Data {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
			if len(buf) == cap(buf) {
				h.Write(buf)
				buf = buf[:0]
			}
		}
		h.Write(buf)
		buf = buf[:0]
	}
	return hex.EncodeToString(h.Sum(nil))
}
