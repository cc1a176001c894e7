package assemble

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/busam/busam/model/tensor"
	"github.com/busam/busam/quant"
	"github.com/busam/busam/wasm/manifest"
	"github.com/busam/busam/weights/safetensors"
)

// weightsDir writes a small float encoder file into a new folder, with
// heads when withHeads, and quantizes it to the int8 file when withInt8.
func weightsDir(t *testing.T, withInt8, withHeads bool) string {
	t.Helper()
	dir := t.TempDir()
	writeFloat(t, filepath.Join(dir, EncoderFloatFile), 1)
	if withInt8 {
		if _, err := quant.QuantizeFile(filepath.Join(dir, EncoderFloatFile), filepath.Join(dir, EncoderInt8File), quant.Options{Mode: quant.Int8}); err != nil {
			t.Fatal(err)
		}
	}
	if withHeads {
		if err := os.WriteFile(filepath.Join(dir, HeadsFile), []byte("heads"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func writeFloat(t *testing.T, path string, seed float32) {
	t.Helper()
	w := tensor.New(32, 64)
	for i := range w.Data {
		w.Data[i] = seed * float32(i%13-6)
	}
	entries := []safetensors.Entry{safetensors.F32Entry("a.weight", w), safetensors.F32Entry("a.bias", tensor.New(32))}
	if err := safetensors.WriteFile(path, entries, nil); err != nil {
		t.Fatal(err)
	}
}

// roles renders files as "role=base name" pairs, for comparisons.
func roles(files []ModelFile) []string {
	var out []string
	for _, f := range files {
		out = append(out, f.Role+"="+filepath.Base(f.Src))
	}
	return out
}

func TestModelFilesDefaults(t *testing.T) {
	int8Pair := []string{manifest.RoleEncoder + "=" + EncoderInt8File, manifest.RoleEncoderQuant + "=" + EncoderInt8File + ".manifest.json"}
	float := []string{manifest.RoleEncoder + "=" + EncoderFloatFile}
	heads := manifest.RoleHeads + "=" + HeadsFile
	for _, tc := range []struct {
		name     string
		dir      func(t *testing.T) string
		want     []string
		warnings []string // each a fragment of one warning, in order
	}{
		{"int8 and heads", func(t *testing.T) string { return weightsDir(t, true, true) }, append(int8Pair, heads), nil},
		{"no int8: float with a warning", func(t *testing.T) string { return weightsDir(t, false, true) }, append(float, heads), []string{"float32 encoder"}},
		{"stale int8", func(t *testing.T) string {
			d := weightsDir(t, true, true)
			writeFloat(t, filepath.Join(d, EncoderFloatFile), 2) // new weights after quantization
			return d
		}, append(float, heads), []string{"stale"}},
		{"modified int8", func(t *testing.T) string {
			d := weightsDir(t, true, true)
			p := filepath.Join(d, EncoderInt8File)
			b, _ := os.ReadFile(p)
			b[len(b)-1] ^= 1
			os.WriteFile(p, b, 0o644)
			return d
		}, append(float, heads), []string{"sha256"}},
		{"int8 without its float source", func(t *testing.T) string {
			d := weightsDir(t, true, false)
			os.Remove(filepath.Join(d, EncoderFloatFile))
			return d
		}, int8Pair, []string{"heads weights missing"}},
		{"empty folder", func(t *testing.T) string { return t.TempDir() }, nil, []string{"encoder weights missing", "heads weights missing"}},
	} {
		var warnings []string
		warnf := func(format string, args ...any) { warnings = append(warnings, fmt.Sprintf(format, args...)) }
		got, err := ModelFiles(ModelSources{Weights: tc.dir(t)}, warnf)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if !slices.Equal(roles(got), tc.want) {
			t.Errorf("%s: files %v, want %v", tc.name, roles(got), tc.want)
		}
		if len(warnings) != len(tc.warnings) {
			t.Errorf("%s: warnings %q, want %d", tc.name, warnings, len(tc.warnings))
			continue
		}
		for i, w := range tc.warnings {
			if !strings.Contains(warnings[i], w) {
				t.Errorf("%s: warning %q lacks %q", tc.name, warnings[i], w)
			}
		}
	}
}

func TestModelFilesExplicit(t *testing.T) {
	dir := weightsDir(t, true, true)
	fp16 := filepath.Join(dir, "encoder.fp16.safetensors")
	if _, err := quant.QuantizeFile(filepath.Join(dir, EncoderFloatFile), fp16, quant.Options{Mode: quant.FP16}); err != nil {
		t.Fatal(err)
	}
	orphan := filepath.Join(t.TempDir(), "orphan.safetensors") // int8, manifest left behind
	b, _ := os.ReadFile(filepath.Join(dir, EncoderInt8File))
	os.WriteFile(orphan, b, 0o644)

	got, err := ModelFiles(ModelSources{Weights: dir, Encoder: fp16, Heads: filepath.Join(dir, HeadsFile)}, nil)
	want := []string{manifest.RoleEncoder + "=encoder.fp16.safetensors", manifest.RoleEncoderQuant + "=encoder.fp16.safetensors.manifest.json", manifest.RoleHeads + "=" + HeadsFile}
	if err != nil || !slices.Equal(roles(got), want) {
		t.Errorf("explicit fp16 encoder: %v, %v; want %v", roles(got), err, want)
	}
	got, err = ModelFiles(ModelSources{Weights: dir, Encoder: filepath.Join(dir, EncoderFloatFile)}, nil)
	if want := []string{manifest.RoleEncoder + "=" + EncoderFloatFile, manifest.RoleHeads + "=" + HeadsFile}; err != nil || !slices.Equal(roles(got), want) {
		t.Errorf("explicit float encoder: %v, %v; want %v", roles(got), err, want)
	}
	for _, tc := range []struct {
		name string
		src  ModelSources
		want string
	}{
		{"missing encoder", ModelSources{Weights: dir, Encoder: filepath.Join(dir, "nope")}, "nope"},
		{"missing heads", ModelSources{Weights: dir, Heads: filepath.Join(dir, "nope")}, "heads weights"},
		{"int8 without its manifest", ModelSources{Weights: dir, Encoder: orphan}, "no quant manifest"},
	} {
		if _, err := ModelFiles(tc.src, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

// The int8 encoder and its quant manifest are published side by side and
// listed in the model manifest with their hashes.
func TestInt8ModelPublished(t *testing.T) {
	models, err := ModelFiles(ModelSources{Weights: weightsDir(t, true, true)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "web")
	rep, err := Run(Options{Out: out, Models: models})
	if err != nil {
		t.Fatal(err)
	}
	enc, ok1 := rep.Model.File(manifest.RoleEncoder)
	qm, ok2 := rep.Model.File(manifest.RoleEncoderQuant)
	if !ok1 || !ok2 || !strings.HasSuffix(qm.Path, ".json") {
		t.Fatalf("model manifest %+v", rep.Model.Files)
	}
	data := []byte(read(t, out, "model/"+enc.Path))
	if _, err := quant.Parse(enc.Path, data, []byte(read(t, out, "model/"+qm.Path))); err != nil {
		t.Errorf("published int8 encoder and quant manifest disagree: %v", err)
	}
}

func TestPageFiles(t *testing.T) {
	assets := writeApp(t, map[string]string{
		"index.html": "<!doctype html>", "app.js": "", "img/a.png": "", "main.go": "package main",
		"README.md": "", ".hidden/x.js": "", ".env": "",
	})
	dir := filepath.Dir(assets[0].Src)
	for _, a := range assets {
		if !strings.Contains(a.Name, "/") {
			dir = filepath.Dir(a.Src)
		}
	}
	got, err := PageFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range got {
		names = append(names, a.Name)
	}
	slices.Sort(names)
	if want := []string{"app.js", "img/a.png", "index.html"}; !slices.Equal(names, want) {
		t.Errorf("page files %v, want %v", names, want)
	}
	if _, err := PageFiles(t.TempDir()); err == nil || !strings.Contains(err.Error(), "index.html") {
		t.Errorf("a folder without index.html: %v", err)
	}
}

func TestRuntimeAssets(t *testing.T) {
	root, err := ModuleRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	assets, err := RuntimeAssets(root, "module.wasm")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range assets {
		names = append(names, a.Name)
		if _, err := os.Stat(a.Src); err != nil && a.Name != WasmName {
			t.Errorf("%s: %v", a.Name, err)
		}
	}
	if !slices.Equal(names, RuntimeNames) {
		t.Errorf("runtime assets %v, RuntimeNames %v", names, RuntimeNames)
	}
}

func TestAddModelFlags(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	src := AddModelFlags(fs)
	if *src != (ModelSources{Weights: ".cache/weights"}) {
		t.Errorf("defaults %+v", *src)
	}
	if err := fs.Parse([]string{"--weights", "w", "--encoder", "e.safetensors", "--heads", "h.safetensors"}); err != nil {
		t.Fatal(err)
	}
	if want := (ModelSources{Weights: "w", Encoder: "e.safetensors", Heads: "h.safetensors"}); *src != want {
		t.Errorf("parsed %+v, want %+v", *src, want)
	}
}
