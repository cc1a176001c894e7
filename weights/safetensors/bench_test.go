package safetensors

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/busam/busam/internal/testutil"
)

// BenchmarkReadEncoder parses and validates the converted encoder and
// decodes every tensor to float32 (what modelfile.ReadTensors does).
func BenchmarkReadEncoder(b *testing.B) {
	path := testutil.Need(b, filepath.Join(testutil.CacheDir(b), "weights", "encoder.safetensors"), "converted encoder.safetensors")
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		f, err := Read(path, data)
		if err != nil {
			b.Fatal(err)
		}
		for _, name := range f.Names() {
			if _, err := f.Tensor(name); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkFloat32ToFloat16(b *testing.B) {
	src := make([]float32, 1<<16)
	for i := range src {
		src[i] = float32(i-32768) * 0.001
	}
	b.SetBytes(int64(4 * len(src)))
	for b.Loop() {
		EncodeF16(src)
	}
}

func BenchmarkFloat16ToFloat32(b *testing.B) {
	src := EncodeF16(make([]float32, 1<<16))
	dst := make([]float32, 1<<16)
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		DecodeF16(dst, src)
	}
}
