//go:build !js

// Package checksite builds and serves the page that runs the WebAssembly
// SIMD check program (model/cpu/wasmsimd/cmd/simdcheck) in a browser: the program
// compiled for js/wasm, Go's wasm_exec.js and index.html, in one folder.
// The browser test of the SIMD kernel and `busam bench browser` use it.
package checksite

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

//go:embed index.html
var indexHTML []byte

// Program is the import path of the check program.
const Program = "github.com/busam/busam/model/cpu/wasmsimd/cmd/simdcheck"

// Build writes index.html, wasm_exec.js and simdcheck.wasm into dir,
// compiling the program with the go command found in PATH.
func Build(dir string) error {
	if err := BuildWasm(dir, Program, "simdcheck.wasm"); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "index.html"), indexHTML, 0o644); err != nil {
		return fmt.Errorf("checksite: %w", err)
	}
	return nil
}

// BuildWasm compiles the Go program pkg (an import path) for js/wasm into
// dir/name and puts Go's wasm_exec.js, which runs it, next to it.
func BuildWasm(dir, pkg, name string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("checksite: %w", err)
	}
	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		return fmt.Errorf("checksite: go env GOROOT: %w", err)
	}
	execJS, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(goroot)), "lib", "wasm", "wasm_exec.js"))
	if err != nil {
		return fmt.Errorf("checksite: %w", err)
	}
	cmd := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(dir, name), pkg)
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("checksite: building %s for js/wasm: %v\n%s", pkg, err, out)
	}
	if err := os.WriteFile(filepath.Join(dir, "wasm_exec.js"), execJS, 0o644); err != nil {
		return fmt.Errorf("checksite: %w", err)
	}
	return nil
}

// Isolated wraps h with the headers that make a page cross-origin isolated
// (COOP same-origin, COEP require-corp), which WebAssembly threads (e.g.
// onnxruntime-web's) need, and no caching.
func Isolated(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cross-Origin-Opener-Policy", "same-origin")
		w.Header().Set("Cross-Origin-Embedder-Policy", "require-corp")
		w.Header().Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}

// Report is what the check program leaves in globalThis.simdcheck.
type Report struct {
	Kernel    string  `json:"kernel"`
	SIMD      bool    `json:"simd"`
	SIMDError string  `json:"simdError"`
	Cases     []Case  `json:"cases"`
	Bench     []Bench `json:"bench"`
	Error     string  `json:"error"`
}

// Case is one compared shape: the largest SIMD vs plain-Go difference
// relative to the element's scale, and whether the outputs were identical.
type Case struct {
	Name   string  `json:"name"`
	MaxRel float64 `json:"maxRel"`
	Exact  bool    `json:"exact"`
}

// Bench is one timed product (median of the runs after a warm-up).
type Bench struct {
	Name          string  `json:"name"`
	PlainGoGFLOPs float64 `json:"plainGoGFLOPs"`
	SIMDGFLOPs    float64 `json:"simdGFLOPs"`
	PlainGoMs     float64 `json:"plainGoMs"`
	SIMDMs        float64 `json:"simdMs"`
}

// ParseReport decodes the JSON the program wrote.
func ParseReport(s string) (Report, error) {
	var r Report
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		return r, fmt.Errorf("checksite: bad report %.200q: %w", s, err)
	}
	return r, nil
}
