package weights

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/busam/busam/internal/testutil"
	"github.com/busam/busam/weights/onnx"
	"github.com/busam/busam/weights/safetensors"
)

func TestModulePath(t *testing.T) {
	tests := []struct{ node, want string }{
		{"/layers.0/blocks.0/conv1/c/Conv", "layers.0.blocks.0.conv1.c"},
		{"/patch_embed/seq/seq.0/c/Conv", "patch_embed.seq.0.c"},
		{"/patch_embed/seq/seq.2/c/Conv", "patch_embed.seq.2.c"},
		{"/neck/neck.1/Mul", "neck.1"},
		{"/layers.1/blocks.0/attn/qkv/MatMul", "layers.1.blocks.0.attn.qkv"},
		{"/layers.1/downsample/conv2/c/Conv", "layers.1.downsample.conv2.c"},
		{"/Conv", ""},
		{"", ""},
	}
	for _, tc := range tests {
		if got := ModulePath(tc.node); got != tc.want {
			t.Errorf("ModulePath(%q) = %q, want %q", tc.node, got, tc.want)
		}
	}
}

func floats(n int, start float32) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = start + float32(i)
	}
	return v
}

func raw(vs []float32) []byte {
	b := make([]byte, 4*len(vs))
	for i, v := range vs {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}

func ftensor(name string, dims []int64, vs []float32) *onnx.Tensor {
	return &onnx.Tensor{Name: name, Dims: dims, DataType: onnx.Float, RawData: raw(vs)}
}

func constNode(name string, t *onnx.Tensor) *onnx.Node {
	return &onnx.Node{Name: name, OpType: "Constant", Outputs: []string{name + "_output_0"},
		Attributes: []*onnx.Attribute{{Name: "value", Type: onnx.AttrTensor, T: t}}}
}

// tinyEncoder mimics the exported TinyViT graph's naming on a few nodes:
// an anonymous conv, a Linear (MatMul [in,out] + named bias first in Add),
// a LayerNorm with named params, a neck LayerNorm2d with anonymous [C,1,1]
// params, an attention-bias Constant and scalar/int64 plumbing constants.
func tinyEncoder() *onnx.Model {
	return &onnx.Model{IRVersion: 7, Opsets: []onnx.Opset{{Version: 12}}, Graph: &onnx.Graph{
		Nodes: []*onnx.Node{
			{Name: "/patch_embed/seq/seq.0/c/Conv", OpType: "Conv", Inputs: []string{"input", "onnx::Conv_1", "onnx::Conv_2"}, Outputs: []string{"c0"}},
			constNode("/patch_embed/seq/seq.1/Constant", &onnx.Tensor{DataType: onnx.Float, FloatData: []float32{1.4142135}}),
			constNode("/layers.1/blocks.0/Constant_3", &onnx.Tensor{Dims: []int64{1}, DataType: onnx.Int64, Int64Data: []int64{7}}),
			{Name: "/layers.1/blocks.0/attn/norm/Mul", OpType: "Mul", Inputs: []string{"c0", "layers.1.blocks.0.attn.norm.weight"}, Outputs: []string{"n0"}},
			{Name: "/layers.1/blocks.0/attn/norm/Add_1", OpType: "Add", Inputs: []string{"n0", "layers.1.blocks.0.attn.norm.bias"}, Outputs: []string{"n1"}},
			{Name: "/layers.1/blocks.0/attn/qkv/MatMul", OpType: "MatMul", Inputs: []string{"n1", "onnx::MatMul_3"}, Outputs: []string{"q0"}},
			{Name: "/layers.1/blocks.0/attn/qkv/Add", OpType: "Add", Inputs: []string{"layers.1.blocks.0.attn.qkv.bias", "q0"}, Outputs: []string{"q1"}},
			constNode("/layers.1/blocks.0/attn/Constant_5", ftensor("", []int64{2, 3, 3}, floats(18, -9))),
			{Name: "/layers.1/blocks.0/attn/Add", OpType: "Add", Inputs: []string{"q1", "/layers.1/blocks.0/attn/Constant_5_output_0"}, Outputs: []string{"a0"}},
			{Name: "/neck/neck.0/Conv", OpType: "Conv", Inputs: []string{"a0", "neck.0.weight"}, Outputs: []string{"k0"}},
			{Name: "/neck/neck.1/Mul", OpType: "Mul", Inputs: []string{"onnx::Mul_4", "k0"}, Outputs: []string{"k1"}},
			{Name: "/neck/neck.1/Add_1", OpType: "Add", Inputs: []string{"k1", "onnx::Add_5"}, Outputs: []string{"output"}},
		},
		Initializers: []*onnx.Tensor{
			ftensor("onnx::Conv_1", []int64{2, 3, 1, 1}, floats(6, 0)),
			ftensor("onnx::Conv_2", []int64{2}, floats(2, 10)),
			ftensor("layers.1.blocks.0.attn.norm.weight", []int64{2}, floats(2, 20)),
			ftensor("layers.1.blocks.0.attn.norm.bias", []int64{2}, floats(2, 30)),
			ftensor("onnx::MatMul_3", []int64{2, 3}, []float32{1, 2, 3, 4, 5, 6}), // [in=2, out=3]
			ftensor("layers.1.blocks.0.attn.qkv.bias", []int64{3}, floats(3, 40)),
			ftensor("neck.0.weight", []int64{2, 3, 1, 1}, floats(6, 50)),
			ftensor("onnx::Mul_4", []int64{2, 1, 1}, floats(2, 60)),
			ftensor("onnx::Add_5", []int64{2, 1, 1}, floats(2, 70)),
		},
	}}
}

func TestConvertTinyGraph(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "tiny.onnx")
	data := onnx.Marshal(tinyEncoder())
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "tiny.safetensors")
	c, err := ConvertFile(src, dst)
	if err != nil {
		t.Fatal(err)
	}
	f, err := safetensors.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]int{
		"patch_embed.seq.0.c.weight":            {2, 3, 1, 1},
		"patch_embed.seq.0.c.bias":              {2},
		"layers.1.blocks.0.attn.norm.weight":    {2},
		"layers.1.blocks.0.attn.norm.bias":      {2},
		"layers.1.blocks.0.attn.qkv.weight":     {3, 2},
		"layers.1.blocks.0.attn.qkv.bias":       {3},
		"layers.1.blocks.0.attn.attention_bias": {2, 3, 3},
		"neck.0.weight":                         {2, 3, 1, 1},
		"neck.1.weight":                         {2},
		"neck.1.bias":                           {2},
	}
	if len(f.Names()) != len(want) {
		t.Errorf("converted %v, want the %d names %v", f.Names(), len(want), want)
	}
	for name, shape := range want {
		info, ok := f.Info(name)
		if !ok || !reflect.DeepEqual(info.Shape, shape) || info.DType != safetensors.F32 {
			t.Errorf("%s: got %+v (present %v), want F32 %v", name, info, ok, shape)
		}
	}
	qkv, _ := f.Tensor("layers.1.blocks.0.attn.qkv.weight")
	// ONNX [in,out] = [[1 2 3] [4 5 6]] -> PyTorch [out,in] = [[1 4] [2 5] [3 6]].
	if !reflect.DeepEqual(qkv.Data, []float32{1, 4, 2, 5, 3, 6}) {
		t.Errorf("qkv weight not transposed to [out,in]: %v", qkv.Data)
	}
	if b, _ := f.Tensor("layers.1.blocks.0.attn.attention_bias"); b.Data[0] != -9 || b.Data[17] != 8 {
		t.Errorf("attention bias values wrong: %v", b.Data)
	}
	if nb, _ := f.Tensor("neck.1.bias"); !reflect.DeepEqual(nb.Data, []float32{70, 71}) {
		t.Errorf("neck.1.bias = %v", nb.Data)
	}
	md := f.Metadata()
	sum, _ := FileSHA256(src)
	if md["source_sha256"] != sum || md["converter"] != ConverterVersion {
		t.Errorf("metadata = %v, want source_sha256 %s and converter %s", md, sum, ConverterVersion)
	}
	if c.Source["layers.1.blocks.0.attn.qkv.weight"] != "onnx::MatMul_3" || !c.Transposed["layers.1.blocks.0.attn.qkv.weight"] {
		t.Errorf("source bookkeeping wrong: %v %v", c.Source, c.Transposed)
	}

	var out bytes.Buffer
	if err := Describe(&out, tinyEncoder(), c, "/layers.1/"); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"layers.1.blocks.0.attn.qkv.weight^T[2 3]", "layers.1.blocks.0.attn.attention_bias[2 3 3]", "/layers.1/blocks.0/attn/norm/Mul"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("Describe output lacks %q:\n%s", s, out.String())
		}
	}
	if strings.Contains(out.String(), "/neck/") {
		t.Errorf("Describe ignored the prefix filter:\n%s", out.String())
	}
}

