package quant

import (
	"fmt"
	"math"

	"github.com/busam/busam/model/tensor"
)

// Int8Tensor is a weight quantized per output channel: row r of the
// weight (all elements sharing index r on axis 0) is Q[row] * Scale[r].
// GPU code can upload Q and Scale as they are and dequantize in a shader.
type Int8Tensor struct {
	Shape []int
	Q     []int8
	Scale []float32 // one per output channel, len Shape[0]
}

// QuantizeInt8 quantizes w symmetrically per output channel: scale =
// max|row| / 127 and q = round(w / scale), so |w - q*scale| <= scale/2. An
// all-zero row gets scale 0. Non-finite weights are refused.
func QuantizeInt8(name string, w *tensor.Tensor) (*Int8Tensor, error) {
	if len(w.Shape) < 1 || w.Shape[0] == 0 || w.Len() == 0 {
		return nil, fmt.Errorf("quantize %s: empty tensor %v", name, w.Shape)
	}
	rows := w.Shape[0]
	cols := w.Len() / rows
	out := &Int8Tensor{Shape: append([]int(nil), w.Shape...), Q: make([]int8, w.Len()), Scale: make([]float32, rows)}
	for r := 0; r < rows; r++ {
		row := w.Data[r*cols : (r+1)*cols]
		var maxAbs float32
		for i, v := range row {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return nil, fmt.Errorf("quantize %s: non-finite value %v at row %d, column %d", name, v, r, i)
			}
			if a := float32(math.Abs(float64(v))); a > maxAbs {
				maxAbs = a
			}
		}
		scale := maxAbs / 127
		if scale == 0 {
			continue // an all-zero (or all-subnormal) row: scale 0, q 0
		}
		out.Scale[r] = scale
		q := out.Q[r*cols : (r+1)*cols]
		for i, v := range row {
			// Divide in float64 so rounding sees the exact quotient.
			x := math.Round(float64(v) / float64(scale))
			q[i] = int8(max(-127, min(127, x)))
		}
	}
	return out, nil
}

// DequantizeInto writes Q*Scale into dst (len = numel).
func (t *Int8Tensor) DequantizeInto(dst []float32) error {
	if err := t.check(); err != nil {
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
func (t *Int8Tensor) Dequantize() (*tensor.Tensor, error) {
	out := tensor.New(t.Shape...)
	if err := t.DequantizeInto(out.Data); err != nil {
		return nil, err
	}
	return out, nil
}

func (t *Int8Tensor) check() error {
	if len(t.Shape) == 0 || tensor.Numel(t.Shape) != len(t.Q) || len(t.Scale) != t.Shape[0] || t.Shape[0] == 0 {
		return fmt.Errorf("int8 tensor: shape %v, %d values, %d scales do not agree", t.Shape, len(t.Q), len(t.Scale))
	}
	return nil
}
