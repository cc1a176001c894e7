package heads

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/busam/busam/metrics"
	"github.com/busam/busam/weights/safetensors"
)

// The context is the mean over the grid of the embedding and the first
// decoder block's features: for an embedding alone it must equal the
// embedding's channel means.
func TestOutputContext(t *testing.T) {
	m, _ := New(tinyConfig("conv"))
	rng := rand.New(rand.NewPCG(3, 4))
	in := Input{Embedding: randTensor(rng, 6, 3, 2)}
	out, err := m.Predict(in)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Context) != 6+4 {
		t.Fatalf("context of %d values, want 10", len(out.Context))
	}
	for c := range 6 {
		var s float64
		for _, v := range in.Embedding.Data[c*6 : (c+1)*6] {
			s += float64(v)
		}
		if math.Abs(s/6-float64(out.Context[c])) > 1e-6 {
			t.Errorf("context[%d] = %v, the embedding's mean is %v", c, out.Context[c], s/6)
		}
	}
}

// A typicality model saved with the heads comes back exactly (float32
// tensors), gives the same distances, and a tampered one is refused,
// naming the file.
func TestTypicalityInHeadsFile(t *testing.T) {
	m, _ := New(tinyConfig("conv"))
	rng := rand.New(rand.NewPCG(5, 6))
	x := make([][]float64, 50)
	for i := range x {
		x[i] = make([]float64, 10)
		for j := range x[i] {
			x[i][j] = rng.NormFloat64() * float64(j+1)
		}
	}
	g, err := metrics.FitGaussian(x, 3)
	if err != nil {
		t.Fatal(err)
	}
	m.Typical = Typicality{Gaussian: g, Warn: 2, Refuse: 8, FittedOn: "train", ValWarnShare: 0.01}
	path := filepath.Join(t.TempDir(), "heads.safetensors")
	if err := m.Save(path); err != nil {
		t.Fatal(err)
	}
	back, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	tb := back.Typicality()
	if tb.Warn != 2 || tb.Refuse != 8 || tb.FittedOn != "train" || len(tb.Gaussian.Components) != 3 {
		t.Fatalf("typicality back %+v", tb)
	}
	v := make([]float32, 10)
	for j := range v {
		v[j] = float32(x[0][j]) + 3
	}
	if a, b := m.Typical.Distance(v), tb.Distance(v); math.Abs(a-b) > 1e-4*a {
		t.Errorf("distance %v after the round trip, %v before", b, a)
	}
	if d := tb.Distance(v[:9]); !math.IsNaN(d) {
		t.Errorf("a context of the wrong length gave distance %v", d)
	}
	if d := (Typicality{}).Distance(v); !math.IsNaN(d) {
		t.Errorf("no model gave distance %v", d)
	}
	// thresholds out of order are refused on saving
	bad := *m
	bad.Typical.Refuse = 1
	if err := bad.Save(filepath.Join(t.TempDir(), "x.safetensors")); err == nil {
		t.Error("refuse < warn was saved")
	}
	// a file whose metadata names a typicality model without its tensors
	f, err := safetensors.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var entries []safetensors.Entry
	for _, n := range f.Names() {
		if n == typicalityPrefix+"variances" {
			continue
		}
		tt, _ := f.Tensor(n)
		entries = append(entries, safetensors.F32Entry(n, tt))
	}
	tampered := filepath.Join(t.TempDir(), "tampered.safetensors")
	if err := safetensors.WriteFile(tampered, entries, f.Metadata()); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(tampered); err == nil || !strings.Contains(err.Error(), "tampered.safetensors") || !strings.Contains(err.Error(), "typicality") {
		t.Errorf("tampered typicality: %v", err)
	}
}
