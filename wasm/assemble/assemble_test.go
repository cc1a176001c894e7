package assemble

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"

	"github.com/busam/busam/server"
	"github.com/busam/busam/wasm/manifest"
)

// A small app with the same reference shapes as the real one: a page
// loading a module, the module starting a worker, the worker importing a
// script and fetching a wasm file, plus a service worker listing them.
var app = map[string]string{
	"index.html":   `<link rel="stylesheet" href="./app.css"><script type="module" src="./boot.js"></script>`,
	"app.css":      `body { background: url("img/bg.svg"); }`,
	"img/bg.svg":   `<svg xmlns="http://www.w3.org/2000/svg"></svg>`,
	"boot.js":      `import { Busam } from './busam.js'; new URL('./busam.js?x=1', import.meta.url);`,
	"busam.js":     `const W = new URL('./worker.js', import.meta.url); // not the-worker.js`,
	"worker.js":    "importScripts('./wasm_exec.js'); fetch(`./busam.wasm`);",
	"wasm_exec.js": strings.Repeat("/* Go's support code */ ", 100),
	"busam.wasm":   "\x00asm" + strings.Repeat("\x01\x02\x03\x04", 400),
	"sw.js":        `const SHELL = ['./', './index.html', './busam.js', './worker.js', './busam.wasm'];`,
}

func writeApp(t *testing.T, files map[string]string) []Asset {
	t.Helper()
	src := t.TempDir()
	var assets []Asset
	for name, body := range files {
		p := filepath.Join(src, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		assets = append(assets, Asset{Name: name, Src: p})
	}
	return assets
}

func read(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestHashesNamesAndRewritesReferences(t *testing.T) {
	out := filepath.Join(t.TempDir(), "web")
	rep, err := Run(Options{Out: out, Assets: writeApp(t, app)})
	if err != nil {
		t.Fatal(err)
	}
	n := rep.Names
	hashed := regexp.MustCompile(`^[a-z/_]+\.[0-9a-f]{16}\.[a-z]+$`)
	for _, name := range []string{"app.css", "img/bg.svg", "boot.js", "busam.js", "worker.js", "wasm_exec.js", "busam.wasm"} {
		if !hashed.MatchString(n[name]) || !server.IsHashedName(n[name]) {
			t.Errorf("%s served as %q, want a content-hashed name the server treats as immutable", name, n[name])
		}
	}
	for _, name := range []string{"index.html", "sw.js"} {
		if n[name] != name {
			t.Errorf("%s renamed to %s; pages and service workers keep their names", name, n[name])
		}
	}
	base := func(name string) string { return filepath.Base(n[name]) }
	checks := []struct{ file, want string }{
		{"index.html", `href="./` + base("app.css") + `"`},
		{"index.html", `src="./` + base("boot.js") + `"`},
		{n["app.css"], `url("img/` + base("img/bg.svg") + `")`},
		{n["boot.js"], `from './` + base("busam.js") + `'`},
		{n["boot.js"], `'./` + base("busam.js") + `?x=1'`},
		{n["busam.js"], `new URL('./` + base("worker.js") + `'`},
		{n["busam.js"], `not the-worker.js`}, // a longer name is left alone
		{n["worker.js"], `importScripts('./` + base("wasm_exec.js") + `')`},
		{n["worker.js"], "fetch(`./" + base("busam.wasm") + "`)"},
		{"sw.js", `'./` + base("busam.js") + `', './` + base("worker.js") + `'`},
		{"sw.js", `'./index.html'`},
	}
	for _, c := range checks {
		if got := read(t, out, c.file); !strings.Contains(got, c.want) {
			t.Errorf("%s = %q, want it to contain %q", c.file, got, c.want)
		}
	}
	// The wasm bytes are copied untouched.
	if read(t, out, n["busam.wasm"]) != app["busam.wasm"] {
		t.Error("busam.wasm changed")
	}
	var names map[string]string
	if err := json.Unmarshal([]byte(read(t, out, AssetsFile)), &names); err != nil || names["busam.js"] != n["busam.js"] {
		t.Errorf("%s: %v %v", AssetsFile, names, err)
	}
}

// A change deep in the graph (the wasm module) renames every file that
// leads to it, so no browser can combine an old worker with a new module.
func TestChangePropagatesUpTheReferences(t *testing.T) {
	first, err := Run(Options{Out: filepath.Join(t.TempDir(), "a"), Assets: writeApp(t, app)})
	if err != nil {
		t.Fatal(err)
	}
	changed := map[string]string{}
	for k, v := range app {
		changed[k] = v
	}
	changed["busam.wasm"] += "\x05"
	second, err := Run(Options{Out: filepath.Join(t.TempDir(), "b"), Assets: writeApp(t, changed)})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"busam.wasm", "worker.js", "busam.js", "boot.js"} {
		if first.Names[name] == second.Names[name] {
			t.Errorf("%s kept its name %s after busam.wasm changed", name, first.Names[name])
		}
	}
	for _, name := range []string{"wasm_exec.js", "app.css", "img/bg.svg"} {
		if first.Names[name] != second.Names[name] {
			t.Errorf("%s renamed although it does not lead to busam.wasm", name)
		}
	}
	// Same input, same output: builds are reproducible.
	again, err := Run(Options{Out: filepath.Join(t.TempDir(), "c"), Assets: writeApp(t, changed)})
	if err != nil {
		t.Fatal(err)
	}
	for name := range app {
		if again.Names[name] != second.Names[name] {
			t.Errorf("%s: %s then %s from the same input", name, second.Names[name], again.Names[name])
		}
	}
}

func TestRefusesBadAssetSets(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"cycle", map[string]string{"a.js": `import './b.js'`, "b.js": `import './a.js'`}, "cycle"},
		{"same base name", map[string]string{"x/app.js": "1", "y/app.js": "2"}, "ambiguous"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Run(Options{Out: filepath.Join(t.TempDir(), "web"), Assets: writeApp(t, tc.files)})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one saying %q", err, tc.want)
			}
		})
	}
	if _, err := Run(Options{Out: filepath.Join(t.TempDir(), "web"), Assets: []Asset{{Name: "../x.js", Src: "/dev/null"}}}); err == nil {
		t.Error("an asset name leaving the folder was accepted")
	}
	if _, err := Run(Options{Out: filepath.Join(t.TempDir(), "web"), Assets: []Asset{{Name: "x.js", Src: "/nonexistent/x.js"}}}); err == nil || !strings.Contains(err.Error(), "x.js") {
		t.Errorf("missing source: %v", err)
	}
}

