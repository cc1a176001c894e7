package onnx

import (
	"fmt"
	"math"
)

// maxDepth bounds graph nesting (subgraphs in attributes) so hostile input
// cannot recurse without limit.
const maxDepth = 64

// Parse decodes a serialized ModelProto; name appears in errors.
func Parse(name string, data []byte) (*Model, error) {
	m := &Model{}
	err := eachField(data, func(f field) (err error) {
		switch f.num {
		case 1:
			var v uint64
			v, err = f.varint()
			m.IRVersion = int64(v)
		case 2:
			m.ProducerName, err = f.str()
		case 3:
			m.ProducerVersion, err = f.str()
		case 7:
			var b []byte
			if b, err = f.bytes(); err == nil {
				if m.Graph != nil {
					return fmt.Errorf("model has two graphs")
				}
				m.Graph, err = parseGraph(b, 0)
				err = wrap(err, "graph")
			}
		case 8:
			var b []byte
			if b, err = f.bytes(); err == nil {
				var o Opset
				o, err = parseOpset(b)
				m.Opsets = append(m.Opsets, o)
				err = wrap(err, "opset_import")
			}
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("onnx: %s: %v", name, err)
	}
	if m.Graph == nil {
		return nil, fmt.Errorf("onnx: %s: no graph (not an ONNX model?)", name)
	}
	return m, nil
}

func wrap(err error, where string) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %v", where, err)
}

func parseOpset(b []byte) (Opset, error) {
	var o Opset
	err := eachField(b, func(f field) (err error) {
		switch f.num {
		case 1:
			o.Domain, err = f.str()
		case 2:
			var v uint64
			v, err = f.varint()
			o.Version = int64(v)
		}
		return err
	})
	return o, err
}

func parseGraph(b []byte, depth int) (*Graph, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("graphs nested deeper than %d", maxDepth)
	}
	g := &Graph{}
	err := eachField(b, func(f field) (err error) {
		var msg []byte
		if f.num == 1 || f.num == 5 || f.num == 11 || f.num == 12 || f.num == 13 {
			if msg, err = f.bytes(); err != nil {
				return err
			}
		}
		switch f.num {
		case 1:
			var n *Node
			n, err = parseNode(msg, depth)
			g.Nodes = append(g.Nodes, n)
			err = wrap(err, fmt.Sprintf("node[%d]", len(g.Nodes)-1))
		case 2:
			g.Name, err = f.str()
		case 5:
			var t *Tensor
			t, err = parseTensor(msg)
			g.Initializers = append(g.Initializers, t)
			err = wrap(err, fmt.Sprintf("initializer[%d]", len(g.Initializers)-1))
		case 11, 12, 13:
			var v ValueInfo
			v, err = parseValueInfo(msg)
			switch f.num {
			case 11:
				g.Inputs = append(g.Inputs, v)
				err = wrap(err, "input")
			case 12:
				g.Outputs = append(g.Outputs, v)
				err = wrap(err, "output")
			default:
				g.ValueInfo = append(g.ValueInfo, v)
				err = wrap(err, "value_info")
			}
		}
		return err
	})
	return g, err
}

func parseNode(b []byte, depth int) (*Node, error) {
	n := &Node{}
	err := eachField(b, func(f field) (err error) {
		var s string
		switch f.num {
		case 1:
			s, err = f.str()
			n.Inputs = append(n.Inputs, s)
		case 2:
			s, err = f.str()
			n.Outputs = append(n.Outputs, s)
		case 3:
			n.Name, err = f.str()
		case 4:
			n.OpType, err = f.str()
		case 7:
			n.Domain, err = f.str()
		case 5:
			var msg []byte
			if msg, err = f.bytes(); err == nil {
				var a *Attribute
				a, err = parseAttribute(msg, depth)
				n.Attributes = append(n.Attributes, a)
				err = wrap(err, fmt.Sprintf("attribute[%d]", len(n.Attributes)-1))
			}
		}
		return err
	})
	if err != nil && n.Name != "" {
		err = fmt.Errorf("%q: %v", n.Name, err)
	}
	return n, err
}

