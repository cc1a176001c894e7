// Package safetensors reads and writes the safetensors weight format: an
// 8-byte little-endian header length, a JSON header mapping each tensor
// name to {dtype, shape, data_offsets} (plus an optional "__metadata__"
// string map), then one byte buffer holding every tensor back to back.
//
// It is written here rather than imported because the format is tiny, the
// project needs strict validation with errors naming the file, and the same
// code must build for GOOS=js without cgo or large dependencies.
package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"sort"

	"github.com/busam/busam/internal/atomicfile"
	"github.com/busam/busam/model/tensor"
)

// MaxHeaderLen bounds the JSON header so a corrupt length cannot make the
// reader allocate or scan gigabytes.
const MaxHeaderLen = 100 << 20

// DType names an element type as spelled in the header.
type DType string

// The element types this package understands.
const (
	F32 DType = "F32"
	F16 DType = "F16"
	I8  DType = "I8"
	U8  DType = "U8"
	I32 DType = "I32"
)

// Size is the byte size of one element, or 0 for an unknown dtype.
func (d DType) Size() int {
	switch d {
	case F32, I32:
		return 4
	case F16:
		return 2
	case I8, U8:
		return 1
	}
	return 0
}

// TensorInfo describes one stored tensor.
type TensorInfo struct {
	DType DType
	Shape []int
}

type entryInfo struct {
	TensorInfo
	begin, end int
}

// File is a parsed safetensors file held in memory.
type File struct {
	name     string // for error messages
	entries  map[string]entryInfo
	names    []string
	metadata map[string]string
	buf      []byte // the byte buffer after the header
}

// ReadFile reads and validates the safetensors file at path.
func ReadFile(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	return Read(path, data)
}

// Read parses and validates data; name appears in errors. The returned File
// refers to data without copying it.
func Read(name string, data []byte) (*File, error) {
	fail := func(format string, a ...any) (*File, error) {
		return nil, fmt.Errorf("safetensors: %s: "+format, append([]any{name}, a...)...)
	}
	if len(data) < 8 {
		return fail("file is %d bytes, shorter than the 8-byte header length", len(data))
	}
	n := binary.LittleEndian.Uint64(data)
	if n > MaxHeaderLen {
		return fail("header length %d exceeds the %d-byte limit (corrupt file?)", n, MaxHeaderLen)
	}
	if n > uint64(len(data)-8) {
		return fail("header length %d runs past the end of the %d-byte file (truncated?)", n, len(data))
	}
	if n < 2 {
		return fail("header length %d is too short for a JSON object", n)
	}
	header := data[8 : 8+n]
	f := &File{name: name, entries: map[string]entryInfo{}, metadata: map[string]string{}, buf: data[8+n:]}
	if err := f.parseHeader(header); err != nil {
		return fail("%v", err)
	}
	if err := f.checkLayout(); err != nil {
		return fail("%v", err)
	}
	return f, nil
}

type rawEntry struct {
	DType       DType     `json:"dtype"`
	Shape       []int     `json:"shape"`
	DataOffsets *[]uint64 `json:"data_offsets"`
}

// parseHeader decodes the header token by token so duplicate names, which
// encoding/json would silently merge, are caught.
func (f *File) parseHeader(header []byte) error {
	dec := json.NewDecoder(bytes.NewReader(header))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return fmt.Errorf("header is not a JSON object")
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("bad header JSON: %v", err)
		}
		key, ok := tok.(string)
		if !ok {
			return fmt.Errorf("bad header JSON: key %v is not a string", tok)
		}
		if seen[key] {
			return fmt.Errorf("duplicate header entry %q", key)
		}
		seen[key] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return fmt.Errorf("bad header JSON at %q: %v", key, err)
		}
		if key == "__metadata__" {
			if err := strictUnmarshal(raw, &f.metadata); err != nil {
				return fmt.Errorf("__metadata__ must map strings to strings: %v", err)
			}
			continue
		}
		var e rawEntry
		if err := strictUnmarshal(raw, &e); err != nil {
			return fmt.Errorf("tensor %q: bad entry: %v", key, err)
		}
		info, err := checkEntry(key, e)
		if err != nil {
			return err
		}
		f.entries[key] = info
		f.names = append(f.names, key)
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return fmt.Errorf("bad header JSON: unterminated object")
	}
	// Writers may pad the header with spaces to align the buffer; nothing
	// else may follow the object.
	rest := header[dec.InputOffset():]
	if len(bytes.TrimRight(rest, " \t\r\n")) != 0 {
		return fmt.Errorf("bad header JSON: %d unexpected bytes after the object", len(rest))
	}
	sort.Strings(f.names)
	return nil
}

