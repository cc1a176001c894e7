package onnx

import (
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// Marshal serializes m as a ModelProto. It writes every field this package
// reads (repeated numbers packed), so Parse(Marshal(m)) gives m back. Tests
// use it to build small models; the project never needs to write ONNX.
func Marshal(m *Model) []byte {
	var b []byte
	if m.IRVersion != 0 {
		b = appendVarintField(b, 1, uint64(m.IRVersion))
	}
	b = appendStringField(b, 2, m.ProducerName)
	b = appendStringField(b, 3, m.ProducerVersion)
	if m.Graph != nil {
		b = appendBytesField(b, 7, marshalGraph(m.Graph))
	}
	for _, o := range m.Opsets {
		var ob []byte
		ob = appendStringField(ob, 1, o.Domain)
		ob = appendVarintField(ob, 2, uint64(o.Version))
		b = appendBytesField(b, 8, ob)
	}
	return b
}

func appendVarintField(b []byte, num protowire.Number, v uint64) []byte {
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func appendBytesField(b []byte, num protowire.Number, v []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

func appendStringField(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	return appendBytesField(b, num, []byte(s))
}

func appendPackedVarints[T int32 | int64 | uint64](b []byte, num protowire.Number, vs []T) []byte {
	if len(vs) == 0 {
		return b
	}
	var p []byte
	for _, v := range vs {
		p = protowire.AppendVarint(p, uint64(v))
	}
	return appendBytesField(b, num, p)
}

func appendPackedFloats(b []byte, num protowire.Number, vs []float32) []byte {
	if len(vs) == 0 {
		return b
	}
	var p []byte
	for _, v := range vs {
		p = protowire.AppendFixed32(p, math.Float32bits(v))
	}
	return appendBytesField(b, num, p)
}

func marshalGraph(g *Graph) []byte {
	var b []byte
	for _, n := range g.Nodes {
		b = appendBytesField(b, 1, marshalNode(n))
	}
	b = appendStringField(b, 2, g.Name)
	for _, t := range g.Initializers {
		b = appendBytesField(b, 5, MarshalTensor(t))
	}
	for _, v := range g.Inputs {
		b = appendBytesField(b, 11, marshalValueInfo(v))
	}
	for _, v := range g.Outputs {
		b = appendBytesField(b, 12, marshalValueInfo(v))
	}
	for _, v := range g.ValueInfo {
		b = appendBytesField(b, 13, marshalValueInfo(v))
	}
	return b
}

func marshalNode(n *Node) []byte {
	var b []byte
	for _, s := range n.Inputs {
		b = appendBytesField(b, 1, []byte(s)) // empty names are meaningful (omitted inputs)
	}
	for _, s := range n.Outputs {
		b = appendBytesField(b, 2, []byte(s))
	}
	b = appendStringField(b, 3, n.Name)
	b = appendStringField(b, 4, n.OpType)
	for _, a := range n.Attributes {
		b = appendBytesField(b, 5, marshalAttribute(a))
	}
	b = appendStringField(b, 7, n.Domain)
	return b
}

func marshalAttribute(a *Attribute) []byte {
	var b []byte
	b = appendStringField(b, 1, a.Name)
	switch a.Type {
	case AttrFloat:
		b = protowire.AppendTag(b, 2, protowire.Fixed32Type)
		b = protowire.AppendFixed32(b, math.Float32bits(a.F))
	case AttrInt:
		b = appendVarintField(b, 3, uint64(a.I))
	case AttrString:
		b = appendBytesField(b, 4, a.S)
	case AttrTensor:
		if a.T != nil {
			b = appendBytesField(b, 5, MarshalTensor(a.T))
		}
	case AttrGraph:
		if a.G != nil {
			b = appendBytesField(b, 6, marshalGraph(a.G))
		}
	case AttrFloats:
		b = appendPackedFloats(b, 7, a.Floats)
	case AttrInts:
		b = appendPackedVarints(b, 8, a.Ints)
	case AttrStrings:
		for _, s := range a.Strings {
			b = appendBytesField(b, 9, s)
		}
	case AttrTensors:
		for _, t := range a.Tensors {
			b = appendBytesField(b, 10, MarshalTensor(t))
		}
	case AttrGraphs:
		for _, g := range a.Graphs {
			b = appendBytesField(b, 11, marshalGraph(g))
		}
	}
	return appendVarintField(b, 20, uint64(a.Type))
}

// MarshalTensor serializes one TensorProto.
func MarshalTensor(t *Tensor) []byte {
	var b []byte
	b = appendPackedVarints(b, 1, t.Dims)
	b = appendVarintField(b, 2, uint64(t.DataType))
	b = appendPackedFloats(b, 4, t.FloatData)
	b = appendPackedVarints(b, 5, t.Int32Data)
	b = appendPackedVarints(b, 7, t.Int64Data)
	b = appendStringField(b, 8, t.Name)
	if t.RawData != nil {
		b = appendBytesField(b, 9, t.RawData)
	}
	if len(t.DoubleData) > 0 {
		var p []byte
		for _, v := range t.DoubleData {
			p = protowire.AppendFixed64(p, math.Float64bits(v))
		}
		b = appendBytesField(b, 10, p)
	}
	b = appendPackedVarints(b, 11, t.Uint64Data)
	if t.External {
		b = appendVarintField(b, 14, 1)
	}
	return b
}

func marshalValueInfo(v ValueInfo) []byte {
	var b []byte
	b = appendStringField(b, 1, v.Name)
	var tt []byte
	tt = appendVarintField(tt, 1, uint64(v.ElemType))
	if v.Shape != nil {
		var shape []byte
		for _, d := range v.Shape {
			var db []byte
			if d.Param != "" {
				db = appendStringField(db, 2, d.Param)
			} else {
				db = appendVarintField(db, 1, uint64(d.Value))
			}
			shape = appendBytesField(shape, 1, db)
		}
		tt = appendBytesField(tt, 2, shape)
	}
	var typ []byte
	typ = appendBytesField(typ, 1, tt)
	return appendBytesField(b, 2, typ)
}
