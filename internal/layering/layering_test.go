// Package layering checks that imports run downwards: every busam package
// has a layer, and a package imports only packages of lower layers. The
// table is the README's layering paragraph in checkable form; a new
// package must be given its layer here.
package layering

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/busam/busam"

// layers, bottom first.
var layers = [][]string{
	{"model/tensor", "model/label", "internal/atomicfile", "internal/testutil", "metrics", "augment",
		"ui/view", "wasm/manifest", "server", "e2e"},
	{"model/cpu", "model/cpu/wasmsimd", "weights/safetensors", "imageio", "report", "internal/browsertest", "ui/app"},
	{"model/cpu/wasmsimd/checksite", "weights/onnx", "quant", "dataset", "model/encoder"},
	{"dataset/split", "weights", "model/heads", "model/webgpu"},
	{"model/pipeline", "modelfile", "model/webgpu/tinyvit", "model/webgpu/webgputest", "embed"},
	{"model/webgpu/samheads", "train", "wasm/assemble"},
	{"wasm/engine", "ui/bundle", "wasm/cmd/assemble", "ui/cmd/uiwasm", "tools/golden"},
	// commands, and the browser test package of wasm
	{"wasm/cmd/busamwasm", "ui/cmd/webapp", "cmd/busam", "wasm", "model/cpu/wasmsimd/cmd/browserbench", "model/cpu/wasmsimd/cmd/simdcheck"},
}

func TestImportsRunDownwards(t *testing.T) {
	level := map[string]int{}
	for l, pkgs := range layers {
		for _, p := range pkgs {
			level[p] = l
		}
	}
	seen := map[string]bool{}
	for _, env := range [][]string{nil, {"GOOS=js", "GOARCH=wasm"}} {
		cmd := exec.Command("go", "list", "-e", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", module+"/...")
		cmd.Dir = "../.."
		cmd.Env = append(cmd.Environ(), env...)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list %v: %v", env, err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			f := strings.Fields(line)
			pkg := rel(f[0])
			if pkg == "internal/layering" || seen[pkg] {
				continue
			}
			seen[pkg] = true
			lp, ok := level[pkg]
			if !ok {
				t.Errorf("package %s has no layer: add it to the table in internal/layering (and the README)", pkg)
				continue
			}
			for _, imp := range f[1:] {
				if !strings.HasPrefix(imp, module+"/") {
					continue
				}
				dep := rel(imp)
				if ld, ok := level[dep]; ok && ld >= lp {
					t.Errorf("%s (layer %d) imports %s (layer %d): imports must run downwards", pkg, lp, dep, ld)
				}
			}
		}
	}
	for p := range level {
		if !seen[p] {
			t.Errorf("the table lists %s, which is not a package (any more)", p)
		}
	}
}

func rel(path string) string { return strings.TrimPrefix(strings.TrimPrefix(path, module), "/") }
