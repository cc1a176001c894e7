// Package quant shrinks safetensors weight files: int8 per-output-channel
// symmetric quantization of large conv/linear weights, or fp16 for all
// float tensors. Each output gets a manifest (<file>.manifest.json) with
// the scheme and the file's sha256 and size; Load refuses a file that does
// not match its manifest and dequantizes to the float32 map that
// encoder.New and the heads loader accept.
//
// In an int8 file a quantized weight <name> is stored as <name> (I8, the
// original shape) plus <name>.scale (F32, [shape[0]]); every other tensor
// stays F32. In an fp16 file every tensor of rank >= 2 is F16 and rank-0/1
// tensors (biases, norm parameters: tiny, and precision-sensitive) stay F32.
//
// A mixed-precision int8 file (Options.Keep) stores the int8-eligible
// weights the Keep pattern matches in F16 instead; its manifest lists them
// with the pattern and the reason (Manifest.Kept), and Parse refuses a
// listing that disagrees with the tensors.
package quant

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/busam/busam/internal/atomicfile"
	"github.com/busam/busam/model/tensor"
	"github.com/busam/busam/weights/safetensors"
)

// FormatVersion is the manifest format; bump on incompatible changes.
const FormatVersion = 1

// Mode selects the quantization.
type Mode string

// The supported modes.
const (
	Int8 Mode = "int8"
	FP16 Mode = "fp16"
)

// Scheme names recorded in metadata and manifests.
const (
	SchemeInt8 = "int8-per-output-channel-symmetric"
	SchemeFP16 = "fp16"
	SchemeF32  = "f32"
)

// ScaleSuffix is appended to an int8 tensor's name for its scales.
const ScaleSuffix = ".scale"

// DefaultMinNumel is the smallest weight worth quantizing: below it the
// scales and the accuracy cost outweigh the bytes saved.
const DefaultMinNumel = 1024

// Options control QuantizeFile.
type Options struct {
	Mode     Mode
	MinNumel int // int8: quantize only weights with at least this many elements (0 = DefaultMinNumel)
	// Keep (int8 only) selects int8-eligible weights to store in fp16
	// instead: layers whose int8 rounding costs accuracy. It must match at
	// least one; KeepReason (required with it) goes into the manifest.
	Keep       *regexp.Regexp
	KeepReason string
}

// Manifest describes a quantized file; it is written beside it as
// <file>.manifest.json.
type Manifest struct {
	FormatVersion     int           `json:"format_version"`
	Scheme            string        `json:"scheme"`
	SourceSHA256      string        `json:"source_sha256"`       // the float32 safetensors input
	SourceModelSHA256 string        `json:"source_model_sha256"` // the input's own source_sha256 metadata, if any
	File              string        `json:"file"`                // base name of the quantized file
	FileSHA256        string        `json:"file_sha256"`
	FileSize          int64         `json:"file_size"`
	Tensors           []TensorEntry `json:"tensors"`
	// Kept is set for a mixed-precision int8 file: the layers stored in
	// fp16 instead of int8. Absent in older manifests, which stay valid.
	Kept *Kept `json:"kept,omitempty"`
}

// Kept records which layers a mixed-precision int8 file keeps in fp16, and
// why.
type Kept struct {
	Pattern string   `json:"pattern"` // the Options.Keep regular expression
	Reason  string   `json:"reason"`
	Layers  []string `json:"layers"` // sorted; exactly the SchemeFP16 tensors of the file
}

// Metadata keys of a mixed-precision file: the file itself records the
// keep pattern, so a manifest cannot claim another.
const (
	metaKeep       = "quant_keep"
	metaKeepReason = "quant_keep_reason"
)

// TensorEntry is one logical tensor of a quantized file.
type TensorEntry struct {
	Name   string `json:"name"`
	Scheme string `json:"scheme"` // SchemeInt8, SchemeFP16 or SchemeF32
	Shape  []int  `json:"shape"`
	// MaxAbsErr is max |w - dequantized w| over the tensor, measured when
	// it was written.
	MaxAbsErr float64 `json:"max_abs_err"`
}

// ManifestPath is where the manifest of a quantized file lives.
func ManifestPath(path string) string { return path + ".manifest.json" }

