package samheads

import (
	"fmt"

	"github.com/busam/busam/model/heads"
	"github.com/busam/busam/model/tensor"
	"github.com/busam/busam/model/webgpu"
	"github.com/busam/busam/model/webgpu/tinyvit"
)

// Stages runs the encoder and the heads on one device as the pipeline's
// two stages (it is a pipeline.Stages and pipeline.EmbeddingReader, for
// pipeline.AnalyzeStages; this package does not import pipeline): the
// embedding and the uploaded input stay on the device between them.
type Stages struct {
	Encoder *tinyvit.Encoder
	Heads   *Heads
}

// Embedding is an encoder output on the device: the embedding
// [EmbedDim,H,W] and the encoder input [3,4HK,4WK] the "unet" heads read.
type Embedding struct {
	Emb, Input *webgpu.Buffer
	H, W, K    int
}

// Release frees both buffers.
func (e Embedding) Release() {
	e.Emb.Release()
	e.Input.Release()
}

// Calibration is the heads' (pipeline applies it).
func (s Stages) Calibration() heads.Calibration { return s.Heads.Calibration() }

// Typicality is the heads' (pipeline applies it).
func (s Stages) Typicality() heads.Typicality { return s.Heads.Typicality() }

// Encode runs the encoder on input [3,S,S] and waits for it, so that the
// encoder's time is not billed to the heads; nothing is read back.
func (s Stages) Encode(input *tensor.Tensor) (Embedding, error) {
	emb, in, err := s.Encoder.ForwardOnDevice(input)
	if err != nil {
		return Embedding{}, err
	}
	e := Embedding{Emb: emb, Input: in}
	e.H, e.W = s.Encoder.OutputSize(input.Shape[1], input.Shape[2])
	if e.H < 1 || e.W < 1 || input.Shape[1]%(4*e.H) != 0 || input.Shape[2] != input.Shape[1]/e.H*e.W {
		e.Release()
		return Embedding{}, fmt.Errorf("samheads: input %v does not tile the %dx%d embedding grid", input.Shape, e.H, e.W)
	}
	e.K = input.Shape[1] / (4 * e.H)
	if err := s.Heads.d.Sync(); err != nil {
		e.Release()
		return Embedding{}, err
	}
	return e, nil
}

// Decode runs the heads on e and releases it.
func (s Stages) Decode(e Embedding, _ *tensor.Tensor) (heads.Output, error) {
	defer e.Release()
	return s.Heads.Run(e.Emb, e.Input, e.H, e.W, e.K)
}

// ReadEmbedding copies e's embedding to the host (pipeline.Options.Embedding:
// checks against the CPU encoder); e stays on the device for Decode.
func (s Stages) ReadEmbedding(e Embedding) (*tensor.Tensor, error) {
	data, err := s.Heads.d.Read(e.Emb)
	if err != nil {
		return nil, fmt.Errorf("samheads: reading the embedding: %w", err)
	}
	c := s.Encoder.Config.NeckDim
	if len(data) != c*e.H*e.W {
		return nil, fmt.Errorf("samheads: embedding of %d values, want %dx%dx%d", len(data), c, e.H, e.W)
	}
	return tensor.From(data, c, e.H, e.W), nil
}
