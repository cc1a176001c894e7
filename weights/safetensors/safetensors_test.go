package safetensors

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/busam/busam/model/tensor"
)

func sampleEntries() []Entry {
	w := tensor.From([]float32{1, -2.5, 3.25, 1e-3, -65504, 7}, 2, 3)
	h := tensor.From([]float32{0.1, 0.2, 1000.5, -3}, 4)
	return []Entry{
		F32Entry("layers.0.weight", w),
		F16Entry("layers.0.half", h),
		{Name: "q", DType: I8, Shape: []int{2, 2}, Data: []byte{0x81, 0x7f, 0, 1}},
		{Name: "u", DType: U8, Shape: []int{3}, Data: []byte{0, 128, 255}},
		{Name: "i", DType: I32, Shape: []int{1}, Data: []byte{0xff, 0xff, 0xff, 0xff}},
		F32Entry("scalar", tensor.From([]float32{42})), // rank 0
		{Name: "empty", DType: F32, Shape: []int{0, 5}, Data: nil},
	}
}

func TestRoundTrip(t *testing.T) {
	entries := sampleEntries()
	meta := map[string]string{"format": "pt", "source": "test"}
	data, err := Encode(entries, meta)
	if err != nil {
		t.Fatal(err)
	}
	if hl := binary.LittleEndian.Uint64(data); (8+hl)%8 != 0 {
		t.Errorf("data buffer starts at %d, not 8-byte aligned", 8+hl)
	}
	f, err := Read("mem", data)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"empty", "i", "layers.0.half", "layers.0.weight", "q", "scalar", "u"}
	if got := f.Names(); !reflect.DeepEqual(got, want) {
		t.Errorf("Names() = %v, want %v", got, want)
	}
	if got := f.Metadata(); !reflect.DeepEqual(got, meta) {
		t.Errorf("Metadata() = %v, want %v", got, meta)
	}
	for _, e := range entries {
		info, ok := f.Info(e.Name)
		if !ok || info.DType != e.DType || !reflect.DeepEqual(info.Shape, e.Shape) {
			t.Errorf("Info(%q) = %+v %v, want %s %v", e.Name, info, ok, e.DType, e.Shape)
		}
		raw, err := f.Raw(e.Name)
		if err != nil || !bytes.Equal(raw, e.Data) {
			t.Errorf("Raw(%q) = %v, %v; want %v", e.Name, raw, err, e.Data)
		}
	}
	w, err := f.Tensor("layers.0.weight")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(w.Data, []float32{1, -2.5, 3.25, 1e-3, -65504, 7}) || !reflect.DeepEqual(w.Shape, []int{2, 3}) {
		t.Errorf("F32 tensor = %v %v", w.Shape, w.Data)
	}
	h, err := f.Tensor("layers.0.half")
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range []float32{0.1, 0.2, 1000.5, -3} {
		if want := Float16ToFloat32(Float32ToFloat16(v)); h.Data[i] != want {
			t.Errorf("F16 tensor[%d] = %v, want %v", i, h.Data[i], want)
		}
	}
	if s, err := f.Tensor("scalar"); err != nil || len(s.Data) != 1 || s.Data[0] != 42 {
		t.Errorf("scalar = %v, %v", s, err)
	}
	if _, err := f.Tensor("q"); err == nil || !strings.Contains(err.Error(), "Raw") {
		t.Errorf("Tensor on I8 should point to Raw, got %v", err)
	}
	if _, err := f.Tensor("nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Tensor(missing) = %v, want ErrNotFound", err)
	}
	if _, err := f.Raw("nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Raw(missing) = %v, want ErrNotFound", err)
	}
	// Encoding is deterministic and independent of entry order.
	rev := append([]Entry(nil), entries...)
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	again, err := Encode(rev, meta)
	if err != nil || !bytes.Equal(again, data) {
		t.Errorf("Encode is not deterministic over entry order (err %v)", err)
	}
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "w.safetensors")
	if err := os.WriteFile(path, []byte("old contents"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(path, sampleEntries(), nil); err != nil {
		t.Fatal(err)
	}
	f, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Names()) != len(sampleEntries()) {
		t.Errorf("read back %d tensors", len(f.Names()))
	}
	// A failing write (bad entry) must leave the old file and no temp file.
	bad := []Entry{{Name: "x", DType: F32, Shape: []int{2}, Data: []byte{1}}}
	if err := WriteFile(path, bad, nil); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("WriteFile with a bad entry: err = %v, want one naming %s", err, path)
	}
	if _, err := ReadFile(path); err != nil {
		t.Errorf("previous file damaged: %v", err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("directory holds %d entries, want only the output file", len(ents))
	}
	if err := WriteFile(filepath.Join(dir, "missing", "x.safetensors"), sampleEntries(), nil); err == nil {
		t.Error("WriteFile into a missing directory succeeded")
	}
	if _, err := ReadFile(filepath.Join(dir, "absent.safetensors")); err == nil || !strings.Contains(err.Error(), "absent.safetensors") {
		t.Errorf("ReadFile(missing) = %v", err)
	}
}

