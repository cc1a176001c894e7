package encoder

// Neck maps the last stage (320 channels) to SAM's 256-channel embedding:
// 1x1 conv, LayerNorm2d, 3x3 conv, LayerNorm2d (eps 1e-6, over channels;
// both convs without bias). On HWC maps LayerNorm2d is a per-token
// LayerNorm.
type Neck struct {
	Conv1          *Conv2dBN
	norm1W, norm1B []float32
	Conv2          *Conv2dBN
	norm2W, norm2B []float32
}

const neckEps = 1e-6

func newNeck(l *loader, inC, outC int) *Neck {
	return &Neck{
		Conv1:  newConv2dBN(l, "neck.0", inC, outC, 1, 1, false, false),
		norm1W: l.get("neck.1.weight", outC),
		norm1B: l.get("neck.1.bias", outC),
		Conv2:  newConv2dBN(l, "neck.2", outC, outC, 3, 1, false, false),
		norm2W: l.get("neck.3.weight", outC),
		norm2B: l.get("neck.3.bias", outC),
	}
}

// forward returns the HWC neck output for an HWC map of h x w.
func (n *Neck) forward(a *arena, x []float32, h, w int) []float32 {
	c := n.Conv1.OutC
	t := a.get(h * w * c)
	n.Conv1.forward(a, t, x, h, w, actNone, false)
	layerNorm(t, t, h*w, c, n.norm1W, n.norm1B, neckEps)
	out := a.get(h * w * c)
	n.Conv2.forward(a, out, t, h, w, actNone, false)
	layerNorm(out, out, h*w, c, n.norm2W, n.norm2B, neckEps)
	a.put(t)
	return out
}

func (n *Neck) flops(h, w int) int64 {
	return n.Conv1.flops(h, w) + n.Conv2.flops(h, w)
}