// ShouldQuantizeInt8 is the default selection: conv and linear weights
// (rank >= 2, named *.weight) with at least minNumel elements. Biases,
// norms and attention-bias tables stay float32.
func ShouldQuantizeInt8(name string, shape []int, minNumel int) bool {
	return len(shape) >= 2 && strings.HasSuffix(name, ".weight") && tensor.Numel(shape) >= minNumel
}

// StoresFP16 is the fp16 mode's selection: tensors of rank >= 2 become
// F16; biases and norm parameters (rank 0/1) stay float32.
func StoresFP16(shape []int) bool { return len(shape) >= 2 }

// QuantizeFile reads the float32 safetensors file in, quantizes it and
// writes out and its manifest (both atomically).
func QuantizeFile(in, out string, opt Options) (*Manifest, error) {
	if opt.Mode != Int8 && opt.Mode != FP16 {
		return nil, fmt.Errorf("quantize: unknown mode %q (want int8 or fp16)", opt.Mode)
	}
	if opt.MinNumel <= 0 {
		opt.MinNumel = DefaultMinNumel
	}
	if opt.Keep != nil && opt.Mode != Int8 {
		return nil, fmt.Errorf("quantize %s: keeping layers in fp16 applies to int8 files, not %s", in, opt.Mode)
	}
	if opt.Keep != nil && strings.TrimSpace(opt.KeepReason) == "" {
		return nil, fmt.Errorf("quantize %s: keeping layers matching %q needs a reason for the manifest", in, opt.Keep)
	}
	src, err := os.ReadFile(in)
	if err != nil {
		return nil, fmt.Errorf("quantize: %w", err)
	}
	f, err := safetensors.Read(in, src)
	if err != nil {
		return nil, fmt.Errorf("quantize: %w", err)
	}
	srcSum := sha256.Sum256(src)
	man := &Manifest{
		FormatVersion:     FormatVersion,
		SourceSHA256:      hex.EncodeToString(srcSum[:]),
		SourceModelSHA256: f.Metadata()["source_sha256"],
		File:              filepath.Base(out),
	}
	var entries []safetensors.Entry
	for _, name := range f.Names() {
		info, _ := f.Info(name)
		if info.DType != safetensors.F32 {
			return nil, fmt.Errorf("quantize %s: tensor %q is %s; the input must be a float32 file", in, name, info.DType)
		}
		t, err := f.Tensor(name)
		if err != nil {
			return nil, fmt.Errorf("quantize: %w", err)
		}
		e, ents, err := quantizeTensor(name, t, opt)
		if err != nil {
			return nil, fmt.Errorf("quantize %s: %w", in, err)
		}
		entries = append(entries, ents...)
		man.Tensors = append(man.Tensors, e)
	}
	meta := f.Metadata()
	if opt.Keep != nil {
		man.Kept = &Kept{Pattern: opt.Keep.String(), Reason: opt.KeepReason, Layers: fp16Layers(man.Tensors)}
		if len(man.Kept.Layers) == 0 {
			return nil, fmt.Errorf("quantize %s: keep pattern %q matches no int8 layer", in, opt.Keep)
		}
		meta[metaKeep], meta[metaKeepReason] = man.Kept.Pattern, man.Kept.Reason
	}
	switch opt.Mode {
	case Int8:
		man.Scheme = SchemeInt8
	case FP16:
		man.Scheme = SchemeFP16
	}
	meta["quant_scheme"] = man.Scheme
	meta["quant_source_sha256"] = man.SourceSHA256
	meta["quant_format_version"] = fmt.Sprint(FormatVersion)
	data, err := safetensors.Encode(entries, meta)
	if err != nil {
		return nil, fmt.Errorf("quantize %s: %w", in, err)
	}
	sum := sha256.Sum256(data)
	man.FileSHA256, man.FileSize = hex.EncodeToString(sum[:]), int64(len(data))
	js, err := json.MarshalIndent(man, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("quantize: %w", err)
	}
	if err := atomicfile.WriteFile(out, data); err != nil {
		return nil, fmt.Errorf("quantize: %w", err)
	}
	if err := atomicfile.WriteFile(ManifestPath(out), append(js, '\n')); err != nil {
		return nil, fmt.Errorf("quantize: %w", err)
	}
	return man, nil
}

