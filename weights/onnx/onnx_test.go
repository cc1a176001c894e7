package onnx

import (
	"encoding/binary"
	"math"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

func f32raw(vs ...float32) []byte {
	b := make([]byte, 4*len(vs))
	for i, v := range vs {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}

// sampleModel is a tiny conv + matmul graph using every feature the
// reader supports: named and anonymous initializers, raw and typed data, a
// Constant node with a tensor attribute, ints/floats attributes, a nested
// graph and symbolic dims.
func sampleModel() *Model {
	return &Model{
		IRVersion: 7, ProducerName: "test", ProducerVersion: "1",
		Opsets: []Opset{{"", 12}},
		Graph: &Graph{
			Name: "g",
			Nodes: []*Node{
				{Name: "/conv/Conv", OpType: "Conv", Inputs: []string{"input", "conv.weight", "onnx::Conv_7"}, Outputs: []string{"c"},
					Attributes: []*Attribute{
						{Name: "kernel_shape", Type: AttrInts, Ints: []int64{1, 1}},
						{Name: "group", Type: AttrInt, I: 1},
						{Name: "pads", Type: AttrInts, Ints: []int64{0, 0, 0, 0}},
					}},
				{Name: "/Constant", OpType: "Constant", Outputs: []string{"k"},
					Attributes: []*Attribute{{Name: "value", Type: AttrTensor, T: &Tensor{Dims: []int64{2}, DataType: Int64, Int64Data: []int64{-1, 5}}}}},
				{Name: "/ln/LayerNormalization", OpType: "Custom", Domain: "x", Inputs: []string{"c", "", "k"}, Outputs: []string{"o"},
					Attributes: []*Attribute{
						{Name: "epsilon", Type: AttrFloat, F: 1e-5},
						{Name: "scales", Type: AttrFloats, Floats: []float32{0.5, -2}},
						{Name: "mode", Type: AttrString, S: []byte("linear")},
						{Name: "names", Type: AttrStrings, Strings: [][]byte{[]byte("a"), []byte("b")}},
						{Name: "body", Type: AttrGraph, G: &Graph{Name: "sub", Nodes: []*Node{{OpType: "Identity", Inputs: []string{"x"}, Outputs: []string{"y"}}}}},
						{Name: "ts", Type: AttrTensors, Tensors: []*Tensor{{Dims: []int64{1}, DataType: Float, FloatData: []float32{3}}}},
					}},
			},
			Initializers: []*Tensor{
				{Name: "conv.weight", Dims: []int64{2, 3, 1, 1}, DataType: Float, RawData: f32raw(1, 2, 3, 4, 5, 6)},
				{Name: "onnx::Conv_7", Dims: []int64{2}, DataType: Float, FloatData: []float32{0.5, -0.5}},
				{Name: "half", Dims: []int64{2}, DataType: Float16, RawData: []byte{0x00, 0x3c, 0x00, 0xc0}},
				{Name: "dbl", Dims: []int64{1}, DataType: Double, DoubleData: []float64{2.5}},
				{Name: "i32", Dims: []int64{2}, DataType: Int32, Int32Data: []int32{-7, 9}},
				{Name: "u64", Dims: []int64{1}, DataType: Uint64, Uint64Data: []uint64{1 << 40}},
			},
			Inputs:    []ValueInfo{{Name: "input", ElemType: Float, Shape: []Dim{{Param: "batch"}, {Value: 3}, {Value: 8}, {Value: 8}}}},
			Outputs:   []ValueInfo{{Name: "o", ElemType: Float, Shape: []Dim{{Param: "batch"}, {Value: 2}, {Value: 8}, {Value: 8}}}},
			ValueInfo: []ValueInfo{{Name: "c", ElemType: Float, Shape: []Dim{}}},
		},
	}
}

func TestRoundTrip(t *testing.T) {
	want := sampleModel()
	got, err := Parse("sample.onnx", Marshal(want))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip differs:\n got %+v\nwant %+v", got.Graph, want.Graph)
	}
	g := got.Graph
	w, err := g.Initializer("conv.weight").ToTensor()
	if err != nil || !reflect.DeepEqual(w.Shape, []int{2, 3, 1, 1}) || w.Data[5] != 6 {
		t.Errorf("conv.weight = %v, %v", w, err)
	}
	if v, err := g.Initializer("onnx::Conv_7").Float32s(); err != nil || !reflect.DeepEqual(v, []float32{0.5, -0.5}) {
		t.Errorf("float_data tensor = %v, %v", v, err)
	}
	if v, err := g.Initializer("half").Float32s(); err != nil || !reflect.DeepEqual(v, []float32{1, -2}) {
		t.Errorf("FLOAT16 tensor = %v, %v", v, err)
	}
	if v, err := g.Initializer("dbl").Float32s(); err != nil || !reflect.DeepEqual(v, []float32{2.5}) {
		t.Errorf("DOUBLE tensor = %v, %v", v, err)
	}
	if v, err := g.Initializer("i32").Int64s(); err != nil || !reflect.DeepEqual(v, []int64{-7, 9}) {
		t.Errorf("INT32 tensor = %v, %v", v, err)
	}
	c := g.Nodes[1].Attr("value").T
	if v, err := c.Int64s(); err != nil || !reflect.DeepEqual(v, []int64{-1, 5}) {
		t.Errorf("Constant value = %v, %v", v, err)
	}
	conv := g.Nodes[0]
	if conv.AttrInt("group", 0) != 1 || !reflect.DeepEqual(conv.AttrInts("kernel_shape"), []int64{1, 1}) || conv.AttrInt("missing", 42) != 42 {
		t.Errorf("attribute helpers wrong on %+v", conv.Attributes)
	}
	if got := g.Nodes[2].AttrFloat("epsilon", 0); got != 1e-5 {
		t.Errorf("epsilon = %v", got)
	}
	if g.Initializer("nope") != nil || conv.Attr("nope") != nil {
		t.Error("lookup of a missing name returned something")
	}
}

func TestUnpackedRepeatedFields(t *testing.T) {
	// Older exporters write repeated numbers unpacked, one tag each.
	var tb []byte
	for _, d := range []uint64{2, 1} {
		tb = protowire.AppendTag(tb, 1, protowire.VarintType)
		tb = protowire.AppendVarint(tb, d)
	}
	tb = protowire.AppendTag(tb, 2, protowire.VarintType)
	tb = protowire.AppendVarint(tb, uint64(Float))
	for _, v := range []float32{1.5, -3} {
		tb = protowire.AppendTag(tb, 4, protowire.Fixed32Type)
		tb = protowire.AppendFixed32(tb, math.Float32bits(v))
	}
	tb = protowire.AppendTag(tb, 8, protowire.BytesType)
	tb = protowire.AppendString(tb, "w")
	var gb []byte
	gb = protowire.AppendTag(gb, 5, protowire.BytesType)
	gb = protowire.AppendBytes(gb, tb)
	var mb []byte
	mb = protowire.AppendTag(mb, 7, protowire.BytesType)
	mb = protowire.AppendBytes(mb, gb)
	m, err := Parse("unpacked", mb)
	if err != nil {
		t.Fatal(err)
	}
	w := m.Graph.Initializers[0]
	if v, err := w.Float32s(); err != nil || !reflect.DeepEqual(w.Dims, []int64{2, 1}) || !reflect.DeepEqual(v, []float32{1.5, -3}) {
		t.Errorf("got dims %v values %v err %v", w.Dims, v, err)
	}
}

func TestMalformed(t *testing.T) {
	badTag := []byte{0x07} // wire type 7 does not exist
	nameAsVarint := protowire.AppendVarint(protowire.AppendTag(nil, 2, protowire.VarintType), 5)
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "no graph"},
		{"bad tag", badTag, "bad field tag"},
		{"producer name as varint", nameAsVarint, "wire type"},
		{"truncated length", []byte{0x3a, 0x05, 0x01}, "unexpected EOF"},
		{"negative dim", Marshal(&Model{Graph: &Graph{Initializers: []*Tensor{{Name: "w", Dims: []int64{-2}, DataType: Float}}}}), "negative"},
		{"absurd dims", Marshal(&Model{Graph: &Graph{Initializers: []*Tensor{{Name: "w", Dims: []int64{1 << 20, 1 << 20}, DataType: Float}}}}), "absurd"},
		{"two graphs", append(Marshal(&Model{Graph: &Graph{}}), Marshal(&Model{Graph: &Graph{}})...), "two graphs"},
	}
	for _, tc := range tests {
		_, err := Parse("bad.onnx", tc.data)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "bad.onnx") {
			t.Errorf("%s: err = %v, want one naming bad.onnx and saying %q", tc.name, err, tc.want)
		}
	}
}

