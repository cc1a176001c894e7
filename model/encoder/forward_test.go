package encoder

import (
	"fmt"
	"strings"
	"testing"

	"github.com/busam/busam/model/tensor"
)

// shapeBackend runs Forward on shapes alone: each op checks that the map it
// gets has the channels and size its module expects and records itself.
type shapeBackend struct {
	t   *testing.T
	ops []string
}

type shape struct{ c, h, w int }

func (b *shapeBackend) check(op string, x shape, in, h, w int) {
	b.t.Helper()
	if x.c != in || x.h != h || x.w != w {
		b.t.Errorf("%s: got a %dx%dx%d map, module takes %d channels at %dx%d", op, x.c, x.h, x.w, in, h, w)
	}
	b.ops = append(b.ops, op)
}

func (b *shapeBackend) Input(x *tensor.Tensor) shape {
	return shape{x.Shape[0], x.Shape[1], x.Shape[2]}
}
func (b *shapeBackend) Conv(x shape, c *Conv, h, w int, act Activation) shape {
	b.check("conv "+c.Weight.Name, x, c.InC, h, w)
	oh, ow := c.OutSize(h, w)
	return shape{c.OutC, oh, ow}
}
func (b *shapeBackend) MBConv(x shape, m *MBConv, h, w int) shape {
	b.check("mbconv", x, m.Conv1.InC, h, w)
	return shape{m.Conv3.OutC, h, w}
}
func (b *shapeBackend) Merge(x shape, m *Merge, h, w int) shape {
	b.check("merge", x, m.Conv1.InC, h, w)
	oh, ow := m.OutSize(h, w)
	return shape{m.Conv3.OutC, oh, ow}
}
func (b *shapeBackend) Attention(x shape, a *Attention, h, w int) shape {
	b.check("attention", x, a.Dim, h, w)
	return x
}
func (b *shapeBackend) MLP(x shape, m *MLP, h, w int) shape {
	b.check("mlp", x, m.FC2.Out, h, w)
	return x
}
func (b *shapeBackend) Norm(x shape, n *Norm, h, w int) shape {
	b.check("norm "+n.Weight.Name, x, n.Dim, h, w)
	return x
}
func (b *shapeBackend) Output(x shape, c, h, w int) (*tensor.Tensor, error) {
	b.check("output", x, c, h, w)
	return tensor.New(c, h, w), nil
}

// TestForwardDataFlow runs the shared Forward on a shape-only backend:
// every module sees the channels and resolution it was built for, in
// module order, and the result has OutputSize's shape.
func TestForwardDataFlow(t *testing.T) {
	for _, cfg := range []Config{Tiny, MobileSAM} {
		p, err := Layout(cfg)
		if err != nil {
			t.Fatal(err)
		}
		for _, size := range [][2]int{{1, 1}, {45, 29}, {1024, 1024}} {
			b := &shapeBackend{t: t}
			out, err := Forward[shape](b, p, tensor.New(3, size[0], size[1]))
			if err != nil {
				t.Fatal(err)
			}
			oh, ow := cfg.OutputSize(size[0], size[1])
			if want := fmt.Sprint([]int{cfg.NeckDim, oh, ow}); fmt.Sprint(out.Shape) != want {
				t.Errorf("%v: output %v, want %s", size, out.Shape, want)
			}
			blocks := cfg.Depths[1] + cfg.Depths[2] + cfg.Depths[3]
			// stem 2 + MBConvs + 3 per block + 3 merges + neck 4 + output.
			if want := 2 + cfg.Depths[0] + 3*blocks + 3 + 4 + 1; len(b.ops) != want {
				t.Errorf("%v: %d ops, want %d: %s", size, len(b.ops), want, strings.Join(b.ops, ", "))
			}
		}
	}
	p, _ := Layout(Tiny)
	if _, err := Forward[shape](&shapeBackend{t: t}, p, tensor.New(1, 8, 8)); err == nil {
		t.Error("Forward accepted a 1-channel image for a 3-channel encoder")
	}
}
