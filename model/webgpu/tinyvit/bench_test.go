package tinyvit

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/busam/busam/internal/testutil"
	"github.com/busam/busam/model/encoder"
	"github.com/busam/busam/model/tensor"
	"github.com/busam/busam/model/webgpu"
	"github.com/busam/busam/modelfile"
)

// loadParams reads the converted MobileSAM weights, or, where they are
// absent, draws random ones of the same shapes: speed does not depend on
// the values.
func loadParams(b *testing.B) map[string]*tensor.Tensor {
	path := filepath.Join(testutil.CacheDir(b), "weights", "encoder.safetensors")
	if _, err := os.Stat(path); err != nil {
		b.Logf("no %s: timing random weights", path)
		return randomParams(b, encoder.MobileSAM, 1)
	}
	p, err := modelfile.ReadTensors(path)
	if err != nil {
		b.Fatal(err)
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

// TestProfileForward256 prints where a 256x256 MobileSAM forward pass
// spends its time per kernel (each dispatch timed alone). Run it with
// BUSAM_WEBGPU_PROFILE=1; it asserts nothing.
func TestProfileForward256(t *testing.T) {
	if os.Getenv("BUSAM_WEBGPU_PROFILE") == "" {
		t.Skip("set BUSAM_WEBGPU_PROFILE=1 to profile")
	}
	openDevice(t)
	d, err := webgpu.Open(webgpu.Options{Profile: true})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	p := randomParams(t, encoder.MobileSAM, 1)
	e, err := New(d, encoder.MobileSAM, p)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Release()
	if _, err := e.Forward(randomImage(1, 3, 256, 256)); err != nil {
		t.Fatal(err)
	}
	prof := d.Profile()
	names := make([]string, 0, len(prof))
	var total time.Duration
	for n, kt := range prof {
		names = append(names, n)
		total += kt.Time
	}
	sort.Slice(names, func(i, j int) bool { return prof[names[i]].Time > prof[names[j]].Time })
	for _, n := range names {
		t.Logf("%-10s %4d dispatches %8.1f ms  %5.1f%%", n, prof[n].Dispatches, float64(prof[n].Time.Microseconds())/1000, 100*float64(prof[n].Time)/float64(total))
	}
}