func quantizeTensor(name string, t *tensor.Tensor, opt Options) (TensorEntry, []safetensors.Entry, error) {
	e := TensorEntry{Name: name, Shape: append([]int{}, t.Shape...), Scheme: SchemeF32}
	switch {
	case strings.HasSuffix(name, ScaleSuffix):
		// A float tensor named *.scale would collide with int8 scales on load.
		return e, nil, fmt.Errorf("tensor %q: names ending in %q are reserved for int8 scales", name, ScaleSuffix)
	case opt.Mode == Int8 && ShouldQuantizeInt8(name, t.Shape, opt.MinNumel) && opt.Keep != nil && opt.Keep.MatchString(name):
		return fp16Tensor(e, name, t)
	case opt.Mode == Int8 && ShouldQuantizeInt8(name, t.Shape, opt.MinNumel):
		q, err := QuantizeInt8(name, t)
		if err != nil {
			return e, nil, err
		}
		dq, _ := q.Dequantize()
		e.Scheme, e.MaxAbsErr = SchemeInt8, maxAbsDiff(t.Data, dq.Data)
		qb := make([]byte, len(q.Q))
		for i, v := range q.Q {
			qb[i] = byte(v)
		}
		return e, []safetensors.Entry{
			{Name: name, DType: safetensors.I8, Shape: e.Shape, Data: qb},
			safetensors.F32Entry(name+ScaleSuffix, tensor.From(q.Scale, len(q.Scale))),
		}, nil
	case opt.Mode == FP16 && StoresFP16(t.Shape):
		return fp16Tensor(e, name, t)
	}
	return e, []safetensors.Entry{safetensors.F32Entry(name, t)}, nil
}

func fp16Tensor(e TensorEntry, name string, t *tensor.Tensor) (TensorEntry, []safetensors.Entry, error) {
	h := safetensors.F16Entry(name, t)
	e.Scheme, e.MaxAbsErr = SchemeFP16, maxAbsDiff(t.Data, decodeF16(h.Data, t.Shape).Data)
	return e, []safetensors.Entry{h}, nil
}

// fp16Layers lists the SchemeFP16 tensors, sorted.
func fp16Layers(ts []TensorEntry) []string {
	var names []string
	for _, e := range ts {
		if e.Scheme == SchemeFP16 {
			names = append(names, e.Name)
		}
	}
	sort.Strings(names)
	return names
}

// RoundTrip returns t as a file of the given mode stores it and Load reads
// it back: the int8 per-output-channel round trip, or fp16 rounding. It
// lets benchmarks measure a precision without writing a file.
func RoundTrip(mode Mode, name string, t *tensor.Tensor) (*tensor.Tensor, error) {
	switch mode {
	case Int8:
		q, err := QuantizeInt8(name, t)
		if err != nil {
			return nil, err
		}
		return q.Dequantize()
	case FP16:
		return decodeF16(safetensors.F16Entry(name, t).Data, t.Shape), nil
	}
	return nil, fmt.Errorf("quant: unknown mode %q (want int8 or fp16)", mode)
}

func decodeF16(data []byte, shape []int) *tensor.Tensor {
	out := tensor.New(shape...)
	safetensors.DecodeF16(out.Data, data)
	return out
}

func maxAbsDiff(a, b []float32) float64 {
	var m float64
	for i := range a {
		m = math.Max(m, math.Abs(float64(a[i])-float64(b[i])))
	}
	return m
}

// Model is a verified quantized file: the raw tensors (for GPU upload) and
// its manifest.
type Model struct {
	File     *safetensors.File
	Manifest *Manifest
}

