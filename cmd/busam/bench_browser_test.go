package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFiles(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCompressedSizes(t *testing.T) {
	dir := t.TempDir()
	repetitive := bytes.Repeat([]byte("busam "), 10000)
	writeFiles(t, dir, map[string][]byte{
		"plain.js":         repetitive,
		"sib.wasm":         repetitive,
		"sib.wasm.gz":      make([]byte, 123),
		"sib.wasm.br":      make([]byte, 45),
		"half.js":          repetitive,
		"half.js.gz":       make([]byte, 7),
		"incompressible.x": {},
	})
	tests := []struct {
		name           string
		wantGz, wantBr int64 // 0: computed here, checked to be small but non-zero
	}{
		{"plain.js", 0, 0},
		{"sib.wasm", 123, 45},
		{"half.js", 7, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			gz, br, err := compressedSizes(filepath.Join(dir, tc.name))
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				what      string
				got, want int64
			}{{"gzip", gz, tc.wantGz}, {"brotli", br, tc.wantBr}} {
				switch {
				case c.want != 0 && c.got != c.want:
					t.Errorf("%s = %d, want the sibling's %d", c.what, c.got, c.want)
				case c.want == 0 && (c.got <= 0 || c.got >= int64(len(repetitive))/20):
					t.Errorf("%s = %d for %d repetitive bytes, want a small positive size", c.what, c.got, len(repetitive))
				}
			}
		})
	}
	if _, _, err := compressedSizes(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing file: no error")
	}
}

func TestFirstVisit(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string][]byte{
		"assets.json":                   []byte(`{"busam.js": "busam.1.js", "busam.wasm": "busam.2.wasm"}`),
		"busam.1.js":                    make([]byte, 100),
		"busam.1.js.gz":                 make([]byte, 10),
		"busam.1.js.br":                 make([]byte, 9),
		"busam.2.wasm":                  make([]byte, 1000),
		"busam.2.wasm.gz":               make([]byte, 300),
		"busam.2.wasm.br":               make([]byte, 200),
		"stale.3.wasm":                  make([]byte, 5000), // not in assets.json: not downloaded
		"model/manifest.json":           []byte(`{"format":"busam-model/1","files":[{"role":"encoder","path":"enc.4.safetensors"}]}`),
		"model/manifest.json.gz":        make([]byte, 1),
		"model/manifest.json.br":        make([]byte, 1),
		"model/enc.4.safetensors":       make([]byte, 4000),
		"model/enc.4.safetensors.gz":    make([]byte, 3000),
		"model/enc.4.safetensors.br":    make([]byte, 2900),
		"model/enc.0.old.safetensors":   make([]byte, 9999),
		"model/enc.0.old.safetensors.x": {},
	})
	d, err := firstVisit(dir)
	if err != nil {
		t.Fatal(err)
	}
	manifest, _ := os.Stat(filepath.Join(dir, "model", "manifest.json"))
	want := download{files: 4, raw: 100 + 1000 + manifest.Size() + 4000, gzip: 10 + 300 + 1 + 3000, brotli: 9 + 200 + 1 + 2900,
		weights: 4000, weightsGz: 3000, weightsBr: 2900}
	if d != want {
		t.Errorf("firstVisit = %+v, want %+v", d, want)
	}

	writeFiles(t, dir, map[string][]byte{"assets.json": []byte(`{"x": "gone.js"}`)})
	if _, err := firstVisit(dir); err == nil || !strings.Contains(err.Error(), "gone.js") {
		t.Errorf("asset missing on disk: err = %v, want one naming gone.js", err)
	}
	writeFiles(t, dir, map[string][]byte{"assets.json": []byte(`{`)})
	if _, err := firstVisit(dir); err == nil || !strings.Contains(err.Error(), "assets.json") {
		t.Errorf("bad assets.json: err = %v, want one naming the file", err)
	}
}

func TestBrowserMarkdown(t *testing.T) {
	diff := 1e-4
	threads := 2
	r := browserResults{
		opts: browserBenchOpts{size: 256, full: 1024, reps: 3, image: "/x/benign (1).png"},
		runs: []runResult{
			{Name: "onnxruntime-web wasm", Size: 256, MedianMs: 100, Times: []float64{99, 100, 101}, Threads: &threads},
			{Name: "busam cpu (wasm SIMD)", Size: 256, MedianMs: 250, Times: []float64{250}, MaxAbsDiff: &diff, DiffAgainst: "onnxruntime-web wasm", Kernel: "wasm-simd128-64x64"},
			{Name: "busam webgpu", Size: 256, MedianMs: 3000},
			{Name: "onnxruntime-web webgpu", Size: 256, MedianMs: 6000},
		},
	}
	md := r.markdown()
	for _, want := range []string{
		"SwiftShader", "busam bench browser -size 256 -full 1024 -reps 3",
		"| onnxruntime-web wasm (2 threads) | 256 |", "**250**", "0.0001 vs onnxruntime-web wasm",
		"busam cpu (wasm SIMD) takes 2.50x the time of onnxruntime-web wasm",
		"busam webgpu takes 0.50x the time of onnxruntime-web webgpu",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}
