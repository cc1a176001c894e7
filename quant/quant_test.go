package quant

import (
	"encoding/json"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/busam/busam/internal/testutil"
	"github.com/busam/busam/model/tensor"
	"github.com/busam/busam/weights/safetensors"
)

func randomTensor(rng *rand.Rand, shape ...int) *tensor.Tensor {
	t := tensor.New(shape...)
	for i := range t.Data {
		t.Data[i] = float32(rng.NormFloat64() * 0.05)
	}
	return t
}

// halfULP is the float32 rounding of a product near v: the one error the
// exact bound |w - q*scale| <= scale/2 does not account for.
func halfULP(v float32) float64 {
	a := float32(math.Abs(float64(v)))
	return float64(math.Nextafter32(a, float32(math.Inf(1)))-a) / 2
}

func TestInt8RoundTripBound(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	w := randomTensor(rng, 16, 8, 3, 3)
	for i := range w.Data[72:144] { // row 1 all zero
		w.Data[72+i] = 0
	}
	w.Data[5] = 3 // an outlier sets row 0's scale
	q, err := QuantizeInt8("w", w)
	if err != nil {
		t.Fatal(err)
	}
	dq, err := q.Dequantize()
	if err != nil {
		t.Fatal(err)
	}
	cols := 8 * 9
	for r := 0; r < 16; r++ {
		scale := q.Scale[r]
		var maxAbs float32
		for _, v := range w.Data[r*cols : (r+1)*cols] {
			maxAbs = max(maxAbs, float32(math.Abs(float64(v))))
		}
		if scale != maxAbs/127 {
			t.Errorf("row %d: scale %v, want maxabs/127 = %v", r, scale, maxAbs/127)
		}
		for i := r * cols; i < (r+1)*cols; i++ {
			err := math.Abs(float64(w.Data[i]) - float64(dq.Data[i]))
			if err > float64(scale)/2+halfULP(dq.Data[i]) {
				t.Fatalf("element %d (row %d): |%v - %v| = %g > scale/2 = %g", i, r, w.Data[i], dq.Data[i], err, scale/2)
			}
			if q.Q[i] < -127 || q.Q[i] > 127 {
				t.Fatalf("q[%d] = %d outside [-127, 127]", i, q.Q[i])
			}
		}
	}
	if q.Scale[1] != 0 || dq.Data[72] != 0 {
		t.Errorf("all-zero row: scale %v, dequantized %v", q.Scale[1], dq.Data[72])
	}
	if q.Q[5] != 127 {
		t.Errorf("row maximum quantized to %d, want 127", q.Q[5])
	}
}

func TestInt8RefusesNonFinite(t *testing.T) {
	w := tensor.From([]float32{1, float32(math.NaN()), 2, 3}, 2, 2)
	if _, err := QuantizeInt8("bad.weight", w); err == nil || !strings.Contains(err.Error(), "bad.weight") {
		t.Errorf("err = %v, want a refusal naming the tensor", err)
	}
	bad := &tensor.Int8{Shape: []int{2, 2}, Q: make([]int8, 4), Scale: []float32{1}}
	if _, err := bad.Dequantize(); err == nil {
		t.Error("inconsistent tensor.Int8 dequantized")
	}
}

// writeModel writes a small float32 model with the kinds of tensors the
// encoder and heads have.
func writeModel(t *testing.T, dir string) (string, map[string]*tensor.Tensor) {
	rng := rand.New(rand.NewSource(2))
	tensors := map[string]*tensor.Tensor{
		"conv.weight":          randomTensor(rng, 32, 16, 3, 3), // quantized
		"conv.bias":            randomTensor(rng, 32),
		"fc.weight":            randomTensor(rng, 64, 32), // quantized
		"small.weight":         randomTensor(rng, 4, 8),   // below MinNumel
		"norm.weight":          randomTensor(rng, 1024),   // rank 1
		"attn.attention_bias":  randomTensor(rng, 2, 25, 25),
		"neck.weight.not_this": randomTensor(rng, 40, 40), // not *.weight
	}
	var entries []safetensors.Entry
	for name, tt := range tensors {
		entries = append(entries, safetensors.F32Entry(name, tt))
	}
	path := filepath.Join(dir, "model.safetensors")
	if err := safetensors.WriteFile(path, entries, map[string]string{"source_sha256": "abc123"}); err != nil {
		t.Fatal(err)
	}
	return path, tensors
}

