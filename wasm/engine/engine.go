// Package engine is what the browser's wasm module runs, kept free of
// syscall/js so it builds and is tested natively: it takes the model
// manifest and the downloaded model files, refuses any file whose size or
// SHA-256 differs from the manifest, builds the model, and analyses
// image files into a Result ready to hand to JavaScript.
package engine

import (
	"errors"
	"fmt"
	"image"
	"sync"
	"time"

	"github.com/busam/busam/dataset"
	"github.com/busam/busam/imageio"
	"github.com/busam/busam/model/pipeline"
	"github.com/busam/busam/wasm/manifest"
)

// Model analyses a decoded image; pipelineModel is the real one.
type Model interface {
	Analyze(img image.Image) (pipeline.Result, error)
}

// Builder makes a Model from verified model files, keyed by manifest role.
type Builder func(files map[string][]byte) (Model, error)

// Backend says which compute path runs the model and why it was chosen.
type Backend struct {
	Name   string // "cpu" or "webgpu"
	Reason string
}

// Info describes a loaded model.
type Info struct {
	Backend Backend
	Files   []manifest.File
}

// Timings of one analysis, in milliseconds (what JavaScript shows).
// Total covers decode to result; the parts need not add up to it.
type Timings struct {
	Decode, Preprocess, Encoder, Heads, Postprocess, Total float64
}

// Result of one analysis.
type Result struct {
	Mask                   []uint8 // 0|1, Width*Height, row-major
	Width, Height          int
	Normal, Benign, Malign float32 // class probabilities
	Label                  string
	Attention              []float32 // AttentionW*AttentionH, row-major; empty if the model has none
	AttentionW, AttentionH int
	Timings                Timings
	Backend                string
}

// MaxImageBytes bounds one uploaded image file (DICOM included).
const MaxImageBytes = 64 << 20

// Engine holds the state of the wasm module: the manifest, the verified
// files, then the model. Its methods may be called from several goroutines.
type Engine struct {
	build   Builder
	backend Backend

	mu    sync.Mutex
	man   *manifest.Manifest
	files map[string][]byte
	model Model
}

// New returns an engine that builds its model with build and reports
// backend as the compute path.
func New(build Builder, backend Backend) *Engine {
	return &Engine{build: build, backend: backend}
}

// SetManifest parses the manifest (name is used in errors) and starts a
// new load: files added before are dropped, the current model stays usable
// until Load replaces it.
func (e *Engine) SetManifest(name string, data []byte) ([]manifest.File, error) {
	m, err := manifest.Parse(name, data)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.man, e.files = m, map[string][]byte{}
	return append([]manifest.File(nil), m.Files...), nil
}

// AddFile verifies data against the manifest entry of role and keeps it.
// A file that fails the check is refused with an error that names it and
// wraps manifest.ErrMismatch.
func (e *Engine) AddFile(role string, data []byte) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.man == nil {
		return errors.New("busam: model manifest not set before adding files")
	}
	f, ok := e.man.File(role)
	if !ok {
		return fmt.Errorf("busam: the model manifest has no %q file", role)
	}
	if err := f.Verify(data); err != nil {
		return err
	}
	e.files[role] = data
	return nil
}

// Load builds the model from the added files; every manifest entry must
// have been added. The raw bytes are released afterwards.
func (e *Engine) Load() (Info, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.man == nil {
		return Info{}, errors.New("busam: model manifest not set")
	}
	for _, f := range e.man.Files {
		if _, ok := e.files[f.Role]; !ok {
			return Info{}, fmt.Errorf("busam: model file %s (%s) not downloaded", f.Path, f.Role)
		}
	}
	m, err := e.build(e.files)
	if err != nil {
		return Info{}, fmt.Errorf("busam: building the model: %w", err)
	}
	e.model, e.files = m, nil
	return Info{Backend: e.backend, Files: append([]manifest.File(nil), e.man.Files...)}, nil
}

// Analyze decodes an image file (name is used in errors and for the
// format) and runs the model on it.
func (e *Engine) Analyze(name string, data []byte) (*Result, error) {
	e.mu.Lock()
	model := e.model
	e.mu.Unlock()
	if model == nil {
		return nil, errors.New("busam: no model loaded (call load first)")
	}
	if len(data) > MaxImageBytes {
		return nil, fmt.Errorf("busam: %s: %d bytes, more than the %d MiB an image may have", name, len(data), MaxImageBytes>>20)
	}
	start := time.Now()
	img, _, err := imageio.Decode(name, data)
	if err != nil {
		return nil, err
	}
	decoded := time.Now()
	p, err := model.Analyze(img)
	if err != nil {
		return nil, fmt.Errorf("busam: %s: %w", name, err)
	}
	total := time.Since(start)
	return toResult(p, decoded.Sub(start), total, e.backend.Name)
}

func toResult(p pipeline.Result, decode, total time.Duration, backend string) (*Result, error) {
	if p.W <= 0 || p.H <= 0 || len(p.Mask) != p.W*p.H {
		return nil, fmt.Errorf("busam: model returned a %d-byte mask for %dx%d", len(p.Mask), p.W, p.H)
	}
	if len(p.Probs) != len(p.Classes) || len(p.Probs) == 0 {
		return nil, fmt.Errorf("busam: model returned %d probabilities for %d classes", len(p.Probs), len(p.Classes))
	}
	r := &Result{Mask: p.Mask, Width: p.W, Height: p.H, Label: p.Label.String(), Backend: backend}
	for i, c := range p.Classes {
		switch c {
		case dataset.Normal:
			r.Normal = p.Probs[i]
		case dataset.Benign:
			r.Benign = p.Probs[i]
		case dataset.Malignant:
			r.Malign = p.Probs[i]
		}
	}
	if a := p.Attention; a != nil && len(a.Shape) >= 2 {
		h, w := a.Shape[len(a.Shape)-2], a.Shape[len(a.Shape)-1]
		if h*w == len(a.Data) {
			r.Attention, r.AttentionW, r.AttentionH = a.Data, w, h
		}
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	r.Timings = Timings{
		Decode: ms(decode), Preprocess: ms(p.Timings["preprocess"]), Encoder: ms(p.Timings["encoder"]),
		Heads: ms(p.Timings["heads"]), Postprocess: ms(p.Timings["postprocess"]), Total: ms(total),
	}
	return r, nil
}
