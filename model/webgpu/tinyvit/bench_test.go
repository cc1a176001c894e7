package tinyvit

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/busam/busam/internal/testutil"
	"github.com/busam/busam/model/encoder"
	"github.com/busam/busam/model/tensor"
	"github.com/busam/busam/model/webgpu"
	"github.com/busam/busam/weights/safetensors"
)

// loadParams reads the converted MobileSAM weights, or, where they are
// absent, draws random ones of the same shapes: speed does not depend on
// the values.
func loadParams(b *testing.B) map[string]*tensor.Tensor {
	path := filepath.Join(testutil.CacheDir(b), "weights", "encoder.safetensors")
	if _, err := os.Stat(path); err != nil {
		b.Logf("no %s: timing random weights", path)
		return randomParams(encoder.MobileSAM, 1)
	}
	f, err := safetensors.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	p := map[string]*tensor.Tensor{}
	for _, name := range f.Names() {
		if p[name], err = f.Tensor(name); err != nil {
			b.Fatal(err)
		}
	}
	return p
}

// BenchmarkForward times the MobileSAM encoder on WebGPU (upload, every
// dispatch, read back) and on the CPU encoder, same input, same run. The
// 1024x1024 size is skipped on software adapters, whose submissions fail
// past a few seconds.
func BenchmarkForward(b *testing.B) {
	p := loadParams(b)
	d, err := webgpu.Open(webgpu.Options{MaxDispatches: 8})
	if err != nil {
		b.Skip("no WebGPU device: ", err)
	}
	defer d.Close()
	b.Logf("adapter: %s", d.Description())
	gpu, err := New(d, encoder.MobileSAM, p)
	if err != nil {
		b.Fatal(err)
	}
	defer gpu.Release()
	cpuEnc, err := encoder.New(p)
	if err != nil {
		b.Fatal(err)
	}
	for _, size := range []int{256, 1024} {
		x := randomImage(3, 3, size, size)
		b.Run(fmt.Sprintf("webgpu/%d", size), func(b *testing.B) {
			if size > 256 && d.Software() {
				b.Skip("software adapter")
			}
			if _, err := gpu.Forward(x); err != nil { // warm-up: compiles pipelines
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := gpu.Forward(x); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/image")
		})
		b.Run(fmt.Sprintf("cpu/%d", size), func(b *testing.B) {
			start := time.Now()
			for i := 0; i < b.N; i++ {
				if _, err := cpuEnc.Forward(x); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(time.Since(start).Milliseconds())/float64(b.N), "ms/image")
		})
	}
}
