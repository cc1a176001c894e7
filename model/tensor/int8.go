package tensor

import "fmt"

// Int8 is a weight quantized to int8 per output channel (package quant
// makes and reads them): row r of the weight (all elements sharing index r
// on axis 0) is Q[row] * Scale[r].
// GPU code can upload Q and Scale as they are and dequantize in a shader.
type Int8 struct {
	Shape []int
	Q     []int8
	Scale []float32 // one per output channel, len Shape[0]
}

// DequantizeInto writes Q*Scale into dst (len = numel).
func (t *Int8) DequantizeInto(dst []float32) error {
	if err := t.Check(); err != nil {
		return err
	}
	if len(dst) != len(t.Q) {
		return fmt.Errorf("dequantize: destination holds %d values, tensor %d", len(dst), len(t.Q))
	}
	cols := len(t.Q) / len(t.Scale)
	for r, s := range t.Scale {
		for i := r * cols; i < (r+1)*cols; i++ {
			dst[i] = float32(t.Q[i]) * s
		}
	}
	return nil
}

// Dequantize returns the float32 weight.
func (t *Int8) Dequantize() (*Tensor, error) {
	out := New(t.Shape...)
	if err := t.DequantizeInto(out.Data); err != nil {
		return nil, err
	}
	return out, nil
}

// Check reports a tensor whose shape, values and scales disagree.
func (t *Int8) Check() error {
	if len(t.Shape) == 0 || Numel(t.Shape) != len(t.Q) || len(t.Scale) != t.Shape[0] || t.Shape[0] == 0 {
		return fmt.Errorf("int8 tensor: shape %v, %d values, %d scales do not agree", t.Shape, len(t.Q), len(t.Scale))
	}
	return nil
}
