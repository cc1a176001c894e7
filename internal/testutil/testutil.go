// Package testutil holds what tests share: finding the repository root,
// the cache of fetched weights and the BUSI data in ../shared/data, and
// comparing float32 kernel outputs with float64 references.
package testutil

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// RepoRoot returns the directory holding go.mod.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("testutil: go.mod not found above the test directory")
		}
		dir = parent
	}
}

// CacheDir is where fetched and converted weights and other generated test
// inputs live: $BUSAM_CACHE, else <repo>/.cache.
func CacheDir(t testing.TB) string {
	if d := os.Getenv("BUSAM_CACHE"); d != "" {
		return d
	}
	return filepath.Join(RepoRoot(t), ".cache")
}

// DataDir is the BUSI dataset folder: $BUSAM_DATA, else <repo>/../shared/data/Dataset_BUSI_with_GT.
func DataDir(t testing.TB) string {
	if d := os.Getenv("BUSAM_DATA"); d != "" {
		return d
	}
	return filepath.Join(RepoRoot(t), "..", "shared", "data", "Dataset_BUSI_with_GT")
}

// BUSBRADir is the BUS-BRA dataset folder: $BUSAM_BUSBRA, else <repo>/../shared/data/BUS-BRA.
func BUSBRADir(t testing.TB) string {
	if d := os.Getenv("BUSAM_BUSBRA"); d != "" {
		return d
	}
	return filepath.Join(RepoRoot(t), "..", "shared", "data", "BUS-BRA")
}

// Need returns path if it exists. A missing file fails the test under CI
// (the test command always prepares it there) and skips it elsewhere, so a
// developer without the weights can still run the fast tests.
func Need(t testing.TB, path, what string) string {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s missing at %s (the test command prepares it): %v", what, path, err)
		}
		t.Skipf("%s missing at %s; run ./test.sh or `busam weights` first", what, path)
	}
	return path
}

// RandomInput returns n values drawn uniformly from [-1, 1).
func RandomInput(rng *rand.Rand, n int) []float64 {
	x := make([]float64, n)
	for i := range x {
		x[i] = 2*rng.Float64() - 1
	}
	return x
}

// To32 rounds x to float32.
func To32(x []float64) []float32 {
	y := make([]float32, len(x))
	for i, v := range x {
		y[i] = float32(v)
	}
	return y
}

// AssertClose fails t unless |got-want| <= tol*(1+|want|) everywhere.
func AssertClose(t testing.TB, what string, got []float32, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	worst, at := 0.0, 0
	for i := range want {
		if e := math.Abs(float64(got[i])-want[i]) / (1 + math.Abs(want[i])); e > worst || math.IsNaN(e) {
			worst, at = e, i
			if math.IsNaN(e) {
				break
			}
		}
	}
	if !(worst <= tol) {
		t.Fatalf("%s: error %.3g at %d (got %v, want %v), tolerance %g", what, worst, at, got[at], want[at], tol)
	}
}

// LayerNorm is the float64 reference of torch.nn.LayerNorm: each of the n
// rows of c values normalized (biased variance), scaled by w, shifted by b.
func LayerNorm(x []float64, n, c int, w, b []float32, eps float64) []float64 {
	out := make([]float64, len(x))
	for r := 0; r < n; r++ {
		row := x[r*c : (r+1)*c]
		mean, sq := 0.0, 0.0
		for _, v := range row {
			mean += v
		}
		mean /= float64(c)
		for _, v := range row {
			sq += (v - mean) * (v - mean)
		}
		inv := 1 / math.Sqrt(sq/float64(c)+eps)
		for i, v := range row {
			out[r*c+i] = (v-mean)*inv*float64(w[i]) + float64(b[i])
		}
	}
	return out
}