func TestQuantizeFileInt8(t *testing.T) {
	dir := t.TempDir()
	in, orig := writeModel(t, dir)
	out := filepath.Join(dir, "model.int8.safetensors")
	man, err := QuantizeFile(in, out, Options{Mode: Int8})
	if err != nil {
		t.Fatal(err)
	}
	if man.Scheme != SchemeInt8 || man.SourceModelSHA256 != "abc123" || man.File != "model.int8.safetensors" {
		t.Errorf("manifest header = %+v", man)
	}
	wantScheme := map[string]string{
		"conv.weight": SchemeInt8, "fc.weight": SchemeInt8, "conv.bias": SchemeF32, "small.weight": SchemeF32,
		"norm.weight": SchemeF32, "attn.attention_bias": SchemeF32, "neck.weight.not_this": SchemeF32,
	}
	for _, e := range man.Tensors {
		if e.Scheme != wantScheme[e.Name] {
			t.Errorf("%s stored as %s, want %s", e.Name, e.Scheme, wantScheme[e.Name])
		}
	}
	f, err := safetensors.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if info, _ := f.Info("conv.weight"); info.DType != safetensors.I8 {
		t.Errorf("conv.weight stored as %s", info.DType)
	}
	if info, _ := f.Info("conv.weight.scale"); info.DType != safetensors.F32 || !reflect.DeepEqual(info.Shape, []int{32}) {
		t.Errorf("conv.weight.scale = %+v", info)
	}
	if f.Metadata()["quant_scheme"] != SchemeInt8 {
		t.Errorf("metadata = %v", f.Metadata())
	}

	got, err := Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(orig) {
		t.Errorf("Load returned %d tensors, want %d (no .scale entries)", len(got), len(orig))
	}
	m, _ := Open(out)
	for name, w := range orig {
		d := got[name]
		if d == nil || !reflect.DeepEqual(d.Shape, w.Shape) {
			t.Fatalf("%s: got %v, want shape %v", name, d, w.Shape)
		}
		if wantScheme[name] == SchemeF32 {
			if !reflect.DeepEqual(d.Data, w.Data) {
				t.Errorf("%s: float32 tensor changed", name)
			}
			continue
		}
		q, err := m.Int8(name)
		if err != nil {
			t.Fatal(err)
		}
		cols := w.Len() / w.Shape[0]
		for i := range w.Data {
			scale := q.Scale[i/cols]
			if e := math.Abs(float64(w.Data[i] - d.Data[i])); e > float64(scale)/2+halfULP(d.Data[i]) {
				t.Fatalf("%s[%d]: error %g above scale/2 %g", name, i, e, scale/2)
			}
		}
	}
	if _, err := m.Int8("conv.bias"); err == nil {
		t.Error("Int8 on a float tensor succeeded")
	}
}

func TestQuantizeFileFP16(t *testing.T) {
	dir := t.TempDir()
	in, orig := writeModel(t, dir)
	out := filepath.Join(dir, "model.fp16.safetensors")
	if _, err := QuantizeFile(in, out, Options{Mode: FP16}); err != nil {
		t.Fatal(err)
	}
	got, err := Load(out)
	if err != nil {
		t.Fatal(err)
	}
	f, _ := safetensors.ReadFile(out)
	for name, w := range orig {
		info, _ := f.Info(name)
		wantDType := safetensors.F16
		if len(w.Shape) < 2 {
			wantDType = safetensors.F32
		}
		if info.DType != wantDType {
			t.Errorf("%s stored as %s, want %s", name, info.DType, wantDType)
		}
		for i, v := range w.Data {
			// Round-to-nearest keeps the error within half a half-ulp:
			// |v|*2^-11 for normal halves, 2^-25 in the subnormal range.
			bound := math.Max(math.Abs(float64(v))*math.Ldexp(1, -11), math.Ldexp(1, -25))
			if e := math.Abs(float64(v - got[name].Data[i])); e > bound {
				t.Fatalf("%s[%d]: %v -> %v, error %g above the fp16 bound", name, i, v, got[name].Data[i], e)
			}
		}
	}
}

