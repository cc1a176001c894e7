package quant

import (
	"math/rand"
	"testing"
)

// A layers.3 fc1 weight: the largest linear in the encoder.
func BenchmarkQuantizeInt8(b *testing.B) {
	w := randomTensor(rand.New(rand.NewSource(3)), 1280, 320)
	b.SetBytes(int64(4 * w.Len()))
	for b.Loop() {
		if _, err := QuantizeInt8("fc1.weight", w); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDequantizeInt8(b *testing.B) {
	w := randomTensor(rand.New(rand.NewSource(3)), 1280, 320)
	q, err := QuantizeInt8("fc1.weight", w)
	if err != nil {
		b.Fatal(err)
	}
	dst := make([]float32, w.Len())
	b.SetBytes(int64(w.Len()))
	for b.Loop() {
		q.DequantizeInto(dst)
	}
}