func TestTensorValueErrors(t *testing.T) {
	tests := []struct {
		name string
		t    *Tensor
		want string
	}{
		{"raw too short", &Tensor{Name: "a", Dims: []int64{3}, DataType: Float, RawData: make([]byte, 8)}, "need 12 raw bytes"},
		{"float_data too short", &Tensor{Name: "a", Dims: []int64{3}, DataType: Float, FloatData: []float32{1}}, "float_data"},
		{"not float", &Tensor{Name: "a", Dims: []int64{1}, DataType: Int64, Int64Data: []int64{1}}, "not a float"},
		{"external", &Tensor{Name: "a", Dims: []int64{1}, DataType: Float, External: true}, "external"},
	}
	for _, tc := range tests {
		if _, err := tc.t.Float32s(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
	if _, err := (&Tensor{Name: "b", Dims: []int64{1}, DataType: Float, FloatData: []float32{1}}).Int64s(); err == nil {
		t.Error("Int64s on a FLOAT tensor succeeded")
	}
	if _, err := (&Tensor{Name: "b", Dims: []int64{2}, DataType: Int64, RawData: make([]byte, 9)}).Int64s(); err == nil {
		t.Error("Int64s with a wrong raw size succeeded")
	}
}

// TestTruncatedAtEveryCut cuts a model whose graph is its last field at
// every byte: each cut either drops the graph or truncates it, so each must
// be refused, never panic.
func TestTruncatedAtEveryCut(t *testing.T) {
	m := sampleModel()
	m.Opsets = nil // so the graph is the last field
	data := Marshal(m)
	for cut := 0; cut < len(data); cut++ {
		if _, err := Parse("cut", data[:cut]); err == nil {
			t.Fatalf("model cut to %d of %d bytes was accepted", cut, len(data))
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(Marshal(sampleModel()))
	f.Add([]byte{})
	f.Add([]byte{0x3a, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse("fuzz", data)
		if err != nil {
			return
		}
		for _, init := range m.Graph.Initializers {
			init.Float32s() // may fail, must not panic
			init.Int64s()
		}
		// Whatever parses must survive a re-marshal.
		if _, err := Parse("fuzz2", Marshal(m)); err != nil {
			t.Fatalf("re-marshalled model rejected: %v", err)
		}
	})
}