func TestConvertRefusesUnmappable(t *testing.T) {
	tests := []struct {
		name   string
		change func(m *onnx.Model)
		want   string
	}{
		{"anonymous initializer into an unknown op", func(m *onnx.Model) {
			m.Graph.Nodes[0].OpType = "Gemm"
		}, `unmapped initializer "onnx::Conv_1"`},
		{"unused anonymous initializer", func(m *onnx.Model) {
			m.Graph.Initializers = append(m.Graph.Initializers, ftensor("onnx::Foo_9", []int64{1}, []float32{1}))
		}, "no node uses it"},
		{"float constant outside attention", func(m *onnx.Model) {
			m.Graph.Nodes[8].Name = "/layers.1/blocks.0/mlp/Add"
		}, "unmapped float Constant"},
		{"named initializer the rules disagree with", func(m *onnx.Model) {
			m.Graph.Nodes[4].Name = "/layers.1/blocks.0/attn/other/Add_1"
		}, "rules are wrong"},
		{"one anonymous tensor used as two parameters", func(m *onnx.Model) {
			m.Graph.Nodes[9].Inputs[1] = "onnx::Conv_1"
			m.Graph.Initializers = append(m.Graph.Initializers[:6], m.Graph.Initializers[7:]...) // drop neck.0.weight
		}, "used as both"},
		{"two tensors, one name", func(m *onnx.Model) {
			m.Graph.Nodes = append(m.Graph.Nodes, &onnx.Node{Name: "/patch_embed/seq/seq.0/c/Conv", OpType: "Conv",
				Inputs: []string{"c0", "onnx::Conv_7"}, Outputs: []string{"dup"}})
			m.Graph.Initializers = append(m.Graph.Initializers, ftensor("onnx::Conv_7", []int64{1}, []float32{1}))
		}, "map to"},
		{"MatMul weight not rank 2", func(m *onnx.Model) {
			m.Graph.Initializers[4].Dims = []int64{6}
		}, "rank 2"},
	}
	for _, tc := range tests {
		m := tinyEncoder()
		tc.change(m)
		if _, err := Convert(m); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestConvertCachedIsIdempotent(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, EncoderONNX)
	if err := os.WriteFile(src, onnx.Marshal(tinyEncoder()), 0o644); err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{true, false} {
		wrote, err := ConvertCached(dir, nil)
		if err != nil || wrote != want {
			t.Fatalf("call %d: wrote=%v err=%v, want wrote=%v", i, wrote, err, want)
		}
	}
	// A changed source makes the converted file stale.
	m := tinyEncoder()
	m.Graph.Initializers[1] = ftensor("onnx::Conv_2", []int64{2}, []float32{-1, -2})
	if err := os.WriteFile(src, onnx.Marshal(m), 0o644); err != nil {
		t.Fatal(err)
	}
	if wrote, err := ConvertCached(dir, nil); err != nil || !wrote {
		t.Fatalf("after the source changed: wrote=%v err=%v", wrote, err)
	}
	if _, err := ConvertCached(t.TempDir(), nil); err == nil || !strings.Contains(err.Error(), "fetch") {
		t.Errorf("missing source: err = %v, want a hint to fetch", err)
	}
}

// TestConvertRealEncoder checks the real MobileSAM encoder: every
// initializer and attention-bias Constant is named, and the totals match
// TinyViT-5M's layout (embed 64/128/160/320, depths 2/2/6/2).
func TestConvertRealEncoder(t *testing.T) {
	path := testutil.Need(t, filepath.Join(testutil.CacheDir(t), "weights", EncoderONNX), "MobileSAM encoder.onnx")
	m, err := onnx.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Convert(m)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(c.Tensors), len(m.Graph.Initializers)+10; got != want {
		t.Errorf("%d tensors, want %d (initializers + 10 attention biases)", got, want)
	}
	if len(m.Graph.Initializers) != 180 {
		t.Errorf("%d initializers, want 180", len(m.Graph.Initializers))
	}
	if got := c.NumParams(); got != 6951420 {
		t.Errorf("%d parameters, want 6951420", got)
	}
	shapes := map[string][]int{
		"patch_embed.seq.0.c.weight":            {32, 3, 3, 3},
		"patch_embed.seq.2.c.bias":              {64},
		"layers.0.blocks.0.conv1.c.weight":      {256, 64, 1, 1},
		"layers.0.blocks.1.conv2.c.weight":      {256, 1, 3, 3},
		"layers.0.downsample.conv2.c.weight":    {128, 1, 3, 3},
		"layers.1.blocks.0.attn.qkv.weight":     {384, 128},
		"layers.1.blocks.0.attn.attention_bias": {4, 49, 49},
		"layers.2.blocks.5.mlp.fc1.weight":      {640, 160},
		"layers.2.blocks.5.attn.attention_bias": {5, 196, 196},
		"layers.2.downsample.conv3.c.weight":    {320, 320, 1, 1},
		"layers.3.blocks.1.mlp.fc2.weight":      {320, 1280},
		"layers.3.blocks.1.attn.attention_bias": {10, 49, 49},
		"layers.3.blocks.1.local_conv.c.weight": {320, 1, 3, 3},
		"neck.0.weight":                         {256, 320, 1, 1},
		"neck.1.weight":                         {256},
		"neck.2.weight":                         {256, 256, 3, 3},
		"neck.3.bias":                           {256},
	}
	for name, want := range shapes {
		if tt := c.Tensors[name]; tt == nil || !reflect.DeepEqual(tt.Shape, want) {
			t.Errorf("%s: got %v, want shape %v", name, tt, want)
		}
	}
	// Every anonymous initializer got a module path; check values survive.
	src := m.Graph.Initializer(c.Source["layers.1.blocks.0.attn.qkv.weight"])
	vals, _ := src.Float32s()
	w := c.Tensors["layers.1.blocks.0.attn.qkv.weight"]
	for _, ij := range [][2]int{{0, 0}, {5, 17}, {127, 383}} {
		if got, want := w.Data[ij[1]*128+ij[0]], vals[ij[0]*384+ij[1]]; got != want {
			t.Errorf("qkv weight[%d][%d] = %v, want ONNX [%d][%d] = %v", ij[1], ij[0], got, ij[0], ij[1], want)
		}
	}
	for name := range c.Tensors {
		if strings.Contains(name, "onnx::") || strings.HasPrefix(name, "/") {
			t.Errorf("tensor left with an ONNX name: %s", name)
		}
	}
}

func TestConvertAndDescribeOddGraphs(t *testing.T) {
	noOut := tinyEncoder()
	noOut.Graph.Nodes = append(noOut.Graph.Nodes, &onnx.Node{Name: "/c", OpType: "Constant",
		Attributes: []*onnx.Attribute{{Name: "value", Type: onnx.AttrTensor, T: ftensor("", []int64{2}, []float32{1, 2})}}})
	if _, err := Convert(noOut); err == nil {
		t.Error("a Constant without outputs was accepted")
	}
	noValue := tinyEncoder()
	noValue.Graph.Nodes[1].Attributes = nil
	if _, err := Convert(noValue); err == nil {
		t.Error("a Constant without a value was accepted")
	}
	var out bytes.Buffer
	if err := Describe(&out, noValue, nil); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "onnx::MatMul_3[2 3]") {
		t.Errorf("without a conversion, Describe should show ONNX names:\n%s", out.String())
	}
	if err := Describe(&out, &onnx.Model{}, nil); err == nil {
		t.Error("Describe of a model without a graph succeeded")
	}
}
