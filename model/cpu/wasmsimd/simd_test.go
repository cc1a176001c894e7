package wasmsimd

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

var modules = []struct {
	name     string
	embedded []byte
	exports  []string
}{
	{"gemm", GemmModule, []string{"tile"}},
	{"ops", OpsModule, []string{"gelu", "softmax", "depthwise"}},
}

// TestModulesMatchSources recompiles each .wat with wabt and compares the
// result with the committed (and embedded) .wasm; skipped where wat2wasm
// is missing.
func TestModulesMatchSources(t *testing.T) {
	wat2wasm, err := exec.LookPath("wat2wasm")
	if err != nil {
		t.Skip("wat2wasm (Debian package wabt) not installed")
	}
	for _, m := range modules {
		t.Run(m.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), m.name+".wasm")
			if msg, err := exec.Command(wat2wasm, m.name+".wat", "-o", out).CombinedOutput(); err != nil {
				t.Fatalf("wat2wasm %s.wat: %v\n%s", m.name, err, msg)
			}
			want, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(m.embedded, want) {
				t.Fatalf("%s.wasm (%d bytes) is stale: wat2wasm %s.wat gives %d bytes; run: wat2wasm model/cpu/wasmsimd/%s.wat -o model/cpu/wasmsimd/%s.wasm",
					m.name, len(m.embedded), m.name, len(want), m.name, m.name)
			}
		})
	}
}

// TestModuleShapes checks, without wabt, that the embedded bytes are
// WebAssembly modules that import env.memory and have their exports.
func TestModuleShapes(t *testing.T) {
	for _, m := range modules {
		b := m.embedded
		if len(b) < 8 || !bytes.Equal(b[:4], []byte("\x00asm")) || binary.LittleEndian.Uint32(b[4:8]) != 1 {
			t.Errorf("%s.wasm does not start with the wasm magic and version 1: % x", m.name, b[:min(8, len(b))])
			continue
		}
		for _, s := range append([]string{"env", "memory"}, m.exports...) {
			if !bytes.Contains(b, []byte(s)) {
				t.Errorf("%s.wasm has no %q", m.name, s)
			}
		}
	}
}