func TestLoadRefusesTampering(t *testing.T) {
	dir := t.TempDir()
	in, _ := writeModel(t, dir)
	out := filepath.Join(dir, "q.safetensors")
	if _, err := QuantizeFile(in, out, Options{Mode: Int8}); err != nil {
		t.Fatal(err)
	}
	good, _ := os.ReadFile(out)
	goodManifest, _ := os.ReadFile(ManifestPath(out))
	restore := func() {
		os.WriteFile(out, good, 0o644)
		os.WriteFile(ManifestPath(out), goodManifest, 0o644)
	}
	editManifest := func(edit func(m *Manifest)) func() {
		return func() {
			var m Manifest
			json.Unmarshal(goodManifest, &m)
			edit(&m)
			js, _ := json.Marshal(m)
			os.WriteFile(ManifestPath(out), js, 0o644)
		}
	}
	tests := []struct {
		name   string
		damage func()
		want   string
	}{
		{"flipped byte", func() {
			b := append([]byte(nil), good...)
			b[len(b)-10] ^= 0x40
			os.WriteFile(out, b, 0o644)
		}, "sha256"},
		{"truncated", func() { os.WriteFile(out, good[:len(good)-100], 0o644) }, "truncated"},
		{"manifest missing", func() { os.Remove(ManifestPath(out)) }, "no readable manifest"},
		{"manifest not JSON", func() { os.WriteFile(ManifestPath(out), []byte("{"), 0o644) }, "manifest"},
		{"manifest hash differs", editManifest(func(m *Manifest) { m.FileSHA256 = strings.Repeat("0", 64) }), "sha256"},
		{"manifest format version", editManifest(func(m *Manifest) { m.FormatVersion = 99 }), "format version"},
		{"manifest lists a missing tensor", editManifest(func(m *Manifest) {
			m.Tensors = append(m.Tensors, TensorEntry{Name: "ghost", Scheme: SchemeF32, Shape: []int{1}})
		}), "absent"},
		{"manifest omits a tensor", editManifest(func(m *Manifest) { m.Tensors = m.Tensors[1:] }), "not in the manifest"},
		{"manifest scheme wrong", editManifest(func(m *Manifest) {
			for i := range m.Tensors {
				if m.Tensors[i].Name == "conv.weight" {
					m.Tensors[i].Scheme = SchemeF32
				}
			}
		}), "manifest says"},
		{"manifest shape wrong", editManifest(func(m *Manifest) {
			for i := range m.Tensors {
				if m.Tensors[i].Name == "conv.bias" {
					m.Tensors[i].Shape = []int{31}
				}
			}
		}), "manifest says"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			restore()
			tc.damage()
			_, err := Load(out)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if !strings.Contains(err.Error(), "q.safetensors") {
				t.Errorf("error does not name the file: %v", err)
			}
		})
	}
	restore()
	if _, err := Load(out); err != nil {
		t.Fatalf("restored file refused: %v", err)
	}
}

func TestQuantizeFileRefuses(t *testing.T) {
	dir := t.TempDir()
	in, _ := writeModel(t, dir)
	if _, err := QuantizeFile(in, filepath.Join(dir, "x"), Options{Mode: "int4"}); err == nil {
		t.Error("unknown mode accepted")
	}
	q := filepath.Join(dir, "q.safetensors")
	if _, err := QuantizeFile(in, q, Options{Mode: Int8}); err != nil {
		t.Fatal(err)
	}
	if _, err := QuantizeFile(q, filepath.Join(dir, "qq"), Options{Mode: Int8}); err == nil || !strings.Contains(err.Error(), "float32") {
		t.Errorf("re-quantizing an int8 file: err = %v", err)
	}
	reserved := filepath.Join(dir, "reserved.safetensors")
	safetensors.WriteFile(reserved, []safetensors.Entry{safetensors.F32Entry("a.scale", tensor.New(2))}, nil)
	if _, err := QuantizeFile(reserved, filepath.Join(dir, "r"), Options{Mode: Int8}); err == nil || !strings.Contains(err.Error(), "reserved") {
		t.Errorf("tensor named *.scale: err = %v", err)
	}
}

// TestQuantizeRealEncoder checks the real converted encoder: every conv
// and linear weight of 1024+ elements goes int8, and Load gives back all
// 190 tensors within the bound.
func TestQuantizeRealEncoder(t *testing.T) {
	in := testutil.Need(t, filepath.Join(testutil.CacheDir(t), "weights", "encoder.safetensors"), "converted encoder.safetensors")
	out := filepath.Join(t.TempDir(), "encoder.int8.safetensors")
	man, err := QuantizeFile(in, out, Options{Mode: Int8})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range man.Tensors {
		if e.Scheme == SchemeInt8 {
			n++
		}
	}
	// 29 convs + 40 linears, minus patch_embed.seq.0 (864 elements).
	if n != 68 {
		t.Errorf("%d int8 tensors, want 68", n)
	}
	got, err := Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 190 {
		t.Errorf("Load gave %d tensors, want 190", len(got))
	}
}

