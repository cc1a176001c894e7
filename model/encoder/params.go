package encoder

import (
	"fmt"

	"github.com/busam/busam/model/tensor"
)

// params looks up the encoder's tensors by PyTorch module path and checks
// their sizes, so a wrong or truncated weights file is an error naming the
// tensor, never an index panic later.
type params map[string]*tensor.Tensor

// get returns the data of name, which must hold exactly the product of
// shape values. Only the element count is checked: converters disagree on
// singleton dimensions (LayerNorm2d weights as [256] or [256,1,1]).
func (p params) get(name string, shape ...int) ([]float32, error) {
	t, ok := p[name]
	if !ok || t == nil {
		return nil, fmt.Errorf("encoder: missing tensor %s", name)
	}
	if want := tensor.Numel(shape); len(t.Data) != want || tensor.Numel(t.Shape) != want {
		return nil, fmt.Errorf("encoder: tensor %s has shape %v, want %v", name, t.Shape, shape)
	}
	return t.Data, nil
}

// loader collects the first error of a series of lookups, so that
// constructors read as a list of tensors rather than a ladder of ifs.
type loader struct {
	p   params
	err error
}

func (l *loader) get(name string, shape ...int) []float32 {
	if l.err != nil {
		return nil
	}
	d, err := l.p.get(name, shape...)
	if err != nil {
		l.err = err
	}
	return d
}
