package assemble

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// WasmPackage is the Go package of the browser module.
const WasmPackage = "./wasm/cmd/busamwasm"

// BuildWasm compiles pkg (relative to the module root dir) for js/wasm into
// out. -trimpath keeps local paths out of the binary; -s -w drop the
// symbol table and DWARF, which the browser does not use.
func BuildWasm(dir, pkg, out string) error {
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm", "CGO_ENABLED=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("assemble: GOOS=js GOARCH=wasm go build %s: %v\n%s", pkg, err, stderr.String())
	}
	return nil
}

// WasmExecJS returns the path of the JavaScript support file that matches
// the Go toolchain building the module (they must come from the same
// release).
func WasmExecJS() (string, error) {
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		return "", fmt.Errorf("assemble: go env GOROOT: %w", err)
	}
	root := strings.TrimSpace(string(out))
	for _, rel := range []string{"lib/wasm/wasm_exec.js", "misc/wasm/wasm_exec.js"} {
		p := filepath.Join(root, rel)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("assemble: wasm_exec.js not found under %s", root)
}

// ModuleRoot finds the folder holding go.mod at or above dir.
func ModuleRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("assemble: no go.mod at or above %s", dir)
		}
	}
}