func TestParseInMemory(t *testing.T) {
	dir := t.TempDir()
	in, _ := writeModel(t, dir)
	out := filepath.Join(dir, "m.safetensors")
	if _, err := QuantizeFile(in, out, Options{Mode: Int8}); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(out)
	mjs, _ := os.ReadFile(ManifestPath(out))
	m, err := Parse("https://host/m.safetensors", data, mjs)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(m.Manifest.Names(), []string{"attn.attention_bias", "conv.bias", "conv.weight", "fc.weight", "neck.weight.not_this", "norm.weight", "small.weight"}) {
		t.Errorf("names = %v", m.Manifest.Names())
	}
	if _, err := Parse("https://host/m.safetensors", data[:len(data)-1], mjs); err == nil || !strings.Contains(err.Error(), "https://host/m.safetensors") {
		t.Errorf("truncated in-memory file: err = %v", err)
	}
}

func TestLoadAny(t *testing.T) {
	dir := t.TempDir()
	in, orig := writeModel(t, dir)
	plain, err := LoadAny(in)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(plain["conv.weight"].Data, orig["conv.weight"].Data) || len(plain) != len(orig) {
		t.Error("plain float file not read as is")
	}
	out := filepath.Join(dir, "q.safetensors")
	if _, err := QuantizeFile(in, out, Options{Mode: Int8}); err != nil {
		t.Fatal(err)
	}
	q, err := LoadAny(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(q) != len(orig) || q["conv.weight"] == nil {
		t.Errorf("quantized file: got %d tensors", len(q))
	}
	// An int8 file without its manifest is refused, not misread.
	os.Remove(ManifestPath(out))
	if _, err := LoadAny(out); err == nil || !strings.Contains(err.Error(), "manifest") {
		t.Errorf("int8 file without manifest: err = %v", err)
	}
}

func TestQuantizeFileKeep(t *testing.T) {
	dir := t.TempDir()
	in, orig := writeModel(t, dir)
	out := filepath.Join(dir, "mixed.safetensors")
	opt := Options{Mode: Int8, Keep: regexp.MustCompile(`^conv\.|^small\.`), KeepReason: "changes predictions"}
	man, err := QuantizeFile(in, out, opt)
	if err != nil {
		t.Fatal(err)
	}
	// small.weight matches but is below MinNumel: it stays f32, not "kept".
	want := &Kept{Pattern: `^conv\.|^small\.`, Reason: "changes predictions", Layers: []string{"conv.weight"}}
	if !reflect.DeepEqual(man.Kept, want) {
		t.Errorf("Kept = %+v, want %+v", man.Kept, want)
	}
	if man.Scheme != SchemeInt8 {
		t.Errorf("scheme %s, want %s", man.Scheme, SchemeInt8)
	}
	f, err := safetensors.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	wantDType := map[string]safetensors.DType{"conv.weight": safetensors.F16, "fc.weight": safetensors.I8, "small.weight": safetensors.F32}
	for name, dt := range wantDType {
		if info, _ := f.Info(name); info.DType != dt {
			t.Errorf("%s stored as %s, want %s", name, info.DType, dt)
		}
	}
	if _, ok := f.Info("conv.weight.scale"); ok {
		t.Error("a kept layer has int8 scales")
	}
	// The kept layer is bit-exact fp16 of the original: the bytes an fp16
	// file holds, and RoundTrip(FP16) after loading.
	raw, err := f.Raw("conv.weight")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(raw, safetensors.F16Entry("conv.weight", orig["conv.weight"]).Data) {
		t.Error("kept layer's bytes are not the fp16 encoding of the original")
	}
	got, err := Load(out)
	if err != nil {
		t.Fatal(err)
	}
	for name, mode := range map[string]Mode{"conv.weight": FP16, "fc.weight": Int8} {
		rt, err := RoundTrip(mode, name, orig[name])
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got[name].Data, rt.Data) {
			t.Errorf("%s: loaded values differ from RoundTrip(%s)", name, mode)
		}
	}
	if !reflect.DeepEqual(got["small.weight"].Data, orig["small.weight"].Data) {
		t.Error("small.weight changed")
	}
	// LoadAny and an in-memory Parse accept it too.
	if _, err := LoadAny(out); err != nil {
		t.Errorf("LoadAny: %v", err)
	}
	data, _ := os.ReadFile(out)
	mjs, _ := os.ReadFile(ManifestPath(out))
	if _, err := Parse("mixed.safetensors", data, mjs); err != nil {
		t.Errorf("Parse: %v", err)
	}
}