func TestTruncatedAtEveryCut(t *testing.T) {
	data, err := Encode(sampleEntries(), map[string]string{"k": "v"})
	if err != nil {
		t.Fatal(err)
	}
	for cut := 0; cut < len(data); cut++ {
		if _, err := Read("cut.safetensors", data[:cut]); err == nil {
			t.Fatalf("file cut to %d of %d bytes was accepted", cut, len(data))
		} else if !strings.Contains(err.Error(), "cut.safetensors") {
			t.Fatalf("error does not name the file: %v", err)
		}
	}
	if _, err := Read("extra", append(append([]byte(nil), data...), 0)); err == nil {
		t.Error("file with a trailing byte was accepted")
	}
}

// withHeader builds a file from a literal JSON header and a buffer.
func withHeader(header string, buf []byte) []byte {
	out := make([]byte, 8, 8+len(header)+len(buf))
	binary.LittleEndian.PutUint64(out, uint64(len(header)))
	return append(append(out, header...), buf...)
}

func TestMalformed(t *testing.T) {
	huge := make([]byte, 16)
	binary.LittleEndian.PutUint64(huge, MaxHeaderLen+1)
	past := make([]byte, 16)
	binary.LittleEndian.PutUint64(past, 100)
	buf8 := make([]byte, 8)
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty file", nil, "shorter than"},
		{"absurd header length", huge, "exceeds"},
		{"header past EOF", past, "past the end"},
		{"bad JSON", withHeader(`{"a":`, nil), "JSON"},
		{"not an object", withHeader(`[1,2]`, nil), "not a JSON object"},
		{"garbage after object", withHeader(`{} x`, nil), "unexpected bytes"},
		{"unknown dtype", withHeader(`{"a":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}}`, buf8[:4]), "unknown dtype"},
		{"size mismatch", withHeader(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, buf8), "needs 12 bytes"},
		{"out of bounds", withHeader(`{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}`, buf8), "past the 8-byte data buffer"},
		{"overlap", withHeader(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, buf8), "overlap"},
		{"gap", withHeader(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, buf8), "gap"},
		{"trailing data", withHeader(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, buf8), "trailing"},
		{"duplicate name", withHeader(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}`, buf8[:2]), "duplicate"},
		{"end before begin", withHeader(`{"a":{"dtype":"U8","shape":[0],"data_offsets":[4,0]}}`, nil), "end before"},
		{"negative dim", withHeader(`{"a":{"dtype":"U8","shape":[-1],"data_offsets":[0,0]}}`, nil), "negative"},
		{"absurd shape", withHeader(`{"a":{"dtype":"U8","shape":[100000,100000,100000],"data_offsets":[0,0]}}`, nil), "absurdly large"},
		{"missing offsets", withHeader(`{"a":{"dtype":"U8","shape":[1]}}`, buf8[:1]), "data_offsets"},
		{"three offsets", withHeader(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1,2]}}`, buf8[:1]), "data_offsets"},
		{"missing shape", withHeader(`{"a":{"dtype":"U8","data_offsets":[0,1]}}`, buf8[:1]), "missing shape"},
		{"unknown field", withHeader(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":1}}`, buf8[:1]), "unknown field"},
		{"metadata not strings", withHeader(`{"__metadata__":{"a":1}}`, nil), "__metadata__"},
		{"entry not an object", withHeader(`{"a":5}`, nil), "bad entry"},
		{"empty name", withHeader(`{"":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`, buf8[:1]), "empty tensor name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Read("bad.safetensors", tc.data)
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "bad.safetensors") {
				t.Errorf("error %q should name the file and mention %q", err, tc.want)
			}
		})
	}
}

