// Package encoder is SAM's image encoder as distilled by MobileSAM: a
// TinyViT-5M backbone (MBConv stage, then three window-attention stages)
// and SAM's neck, in float32 on the CPU. It turns a normalized [3,H,W]
// image into a [256, H/16, W/16] embedding (64x64 for SAM's 1024x1024
// input) that the project's heads decode into a mask and a class.
//
// Weights come from a safetensors file whose tensor names are the PyTorch
// module paths of MobileSAM's TinyViT with batch norms folded into the
// convolutions (see weights/ENCODER.md). Feature maps are kept HWC inside
// (see ops.go); matrix products go to model/cpu, and on amd64 with AVX-512
// the element-wise loops, LayerNorm, depthwise 3x3 and window attention
// use assembly (fastmath_amd64.s) with plain-Go twins for other targets,
// wasm included. Work is spread over GOMAXPROCS goroutines.
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
	"io"
	"math"
	"os"
	"sort"
	"sync"

	"github.com/busam/busam/model/tensor"
	"github.com/busam/busam/weights/safetensors"
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

// Encoder is a loaded image encoder. Forward may be called from several
// goroutines at once; each call uses its own scratch memory.
type Encoder struct {
	Config     Config
	PatchEmbed *PatchEmbed
	Layer0     *ConvLayer
	Layers     [3]*BasicLayer // stages 1..3
	Neck       *Neck

	sha    string
	arenas sync.Pool
}

// Load reads an encoder from a safetensors file.
func Load(path string) (*Encoder, error) {
	f, err := safetensors.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("encoder: %w", err)
	}
	p := make(map[string]*tensor.Tensor)
	for _, name := range f.Names() {
		t, err := f.Tensor(name)
		if err != nil {
			return nil, fmt.Errorf("encoder: %s: %w", path, err)
		}
		p[name] = t
	}
	e, err := New(p)
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, path)
	}
	sum, err := fileSHA256(path)
	if err != nil {
		return nil, err
	}
	e.sha = sum
	return e, nil
}

// New builds the MobileSAM encoder from tensors named by PyTorch module
// path. The tensors are used in place where their layout allows; the
// caller must not modify them afterwards.
func New(p map[string]*tensor.Tensor) (*Encoder, error) {
	return NewWithConfig(MobileSAM, p)
}

