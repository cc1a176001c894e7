package engine

import (
	"fmt"
	"image"

	"github.com/busam/busam/model/encoder"
	"github.com/busam/busam/model/heads"
	"github.com/busam/busam/model/pipeline"
	"github.com/busam/busam/model/tensor"
	"github.com/busam/busam/wasm/manifest"
	"github.com/busam/busam/weights/safetensors"
)

// pipelineModel is the real model: the SAM encoder and the trained heads,
// run by package pipeline exactly as the native CLI runs them.
type pipelineModel struct {
	enc   *encoder.Encoder
	heads *heads.Model
}

func (m pipelineModel) Analyze(img image.Image) (pipeline.Result, error) {
	return pipeline.Analyze(m.enc, m.heads, img)
}

// BuildPipelineModel builds the real model from the encoder and heads
// safetensors files.
func BuildPipelineModel(files map[string][]byte) (Model, error) {
	encTensors, err := readTensors(manifest.RoleEncoder, files)
	if err != nil {
		return nil, err
	}
	enc, err := encoder.New(encTensors)
	if err != nil {
		return nil, fmt.Errorf("encoder: %w", err)
	}
	data, ok := files[manifest.RoleHeads]
	if !ok {
		return nil, fmt.Errorf("the model has no %s file", manifest.RoleHeads)
	}
	h, err := heads.Decode(manifest.RoleHeads+".safetensors", data)
	if err != nil {
		return nil, err
	}
	return pipelineModel{enc: enc, heads: h}, nil
}

// readTensors parses the safetensors file of a role into tensors.
func readTensors(role string, files map[string][]byte) (map[string]*tensor.Tensor, error) {
	data, ok := files[role]
	if !ok {
		return nil, fmt.Errorf("the model has no %s file", role)
	}
	f, err := safetensors.Read(role+".safetensors", data)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*tensor.Tensor, len(f.Names()))
	for _, name := range f.Names() {
		t, err := f.Tensor(name)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", role, err)
		}
		out[name] = t
	}
	return out, nil
}
