package cpu

// ConvParams describes a 2-D convolution over a CHW input (batch 1), with
// PyTorch semantics: weight is [OutC, InC/Groups, KH, KW], symmetric zero
// padding, equal stride in both directions.
type ConvParams struct {
	InC, InH, InW int
	OutC          int
	KH, KW        int
	Stride, Pad   int
	Groups        int
}

// OutSize returns the output height and width.
func (p ConvParams) OutSize() (int, int) {
	return (p.InH+2*p.Pad-p.KH)/p.Stride + 1, (p.InW+2*p.Pad-p.KW)/p.Stride + 1
}

// Conv2D writes the convolution of src with w (+ bias, may be nil) into dst,
// which must hold OutC*OH*OW values.
func Conv2D(dst, src, w, bias []float32, p ConvParams) {
	conv2DRef(dst, src, w, bias, p)
}

func conv2DRef(dst, src, w, bias []float32, p ConvParams) {
	g := p.Groups
	if g == 0 {
		g = 1
	}
	oh, ow := p.OutSize()
	icg, ocg := p.InC/g, p.OutC/g
	for oc := 0; oc < p.OutC; oc++ {
		grp := oc / ocg
		for y := 0; y < oh; y++ {
			for x := 0; x < ow; x++ {
				var s float32
				if bias != nil {
					s = bias[oc]
				}
				for ic := 0; ic < icg; ic++ {
					cin := grp*icg + ic
					for ky := 0; ky < p.KH; ky++ {
						iy := y*p.Stride - p.Pad + ky
						if iy < 0 || iy >= p.InH {
							continue
						}
						for kx := 0; kx < p.KW; kx++ {
							ix := x*p.Stride - p.Pad + kx
							if ix < 0 || ix >= p.InW {
								continue
							}
							s += src[(cin*p.InH+iy)*p.InW+ix] * w[((oc*icg+ic)*p.KH+ky)*p.KW+kx]
						}
					}
				}
				dst[(oc*oh+y)*ow+x] = s
			}
		}
	}
}
