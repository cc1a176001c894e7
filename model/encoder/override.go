package encoder

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/busam/busam/model/tensor"
)

// ApplyOverrides replaces tensors of p with the same-named tensors of over
// (a fine-tuned neck shipped in a heads file). Every override must name a
// tensor p has, with the same shape: a mismatch means the heads were
// trained on another encoder, and is an error rather than a silent mix.
func ApplyOverrides(p, over map[string]*tensor.Tensor) error {
	for _, name := range slices.Sorted(maps.Keys(over)) {
		t, old := over[name], p[name]
		if old == nil {
			return fmt.Errorf("encoder: override %s names no encoder tensor", name)
		}
		if t == nil || !slices.Equal(t.Shape, old.Shape) || len(t.Data) != tensor.Numel(t.Shape) {
			shape := []int(nil)
			if t != nil {
				shape = t.Shape
			}
			return fmt.Errorf("encoder: override %s has shape %v, the encoder's is %v", name, shape, old.Shape)
		}
		p[name] = t
	}
	return nil
}

// OverriddenSHA256 identifies an encoder file with overrides applied:
// the file's hash when there are none, else sha256(file hash + ":" + the
// overrides' hash), so caches never mix embeddings of the two.
func OverriddenSHA256(fileSHA string, over map[string]*tensor.Tensor) string {
	if len(over) == 0 {
		return fileSHA
	}
	s := sha256.Sum256([]byte(fileSHA + ":" + paramsSHA256(over)))
	return hex.EncodeToString(s[:])
}

// LoadWithOverrides is Load with ApplyOverrides; its SHA256 is
// OverriddenSHA256 of the file's hash.
func LoadWithOverrides(path string, over map[string]*tensor.Tensor) (*Encoder, error) {
	p, err := ReadTensors(path)
	if err != nil {
		return nil, err
	}
	if err := ApplyOverrides(p, over); err != nil {
		return nil, fmt.Errorf("%w (applying the heads' overrides to %s)", err, path)
	}
	e, err := New(p)
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, path)
	}
	sum, err := fileSHA256(path)
	if err != nil {
		return nil, err
	}
	e.sha = OverriddenSHA256(sum, over)
	if len(over) > 0 {
		trunkOver := map[string]*tensor.Tensor{}
		for name, t := range over {
			if !strings.HasPrefix(name, "neck.") {
				trunkOver[name] = t
			}
		}
		e.trunkSHA = trunkSHA256(OverriddenSHA256(sum, trunkOver))
	}
	return e, nil
}