func parseAttribute(b []byte, depth int) (*Attribute, error) {
	a := &Attribute{}
	err := eachField(b, func(f field) (err error) {
		switch f.num {
		case 1:
			a.Name, err = f.str()
		case 20:
			var v uint64
			v, err = f.varint()
			a.Type = AttrType(int32(v))
		case 2:
			a.F, err = f.float()
		case 3:
			var v uint64
			v, err = f.varint()
			a.I = int64(v)
		case 4:
			a.S, err = f.bytes()
		case 5:
			var msg []byte
			if msg, err = f.bytes(); err == nil {
				a.T, err = parseTensor(msg)
			}
		case 6:
			var msg []byte
			if msg, err = f.bytes(); err == nil {
				a.G, err = parseGraph(msg, depth+1)
			}
		case 7:
			var vs []uint32
			vs, err = f.appendFixed32(nil)
			for _, v := range vs {
				a.Floats = append(a.Floats, math.Float32frombits(v))
			}
		case 8:
			var vs []uint64
			vs, err = f.appendVarints(nil)
			for _, v := range vs {
				a.Ints = append(a.Ints, int64(v))
			}
		case 9:
			var s []byte
			s, err = f.bytes()
			a.Strings = append(a.Strings, s)
		case 10:
			var msg []byte
			if msg, err = f.bytes(); err == nil {
				var t *Tensor
				t, err = parseTensor(msg)
				a.Tensors = append(a.Tensors, t)
			}
		case 11:
			var msg []byte
			if msg, err = f.bytes(); err == nil {
				var g *Graph
				g, err = parseGraph(msg, depth+1)
				a.Graphs = append(a.Graphs, g)
			}
		}
		return err
	})
	if err != nil && a.Name != "" {
		err = fmt.Errorf("%q: %v", a.Name, err)
	}
	return a, err
}

func parseTensor(b []byte) (*Tensor, error) {
	t := &Tensor{}
	err := eachField(b, func(f field) (err error) {
		switch f.num {
		case 1:
			var vs []uint64
			vs, err = f.appendVarints(nil)
			for _, v := range vs {
				t.Dims = append(t.Dims, int64(v))
			}
		case 2:
			var v uint64
			v, err = f.varint()
			t.DataType = DataType(int32(v))
		case 4:
			var vs []uint32
			vs, err = f.appendFixed32(nil)
			for _, v := range vs {
				t.FloatData = append(t.FloatData, math.Float32frombits(v))
			}
		case 5:
			var vs []uint64
			vs, err = f.appendVarints(nil)
			for _, v := range vs {
				t.Int32Data = append(t.Int32Data, int32(v))
			}
		case 7:
			var vs []uint64
			vs, err = f.appendVarints(nil)
			for _, v := range vs {
				t.Int64Data = append(t.Int64Data, int64(v))
			}
		case 8:
			t.Name, err = f.str()
		case 9:
			t.RawData, err = f.bytes()
			if t.RawData == nil {
				t.RawData = []byte{} // present but empty still means "raw"
			}
		case 10:
			var vs []uint64
			vs, err = f.appendFixed64(nil)
			for _, v := range vs {
				t.DoubleData = append(t.DoubleData, math.Float64frombits(v))
			}
		case 11:
			t.Uint64Data, err = f.appendVarints(t.Uint64Data)
		case 14:
			var v uint64
			v, err = f.varint()
			t.External = v == 1
		}
		return err
	})
	if err == nil {
		_, err = t.Numel()
	}
	if err != nil && t.Name != "" {
		err = fmt.Errorf("%q: %v", t.Name, err)
	}
	return t, err
}

func parseValueInfo(b []byte) (ValueInfo, error) {
	var v ValueInfo
	err := eachField(b, func(f field) (err error) {
		switch f.num {
		case 1:
			v.Name, err = f.str()
		case 2:
			var msg []byte
			if msg, err = f.bytes(); err == nil {
				err = parseTypeProto(msg, &v)
			}
		}
		return err
	})
	return v, err
}

// parseTypeProto reads only tensor_type (field 1); other kinds (sequence,
// map) leave ElemType Undefined.
func parseTypeProto(b []byte, v *ValueInfo) error {
	return eachField(b, func(f field) error {
		if f.num != 1 {
			return nil
		}
		msg, err := f.bytes()
		if err != nil {
			return err
		}
		return eachField(msg, func(f field) (err error) {
			switch f.num {
			case 1:
				var u uint64
				u, err = f.varint()
				v.ElemType = DataType(int32(u))
			case 2:
				var shape []byte
				if shape, err = f.bytes(); err == nil {
					err = parseShape(shape, v)
				}
			}
			return err
		})
	})
}

func parseShape(b []byte, v *ValueInfo) error {
	v.Shape = []Dim{} // a present shape with no dims is a scalar
	return eachField(b, func(f field) error {
		if f.num != 1 {
			return nil
		}
		msg, err := f.bytes()
		if err != nil {
			return err
		}
		var d Dim
		err = eachField(msg, func(f field) (err error) {
			switch f.num {
			case 1:
				var u uint64
				u, err = f.varint()
				d.Value = int64(u)
			case 2:
				d.Param, err = f.str()
			}
			return err
		})
		v.Shape = append(v.Shape, d)
		return err
	})
}
