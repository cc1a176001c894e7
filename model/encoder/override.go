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

// NewIdentified is New for the tensors p of a weights file whose sha256
// is fileSHA, with the overrides over already applied to p
// (ApplyOverrides): its SHA256 is OverriddenSHA256(fileSHA, over), and
// its trunk's (Trunk.SHA256) leaves out overrides of the neck, which the
// trunk never runs. Package modelfile reads the files.
func NewIdentified(p map[string]*tensor.Tensor, fileSHA string, over map[string]*tensor.Tensor) (*Encoder, error) {
	e, err := New(p)
	if err != nil {
		return nil, err
	}
	e.sha = OverriddenSHA256(fileSHA, over)
	if len(over) > 0 {
		trunkOver := map[string]*tensor.Tensor{}
		for name, t := range over {
			if !strings.HasPrefix(name, "neck.") {
				trunkOver[name] = t
			}
		}
		e.trunkSHA = trunkSHA256(OverriddenSHA256(fileSHA, trunkOver))
	}
	return e, nil
}
