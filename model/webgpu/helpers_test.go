package webgpu

import (
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"sync"
	"testing"
)

var (
	devOnce sync.Once
	dev     *Device
	devErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if dev != nil {
		dev.Close()
	}
	os.Exit(code)
}

// testDevice opens one shared device: natively on a Vulkan adapter (Mesa
// lavapipe in CI), in the browser (GOOS=js) on whatever navigator.gpu
// gives. Without one the test is skipped, or fails under CI, whose script
// installs the driver: the GL fallback is ~100x slower and not what the
// browser runs.
func testDevice(t testing.TB) *Device {
	t.Helper()
	devOnce.Do(func() {
		if os.Getenv("XDG_RUNTIME_DIR") == "" {
			os.Setenv("XDG_RUNTIME_DIR", os.TempDir())
		}
		dev, devErr = Open(Options{})
	})
	missing := ""
	switch {
	case devErr != nil:
		missing = "no WebGPU device: " + devErr.Error()
	case runtime.GOOS != "js" && dev.Backend() != "vulkan":
		missing = "WebGPU adapter is " + dev.Description() + ", not Vulkan (install mesa-vulkan-drivers libvulkan1)"
	}
	if missing != "" {
		if os.Getenv("CI") != "" {
			t.Fatal(missing)
		}
		t.Skip(missing)
	}
	return dev
}

func randSlice(r *rand.Rand, n int, scale float32) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = (r.Float32()*2 - 1) * scale
	}
	return s
}

// maxRelErr is max|got-want| / max|want|: the error relative to the
// output's magnitude, the measure the bounds in these tests use.
func maxRelErr(got, want []float32) float64 {
	var diff, mag float64
	for i := range want {
		diff = math.Max(diff, math.Abs(float64(got[i])-float64(want[i])))
		mag = math.Max(mag, math.Abs(float64(want[i])))
	}
	if mag == 0 {
		return diff
	}
	return diff / mag
}

func upload(t testing.TB, d *Device, data []float32, shape ...int) *Buffer {
	t.Helper()
	b, err := d.UploadFloats(data, shape...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func zeros(t testing.TB, d *Device, n int) *Buffer {
	t.Helper()
	b, err := d.NewBuffer(n)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func read(t testing.TB, d *Device, b *Buffer) []float32 {
	t.Helper()
	v, err := d.Read(b)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func check(t testing.TB, what string, got, want []float32, bound float64) {
	t.Helper()
	if len(got) < len(want) {
		t.Fatalf("%s: got %d values, want %d", what, len(got), len(want))
	}
	if e := maxRelErr(got[:len(want)], want); !(e <= bound) {
		t.Errorf("%s: max relative error %.3g > %.3g", what, e, bound)
	}
}

// geluRef is x*Phi(x) in float64, through Erfc: 1+Erf(x/sqrt2) cancels to
// 0 below x ~ -8 and loses all precision in the tail.
func geluRef(x float32) float32 {
	v := float64(x)
	return float32(0.5 * v * math.Erfc(-v/math.Sqrt2))
}

func sigmoidRef(x float32) float32 { return float32(1 / (1 + math.Exp(-float64(x)))) }

func actRef(x float32, act Activation) float32 {
	switch act {
	case ActGELU:
		return geluRef(x)
	case ActSigmoid:
		return sigmoidRef(x)
	case ActReLU:
		return max(x, 0)
	case ActGELUTanh:
		v := float64(x)
		return float32(v / (1 + math.Exp(-2*math.Sqrt(2/math.Pi)*(v+0.044715*v*v*v))))
	}
	return x
}