func TestQuantizeFileKeepRefuses(t *testing.T) {
	dir := t.TempDir()
	in, _ := writeModel(t, dir)
	tests := []struct {
		name string
		opt  Options
		want string
	}{
		{"fp16 file", Options{Mode: FP16, Keep: regexp.MustCompile(`conv`), KeepReason: "x"}, "int8"},
		{"no reason", Options{Mode: Int8, Keep: regexp.MustCompile(`conv`)}, "reason"},
		{"matches no int8 layer", Options{Mode: Int8, Keep: regexp.MustCompile(`^small\.`), KeepReason: "x"}, "matches no int8 layer"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := QuantizeFile(in, filepath.Join(dir, "out.safetensors"), tc.opt)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestKeptListingTampering: a manifest whose kept-layer listing disagrees
// with the file is refused, whichever way it lies.
func TestKeptListingTampering(t *testing.T) {
	dir := t.TempDir()
	in, _ := writeModel(t, dir)
	mixed := filepath.Join(dir, "mixed.safetensors")
	if _, err := QuantizeFile(in, mixed, Options{Mode: Int8, Keep: regexp.MustCompile(`^conv\.`), KeepReason: "sensitive"}); err != nil {
		t.Fatal(err)
	}
	plain := filepath.Join(dir, "plain.safetensors")
	if _, err := QuantizeFile(in, plain, Options{Mode: Int8}); err != nil {
		t.Fatal(err)
	}
	edit := func(path string, change func(m *Manifest)) []byte {
		js, err := os.ReadFile(ManifestPath(path))
		if err != nil {
			t.Fatal(err)
		}
		var m Manifest
		if err := json.Unmarshal(js, &m); err != nil {
			t.Fatal(err)
		}
		change(&m)
		out, _ := json.Marshal(m)
		return out
	}
	tests := []struct {
		name     string
		file     string
		manifest []byte
		want     string
	}{
		{"listing dropped", mixed, edit(mixed, func(m *Manifest) { m.Kept = nil }), "lists none"},
		{"layer missing from the list", mixed, edit(mixed, func(m *Manifest) { m.Kept.Layers = nil }), "fp16 tensors are"},
		{"int8 layer listed", mixed, edit(mixed, func(m *Manifest) { m.Kept.Layers = append(m.Kept.Layers, "fc.weight") }), "fp16 tensors are"},
		{"pattern changed", mixed, edit(mixed, func(m *Manifest) { m.Kept.Pattern = `^(conv|fc)\.` }), "metadata"},
		{"reason changed", mixed, edit(mixed, func(m *Manifest) { m.Kept.Reason = "other" }), "metadata"},
		{"reason empty", mixed, edit(mixed, func(m *Manifest) { m.Kept.Reason = " " }), "no reason"},
		{"kept listing on a plain int8 file", plain, edit(plain, func(m *Manifest) {
			m.Kept = &Kept{Pattern: `^conv\.`, Reason: "x", Layers: []string{"conv.weight"}}
		}), "metadata"},
		{"kept layer claimed int8", mixed, edit(mixed, func(m *Manifest) {
			for i := range m.Tensors {
				if m.Tensors[i].Name == "conv.weight" {
					m.Tensors[i].Scheme = SchemeInt8
				}
			}
		}), "disagrees with its manifest"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data, err := os.ReadFile(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Parse(filepath.Base(tc.file), data, tc.manifest)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestRoundTripMatchesFiles: RoundTrip gives exactly what a quantized file
// loads back, for both modes.
func TestRoundTripMatchesFiles(t *testing.T) {
	dir := t.TempDir()
	in, orig := writeModel(t, dir)
	for _, mode := range []Mode{Int8, FP16} {
		out := filepath.Join(dir, string(mode)+".safetensors")
		if _, err := QuantizeFile(in, out, Options{Mode: mode}); err != nil {
			t.Fatal(err)
		}
		got, err := Load(out)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"conv.weight", "fc.weight"} {
			rt, err := RoundTrip(mode, name, orig[name])
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(rt.Data, got[name].Data) || !reflect.DeepEqual(rt.Shape, got[name].Shape) {
				t.Errorf("%s %s: RoundTrip differs from the file", mode, name)
			}
		}
	}
	if _, err := RoundTrip("int4", "x", orig["fc.weight"]); err == nil {
		t.Error("unknown mode accepted")
	}
}
