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
	"io"
	"strings"
	"sync"
	"time"

	"github.com/busam/busam/dataset"
	"github.com/busam/busam/model/encoder"
	"github.com/busam/busam/model/pipeline"
	"github.com/busam/busam/model/tensor"
	"github.com/busam/busam/wasm/manifest"
)

// Model analyses a decoded image; pipelineModel is the real one.
type Model interface {
	Analyze(img image.Image) (pipeline.Result, error)
}

// OptionsModel is a Model that takes AnalyzeOptions; a Model without it
// answers only the zero options.
type OptionsModel interface {
	Model
	AnalyzeWith(img image.Image, opt AnalyzeOptions) (pipeline.Result, error)
}

// AnalyzeOptions tune one analysis.
type AnalyzeOptions struct {
	// Flip also analyses the image mirrored left-right and averages the
	// two predictions (pipeline.Options.Flip): more accurate on BUSI, about
	// twice the time (the encoder runs twice; its timing covers both).
	Flip bool
	// Embedding returns the encoder's embedding (Result.Embedding), to
	// check it against another encoder. Off by default: on WebGPU it is an
	// extra read back from the device (4 MiB at input size 1024).
	Embedding bool
}

// Builder makes a Model from verified model files, keyed by manifest
// role, that runs the encoder at the given input size.
type Builder func(files map[string][]byte, inputSize int) (Model, error)

// Options of a load.
type Options struct {
	// InputSize is the encoder's input side (default encoder.DefaultSize,
	// SAM's 1024). Smaller sizes run much faster and less accurately; tests
	// use them to keep browser runs short.
	InputSize int
	// Backend forces a candidate by name; "" or "auto" picks the first
	// usable one.
	Backend string
	// GPU describes the WebGPU adapter the page saw.
	GPU GPUInfo
}

// Input sizes Load accepts: the encoder downsamples by 16 (so a multiple
// of 16), and the heads need a few embedding cells.
const (
	MinInputSize = 64
	MaxInputSize = 2048
)

// Backend says which compute path runs the model and why it was chosen.
type Backend struct {
	Name   string // "cpu" or "webgpu"
	Reason string
}

// Candidate is a compute path the engine may build the model on. Load
// tries the candidates in order and takes the first that is usable and
// builds; the reasons the others were passed over are reported.
type Candidate struct {
	Name string
	// Usable says whether the path can run here and, if not, why; nil
	// means always.
	Usable func(opt Options) (ok bool, why string)
	Build  Builder
}

// GPUInfo is what the page found out about WebGPU before loading.
type GPUInfo struct {
	Available   bool   // navigator.gpu gave an adapter
	Fallback    bool   // the adapter is a software fallback (e.g. SwiftShader)
	Description string // vendor / architecture, for display
	Reason      string // why it is not available
}

// Info describes a loaded model.
type Info struct {
	Backend   Backend
	Files     []manifest.File
	InputSize int
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
	// Evidence, EvidenceW*EvidenceH row-major over the same padded encoder
	// frame as Attention, is pipeline.Result.Evidence: where the image's
	// features pushed the classifier towards (positive) or away from
	// (negative) Label; empty if the model gives none.
	Evidence             []float32
	EvidenceW, EvidenceH int
	// Embedding is the encoder's output, row-major EmbeddingShape
	// ([256,S/16,S/16]); only with AnalyzeOptions.Embedding.
	Embedding      []float32
	EmbeddingShape []int
	Flip           bool // the mirror image was analysed too (AnalyzeOptions.Flip)
	// Calibrated: the probabilities are calibrated (the heads carry a
	// calibration); Sure: the top class reaches the threshold fitted on
	// validation data, where such answers were right SureAccuracy of the time.
	Calibrated, Sure bool
	SureAccuracy     float64
	// Unusual: the image is unlike the training images (above the
	// typicality model's validated warning distance); NotUltrasound: so
	// unlike them that it is not taken for a breast ultrasound image (no
	// outline: the mask is empty). Distance is NaN without such a model.
	Unusual, NotUltrasound bool
	Distance               float64
	// ViewProbs are the probabilities of the image alone and of its mirror
	// image alone, by class name, when both were analysed (Flip).
	ViewProbs []map[string]float32
	Timings   Timings
	Backend   string
}

