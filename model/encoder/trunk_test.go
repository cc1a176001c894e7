package encoder

import (
	"math/rand/v2"
	"testing"

	"github.com/busam/busam/model/tensor"
	"github.com/busam/busam/weights/safetensors"
)

// The trunk and the neck, run one after the other, are the encoder.
func TestTrunkThenNeckIsForward(t *testing.T) {
	p, err := RandomParams(Tiny, 3)
	if err != nil {
		t.Fatal(err)
	}
	e, err := NewWithConfig(Tiny, p)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	x := tensor.New(Tiny.InChans, 64, 48)
	for i := range x.Data {
		x.Data[i] = float32(r.NormFloat64())
	}
	want, err := e.Forward(x)
	if err != nil {
		t.Fatal(err)
	}
	f, err := e.ForwardTrunk(x)
	if err != nil {
		t.Fatal(err)
	}
	if f.Shape[0] != Tiny.EmbedDims[3] || f.Shape[1] != want.Shape[1] || f.Shape[2] != want.Shape[2] {
		t.Fatalf("trunk shape %v, embedding %v", f.Shape, want.Shape)
	}
	got, err := e.Neck(f)
	if err != nil {
		t.Fatal(err)
	}
	for i := range want.Data {
		if got.Data[i] != want.Data[i] {
			t.Fatalf("value %d: neck(trunk) %g, forward %g", i, got.Data[i], want.Data[i])
		}
	}
	if _, err := e.Neck(tensor.New(Tiny.EmbedDims[3]+1, 4, 4)); err == nil {
		t.Fatal("neck accepted features with the wrong channel count")
	}
	if tr := (Trunk{e}); tr.SHA256() == e.SHA256() || len(tr.SHA256()) != 64 {
		t.Fatalf("trunk hash %q must differ from the encoder's %q", tr.SHA256(), e.SHA256())
	}
}

// A fine-tuned neck changes the encoder's hash but not the trunk's, so the
// trunk features cached for the published encoder serve the tuned one.
func TestOverridesKeepTrunkHash(t *testing.T) {
	p, err := RandomParams(MobileSAM, 5)
	if err != nil {
		t.Fatal(err)
	}
	path := t.TempDir() + "/enc.safetensors"
	var entries []safetensors.Entry
	for name, v := range p {
		entries = append(entries, safetensors.F32Entry(name, v))
	}
	if err := safetensors.WriteFile(path, entries, nil); err != nil {
		t.Fatal(err)
	}
	base, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	neck := p["neck.2.weight"]
	tuned := &tensor.Tensor{Shape: neck.Shape, Data: append([]float32(nil), neck.Data...)}
	tuned.Data[0] += 0.5
	e, err := LoadWithOverrides(path, map[string]*tensor.Tensor{"neck.2.weight": tuned})
	if err != nil {
		t.Fatal(err)
	}
	if e.SHA256() == base.SHA256() {
		t.Error("a tuned neck kept the encoder's hash")
	}
	if (Trunk{e}).SHA256() != (Trunk{base}).SHA256() {
		t.Error("a tuned neck changed the trunk's hash")
	}
	if e.Params.Neck.Conv2.Weight.Data[0] == base.Params.Neck.Conv2.Weight.Data[0] {
		t.Error("the override was not applied")
	}
	for _, bad := range []map[string]*tensor.Tensor{
		{"neck.9.weight": tuned},
		{"neck.0.weight": tuned},
	} {
		if _, err := LoadWithOverrides(path, bad); err == nil {
			t.Errorf("override %v accepted", bad)
		}
	}
}
