package modelfile

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/busam/busam/model/encoder"
	"github.com/busam/busam/model/heads"
	"github.com/busam/busam/model/tensor"
	"github.com/busam/busam/quant"
	"github.com/busam/busam/weights/safetensors"
)

func writeEncoder(t *testing.T, dir string) (string, map[string]*tensor.Tensor) {
	t.Helper()
	p, err := encoder.RandomParams(encoder.MobileSAM, 3)
	if err != nil {
		t.Fatal(err)
	}
	var entries []safetensors.Entry
	for name, v := range p {
		entries = append(entries, safetensors.F32Entry(name, v))
	}
	path := filepath.Join(dir, "encoder.safetensors")
	if err := safetensors.WriteFile(path, entries, nil); err != nil {
		t.Fatal(err)
	}
	return path, p
}

func TestLoadEncoderOverrides(t *testing.T) {
	path, p := writeEncoder(t, t.TempDir())
	data, _ := os.ReadFile(path)
	sum := sha256.Sum256(data)
	base, err := LoadEncoder(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if base.SHA256() != hex.EncodeToString(sum[:]) {
		t.Errorf("SHA256 %s, want the file's hash", base.SHA256())
	}
	tuned := p["neck.2.weight"].Clone()
	tuned.Data[0] += 1
	over := map[string]*tensor.Tensor{"neck.2.weight": tuned}
	e, err := LoadEncoder(path, over)
	if err != nil {
		t.Fatal(err)
	}
	if e.SHA256() != encoder.OverriddenSHA256(base.SHA256(), over) || e.SHA256() == base.SHA256() {
		t.Errorf("tuned SHA256 %s", e.SHA256())
	}
	if (encoder.Trunk{Encoder: e}).SHA256() != (encoder.Trunk{Encoder: base}).SHA256() {
		t.Error("a tuned neck changed the trunk's hash")
	}
	if e.Params.Neck.Conv2.Weight.Data[0] != tuned.Data[0] {
		t.Error("override not applied")
	}
	if _, err := LoadEncoder(path, map[string]*tensor.Tensor{"neck.9.weight": tuned}); err == nil || !strings.Contains(err.Error(), "neck.9.weight") {
		t.Errorf("unknown override: %v", err)
	}
}

// An int8 file keeps its int8 tensors for the GPU, except the overridden
// ones; heads whose overrides misfit are refused naming the heads file.
func TestInt8AndHeads(t *testing.T) {
	dir := t.TempDir()
	path, p := writeEncoder(t, dir)
	q := filepath.Join(dir, "encoder.int8.safetensors")
	if _, err := quant.QuantizeFile(path, q, quant.Options{Mode: quant.Int8}); err != nil {
		t.Fatal(err)
	}
	e, err := ReadEncoder(q)
	if err != nil {
		t.Fatal(err)
	}
	all, err := e.Int8()
	if err != nil || len(all) == 0 {
		t.Fatalf("int8 tensors %d, %v", len(all), err)
	}
	var name string
	for n := range all {
		name = n
		break
	}
	if err := e.Override(map[string]*tensor.Tensor{name: p[name]}); err != nil {
		t.Fatal(err)
	}
	rest, _ := e.Int8()
	if len(rest) != len(all)-1 || rest[name] != nil {
		t.Errorf("%d int8 tensors after overriding %s, want %d without it", len(rest), name, len(all)-1)
	}
	if f, _ := ReadEncoder(path); f == nil {
		t.Fatal("float file not read")
	} else if q, _ := f.Int8(); q != nil {
		t.Errorf("a float file gave %d int8 tensors", len(q))
	}

	h, err := heads.New(heads.DefaultConfig("conv"))
	if err != nil {
		t.Fatal(err)
	}
	h.EncoderOverrides = map[string]*tensor.Tensor{"neck.0.weight": tensor.New(320, 256, 1, 1)}
	hp := filepath.Join(dir, "heads.safetensors")
	if err := h.Save(hp); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path, hp); err == nil || !strings.Contains(err.Error(), hp) || !strings.Contains(err.Error(), "neck.0.weight") {
		t.Errorf("misfit heads: %v", err)
	}
}
