package onnx

import (
	"encoding/binary"
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// field is one decoded protobuf field: u holds varint and fixed values,
// b the payload of length-delimited ones.
type field struct {
	num protowire.Number
	typ protowire.Type
	u   uint64
	b   []byte
}

// eachField walks the fields of one message, skipping groups.
func eachField(msg []byte, fn func(f field) error) error {
	for len(msg) > 0 {
		num, typ, n := protowire.ConsumeTag(msg)
		if n < 0 {
			return fmt.Errorf("bad field tag: %v", protowire.ParseError(n))
		}
		msg = msg[n:]
		f := field{num: num, typ: typ}
		switch typ {
		case protowire.VarintType:
			f.u, n = protowire.ConsumeVarint(msg)
		case protowire.Fixed32Type:
			var v uint32
			v, n = protowire.ConsumeFixed32(msg)
			f.u = uint64(v)
		case protowire.Fixed64Type:
			f.u, n = protowire.ConsumeFixed64(msg)
		case protowire.BytesType:
			f.b, n = protowire.ConsumeBytes(msg)
		case protowire.StartGroupType:
			_, n = protowire.ConsumeGroup(num, msg)
		default:
			return fmt.Errorf("field %d: unsupported wire type %d", num, typ)
		}
		if n < 0 {
			return fmt.Errorf("field %d: %v", num, protowire.ParseError(n))
		}
		msg = msg[n:]
		if typ == protowire.StartGroupType {
			continue
		}
		if err := fn(f); err != nil {
			return err
		}
	}
	return nil
}

func (f field) wantType(t protowire.Type) error {
	if f.typ != t {
		return fmt.Errorf("field %d: wire type %d, want %d", f.num, f.typ, t)
	}
	return nil
}

func (f field) str() (string, error) {
	if err := f.wantType(protowire.BytesType); err != nil {
		return "", err
	}
	return string(f.b), nil
}

func (f field) bytes() ([]byte, error) {
	if err := f.wantType(protowire.BytesType); err != nil {
		return nil, err
	}
	return f.b, nil
}

func (f field) varint() (uint64, error) {
	if err := f.wantType(protowire.VarintType); err != nil {
		return 0, err
	}
	return f.u, nil
}

func (f field) float() (float32, error) {
	if err := f.wantType(protowire.Fixed32Type); err != nil {
		return 0, err
	}
	return math.Float32frombits(uint32(f.u)), nil
}

// appendVarints handles a repeated varint field, packed or not.
func (f field) appendVarints(dst []uint64) ([]uint64, error) {
	switch f.typ {
	case protowire.VarintType:
		return append(dst, f.u), nil
	case protowire.BytesType:
		b := f.b
		for len(b) > 0 {
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return nil, fmt.Errorf("field %d: packed varints: %v", f.num, protowire.ParseError(n))
			}
			dst = append(dst, v)
			b = b[n:]
		}
		return dst, nil
	}
	return nil, fmt.Errorf("field %d: wire type %d for repeated varints", f.num, f.typ)
}

// appendFixed32 handles a repeated 4-byte field, packed or not.
func (f field) appendFixed32(dst []uint32) ([]uint32, error) {
	switch f.typ {
	case protowire.Fixed32Type:
		return append(dst, uint32(f.u)), nil
	case protowire.BytesType:
		if len(f.b)%4 != 0 {
			return nil, fmt.Errorf("field %d: packed fixed32 of %d bytes", f.num, len(f.b))
		}
		for i := 0; i < len(f.b); i += 4 {
			dst = append(dst, binary.LittleEndian.Uint32(f.b[i:]))
		}
		return dst, nil
	}
	return nil, fmt.Errorf("field %d: wire type %d for repeated fixed32", f.num, f.typ)
}

// appendFixed64 handles a repeated 8-byte field, packed or not.
func (f field) appendFixed64(dst []uint64) ([]uint64, error) {
	switch f.typ {
	case protowire.Fixed64Type:
		return append(dst, f.u), nil
	case protowire.BytesType:
		if len(f.b)%8 != 0 {
			return nil, fmt.Errorf("field %d: packed fixed64 of %d bytes", f.num, len(f.b))
		}
		for i := 0; i < len(f.b); i += 8 {
			dst = append(dst, binary.LittleEndian.Uint64(f.b[i:]))
		}
		return dst, nil
	}
	return nil, fmt.Errorf("field %d: wire type %d for repeated fixed64", f.num, f.typ)
}
