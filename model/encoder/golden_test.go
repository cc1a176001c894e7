package encoder

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/busam/busam/internal/testutil"
	"github.com/busam/busam/model/tensor"
)

// goldenIndex mirrors what tools/golden and tools/ort/golden.mjs write.
type goldenIndex struct {
	Entries []struct {
		Name   string `json:"name"`
		Image  string `json:"image"`
		Shape  []int  `json:"shape"`
		Input  string `json:"input"`
		Output string `json:"output"`
	} `json:"entries"`
}

type ortIndex struct {
	OrtVersion string `json:"ortVersion"`
	Entries    map[string]struct {
		Shape []int `json:"shape"`
	} `json:"entries"`
}

// TestGoldenVersusONNXRuntime compares the Go encoder on real BUSI images
// with ONNX Runtime running the original ONNX graph on the same inputs
// (prepared by tools/ort/golden.sh).
func TestGoldenVersusONNXRuntime(t *testing.T) {
	if testing.Short() {
		t.Skip("full-size encoder runs take seconds each")
	}
	cache := testutil.CacheDir(t)
	weights := testutil.Need(t, filepath.Join(cache, "weights", "encoder.safetensors"), "converted encoder weights")
	dir := filepath.Join(cache, "golden")
	testutil.Need(t, filepath.Join(dir, "index.json"), "golden inputs (tools/ort/golden.sh)")
	testutil.Need(t, filepath.Join(dir, "ort.json"), "golden ORT outputs (tools/ort/golden.sh)")

	var idx goldenIndex
	var ortIdx ortIndex
	readJSON(t, filepath.Join(dir, "index.json"), &idx)
	readJSON(t, filepath.Join(dir, "ort.json"), &ortIdx)
	full, small := 0, 0
	for _, e := range idx.Entries {
		if len(e.Shape) == 3 && e.Shape[1] == DefaultSize {
			full++
		} else {
			small++
		}
	}
	if full < 3 || small < 1 {
		t.Fatalf("golden index lists %d images at %d and %d at other sizes, want at least 3 and 1", full, DefaultSize, small)
	}
	enc, err := Load(weights)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range idx.Entries {
		t.Run(e.Name, func(t *testing.T) {
			ref, ok := ortIdx.Entries[e.Name]
			if !ok {
				t.Fatalf("no ORT output for %s in ort.json", e.Name)
			}
			x := readF32(t, filepath.Join(dir, e.Input), e.Shape)
			want := readF32(t, filepath.Join(dir, e.Output), ref.Shape)
			got, err := enc.Forward(x)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got.Shape) != fmt.Sprint(want.Shape) {
				t.Fatalf("output shape %v, ORT %v", got.Shape, want.Shape)
			}
			cos, maxAbs := compare(got.Data, want.Data)
			t.Logf("%s (%s): cosine %.8f, max abs error %.3g", e.Name, e.Image, cos, maxAbs)
			if !(cos >= 0.9999) || !(maxAbs <= 1e-3) {
				t.Errorf("cosine %.8f (want >= 0.9999), max abs error %.3g (want <= 1e-3)", cos, maxAbs)
			}
		})
	}
}

// compare returns the cosine similarity and the largest absolute difference.
func compare(a, b []float32) (cos, maxAbs float64) {
	var ab, aa, bb float64
	for i := range a {
		x, y := float64(a[i]), float64(b[i])
		ab += x * y
		aa += x * x
		bb += y * y
		if d := math.Abs(x - y); d > maxAbs || math.IsNaN(d) {
			maxAbs = d
		}
	}
	return ab / math.Sqrt(aa*bb), maxAbs
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func readF32(t *testing.T, path string, shape []int) *tensor.Tensor {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 4*tensor.Numel(shape) {
		t.Fatalf("%s: %d bytes, shape %v needs %d", path, len(b), shape, 4*tensor.Numel(shape))
	}
	x := tensor.New(shape...)
	for i := range x.Data {
		x.Data[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return x
}
