package encoder

import (
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/busam/busam/internal/testutil"
	"github.com/busam/busam/model/tensor"
)

// TestCPUTime is a private measuring aid (BUSAM_CPUTIME=size): CPU seconds
// per forward, which a loaded shared machine distorts less than wall time.
func TestCPUTime(t *testing.T) {
	s := os.Getenv("BUSAM_CPUTIME")
	if s == "" {
		t.Skip()
	}
	size, _ := strconv.Atoi(s)
	enc, err := Load(filepath.Join(testutil.CacheDir(t), "weights", "encoder.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	x := tensor.New(3, size, size)
	for i := range x.Data {
		x.Data[i] = float32(i%251)/125 - 1
	}
	enc.Forward(x)
	cpu := func() time.Duration {
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	for r := 0; r < 3; r++ {
		c0, w0 := cpu(), time.Now()
		enc.Forward(x)
		t.Logf("size %d: cpu %.0f ms, wall %.0f ms", size, float64(cpu()-c0)/1e6, float64(time.Since(w0))/1e6)
	}
}