func strictUnmarshal(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

func checkEntry(name string, e rawEntry) (entryInfo, error) {
	if name == "" {
		return entryInfo{}, fmt.Errorf("empty tensor name")
	}
	size := e.DType.Size()
	if size == 0 {
		return entryInfo{}, fmt.Errorf("tensor %q: unknown dtype %q (want F32, F16, I8, U8 or I32)", name, e.DType)
	}
	if e.Shape == nil {
		return entryInfo{}, fmt.Errorf("tensor %q: missing shape", name)
	}
	if e.DataOffsets == nil || len(*e.DataOffsets) != 2 {
		return entryInfo{}, fmt.Errorf("tensor %q: data_offsets must be [begin, end]", name)
	}
	numel := uint64(1)
	for _, d := range e.Shape {
		if d < 0 {
			return entryInfo{}, fmt.Errorf("tensor %q: negative dimension in shape %v", name, e.Shape)
		}
		if d != 0 && numel > math.MaxInt32/uint64(d) {
			return entryInfo{}, fmt.Errorf("tensor %q: shape %v is absurdly large", name, e.Shape)
		}
		numel *= uint64(d)
	}
	b, end := (*e.DataOffsets)[0], (*e.DataOffsets)[1]
	if b > end {
		return entryInfo{}, fmt.Errorf("tensor %q: data_offsets [%d, %d] end before they begin", name, b, end)
	}
	if want := numel * uint64(size); end-b != want {
		return entryInfo{}, fmt.Errorf("tensor %q: %s shape %v needs %d bytes but data_offsets [%d, %d] hold %d",
			name, e.DType, e.Shape, want, b, end, end-b)
	}
	if end > math.MaxInt {
		return entryInfo{}, fmt.Errorf("tensor %q: data_offsets [%d, %d] out of range", name, b, end)
	}
	return entryInfo{TensorInfo{e.DType, e.Shape}, int(b), int(end)}, nil
}

// checkLayout requires the tensors to tile the byte buffer exactly: in
// bounds, no overlaps, no gaps, nothing trailing.
func (f *File) checkLayout() error {
	order := append([]string(nil), f.names...)
	sort.Slice(order, func(i, j int) bool {
		a, b := f.entries[order[i]], f.entries[order[j]]
		if a.begin != b.begin {
			return a.begin < b.begin
		}
		return a.end < b.end
	})
	pos := 0
	for _, name := range order {
		e := f.entries[name]
		if e.end > len(f.buf) {
			return fmt.Errorf("tensor %q: data_offsets [%d, %d] past the %d-byte data buffer (truncated?)", name, e.begin, e.end, len(f.buf))
		}
		if e.begin < pos {
			return fmt.Errorf("tensor %q: data_offsets [%d, %d] overlap the previous tensor (ends at %d)", name, e.begin, e.end, pos)
		}
		if e.begin > pos {
			return fmt.Errorf("tensor %q: gap of %d unused bytes before data_offsets [%d, %d]", name, e.begin-pos, e.begin, e.end)
		}
		pos = e.end
	}
	if pos != len(f.buf) {
		return fmt.Errorf("%d trailing bytes after the last tensor", len(f.buf)-pos)
	}
	return nil
}

// Names returns the tensor names, sorted.
func (f *File) Names() []string { return append([]string(nil), f.names...) }

// Info describes the named tensor.
func (f *File) Info(name string) (TensorInfo, bool) {
	e, ok := f.entries[name]
	if !ok {
		return TensorInfo{}, false
	}
	return TensorInfo{e.DType, append([]int{}, e.Shape...)}, true
}

// Metadata returns a copy of the "__metadata__" map (empty if absent).
func (f *File) Metadata() map[string]string {
	m := make(map[string]string, len(f.metadata))
	for k, v := range f.metadata {
		m[k] = v
	}
	return m
}

// ErrNotFound is wrapped by lookups of names the file does not hold.
var ErrNotFound = errors.New("no such tensor")

// Raw returns the stored bytes of the named tensor (shared, do not modify).
func (f *File) Raw(name string) ([]byte, error) {
	e, ok := f.entries[name]
	if !ok {
		return nil, fmt.Errorf("safetensors: %s: %q: %w", f.name, name, ErrNotFound)
	}
	return f.buf[e.begin:e.end:e.end], nil
}

// Tensor returns the named F32 or F16 tensor as a new float32 tensor.
// Integer tensors are refused: use Raw (quantized weights need their scales).
func (f *File) Tensor(name string) (*tensor.Tensor, error) {
	e, ok := f.entries[name]
	if !ok {
		return nil, fmt.Errorf("safetensors: %s: %q: %w", f.name, name, ErrNotFound)
	}
	t := tensor.New(e.Shape...)
	raw := f.buf[e.begin:e.end]
	var err error
	switch e.DType {
	case F32:
		err = DecodeF32(t.Data, raw)
	case F16:
		err = DecodeF16(t.Data, raw)
	default:
		err = fmt.Errorf("dtype %s is not a float type; read it with Raw", e.DType)
	}
	if err != nil {
		return nil, fmt.Errorf("safetensors: %s: tensor %q: %v", f.name, name, err)
	}
	return t, nil
}

// Entry is one tensor to write.
type Entry struct {
	Name  string
	DType DType
	Shape []int
	Data  []byte // little-endian elements, len = numel * DType.Size()
}

// F32Entry encodes t as an F32 entry.
func F32Entry(name string, t *tensor.Tensor) Entry {
	return Entry{Name: name, DType: F32, Shape: append([]int{}, t.Shape...), Data: EncodeF32(t.Data)}
}

// F16Entry encodes t as an F16 entry (round-to-nearest-even).
func F16Entry(name string, t *tensor.Tensor) Entry {
	return Entry{Name: name, DType: F16, Shape: append([]int{}, t.Shape...), Data: EncodeF16(t.Data)}
}

type headerEntry struct {
	DType       DType    `json:"dtype"`
	Shape       []int    `json:"shape"`
	DataOffsets []uint64 `json:"data_offsets"`
}

// Encode serializes entries, in name order, with optional metadata. The
// header is padded with spaces so the data buffer starts 8-byte aligned.
func Encode(entries []Entry, metadata map[string]string) ([]byte, error) {
	sorted := append([]Entry(nil), entries...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	header := map[string]any{}
	if len(metadata) > 0 {
		header["__metadata__"] = metadata
	}
	var off uint64
	for i, e := range sorted {
		if e.Name == "" || e.Name == "__metadata__" {
			return nil, fmt.Errorf("safetensors: invalid tensor name %q", e.Name)
		}
		if i > 0 && sorted[i-1].Name == e.Name {
			return nil, fmt.Errorf("safetensors: duplicate tensor name %q", e.Name)
		}
		if e.DType.Size() == 0 {
			return nil, fmt.Errorf("safetensors: tensor %q: unknown dtype %q", e.Name, e.DType)
		}
		numel := 1
		for _, d := range e.Shape {
			if d < 0 {
				return nil, fmt.Errorf("safetensors: tensor %q: negative dimension in shape %v", e.Name, e.Shape)
			}
			numel *= d
		}
		if numel*e.DType.Size() != len(e.Data) {
			return nil, fmt.Errorf("safetensors: tensor %q: %s shape %v needs %d bytes, have %d",
				e.Name, e.DType, e.Shape, numel*e.DType.Size(), len(e.Data))
		}
		shape := append([]int{}, e.Shape...) // [] not null for scalars
		header[e.Name] = headerEntry{e.DType, shape, []uint64{off, off + uint64(len(e.Data))}}
		off += uint64(len(e.Data))
	}
	js, err := json.Marshal(header) // map keys come out sorted: deterministic
	if err != nil {
		return nil, fmt.Errorf("safetensors: encoding header: %v", err)
	}
	for (8+len(js))%8 != 0 {
		js = append(js, ' ')
	}
	out := make([]byte, 8, 8+len(js)+int(off))
	binary.LittleEndian.PutUint64(out, uint64(len(js)))
	out = append(out, js...)
	for _, e := range sorted {
		out = append(out, e.Data...)
	}
	return out, nil
}

// WriteFile encodes entries and writes them to path atomically: a temp
// file in the same directory is written, synced and renamed over path, so
// a reader sees either the old file or the complete new one.
func WriteFile(path string, entries []Entry, metadata map[string]string) error {
	data, err := Encode(entries, metadata)
	if err != nil {
		return fmt.Errorf("%w (writing %s)", err, path)
	}
	return atomicfile.WriteFile(path, data)
}