func TestAcceptsPaddingAndNoMetadata(t *testing.T) {
	data := withHeader(`{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}      `, []byte{7, 9})
	f, err := Read("padded", data)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Metadata()) != 0 {
		t.Errorf("metadata = %v, want empty", f.Metadata())
	}
}

func TestEncodeRejects(t *testing.T) {
	tests := []struct {
		name    string
		entries []Entry
		want    string
	}{
		{"duplicate", []Entry{{Name: "a", DType: U8, Shape: []int{1}, Data: []byte{1}}, {Name: "a", DType: U8, Shape: []int{1}, Data: []byte{2}}}, "duplicate"},
		{"wrong size", []Entry{{Name: "a", DType: F16, Shape: []int{2}, Data: []byte{1, 2}}}, "needs 4 bytes"},
		{"unknown dtype", []Entry{{Name: "a", DType: "F64", Shape: []int{1}, Data: make([]byte, 8)}}, "unknown dtype"},
		{"reserved name", []Entry{{Name: "__metadata__", DType: U8, Shape: []int{1}, Data: []byte{1}}}, "invalid tensor name"},
		{"empty name", []Entry{{Name: "", DType: U8, Shape: []int{1}, Data: []byte{1}}}, "invalid tensor name"},
		{"negative dim", []Entry{{Name: "a", DType: U8, Shape: []int{-1}, Data: nil}}, "negative"},
	}
	for _, tc := range tests {
		if _, err := Encode(tc.entries, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
}

func FuzzRead(f *testing.F) {
	good, err := Encode(sampleEntries(), map[string]string{"k": "v"})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(withHeader(`{"a":{"dtype":"F16","shape":[1],"data_offsets":[0,2]}}`, []byte{0, 0x3c}))
	f.Add([]byte{})
	f.Add(withHeader(`{}`, nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Read("fuzz", data)
		if err != nil {
			return
		}
		// Anything accepted must be fully readable and survive a re-encode.
		var entries []Entry
		for _, name := range file.Names() {
			info, ok := file.Info(name)
			if !ok {
				t.Fatalf("Info(%q) missing for a listed name", name)
			}
			raw, err := file.Raw(name)
			if err != nil {
				t.Fatal(err)
			}
			if info.DType == F32 || info.DType == F16 {
				if _, err := file.Tensor(name); err != nil {
					t.Fatal(err)
				}
			}
			entries = append(entries, Entry{name, info.DType, info.Shape, raw})
		}
		enc, err := Encode(entries, file.Metadata())
		if err != nil {
			t.Fatalf("re-encoding an accepted file: %v", err)
		}
		again, err := Read("fuzz2", enc)
		if err != nil {
			t.Fatalf("re-encoded file rejected: %v", err)
		}
		if !reflect.DeepEqual(again.Names(), file.Names()) {
			t.Fatalf("names changed: %v vs %v", again.Names(), file.Names())
		}
	})
}
