package weights

import (
	"fmt"
	"io"
	"strings"

	"github.com/busam/busam/weights/onnx"
)

// Describe writes the nodes whose names start with one of prefixes (all
// nodes if none) as one line each: op, node name, inputs and attributes.
// Inputs are shown as the PyTorch parameter they hold, the value of a
// small Constant, or the name of the node producing them, so one block's
// computation can be read off directly (this is how ENCODER.md was made).
func Describe(w io.Writer, m *onnx.Model, c *Conversion, prefixes ...string) error {
	if m == nil || m.Graph == nil {
		return fmt.Errorf("describe: no graph")
	}
	if c == nil {
		c = &Conversion{} // no parameter names: show ONNX names
	}
	g := m.Graph
	param := map[string]string{} // ONNX source name -> PyTorch name
	for name, src := range c.Source {
		param[src] = name
	}
	inits := map[string]*onnx.Tensor{}
	for _, t := range g.Initializers {
		inits[t.Name] = t
	}
	consts := map[string]*onnx.Node{}
	producer := map[string]*onnx.Node{}
	for _, n := range g.Nodes {
		for _, out := range n.Outputs {
			producer[out] = n
			if n.OpType == "Constant" {
				consts[out] = n
			}
		}
	}
	selected := func(name string) bool {
		if len(prefixes) == 0 {
			return true
		}
		for _, p := range prefixes {
			if strings.HasPrefix(name, p) {
				return true
			}
		}
		return false
	}
	for _, n := range g.Nodes {
		if n.OpType == "Constant" || !selected(n.Name) {
			continue // constants are shown inline where they are used
		}
		ins := make([]string, len(n.Inputs))
		for i, in := range n.Inputs {
			ins[i] = describeInput(in, c, param, inits, consts, producer)
		}
		_, err := fmt.Fprintf(w, "%-10s %s(%s)%s\n", n.OpType, n.Name, strings.Join(ins, ", "), describeAttrs(n))
		if err != nil {
			return err
		}
	}
	return nil
}

func describeInput(in string, c *Conversion, param map[string]string, inits map[string]*onnx.Tensor,
	consts map[string]*onnx.Node, producer map[string]*onnx.Node) string {
	switch {
	case in == "":
		return "-"
	case inits[in] != nil:
		if p, ok := param[in]; ok {
			if c.Transposed[p] {
				p += "^T" // the ONNX operand is the stored weight transposed
			}
			return fmt.Sprintf("%s%v", p, inits[in].Dims)
		}
		return fmt.Sprintf("%s%v", in, inits[in].Dims)
	case consts[in] != nil:
		n := consts[in]
		var value *onnx.Tensor
		if a := n.Attr("value"); a != nil {
			value = a.T
		}
		if p, ok := param[n.Name]; ok && value != nil {
			return fmt.Sprintf("%s%v", p, value.Dims)
		}
		return constValue(value)
	case producer[in] != nil:
		return "<" + producer[in].Name + ">"
	}
	return in // a graph input
}

func constValue(t *onnx.Tensor) string {
	if t == nil {
		return "const(?)"
	}
	if n, err := t.Numel(); err != nil || n > 8 {
		return fmt.Sprintf("const %s%v", t.DataType, t.Dims)
	}
	if v, err := t.Float32s(); err == nil {
		return fmt.Sprintf("%v", fmtFloats(v))
	}
	if v, err := t.Int64s(); err == nil {
		return fmt.Sprintf("%v", v)
	}
	return fmt.Sprintf("const %s%v", t.DataType, t.Dims)
}

func fmtFloats(v []float32) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprintf("%.9g", x)
	}
	if len(s) == 1 {
		return s[0]
	}
	return "[" + strings.Join(s, " ") + "]"
}

func describeAttrs(n *onnx.Node) string {
	var parts []string
	for _, a := range n.Attributes {
		switch a.Type {
		case onnx.AttrInt:
			parts = append(parts, fmt.Sprintf("%s=%d", a.Name, a.I))
		case onnx.AttrInts:
			parts = append(parts, fmt.Sprintf("%s=%v", a.Name, a.Ints))
		case onnx.AttrFloat:
			parts = append(parts, fmt.Sprintf("%s=%.9g", a.Name, a.F))
		case onnx.AttrString:
			parts = append(parts, fmt.Sprintf("%s=%q", a.Name, a.S))
		case onnx.AttrTensor:
			parts = append(parts, a.Name+"="+constValue(a.T))
		default:
			parts = append(parts, fmt.Sprintf("%s=(type %d)", a.Name, a.Type))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "  " + strings.Join(parts, " ")
}
