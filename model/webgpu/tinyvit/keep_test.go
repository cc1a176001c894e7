package tinyvit

import (
	"path/filepath"
	"regexp"
	"runtime"
	"testing"

	"github.com/busam/busam/model/encoder"
	"github.com/busam/busam/modelfile"
	"github.com/busam/busam/quant"
	"github.com/busam/busam/weights/safetensors"
)

// TestInt8KeptLayers: a mixed-precision file (busam quantize --keep) keeps
// some token linears in fp16; NewInt8 must upload those as float, not ask
// for int8 tensors the file does not have, and still equal the CPU encoder
// on the file's weights.
func TestInt8KeptLayers(t *testing.T) {
	if runtime.GOOS == "js" {
		t.Skip("native only: quantizing goes through files")
	}
	d := openDevice(t)
	dir := t.TempDir()
	var entries []safetensors.Entry
	for name, v := range randomParams(t, tiny, 9) {
		entries = append(entries, safetensors.F32Entry(name, v))
	}
	in, out := filepath.Join(dir, "f32.safetensors"), filepath.Join(dir, "mixed.safetensors")
	if err := safetensors.WriteFile(in, entries, nil); err != nil {
		t.Fatal(err)
	}
	keep := regexp.MustCompile(`^layers\.1\.blocks\.0\.mlp\.|^neck\.`)
	if _, err := quant.QuantizeFile(in, out, quant.Options{Mode: quant.Int8, MinNumel: 16, Keep: keep, KeepReason: "test"}); err != nil {
		t.Fatal(err)
	}
	m, err := modelfile.ReadEncoder(out)
	if err != nil {
		t.Fatal(err)
	}
	cpuEnc, err := encoder.NewWithConfig(tiny, m.Tensors)
	if err != nil {
		t.Fatal(err)
	}
	gpuEnc, err := NewInt8(d, tiny, m.Tensors, int8s(t, m))
	if err != nil {
		t.Fatal(err)
	}
	defer gpuEnc.Release()
	blocks := tiny.Depths[1] + tiny.Depths[2] + tiny.Depths[3]
	if len(gpuEnc.q) != 4*blocks-2 {
		t.Errorf("%d int8 weights on the device, want %d: all token linears but the 2 kept (fc1, fc2)", len(gpuEnc.q), 4*blocks-2)
	}
	for wt := range gpuEnc.q {
		if keep.MatchString(wt.Name) {
			t.Errorf("kept layer %s is int8 on the device", wt.Name)
		}
	}
	x := randomImage(11, 3, 45, 29)
	_, _, cos, rel := forwardBoth(t, gpuEnc, cpuEnc, x)
	t.Logf("mixed int8/fp16 45x29: cosine %.8f, max relative error %.3g", cos, rel)
	if cos < 0.99999 || rel > 1e-4 {
		t.Errorf("cosine %.8f, max relative error %.3g", cos, rel)
	}
}