// MaxImageBytes bounds one uploaded image file (DICOM included).
const MaxImageBytes = 64 << 20

// Engine holds the state of the wasm module: the manifest, the verified
// files, then the model. Its methods may be called from several goroutines.
type Engine struct {
	candidates []Candidate

	mu      sync.Mutex
	backend Backend
	man     *manifest.Manifest
	files   map[string][]byte
	model   Model
}

// New returns an engine that builds its model on the first usable
// candidate, in the order given.
func New(candidates ...Candidate) *Engine {
	return &Engine{candidates: candidates}
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
// wraps manifest.ErrMismatch. digest is data's SHA-256 (lowercase hex) when
// the caller computed it already (the browser's crypto.subtle), or "" to
// compute it here.
func (e *Engine) AddFile(role string, data []byte, digest string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.man == nil {
		return errors.New("busam: model manifest not set before adding files")
	}
	f, ok := e.man.File(role)
	if !ok {
		return fmt.Errorf("busam: the model manifest has no %q file", role)
	}
	if digest == "" {
		digest = manifest.SHA256Hex(data)
	}
	if err := f.VerifyDigest(data, digest); err != nil {
		return err
	}
	e.files[role] = data
	return nil
}

// Load builds the model from the added files; every manifest entry must
// have been added. The raw bytes are released afterwards.
func (e *Engine) Load(opt Options) (Info, error) {
	if opt.InputSize == 0 {
		opt.InputSize = encoder.DefaultSize
	}
	if opt.InputSize < MinInputSize || opt.InputSize > MaxInputSize || opt.InputSize%16 != 0 {
		return Info{}, fmt.Errorf("busam: input size %d: want a multiple of 16 from %d to %d", opt.InputSize, MinInputSize, MaxInputSize)
	}
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
	m, backend, err := e.buildOnCandidates(opt)
	if err != nil {
		return Info{}, err
	}
	if c, ok := e.model.(io.Closer); ok {
		c.Close() // e.g. the previous model's WebGPU device
	}
	e.model, e.backend, e.files = m, backend, nil
	return Info{Backend: backend, Files: append([]manifest.File(nil), e.man.Files...), InputSize: opt.InputSize}, nil
}

func (e *Engine) buildOnCandidates(opt Options) (Model, Backend, error) {
	forced := opt.Backend != "" && opt.Backend != "auto"
	var passed []string
	for _, c := range e.candidates {
		if forced && c.Name != opt.Backend {
			continue
		}
		if c.Usable != nil {
			if ok, why := c.Usable(opt); !ok {
				passed = append(passed, c.Name+": "+why)
				continue
			}
		}
		m, err := c.Build(e.files, opt.InputSize)
		if err != nil {
			passed = append(passed, fmt.Sprintf("%s: %v", c.Name, err))
			continue
		}
		reason := "first choice"
		switch {
		case forced:
			reason = "requested"
		case len(passed) > 0:
			reason = "fallback; " + strings.Join(passed, "; ")
		}
		return m, Backend{Name: c.Name, Reason: reason}, nil
	}
	if forced && len(passed) == 0 {
		return nil, Backend{}, fmt.Errorf("busam: unknown backend %q", opt.Backend)
	}
	return nil, Backend{}, fmt.Errorf("busam: building the model: %s", strings.Join(passed, "; "))
}

// Analyze decodes an image file (name is used in errors and for the
// format) and runs the model on it.
func (e *Engine) Analyze(name string, data []byte) (*Result, error) {
	return e.AnalyzeWith(name, data, AnalyzeOptions{})
}

// AnalyzeWith is Analyze asking for more (opt).
func (e *Engine) AnalyzeWith(name string, data []byte, opt AnalyzeOptions) (*Result, error) {
	e.mu.Lock()
	model, backend := e.model, e.backend.Name
	e.mu.Unlock()
	if model == nil {
		return nil, errors.New("busam: no model loaded (call load first)")
	}
	analyze := model.Analyze
	if opt != (AnalyzeOptions{}) {
		om, ok := model.(OptionsModel)
		if !ok {
			return nil, fmt.Errorf("busam: the %s model cannot %s", backend, opt.ask())
		}
		analyze = func(img image.Image) (pipeline.Result, error) { return om.AnalyzeWith(img, opt) }
	}
	start := time.Now()
	img, _, err := decodeImage(name, data)
	if err != nil {
		return nil, err
	}
	decoded := time.Now()
	p, err := analyze(img)
	if err != nil {
		return nil, fmt.Errorf("busam: %s: %w", name, err)
	}
	total := time.Since(start)
	r, err := toResult(p, decoded.Sub(start), total, backend)
	if err != nil {
		return nil, err
	}
	r.Flip = opt.Flip
	return r, nil
}

// ask words what opt asks of a model, for the error of one that cannot.
func (opt AnalyzeOptions) ask() string {
	var asks []string
	if opt.Flip {
		asks = append(asks, "analyse the mirror image")
	}
	if opt.Embedding {
		asks = append(asks, "return its embedding")
	}
	return strings.Join(asks, " and ")
}

func toResult(p pipeline.Result, decode, total time.Duration, backend string) (*Result, error) {
	if p.W <= 0 || p.H <= 0 || len(p.Mask) != p.W*p.H {
		return nil, fmt.Errorf("busam: model returned a %d-byte mask for %dx%d", len(p.Mask), p.W, p.H)
	}
	if len(p.Probs) != len(p.Classes) || len(p.Probs) == 0 {
		return nil, fmt.Errorf("busam: model returned %d probabilities for %d classes", len(p.Probs), len(p.Classes))
	}
	r := &Result{Mask: p.Mask, Width: p.W, Height: p.H, Label: p.Label.String(), Backend: backend,
		Calibrated: p.Calibrated, Sure: p.Sure, SureAccuracy: p.SureAccuracy,
		Unusual: p.Unusual, NotUltrasound: p.NotUltrasound, Distance: p.Distance}
	for _, vp := range p.ViewProbs {
		if len(vp) != len(p.Classes) {
			return nil, fmt.Errorf("busam: model returned %d view probabilities for %d classes", len(vp), len(p.Classes))
		}
		m := map[string]float32{}
		for i, c := range p.Classes {
			m[c.String()] = vp[i]
		}
		r.ViewProbs = append(r.ViewProbs, m)
	}
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
	if e := p.Evidence; e != nil && len(e.Shape) >= 2 {
		h, w := e.Shape[len(e.Shape)-2], e.Shape[len(e.Shape)-1]
		if h*w == len(e.Data) {
			r.Evidence, r.EvidenceW, r.EvidenceH = e.Data, w, h
		}
	}
	if emb := p.Embedding; emb != nil {
		if len(emb.Shape) != 3 || tensor.Numel(emb.Shape) != len(emb.Data) {
			return nil, fmt.Errorf("busam: model returned a %d-value embedding of shape %v", len(emb.Data), emb.Shape)
		}
		r.Embedding, r.EmbeddingShape = emb.Data, append([]int(nil), emb.Shape...)
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	r.Timings = Timings{
		Decode: ms(decode), Preprocess: ms(p.Timings["preprocess"]), Encoder: ms(p.Timings["encoder"]),
		Heads: ms(p.Timings["heads"]), Postprocess: ms(p.Timings["postprocess"]), Total: ms(total),
	}
	return r, nil
}
