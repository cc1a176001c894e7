package quant

import (
	"fmt"
	"math"

	"github.com/busam/busam/model/tensor"
)

// QuantizeInt8 quantizes w symmetrically per output channel: scale =
// max|row| / 127 and q = round(w / scale), so |w - q*scale| <= scale/2. An
// all-zero row gets scale 0. Non-finite weights are refused.
func QuantizeInt8(name string, w *tensor.Tensor) (*tensor.Int8, error) {
	if len(w.Shape) < 1 || w.Shape[0] == 0 || w.Len() == 0 {
		return nil, fmt.Errorf("quantize %s: empty tensor %v", name, w.Shape)
	}
	rows := w.Shape[0]
	cols := w.Len() / rows
	out := &tensor.Int8{Shape: append([]int(nil), w.Shape...), Q: make([]int8, w.Len()), Scale: make([]float32, rows)}
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
