package engine

import (
	"fmt"
	"image"
	"sync"
	"time"

	"github.com/busam/busam/model/encoder"
	"github.com/busam/busam/model/heads"
	"github.com/busam/busam/model/pipeline"
	"github.com/busam/busam/model/tensor"
	"github.com/busam/busam/model/webgpu"
	"github.com/busam/busam/model/webgpu/tinyvit"
	"github.com/busam/busam/wasm/manifest"
	"github.com/busam/busam/weights/safetensors"
)

// forwarder is an image encoder: the CPU one (model/encoder) or the WebGPU
// one (model/webgpu/tinyvit); both map [3,S,S] to [256,S/16,S/16].
type forwarder interface {
	Forward(x *tensor.Tensor) (*tensor.Tensor, error)
}

// pipelineModel runs an encoder and the heads exactly as package pipeline
// does; only where the encoder runs and its input size vary.
type pipelineModel struct {
	cpu   *encoder.Encoder // set for the CPU path: pipeline.Analyze itself runs it
	enc   forwarder
	heads *heads.Model
	size  int

	mu      sync.Mutex // a WebGPU device takes one caller at a time
	release func()     // frees the WebGPU weights and device; nil on the CPU
}

func (m *pipelineModel) Analyze(img image.Image) (pipeline.Result, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cpu != nil && m.size == encoder.DefaultSize {
		return pipeline.Analyze(m.cpu, m.heads, img)
	}
	return analyzeWith(m.enc, m.heads, img, m.size)
}

// Close releases the WebGPU device of a WebGPU model; a CPU model holds
// nothing to release.
func (m *pipelineModel) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.release != nil {
		m.release()
		m.release = nil
	}
	return nil
}

// analyzeWith is pipeline.Analyze with another encoder or input size,
// built from the pipeline's own steps (Preprocess, Forward, Predict).
// TODO(lead): an input-size/encoder option in package pipeline would make
// this one path.
func analyzeWith(enc forwarder, m *heads.Model, img image.Image, size int) (pipeline.Result, error) {
	if img == nil || img.Bounds().Empty() {
		return pipeline.Result{}, fmt.Errorf("pipeline: empty image")
	}
	start := time.Now()
	input, g := encoder.Preprocess(img, size)
	pre := time.Since(start)
	start = time.Now()
	emb, err := enc.Forward(input)
	if err != nil {
		return pipeline.Result{}, fmt.Errorf("pipeline: %w", err)
	}
	encTime := time.Since(start)
	res, err := pipeline.Predict(m, emb, input, g)
	if err != nil {
		return pipeline.Result{}, err
	}
	res.Timings["preprocess"] = pre
	res.Timings["encoder"] = encTime
	return res, nil
}

// BuildPipelineModel builds the CPU model from the encoder and heads
// safetensors files.
func BuildPipelineModel(files map[string][]byte, inputSize int) (Model, error) {
	encTensors, err := readTensors(manifest.RoleEncoder, files)
	if err != nil {
		return nil, err
	}
	enc, err := encoder.New(encTensors)
	if err != nil {
		return nil, fmt.Errorf("encoder: %w", err)
	}
	h, err := readHeads(files)
	if err != nil {
		return nil, err
	}
	return &pipelineModel{cpu: enc, enc: enc, heads: h, size: inputSize}, nil
}

// BuildWebGPUModel runs the encoder on a WebGPU device (model/webgpu) and
// the heads, a few percent of the work, on the CPU.
func BuildWebGPUModel(files map[string][]byte, inputSize int) (Model, error) {
	encTensors, err := readTensors(manifest.RoleEncoder, files)
	if err != nil {
		return nil, err
	}
	h, err := readHeads(files)
	if err != nil {
		return nil, err
	}
	d, err := webgpu.Open(webgpu.Options{})
	if err != nil {
		return nil, err
	}
	enc, err := tinyvit.New(d, encoder.MobileSAM, encTensors)
	if err != nil {
		d.Close()
		return nil, err
	}
	release := func() { enc.Release(); d.Close() }
	return &pipelineModel{enc: enc, heads: h, size: inputSize, release: release}, nil
}

func readHeads(files map[string][]byte) (*heads.Model, error) {
	data, ok := files[manifest.RoleHeads]
	if !ok {
		return nil, fmt.Errorf("the model has no %s file", manifest.RoleHeads)
	}
	return heads.Decode(manifest.RoleHeads+".safetensors", data)
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

// WebGPUUsable is the Usable test of the WebGPU candidate: it needs an
// adapter, and a software fallback adapter (SwiftShader, measured slower
// than Go's wasm CPU path in PLATFORM.md) only when asked for by name.
func WebGPUUsable(opt Options) (bool, string) {
	switch {
	case !opt.GPU.Available && opt.GPU.Reason != "":
		return false, opt.GPU.Reason
	case !opt.GPU.Available:
		return false, "no WebGPU adapter"
	case opt.GPU.Fallback && opt.Backend != "webgpu":
		return false, fmt.Sprintf("the only WebGPU adapter is a software fallback (%s), slower than the CPU path", opt.GPU.Description)
	}
	return true, ""
}