// Open reads path and its manifest and checks that they agree (see Parse).
func Open(path string) (*Model, error) {
	mjs, err := os.ReadFile(ManifestPath(path))
	if err != nil {
		return nil, fmt.Errorf("quant: %s has no readable manifest: %w", path, err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("quant: %w", err)
	}
	return Parse(path, data, mjs)
}

// Parse checks an in-memory quantized file against its manifest JSON (the
// browser fetches both): size, sha256, and the tensor list with each
// tensor's scheme and shape. name appears in errors.
func Parse(name string, data, manifestJSON []byte) (*Model, error) {
	var man Manifest
	dec := json.NewDecoder(bytes.NewReader(manifestJSON))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&man); err != nil {
		return nil, fmt.Errorf("quant: manifest %s: %v", ManifestPath(name), err)
	}
	if man.FormatVersion != FormatVersion {
		return nil, fmt.Errorf("quant: manifest %s: format version %d, want %d", ManifestPath(name), man.FormatVersion, FormatVersion)
	}
	if int64(len(data)) != man.FileSize {
		return nil, fmt.Errorf("quant: %s is %d bytes, its manifest says %d (truncated or replaced?)", name, len(data), man.FileSize)
	}
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); got != man.FileSHA256 {
		return nil, fmt.Errorf("quant: %s has sha256 %s, its manifest says %s (modified?)", name, got, man.FileSHA256)
	}
	f, err := safetensors.Read(name, data)
	if err != nil {
		return nil, fmt.Errorf("quant: %w", err)
	}
	if err := checkAgainstManifest(f, &man); err != nil {
		return nil, fmt.Errorf("quant: %s disagrees with its manifest: %v", name, err)
	}
	if err := checkKept(f, &man); err != nil {
		return nil, fmt.Errorf("quant: %s: kept-layer listing of its manifest: %v", name, err)
	}
	return &Model{File: f, Manifest: &man}, nil
}

func checkAgainstManifest(f *safetensors.File, man *Manifest) error {
	want := map[string]bool{}
	for _, e := range man.Tensors {
		var dtype safetensors.DType
		switch e.Scheme {
		case SchemeInt8:
			dtype = safetensors.I8
			want[e.Name+ScaleSuffix] = true
			info, ok := f.Info(e.Name + ScaleSuffix)
			if !ok || info.DType != safetensors.F32 || len(e.Shape) == 0 || !equalInts(info.Shape, []int{e.Shape[0]}) {
				return fmt.Errorf("tensor %q: missing or malformed scales", e.Name)
			}
		case SchemeFP16:
			dtype = safetensors.F16
		case SchemeF32:
			dtype = safetensors.F32
		default:
			return fmt.Errorf("tensor %q: unknown scheme %q", e.Name, e.Scheme)
		}
		want[e.Name] = true
		info, ok := f.Info(e.Name)
		if !ok {
			return fmt.Errorf("tensor %q listed but absent", e.Name)
		}
		if info.DType != dtype || !equalInts(info.Shape, e.Shape) {
			return fmt.Errorf("tensor %q is %s %v, manifest says %s %v", e.Name, info.DType, info.Shape, e.Scheme, e.Shape)
		}
	}
	for _, name := range f.Names() {
		if !want[name] {
			return fmt.Errorf("tensor %q is not in the manifest", name)
		}
	}
	return nil
}

