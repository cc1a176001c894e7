package encoder

import (
	"fmt"
	"image"
	"path/filepath"
	"testing"
	"time"

	"github.com/busam/busam/internal/testutil"
	"github.com/busam/busam/model/tensor"
)

// BenchmarkForward times the encoder with the real weights at the sizes
// the project uses: 1024 (SAM) and 256 (browser tests). cpu-ms/op is the
// process CPU time per forward (all threads).
func BenchmarkForward(b *testing.B) {
	path := testutil.Need(b, filepath.Join(testutil.CacheDir(b), "weights", "encoder.safetensors"), "converted encoder weights")
	enc, err := Load(path)
	if err != nil {
		b.Fatal(err)
	}
	for _, size := range []int{256, 512, 1024} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			x := tensor.New(3, size, size)
			for i := range x.Data {
				x.Data[i] = float32(i%251)/125 - 1
			}
			if _, err := enc.Forward(x); err != nil { // warm the scratch arena
				b.Fatal(err)
			}
			b.ResetTimer()
			cpu0 := processCPU()
			for i := 0; i < b.N; i++ {
				enc.Forward(x)
			}
			b.ReportMetric(float64(enc.FLOPs(size, size))*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			b.ReportMetric(float64(processCPU()-cpu0)/1e6/float64(b.N), "cpu-ms/op")
		})
	}
}

// BenchmarkPreprocess resizes a BUSI-sized grey image to the 1024 input.
func BenchmarkPreprocess(b *testing.B) {
	img := image.NewGray(image.Rect(0, 0, 562, 471))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 31)
	}
	for i := 0; i < b.N; i++ {
		Preprocess(img, DefaultSize)
	}
}

// BenchmarkForwardBackward times one training step of the whole encoder
// (MobileSAM's shape, random weights: no weights file needed): the
// recorded forward and Backward of every parameter. GFLOP/s counts the
// usual 3x the forward's FLOPs (the forward, and the backward's two
// products per forward one); Backward also recomputes each module's
// forward, which is not counted.
func BenchmarkForwardBackward(b *testing.B) {
	p, err := RandomParams(MobileSAM, 1)
	if err != nil {
		b.Fatal(err)
	}
	enc, err := NewWithConfig(MobileSAM, p)
	if err != nil {
		b.Fatal(err)
	}
	for _, size := range []int{256} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			x := tensor.New(3, size, size)
			for i := range x.Data {
				x.Data[i] = float32(i%251)/125 - 1
			}
			var tapeFloats int
			step := func() time.Duration {
				y, tape, err := enc.ForwardRecord(x, Scope{})
				if err != nil {
					b.Fatal(err)
				}
				tapeFloats = tape.Floats()
				t0 := time.Now()
				if _, _, err := tape.Backward(y); err != nil { // dL/dy = y: L = |y|^2 / 2
					b.Fatal(err)
				}
				return time.Since(t0)
			}
			step()
			b.ResetTimer()
			var back time.Duration
			for i := 0; i < b.N; i++ {
				back += step()
			}
			b.ReportMetric(3*float64(enc.FLOPs(size, size))*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			b.ReportMetric(float64(back.Milliseconds())/float64(b.N), "backward-ms/op")
			b.ReportMetric(float64(tapeFloats)*4/(1<<20), "tape-MiB")
		})
	}
}
