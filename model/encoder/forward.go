package encoder

import (
	"fmt"

	"github.com/busam/busam/model/tensor"
)

// Activation selects the epilogue applied after a convolution.
type Activation int

const (
	ActNone Activation = iota
	ActGELU
)

// Backend runs TinyViT's modules on one kind of device; T is its buffer
// type (the CPU's HWC []float32, WebGPU's device buffers). Forward below
// is the one definition of the model's data flow that every backend runs.
//
// The ops are at the granularity where backends fuse differently (the CPU
// runs the MLP and MBConv in cache-sized bands and attention on real tokens
// only; WebGPU partitions windows and runs a few large dispatches), so each
// backend keeps its fastest schedule. Every op takes ownership of its input
// buffer (it may reuse it for the output) and returns the output.
type Backend[T any] interface {
	// Input brings a validated [InChans,H,W] image onto the backend.
	Input(x *tensor.Tensor) T
	// Conv is act(conv(x) + bias), dense or depthwise, padding K/2.
	Conv(x T, c *Conv, h, w int, act Activation) T
	// MBConv is x = GELU(x + Conv3(GELU(Conv2(GELU(Conv1(x)))))).
	MBConv(x T, m *MBConv, h, w int) T
	// Merge is Conv3(GELU(Conv2(GELU(Conv1(x))))), Conv2 strided.
	Merge(x T, m *Merge, h, w int) T
	// Attention is x + Proj(window attention(Norm(x))), windows padded
	// bottom and right with zero tokens.
	Attention(x T, a *Attention, h, w int) T
	// MLP is x + FC2(GELU(FC1(Norm(x)))).
	MLP(x T, m *MLP, h, w int) T
	// Norm is a LayerNorm over the channels of every pixel.
	Norm(x T, n *Norm, h, w int) T
	// Output returns the [c,h,w] result, or the first error of the pass.
	Output(x T, c, h, w int) (*tensor.Tensor, error)
}

// Forward runs the encoder p on backend b: a normalized [InChans,H,W] image
// in, the [NeckDim, h, w] embedding out, h x w = p.Config.OutputSize(H, W).
func Forward[T any](b Backend[T], p *Params, x *tensor.Tensor) (*tensor.Tensor, error) {
	cur, h, w, err := trunk(b, p, x)
	if err != nil {
		return nil, err
	}
	cur = neck(b, &p.Neck, cur, h, w)
	return b.Output(cur, p.Neck.Conv2.OutC, h, w)
}

// ForwardTrunk runs everything but the neck: the [EmbedDims[3], h, w]
// features of the last TinyViT stage, the input of the neck. Training that
// fine-tunes the neck caches these (see Trunk).
func ForwardTrunk[T any](b Backend[T], p *Params, x *tensor.Tensor) (*tensor.Tensor, error) {
	cur, h, w, err := trunk(b, p, x)
	if err != nil {
		return nil, err
	}
	return b.Output(cur, p.Config.EmbedDims[3], h, w)
}

// ForwardNeck runs the neck alone on [EmbedDims[3], h, w] trunk features.
func ForwardNeck[T any](b Backend[T], p *Params, f *tensor.Tensor) (*tensor.Tensor, error) {
	if f == nil || len(f.Shape) != 3 || f.Shape[0] != p.Neck.Conv1.InC || len(f.Data) != tensor.Numel(f.Shape) {
		shape := []int(nil)
		if f != nil {
			shape = f.Shape
		}
		return nil, fmt.Errorf("encoder: neck input shape %v, want [%d,h,w]", shape, p.Neck.Conv1.InC)
	}
	h, w := f.Shape[1], f.Shape[2]
	cur := neck(b, &p.Neck, b.Input(f), h, w)
	return b.Output(cur, p.Neck.Conv2.OutC, h, w)
}

// trunk is the stem, the MBConv stage and the four TinyViT stages.
func trunk[T any](b Backend[T], p *Params, x *tensor.Tensor) (cur T, h, w int, err error) {
	if err := p.Config.checkInput(x); err != nil {
		return cur, 0, 0, err
	}
	h, w = x.Shape[1], x.Shape[2]
	cur = b.Input(x)
	cur = b.Conv(cur, &p.Stem[0], h, w, ActGELU)
	h, w = p.Stem[0].OutSize(h, w)
	cur = b.Conv(cur, &p.Stem[1], h, w, ActNone)
	h, w = p.Stem[1].OutSize(h, w)
	for i := range p.MBConv {
		cur = b.MBConv(cur, &p.MBConv[i], h, w)
	}
	for s := 0; s < 4; s++ {
		for i := range p.Blocks[s] {
			blk := &p.Blocks[s][i]
			cur = b.Attention(cur, &blk.Attn, h, w)
			cur = b.Conv(cur, &blk.LocalConv, h, w, ActNone)
			cur = b.MLP(cur, &blk.MLP, h, w)
		}
		if s < 3 {
			cur = b.Merge(cur, &p.Merges[s], h, w)
			h, w = p.Merges[s].OutSize(h, w)
		}
	}
	return cur, h, w, nil
}

// neck is SAM's neck: 1x1 conv, LayerNorm2d, 3x3 conv, LayerNorm2d.
func neck[T any](b Backend[T], n *Neck, cur T, h, w int) T {
	cur = b.Conv(cur, &n.Conv1, h, w, ActNone)
	cur = b.Norm(cur, &n.Norm1, h, w)
	cur = b.Conv(cur, &n.Conv2, h, w, ActNone)
	return b.Norm(cur, &n.Norm2, h, w)
}

// maxSide bounds the input so scratch sizes stay far from int overflow
// and memory stays sane (a 4096x4096 input needs some 4 GB).
const maxSide = 4096

// checkInput rejects anything but a [InChans, H, W] tensor with matching
// data and sides in 1..maxSide.
func (c Config) checkInput(x *tensor.Tensor) error {
	if x == nil || len(x.Shape) != 3 || x.Shape[0] != c.InChans || x.Shape[1] < 1 || x.Shape[2] < 1 {
		shape := []int(nil)
		if x != nil {
			shape = x.Shape
		}
		return fmt.Errorf("encoder: input shape %v, want [%d,H,W]", shape, c.InChans)
	}
	if len(x.Data) != tensor.Numel(x.Shape) {
		return fmt.Errorf("encoder: input holds %d values for shape %v", len(x.Data), x.Shape)
	}
	if x.Shape[1] > maxSide || x.Shape[2] > maxSide {
		return fmt.Errorf("encoder: input %dx%d larger than %d per side", x.Shape[2], x.Shape[1], maxSide)
	}
	return nil
}
