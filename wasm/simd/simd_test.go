package simd

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestModuleMatchesSource recompiles gemm.wat with wabt and compares the
// result with the committed gemm.wasm (skipped where wat2wasm is missing).
func TestModuleMatchesSource(t *testing.T) {
	wat2wasm, err := exec.LookPath("wat2wasm")
	if err != nil {
		t.Skip("wat2wasm (Debian package wabt) not installed")
	}
	out := filepath.Join(t.TempDir(), "gemm.wasm")
	if msg, err := exec.Command(wat2wasm, "gemm.wat", "-o", out).CombinedOutput(); err != nil {
		t.Fatalf("wat2wasm gemm.wat: %v\n%s", err, msg)
	}
	want, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(GemmModule, want) {
		t.Fatalf("gemm.wasm (%d bytes) is stale: wat2wasm gemm.wat gives %d bytes; run: wat2wasm wasm/simd/gemm.wat -o wasm/simd/gemm.wasm", len(GemmModule), len(want))
	}
}

// TestModuleShape checks, without wabt, that the embedded bytes are a
// WebAssembly module that imports env.memory and exports "tile".
func TestModuleShape(t *testing.T) {
	m := GemmModule
	if len(m) < 8 || !bytes.Equal(m[:4], []byte("\x00asm")) || binary.LittleEndian.Uint32(m[4:8]) != 1 {
		t.Fatalf("gemm.wasm does not start with the wasm magic and version 1: % x", m[:min(8, len(m))])
	}
	for _, s := range []string{"env", "memory", "tile"} {
		if !bytes.Contains(m, []byte(s)) {
			t.Errorf("gemm.wasm has no %q (import env.memory, export tile expected)", s)
		}
	}
}
