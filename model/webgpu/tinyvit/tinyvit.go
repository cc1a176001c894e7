// Package tinyvit runs MobileSAM's TinyViT image encoder on WebGPU: the
// model of package model/encoder (its Params: names, shapes, gathered
// attention biases; its Forward: the data flow) over an encoder.Backend
// made of model/webgpu kernels (pass.go), with the same [3,H,W] ->
// [NeckDim,h,w] contract as the CPU encoder.
//
// New takes float32 tensors (encoder.safetensors); NewInt8 also takes the
// int8 tensors of a quantized file (package modelfile reads it) and keeps
// the transformer linears in int8 on the device.
package tinyvit

import (
	"fmt"
	"image"

	"github.com/busam/busam/model/encoder"
	"github.com/busam/busam/model/tensor"
	"github.com/busam/busam/model/webgpu"
)

// Encoder holds the encoder's weights on one device.
type Encoder struct {
	Config encoder.Config
	// Params is the shared model description (names, shapes, gathered
	// attention biases) the device buffers were uploaded from.
	Params *encoder.Params
	d      *webgpu.Device
	w      map[*encoder.Weight]*webgpu.Buffer
	// q holds the token linears kept in int8 (NewInt8).
	q map[*encoder.Weight]*webgpu.QWeight
}

// New uploads the tensors of a TinyViT of shape cfg to d, checking that
// every tensor the forward pass reads is present with the right size
// (encoder.NewParams).
func New(d *webgpu.Device, cfg encoder.Config, p map[string]*tensor.Tensor) (*Encoder, error) {
	params, err := encoder.NewParams(cfg, p)
	if err != nil {
		return nil, fmt.Errorf("tinyvit: %w", err)
	}
	e := &Encoder{Config: cfg, Params: params, d: d, w: map[*encoder.Weight]*webgpu.Buffer{}}
	if err := e.upload(); err != nil {
		e.Release()
		return nil, err
	}
	return e, nil
}

// NewInt8 is New with the linear layers of the transformer blocks
// (Params.TokenLinears: qkv, proj, fc1, fc2) that q holds kept in int8 on
// the device, run through LinearQ8 and dequantized in the shader; every
// other tensor is uploaded from p (float32). q is what an int8 weights
// file stores in int8 (modelfile.Encoder.Int8: without the tensors the
// heads' overrides replaced).
func NewInt8(d *webgpu.Device, cfg encoder.Config, p map[string]*tensor.Tensor, q map[string]*tensor.Int8) (*Encoder, error) {
	params, err := encoder.NewParams(cfg, p)
	if err != nil {
		return nil, fmt.Errorf("tinyvit: %w", err)
	}
	e := &Encoder{Config: cfg, Params: params, d: d, w: map[*encoder.Weight]*webgpu.Buffer{}, q: map[*encoder.Weight]*webgpu.QWeight{}}
	for _, l := range params.TokenLinears() {
		t := q[l.Weight.Name]
		if t == nil {
			continue
		}
		if err := t.Check(); err != nil || len(t.Q) != l.Out*l.In || len(t.Shape) != 2 || t.Shape[0] != l.Out {
			e.Release()
			return nil, fmt.Errorf("tinyvit: int8 tensor %s has shape %v, want %v", l.Weight.Name, t.Shape, l.Weight.Shape)
		}
		qw, err := d.UploadQWeight(t.Q, t.Scale, l.Out, l.In)
		if err != nil {
			e.Release()
			return nil, fmt.Errorf("tinyvit: upload %s: %w", l.Weight.Name, err)
		}
		e.q[l.Weight] = qw
	}
	if err := e.upload(); err != nil {
		e.Release()
		return nil, err
	}
	return e, nil
}

// upload uploads every float tensor of the model not already held in int8.
func (e *Encoder) upload() error {
	for _, w := range e.Params.Weights() {
		if e.q[w] != nil {
			continue
		}
		b, err := e.d.UploadFloats(w.Data, len(w.Data))
		if err != nil {
			return fmt.Errorf("tinyvit: upload %s: %w", w.Name, err)
		}
		e.w[w] = b
	}
	return nil
}

// Release frees the weights on the device.
func (e *Encoder) Release() {
	for _, b := range e.w {
		b.Release()
	}
	for _, q := range e.q {
		q.Release()
	}
	e.w, e.q = nil, nil
}

// OutputSize is the embedding's spatial size for an h x w input.
func (e *Encoder) OutputSize(h, w int) (int, int) { return e.Config.OutputSize(h, w) }

// Forward encodes a normalized [InChans,H,W] image into the
// [NeckDim,h,w] embedding, h x w = OutputSize(H, W): encoder.Forward, the
// one model definition, run on this package's Backend.
func (e *Encoder) Forward(x *tensor.Tensor) (*tensor.Tensor, error) {
	f := &pass{e: e, d: e.d}
	defer f.releaseAll()
	out, err := encoder.Forward[*buf](f, e.Params, x)
	if err != nil {
		return nil, fmt.Errorf("tinyvit: %w", err)
	}
	return out, nil
}

// Embed preprocesses img as SAM does (longest side encoder.DefaultSize,
// top-left, zero padding) and encodes it: the WebGPU twin of
// (*encoder.Encoder).Embed.
func (e *Encoder) Embed(img image.Image) (*tensor.Tensor, encoder.Geometry, error) {
	return e.EmbedSize(img, encoder.DefaultSize)
}

// EmbedSize is Embed at another input side (a multiple of 16; smaller is
// faster and less accurate).
func (e *Encoder) EmbedSize(img image.Image, size int) (*tensor.Tensor, encoder.Geometry, error) {
	if img == nil || img.Bounds().Empty() {
		return nil, encoder.Geometry{}, fmt.Errorf("tinyvit: empty image")
	}
	if size < 16 || size > 4096 {
		return nil, encoder.Geometry{}, fmt.Errorf("tinyvit: input size %d outside 16..4096", size)
	}
	x, g := encoder.Preprocess(img, size)
	emb, err := e.Forward(x)
	return emb, g, err
}

// ForwardOnDevice is Forward with the embedding left on the device, for
// heads that run there too (model/webgpu/samheads): it returns the
// [NeckDim,h,w] embedding and the uploaded input x, both the caller's to
// release. Nothing is read back; the work may still be running.
func (e *Encoder) ForwardOnDevice(x *tensor.Tensor) (emb, input *webgpu.Buffer, err error) {
	f := &pass{e: e, d: e.d, keep: true}
	defer f.releaseAll()
	if _, err := encoder.Forward[*buf](f, e.Params, x); err != nil {
		f.input.Release()
		f.output.Release()
		return nil, nil, fmt.Errorf("tinyvit: %w", err)
	}
	return f.output, f.input, nil
}
