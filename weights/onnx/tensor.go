package onnx

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/busam/busam/model/tensor"
	"github.com/busam/busam/weights/safetensors"
)

// Tensor is a decoded TensorProto. Values sit in RawData (little-endian)
// or in the typed repeated field that matches DataType.
type Tensor struct {
	Name       string
	Dims       []int64
	DataType   DataType
	RawData    []byte
	FloatData  []float32
	Int32Data  []int32 // also carries INT8/UINT8/INT16/UINT16/BOOL/FLOAT16 values
	Int64Data  []int64
	DoubleData []float64
	Uint64Data []uint64
	External   bool // data_location == EXTERNAL: values live in another file
}

// Numel is the element count implied by Dims (1 for a scalar).
func (t *Tensor) Numel() (int, error) {
	n := 1
	for _, d := range t.Dims {
		if d < 0 {
			return 0, fmt.Errorf("tensor %q: negative dimension in %v", t.Name, t.Dims)
		}
		if d != 0 && int64(n) > math.MaxInt32/d {
			return 0, fmt.Errorf("tensor %q: dims %v are absurdly large", t.Name, t.Dims)
		}
		n *= int(d)
	}
	return n, nil
}

// Shape returns Dims as ints.
func (t *Tensor) Shape() []int {
	s := make([]int, len(t.Dims))
	for i, d := range t.Dims {
		s[i] = int(d)
	}
	return s
}

func (t *Tensor) rawFor(numel, size int) ([]byte, bool, error) {
	if t.External {
		return nil, false, fmt.Errorf("tensor %q: external data is not supported", t.Name)
	}
	if t.RawData == nil {
		return nil, false, nil
	}
	if len(t.RawData) != numel*size {
		return nil, false, fmt.Errorf("tensor %q: %s dims %v need %d raw bytes, have %d",
			t.Name, t.DataType, t.Dims, numel*size, len(t.RawData))
	}
	return t.RawData, true, nil
}

// Float32s returns the values of a FLOAT, FLOAT16 or DOUBLE tensor as float32.
func (t *Tensor) Float32s() ([]float32, error) {
	n, err := t.Numel()
	if err != nil {
		return nil, err
	}
	out := make([]float32, n)
	switch t.DataType {
	case Float:
		raw, ok, err := t.rawFor(n, 4)
		if err != nil {
			return nil, err
		}
		if ok {
			for i := range out {
				out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
			}
			return out, nil
		}
		if len(t.FloatData) != n {
			return nil, fmt.Errorf("tensor %q: dims %v need %d float_data values, have %d", t.Name, t.Dims, n, len(t.FloatData))
		}
		copy(out, t.FloatData)
	case Float16:
		raw, ok, err := t.rawFor(n, 2)
		if err != nil {
			return nil, err
		}
		if ok {
			for i := range out {
				out[i] = safetensors.Float16ToFloat32(binary.LittleEndian.Uint16(raw[2*i:]))
			}
			return out, nil
		}
		if len(t.Int32Data) != n {
			return nil, fmt.Errorf("tensor %q: dims %v need %d int32_data values, have %d", t.Name, t.Dims, n, len(t.Int32Data))
		}
		for i, v := range t.Int32Data {
			out[i] = safetensors.Float16ToFloat32(uint16(v))
		}
	case Double:
		raw, ok, err := t.rawFor(n, 8)
		if err != nil {
			return nil, err
		}
		if ok {
			for i := range out {
				out[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:])))
			}
			return out, nil
		}
		if len(t.DoubleData) != n {
			return nil, fmt.Errorf("tensor %q: dims %v need %d double_data values, have %d", t.Name, t.Dims, n, len(t.DoubleData))
		}
		for i, v := range t.DoubleData {
			out[i] = float32(v)
		}
	default:
		return nil, fmt.Errorf("tensor %q: data type %s is not a float type", t.Name, t.DataType)
	}
	return out, nil
}

// Int64s returns the values of an INT64 or INT32 tensor.
func (t *Tensor) Int64s() ([]int64, error) {
	n, err := t.Numel()
	if err != nil {
		return nil, err
	}
	out := make([]int64, n)
	switch t.DataType {
	case Int64:
		raw, ok, err := t.rawFor(n, 8)
		if err != nil {
			return nil, err
		}
		if ok {
			for i := range out {
				out[i] = int64(binary.LittleEndian.Uint64(raw[8*i:]))
			}
			return out, nil
		}
		if len(t.Int64Data) != n {
			return nil, fmt.Errorf("tensor %q: dims %v need %d int64_data values, have %d", t.Name, t.Dims, n, len(t.Int64Data))
		}
		copy(out, t.Int64Data)
	case Int32:
		raw, ok, err := t.rawFor(n, 4)
		if err != nil {
			return nil, err
		}
		if ok {
			for i := range out {
				out[i] = int64(int32(binary.LittleEndian.Uint32(raw[4*i:])))
			}
			return out, nil
		}
		if len(t.Int32Data) != n {
			return nil, fmt.Errorf("tensor %q: dims %v need %d int32_data values, have %d", t.Name, t.Dims, n, len(t.Int32Data))
		}
		for i, v := range t.Int32Data {
			out[i] = int64(v)
		}
	default:
		return nil, fmt.Errorf("tensor %q: data type %s is not an integer type", t.Name, t.DataType)
	}
	return out, nil
}

// ToTensor converts a float tensor to a float32 tensor.Tensor.
func (t *Tensor) ToTensor() (*tensor.Tensor, error) {
	vals, err := t.Float32s()
	if err != nil {
		return nil, err
	}
	return tensor.From(vals, t.Shape()...), nil
}
