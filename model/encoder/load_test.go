package encoder

import (
	"crypto/sha256"
	"encoding/hex"
	"os"

	"github.com/busam/busam/model/tensor"
	"github.com/busam/busam/weights/safetensors"
)

// The tests of this package read float weights files themselves: package
// modelfile, the loader, imports this one.

// Load reads a float safetensors encoder file.
func Load(path string) (*Encoder, error) { return LoadWithOverrides(path, nil) }

// LoadWithOverrides is Load with ApplyOverrides, identified as
// modelfile.LoadEncoder identifies it (NewIdentified).
func LoadWithOverrides(path string, over map[string]*tensor.Tensor) (*Encoder, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	f, err := safetensors.Read(path, data)
	if err != nil {
		return nil, err
	}
	p := map[string]*tensor.Tensor{}
	for _, name := range f.Names() {
		if p[name], err = f.Tensor(name); err != nil {
			return nil, err
		}
	}
	if err := ApplyOverrides(p, over); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	return NewIdentified(p, hex.EncodeToString(sum[:]), over)
}