func TestReplacesOnlyItsOwnOutput(t *testing.T) {
	dir := t.TempDir()
	foreign := filepath.Join(dir, "home")
	os.MkdirAll(foreign, 0o755)
	os.WriteFile(filepath.Join(foreign, "notes.txt"), []byte("keep me"), 0o644)
	if _, err := Run(Options{Out: foreign, Assets: writeApp(t, app)}); err == nil {
		t.Fatal("replaced a folder it did not write")
	}
	if read(t, foreign, "notes.txt") != "keep me" {
		t.Fatal("foreign folder damaged")
	}
	out := filepath.Join(dir, "web")
	for i := range 2 { // the second run replaces the first run's output
		if _, err := Run(Options{Out: out, Assets: writeApp(t, app)}); err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("left behind: %v (want only home and web)", entries)
	}
}

func TestModelFilesAndManifest(t *testing.T) {
	src := t.TempDir()
	enc := filepath.Join(src, "encoder.safetensors")
	hd := filepath.Join(src, "heads.safetensors")
	os.WriteFile(enc, bytes.Repeat([]byte{1, 2, 3}, 1000), 0o644)
	os.WriteFile(hd, []byte("heads"), 0o644)
	out := filepath.Join(t.TempDir(), "web")
	rep, err := Run(Options{Out: out, Models: []ModelFile{{manifest.RoleEncoder, enc}, {manifest.RoleHeads, hd}}})
	if err != nil {
		t.Fatal(err)
	}
	data := read(t, out, "model/"+manifest.FileName)
	m, err := manifest.Parse("manifest", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	for _, role := range []string{manifest.RoleEncoder, manifest.RoleHeads} {
		f, ok := m.File(role)
		if !ok {
			t.Fatalf("no %s in %s", role, data)
		}
		if !server.IsHashedName(f.Path) || !strings.HasPrefix(f.Path, role+".") {
			t.Errorf("%s published as %s", role, f.Path)
		}
		if err := f.Verify([]byte(read(t, out, "model/"+f.Path))); err != nil {
			t.Errorf("published file does not match its manifest entry: %v", err)
		}
	}
	if rep.Model == nil || len(rep.Model.Files) != 2 {
		t.Errorf("report model %+v", rep.Model)
	}
	if _, err := Run(Options{Out: filepath.Join(t.TempDir(), "w"), Models: []ModelFile{{manifest.RoleEncoder, filepath.Join(src, "missing")}}}); err == nil {
		t.Error("a missing model file was accepted")
	}
}

func TestCompressedSiblingsDecodeToTheOriginal(t *testing.T) {
	out := filepath.Join(t.TempDir(), "web")
	rep, err := Run(Options{Out: out, Assets: writeApp(t, app), Compress: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{rep.Names["wasm_exec.js"], rep.Names["busam.wasm"]} {
		orig := read(t, out, name)
		zr, err := gzip.NewReader(strings.NewReader(read(t, out, name+".gz")))
		if err != nil {
			t.Fatalf("%s.gz: %v", name, err)
		}
		gz, _ := io.ReadAll(zr)
		br, _ := io.ReadAll(brotli.NewReader(strings.NewReader(read(t, out, name+".br"))))
		if string(gz) != orig || string(br) != orig {
			t.Errorf("%s: siblings do not decode to the file", name)
		}
	}
	// Tiny files get no siblings: they would not save anything.
	if _, err := os.Stat(filepath.Join(out, rep.Names["app.css"]+".gz")); err == nil {
		t.Error("a tiny file was compressed")
	}
}

// TestLargeWasmGetsBestBrotli: a large wasm module is compressed at
// brotli's best quality, a large weights file at the fast one.
func TestLargeWasmGetsBestBrotli(t *testing.T) {
	// Compressible, and not so regular that the two qualities tie.
	var b bytes.Buffer
	x := uint32(1)
	for b.Len() <= brotliLargeInput {
		x = x*1664525 + 1013904223
		b.WriteString([]string{"i32.load ", "local.get ", "call ", "br_if ", "i64.add "}[x>>29%5])
		b.WriteByte(byte('0' + x>>24%10))
	}
	best, err := brotliBytes(b.Bytes(), true)
	if err != nil {
		t.Fatal(err)
	}
	fast, err := brotliBytes(b.Bytes(), false)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(best, fast) {
		t.Fatal("test data compresses the same at both qualities")
	}
	dir := t.TempDir()
	for name, want := range map[string][]byte{"app.wasm": best, "weights.safetensors": fast} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := compressFile(p, false, t.Logf); err != nil {
			t.Fatal(err)
		}
		if got := read(t, dir, name+".br"); got != string(want) {
			t.Errorf("%s.br: %d bytes, want %d (the %s quality)", name, len(got), len(want), map[bool]string{true: "best", false: "fast"}[name == "app.wasm"])
		}
	}
}
