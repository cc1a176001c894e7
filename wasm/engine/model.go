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
	"github.com/busam/busam/model/tensor"
	"github.com/busam/busam/model/webgpu"
	"github.com/busam/busam/model/webgpu/samheads"
	"github.com/busam/busam/model/webgpu/tinyvit"
	"github.com/busam/busam/quant"
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

var _ OptionsModel = (*pipelineModel)(nil)

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
// tensors of the same names.
func BuildPipelineModel(files map[string][]byte, inputSize int) (Model, error) {
	w, err := readEncoder(files)
	if err != nil {
		return nil, err
	}
	encTensors, err := w.float32()
	if err != nil {
		return nil, err
	}
	h, err := readHeads(files)
	if err != nil {
		return nil, err
	}
	if err := applyOverrides(encTensors, h.EncoderOverrides); err != nil {
		return nil, err
	}
	enc, err := encoder.New(encTensors)
	if err != nil {
		return nil, fmt.Errorf("encoder: %w", err)
	}
	return &pipelineModel{enc: enc, heads: h, size: inputSize}, nil
}

// BuildWebGPUModel runs the encoder (model/webgpu/tinyvit) and the heads
// (model/webgpu/samheads) on a WebGPU device; the embedding stays on the
// device between them. An int8 encoder keeps
// its transformer linears in int8 on the device (tinyvit.NewInt8); the
// heads' encoder overrides replace their tensors there too.
func BuildWebGPUModel(files map[string][]byte, inputSize int) (Model, error) {
	w, err := readEncoder(files)
	if err != nil {
		return nil, err
	}
	var encTensors map[string]*tensor.Tensor
	if w.int8() == nil {
		if encTensors, err = w.float32(); err != nil {
			return nil, err
		}
	}
	h, err := readHeads(files)
	if err != nil {
		return nil, err
	}
	// Checked before a device is opened; int8 ones are applied by tinyvit.
	if q := w.int8(); q != nil {
		err = checkOverrides(q, h.EncoderOverrides)
	} else {
		err = applyOverrides(encTensors, h.EncoderOverrides)
	}
	if err != nil {
		return nil, err
	}
	d, err := webgpu.Open(webgpu.Options{})
	if err != nil {
		return nil, err
	}
	var enc *tinyvit.Encoder
	if q := w.int8(); q != nil {
		enc, err = tinyvit.NewInt8WithOverrides(d, encoder.MobileSAM, q, h.EncoderOverrides)
	} else {
		enc, err = tinyvit.New(d, encoder.MobileSAM, encTensors)
	}
	if err != nil {
		d.Close()
		return nil, err
	}
	gh, err := samheads.New(d, h)
	if err != nil {
		enc.Release()
		d.Close()
		return nil, err
	}
	release := func() { gh.Release(); enc.Release(); d.Close() }
	return &pipelineModel{gpu: &samheads.Stages{Encoder: enc, Heads: gh}, size: inputSize, release: release}, nil
}

func readHeads(files map[string][]byte) (*heads.Model, error) {
	data, ok := files[manifest.RoleHeads]
	if !ok {
		return nil, fmt.Errorf("the model has no %s file", manifest.RoleHeads)
	}
	return heads.Decode(headsFileName, data)
}

// headsFileName names the heads file in errors.
const headsFileName = manifest.RoleHeads + ".safetensors"

// encoderWeights is the encoder file of a model: a quantized file (int8,
// or fp16) checked against its quant manifest, or a plain float file.
type encoderWeights struct {
	quant *quant.Model
	plain []byte
}

// int8 is the quantized file when it is int8, else nil.
func (w *encoderWeights) int8() *quant.Model {
	if w.quant != nil && w.quant.Manifest.Scheme == quant.SchemeInt8 {
		return w.quant
	}
	return nil
}

// encoderFileName names the encoder file in errors.
const encoderFileName = manifest.RoleEncoder + ".safetensors"

// readEncoder picks the encoder's format from the files: with a quant
// manifest (RoleEncoderQuant) the encoder must be the quantized file it
// describes (size, sha256, tensor list: quant.Parse); without one it must
// be a float file (an int8 file alone is refused when read).
func readEncoder(files map[string][]byte) (*encoderWeights, error) {
	data, ok := files[manifest.RoleEncoder]
	if !ok {
		return nil, fmt.Errorf("the model has no %s file", manifest.RoleEncoder)
	}
	qm, ok := files[manifest.RoleEncoderQuant]
	if !ok {
		return &encoderWeights{plain: data}, nil
	}
	m, err := quant.Parse(encoderFileName, data, qm)
	if err != nil {
		return nil, err
	}
	return &encoderWeights{quant: m}, nil
}

// float32 returns the encoder's tensors as float32 (int8 dequantized).
func (w *encoderWeights) float32() (map[string]*tensor.Tensor, error) {
	if w.quant != nil {
		return w.quant.Float32()
	}
	return quant.ParseAny(encoderFileName, w.plain, nil)
}

// applyOverrides puts the heads' encoder overrides (a fine-tuned neck) in
// place of the encoder tensors p of the same names. A misfit blames the
// heads file: its overrides were made for another encoder, or tampered with.
func applyOverrides(p, over map[string]*tensor.Tensor) error {
	if err := encoder.ApplyOverrides(p, over); err != nil {
		return fmt.Errorf("%s: its encoder overrides do not fit %s: %w", headsFileName, encoderFileName, err)
	}
	return nil
}

// checkOverrides is applyOverrides' check for a quantized encoder, without
// dequantizing it: applied to the manifest's shapes (tensors without data,
// dropped afterwards).
func checkOverrides(q *quant.Model, over map[string]*tensor.Tensor) error {
	if len(over) == 0 {
		return nil
	}
	shapes := make(map[string]*tensor.Tensor, len(q.Manifest.Tensors))
	for _, t := range q.Manifest.Tensors {
		shapes[t.Name] = &tensor.Tensor{Shape: t.Shape}
	}
	return applyOverrides(shapes, over)
}

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