// checkKept checks a mixed-precision listing against the tensors: an int8
// file has fp16 tensors only when its manifest lists them as kept, the
// list is exactly those tensors, the keep pattern matches each of them and
// no int8 one, and it is the pattern the file's own metadata records.
func checkKept(f *safetensors.File, man *Manifest) error {
	meta := f.Metadata()
	if man.Kept == nil {
		if _, ok := meta[metaKeep]; ok {
			return fmt.Errorf("the file keeps layers matching %q in fp16, the manifest lists none", meta[metaKeep])
		}
		if man.Scheme == SchemeInt8 {
			if l := fp16Layers(man.Tensors); len(l) > 0 {
				return fmt.Errorf("int8 file with fp16 tensors (%s) but no kept-layer listing", strings.Join(l, ", "))
			}
		}
		return nil
	}
	k := man.Kept
	if man.Scheme != SchemeInt8 {
		return fmt.Errorf("a %s file cannot keep layers", man.Scheme)
	}
	if strings.TrimSpace(k.Reason) == "" {
		return fmt.Errorf("no reason given")
	}
	if meta[metaKeep] != k.Pattern || meta[metaKeepReason] != k.Reason {
		return fmt.Errorf("pattern %q and reason %q, the file's metadata says %q and %q", k.Pattern, k.Reason, meta[metaKeep], meta[metaKeepReason])
	}
	re, err := regexp.Compile(k.Pattern)
	if err != nil {
		return fmt.Errorf("pattern: %v", err)
	}
	if want := fp16Layers(man.Tensors); !slices.Equal(k.Layers, want) {
		return fmt.Errorf("lists %v, the fp16 tensors are %v", k.Layers, want)
	}
	for _, e := range man.Tensors {
		if matched := re.MatchString(e.Name); matched != (e.Scheme == SchemeFP16) && e.Scheme != SchemeF32 {
			return fmt.Errorf("tensor %q is %s, but the pattern %q says otherwise", e.Name, e.Scheme, k.Pattern)
		}
	}
	return nil
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Int8 returns the named int8 tensor with its scales, for direct upload.
func (m *Model) Int8(name string) (*tensor.Int8, error) {
	info, ok := m.File.Info(name)
	if !ok || info.DType != safetensors.I8 {
		return nil, fmt.Errorf("quant: %q is not an int8 tensor", name)
	}
	raw, err := m.File.Raw(name)
	if err != nil {
		return nil, err
	}
	scale, err := m.File.Tensor(name + ScaleSuffix)
	if err != nil {
		return nil, fmt.Errorf("quant: %q: %w", name, err)
	}
	q := make([]int8, len(raw))
	for i, b := range raw {
		q[i] = int8(b)
	}
	t := &tensor.Int8{Shape: info.Shape, Q: q, Scale: scale.Data}
	if err := t.Check(); err != nil {
		return nil, fmt.Errorf("quant: %q: %v", name, err)
	}
	return t, nil
}

// Float32 returns every logical tensor dequantized to float32, keyed by
// its original name (no .scale entries).
func (m *Model) Float32() (map[string]*tensor.Tensor, error) {
	out := make(map[string]*tensor.Tensor, len(m.Manifest.Tensors))
	for _, e := range m.Manifest.Tensors {
		var t *tensor.Tensor
		var err error
		if e.Scheme == SchemeInt8 {
			var q *tensor.Int8
			if q, err = m.Int8(e.Name); err == nil {
				t, err = q.Dequantize()
			}
		} else {
			t, err = m.File.Tensor(e.Name)
		}
		if err != nil {
			return nil, err
		}
		out[e.Name] = t
	}
	return out, nil
}

// Load verifies a quantized file against its manifest and returns its
// tensors dequantized to float32.
func Load(path string) (map[string]*tensor.Tensor, error) {
	m, err := Open(path)
	if err != nil {
		return nil, err
	}
	return m.Float32()
}

// Sizes reports a file's size raw and gzip-compressed (default level), the
// numbers that matter for shipping weights to a browser.
func Sizes(path string) (raw, gz int64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	var cw countWriter
	zw := gzip.NewWriter(&cw)
	raw, err = io.Copy(zw, f)
	if err != nil {
		return 0, 0, fmt.Errorf("sizing %s: %w", path, err)
	}
	if err := zw.Close(); err != nil {
		return 0, 0, err
	}
	return raw, cw.n, nil
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// Names lists the manifest's logical tensor names, sorted.
func (m *Manifest) Names() []string {
	names := make([]string, len(m.Tensors))
	for i, e := range m.Tensors {
		names[i] = e.Name
	}
	sort.Strings(names)
	return names
}

// LoadAny loads any weights file as float32 tensors: a quantized file
// (one with a manifest beside it) through Load, with all its checks, and a
// plain float safetensors file (F32/F16, e.g. encoder.safetensors) directly.
// Callers that accept either kind of model use this.
func LoadAny(path string) (map[string]*tensor.Tensor, error) {
	if _, err := os.Stat(ManifestPath(path)); err == nil {
		return Load(path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("quant: %w", err)
	}
	return ParseAny(path, data, nil)
}

// ParseAny is LoadAny for in-memory files: with a manifest it verifies and
// dequantizes (Parse), without one it reads a plain float file.
func ParseAny(name string, data, manifestJSON []byte) (map[string]*tensor.Tensor, error) {
	if manifestJSON != nil {
		m, err := Parse(name, data, manifestJSON)
		if err != nil {
			return nil, err
		}
		return m.Float32()
	}
	f, err := safetensors.Read(name, data)
	if err != nil {
		return nil, fmt.Errorf("quant: %w", err)
	}
	out := make(map[string]*tensor.Tensor, len(f.Names()))
	for _, n := range f.Names() {
		t, err := f.Tensor(n)
		if err != nil {
			return nil, fmt.Errorf("quant: %w (an int8 file needs its manifest)", err)
		}
		out[n] = t
	}
	return out, nil
}