// NewWithConfig builds an encoder of any TinyViT shape (tests use tiny ones).
func NewWithConfig(cfg Config, p map[string]*tensor.Tensor) (*Encoder, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	l := &loader{p: params(p)}
	d := cfg.EmbedDims
	e := &Encoder{Config: cfg}
	e.PatchEmbed = newPatchEmbed(l, cfg.InChans, d[0])
	e.Layer0 = &ConvLayer{}
	for i := 0; i < cfg.Depths[0]; i++ {
		e.Layer0.Blocks = append(e.Layer0.Blocks, newMBConv(l, fmt.Sprintf("layers.0.blocks.%d", i), d[0], d[0]*cfg.MBConvExpand))
	}
	e.Layer0.Downsample = newPatchMerging(l, "layers.0.downsample", d[0], d[1], 2)
	for s := 1; s < 4; s++ {
		layer := &BasicLayer{}
		for i := 0; i < cfg.Depths[s]; i++ {
			layer.Blocks = append(layer.Blocks, newTinyViTBlock(l, fmt.Sprintf("layers.%d.blocks.%d", s, i), d[s], cfg.Heads[s], cfg.Windows[s]))
		}
		if s < 3 {
			stride := 2
			if s == 2 {
				stride = cfg.LastMergeStride
			}
			layer.Downsample = newPatchMerging(l, fmt.Sprintf("layers.%d.downsample", s), d[s], d[s+1], stride)
		}
		e.Layers[s-1] = layer
	}
	e.Neck = newNeck(l, d[3], cfg.NeckDim)
	if l.err != nil {
		return nil, l.err
	}
	e.sha = paramsSHA256(p)
	return e, nil
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

// SHA256 identifies the weights: the hash of the file Load read, or for
// New a hash of the tensors' names, shapes and values.
func (e *Encoder) SHA256() string { return e.sha }

// OutputSize is the embedding's spatial size for an h x w input.
func (e *Encoder) OutputSize(h, w int) (int, int) {
	h, w = e.PatchEmbed.Conv0.outSize(h, w)
	h, w = e.PatchEmbed.Conv1.outSize(h, w)
	h, w = e.Layer0.Downsample.Conv2.outSize(h, w)
	for _, l := range e.Layers {
		if l.Downsample != nil {
			h, w = l.Downsample.Conv2.outSize(h, w)
		}
	}
	return h, w
}

// Forward encodes a normalized [3,H,W] image (see Preprocess) into a
// [NeckDim, h, w] embedding, h x w = OutputSize(H, W).
func (e *Encoder) Forward(x *tensor.Tensor) (*tensor.Tensor, error) {
	if x == nil || len(x.Shape) != 3 || x.Shape[0] != e.Config.InChans || x.Shape[1] < 1 || x.Shape[2] < 1 {
		shape := []int(nil)
		if x != nil {
			shape = x.Shape
		}
		return nil, fmt.Errorf("encoder: input shape %v, want [%d,H,W]", shape, e.Config.InChans)
	}
	if len(x.Data) != tensor.Numel(x.Shape) {
		return nil, fmt.Errorf("encoder: input holds %d values for shape %v", len(x.Data), x.Shape)
	}
	if x.Shape[1] > maxSide || x.Shape[2] > maxSide {
		return nil, fmt.Errorf("encoder: input %dx%d larger than %d per side", x.Shape[2], x.Shape[1], maxSide)
	}
	a, _ := e.arenas.Get().(*arena)
	if a == nil {
		a = &arena{}
	}
	defer e.arenas.Put(a)

	c, h, w := x.Shape[0], x.Shape[1], x.Shape[2]
	in := a.get(c * h * w)
	chwToHWC(in, x.Data, c, h, w)
	cur, h, w := e.PatchEmbed.forward(a, in, h, w)
	a.put(in)
	for _, b := range e.Layer0.Blocks {
		b.forward(a, cur, h, w)
	}
	next, h, w := e.Layer0.Downsample.forward(a, cur, h, w)
	a.put(cur)
	cur = next
	for _, layer := range e.Layers {
		for _, b := range layer.Blocks {
			cur = b.forward(a, cur, h, w)
		}
		if layer.Downsample != nil {
			next, h, w = layer.Downsample.forward(a, cur, h, w)
			a.put(cur)
			cur = next
		}
	}
	neck := e.Neck.forward(a, cur, h, w)
	a.put(cur)
	out := tensor.New(e.Config.NeckDim, h, w)
	hwcToCHW(out.Data, neck, e.Config.NeckDim, h, w)
	a.put(neck)
	return out, nil
}

// maxSide bounds the input so scratch sizes stay far from int overflow
// and memory stays sane (a 4096x4096 input needs some 4 GB).
const maxSide = 4096

// Embed preprocesses img for SAM (longest side 1024) and encodes it.
func (e *Encoder) Embed(img image.Image) (*tensor.Tensor, Geometry, error) {
	if img == nil || img.Bounds().Empty() {
		return nil, Geometry{}, fmt.Errorf("encoder: empty image")
	}
	x, g := Preprocess(img, DefaultSize)
	emb, err := e.Forward(x)
	return emb, g, err
}

// FLOPs is the number of floating-point operations (2 per multiply-add) of
// the convolutions, linear layers and attention products for an h x w
// input, counted as the original model computes them: window attention
// includes the padding tokens. Normalizations and activations are left out.
func (e *Encoder) FLOPs(h, w int) int64 {
	var f int64
	pe := e.PatchEmbed
	f += pe.Conv0.flops(h, w)
	h, w = pe.Conv0.outSize(h, w)
	f += pe.Conv1.flops(h, w)
	h, w = pe.Conv1.outSize(h, w)
	for _, b := range e.Layer0.Blocks {
		f += b.Conv1.flops(h, w) + b.Conv2.flops(h, w) + b.Conv3.flops(h, w)
	}
	f += e.Layer0.Downsample.flops(h, w)
	h, w = e.Layer0.Downsample.Conv2.outSize(h, w)
	for _, layer := range e.Layers {
		for _, b := range layer.Blocks {
			f += b.flops(h, w)
		}
		if layer.Downsample != nil {
			f += layer.Downsample.flops(h, w)
			h, w = layer.Downsample.Conv2.outSize(h, w)
		}
	}
	return f + e.Neck.flops(h, w)
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("encoder: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("encoder: hashing %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

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
