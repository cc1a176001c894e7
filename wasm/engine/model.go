package engine

import (
	"fmt"
	"image"
	"os"
	"path/filepath"
	"sync"

	"github.com/busam/busam/model/encoder"
	"github.com/busam/busam/model/heads"
	"github.com/busam/busam/model/pipeline"
	"github.com/busam/busam/model/webgpu"
	"github.com/busam/busam/model/webgpu/samheads"
	"github.com/busam/busam/model/webgpu/tinyvit"
	"github.com/busam/busam/modelfile"
	"github.com/busam/busam/wasm/manifest"
)

// pipelineModel runs package pipeline's one path at the loaded input
// size: the encoder and heads on the CPU (pipeline.AnalyzeWith), or both
// on WebGPU (gpu, through pipeline.AnalyzeStages).
type pipelineModel struct {
	enc   pipeline.Encoder
	heads *heads.Model
	gpu   *samheads.Stages
	size  int

	mu      sync.Mutex // a WebGPU device takes one caller at a time
	release func()     // frees the WebGPU weights and device; nil on the CPU
}

var (
	_ OptionsModel = (*pipelineModel)(nil)
	// The WebGPU model runs the pipeline's two stages on the device.
	_ pipeline.Stages[samheads.Embedding]          = samheads.Stages{}
	_ pipeline.EmbeddingReader[samheads.Embedding] = samheads.Stages{}
)

func (m *pipelineModel) Analyze(img image.Image) (pipeline.Result, error) {
	return m.AnalyzeWith(img, AnalyzeOptions{})
}

// AnalyzeWith is Analyze with options: the mirror-image pass, and the
// embedding in the result (on WebGPU read back from the device).
func (m *pipelineModel) AnalyzeWith(img image.Image, opt AnalyzeOptions) (pipeline.Result, error) {
	return m.analyze(img, pipeline.Options{Size: m.size, Flip: opt.Flip, Embedding: opt.Embedding})
}

func (m *pipelineModel) analyze(img image.Image, opt pipeline.Options) (pipeline.Result, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.gpu != nil {
		if m.release == nil {
			return pipeline.Result{}, fmt.Errorf("busam: the WebGPU model is closed")
		}
		return pipeline.AnalyzeStages[samheads.Embedding](*m.gpu, img, opt)
	}
	return pipeline.AnalyzeWith(m.enc, m.heads, img, opt)
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

// BuildPipelineModel builds the CPU model from the encoder (float32/fp16,
// or int8 with its quant manifest: dequantized here) and heads files.
// The heads' encoder overrides (a fine-tuned neck) replace the encoder's
// tensors of the same names (modelfile.Parse).
func BuildPipelineModel(files map[string][]byte, inputSize int) (Model, error) {
	m, err := parseModel(files)
	if err != nil {
		return nil, err
	}
	enc, err := m.Encoder.CPU()
	if err != nil {
		return nil, fmt.Errorf("encoder: %w", err)
	}
	return &pipelineModel{enc: enc, heads: m.Heads, size: inputSize}, nil
}

// BuildWebGPUModel runs the encoder (model/webgpu/tinyvit) and the heads
// (model/webgpu/samheads) on a WebGPU device; the embedding stays on the
// device between them. An int8 encoder keeps its transformer linears in
// int8 on the device (tinyvit.NewInt8), except those the heads' encoder
// overrides replace; the overrides are checked before a device is opened.
func BuildWebGPUModel(files map[string][]byte, inputSize int) (Model, error) {
	m, err := parseModel(files)
	if err != nil {
		return nil, err
	}
	q, err := m.Encoder.Int8()
	if err != nil {
		return nil, err
	}
	d, err := webgpu.Open(webgpu.Options{})
	if err != nil {
		return nil, err
	}
	var enc *tinyvit.Encoder
	if q != nil {
		enc, err = tinyvit.NewInt8(d, encoder.MobileSAM, m.Encoder.Tensors, q)
	} else {
		enc, err = tinyvit.New(d, encoder.MobileSAM, m.Encoder.Tensors)
	}
	if err != nil {
		d.Close()
		return nil, err
	}
	gh, err := samheads.New(d, m.Heads)
	if err != nil {
		enc.Release()
		d.Close()
		return nil, err
	}
	release := func() { gh.Release(); enc.Release(); d.Close() }
	return &pipelineModel{gpu: &samheads.Stages{Encoder: enc, Heads: gh}, size: inputSize, release: release}, nil
}

// parseModel reads the model's files by role (modelfile.Parse): the
// encoder, its quant manifest when it is quantized (without one it must
// be a float file: an int8 file alone is refused), and the heads.
func parseModel(files map[string][]byte) (*modelfile.Model, error) {
	data, ok := files[manifest.RoleEncoder]
	if !ok {
		return nil, fmt.Errorf("the model has no %s file", manifest.RoleEncoder)
	}
	h, ok := files[manifest.RoleHeads]
	if !ok {
		return nil, fmt.Errorf("the model has no %s file", manifest.RoleHeads)
	}
	return modelfile.Parse(encoderFileName, data, files[manifest.RoleEncoderQuant], headsFileName, h)
}

// headsFileName and encoderFileName name the files in errors.
const (
	headsFileName   = manifest.RoleHeads + ".safetensors"
	encoderFileName = manifest.RoleEncoder + ".safetensors"
)

// ReadModelDir reads a published model folder (model/ of dist/web): its
// manifest and every file it lists, each checked against it. The result is
// what the browser hands to a Builder, for native runs of the same model.
func ReadModelDir(dir string) (map[string][]byte, error) {
	mpath := filepath.Join(dir, manifest.FileName)
	data, err := os.ReadFile(mpath)
	if err != nil {
		return nil, fmt.Errorf("busam: %w", err)
	}
	m, err := manifest.Parse(mpath, data)
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{}
	for _, f := range m.Files {
		b, err := os.ReadFile(filepath.Join(dir, f.Path))
		if err != nil {
			return nil, fmt.Errorf("busam: %w", err)
		}
		if err := f.Verify(b); err != nil {
			return nil, err
		}
		files[f.Role] = b
	}
	return files, nil
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
