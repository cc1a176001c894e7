// Package samheads runs busam's heads (model/heads: the conv or UNet
// decoder and the mask-guided classifier) on WebGPU: heads.Infer, the one
// definition of the heads' inference data flow, over a heads.Backend made
// of model/webgpu kernels (pass.go). The weights are heads.Model's own
// parameters, uploaded once; the scratch buffers of a pass are kept and
// reused by the next pass of the same shape.
//
// Run takes the embedding where the encoder left it on the device
// (tinyvit.Encoder.ForwardOnDevice), so the [256,64,64] embedding never
// crosses to the host (unless asked for: Stages.ReadEmbedding); only the
// mask logits, the attention map and the class logits are read back, in
// one read.
package samheads

import (
	"fmt"

	"github.com/busam/busam/model/heads"
	"github.com/busam/busam/model/webgpu"
)

// Heads holds a heads model's weights on one device. Like the device, it
// takes one caller at a time.
type Heads struct {
	Model *heads.Model
	d     *webgpu.Device
	w     map[*heads.Param]*webgpu.Buffer
	// negShift is -feat_shift: standardising is then an add and a
	// multiply, with the CPU's rounding (x + -s is exactly x - s).
	shift    *heads.Param
	negShift *webgpu.Buffer
	scratch  []*webgpu.Buffer
}

// New uploads m's parameters to d.
func New(d *webgpu.Device, m *heads.Model) (*Heads, error) {
	if d == nil || m == nil {
		return nil, fmt.Errorf("samheads: nil device or model")
	}
	h := &Heads{Model: m, d: d, w: map[*heads.Param]*webgpu.Buffer{}}
	for _, p := range m.Params() {
		b, err := d.UploadFloats(p.Value.Data, p.Value.Shape...)
		if err != nil {
			h.Release()
			return nil, fmt.Errorf("samheads: upload %s: %w", p.Name, err)
		}
		h.w[p] = b
		if p.Name == featShiftName {
			h.shift = p
			neg := make([]float32, p.Value.Len())
			for i, v := range p.Value.Data {
				neg[i] = -v
			}
			if h.negShift, err = d.UploadFloats(neg); err != nil {
				h.Release()
				return nil, fmt.Errorf("samheads: upload -%s: %w", p.Name, err)
			}
		}
	}
	if h.negShift == nil {
		h.Release()
		return nil, fmt.Errorf("samheads: the model has no %s", featShiftName)
	}
	return h, nil
}

// featShiftName is the classifier's standardisation shift (heads.Model).
const featShiftName = "cls.feat_shift"

// Release frees the weights and scratch buffers on the device.
func (h *Heads) Release() {
	for _, b := range h.w {
		b.Release()
	}
	for _, b := range h.scratch {
		b.Release()
	}
	h.negShift.Release()
	h.w, h.scratch, h.negShift = nil, nil, nil
}

// Predict is heads.Model.Predict on the device: in is validated
// (Model.Check), uploaded, run and the outputs read back.
func (h *Heads) Predict(in heads.Input) (heads.Output, error) {
	if err := h.Model.Check(in); err != nil {
		return heads.Output{}, err
	}
	e := in.Embedding
	eh, ew, k := e.Shape[1], e.Shape[2], 1
	emb, err := h.d.Upload(e)
	if err != nil {
		return heads.Output{}, fmt.Errorf("samheads: %w", err)
	}
	defer emb.Release()
	var img *webgpu.Buffer
	if h.Model.Config.Kind == "unet" {
		k = in.Image.Shape[1] / (4 * eh)
		if img, err = h.d.Upload(in.Image); err != nil {
			return heads.Output{}, fmt.Errorf("samheads: %w", err)
		}
		defer img.Release()
	}
	return h.Run(emb, img, eh, ew, k)
}

// Calibration is the heads model's (pipeline applies it).
func (h *Heads) Calibration() heads.Calibration { return h.Model.Calibration() }

// Typicality is the heads model's (pipeline applies it).
func (h *Heads) Typicality() heads.Typicality { return h.Model.Typicality() }

// Run runs the heads on an embedding [EmbedDim,eh,ew] already on the
// device and, for "unet", the encoder input [3,4*eh*k,4*ew*k] (nil for
// "conv"); buffers too small for those shapes are refused.
func (h *Heads) Run(emb, img *webgpu.Buffer, eh, ew, k int) (heads.Output, error) {
	if h.w == nil {
		return heads.Output{}, fmt.Errorf("samheads: heads released")
	}
	if h.Model.Config.Kind == "unet" && img == nil {
		return heads.Output{}, fmt.Errorf("samheads: unet heads need the encoder input image")
	}
	p := &pass{h: h, d: h.d}
	out, err := heads.Infer[*webgpu.Buffer](p, h.Model, emb, img, eh, ew, k)
	if err != nil {
		return heads.Output{}, fmt.Errorf("samheads: %w", err)
	}
	return out, nil
}
