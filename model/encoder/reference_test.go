package encoder

// Plain float64 references written straight from the PyTorch module
// definitions (CHW maps, [N,C] tokens, explicit padding and window
// partition), against which the HWC, fused, parallel code is checked.

import (
	"fmt"
	"math"

	"github.com/busam/busam/internal/testutil"
	"github.com/busam/busam/model/tensor"
)

// refMACs counts the multiply-adds the reference performs, padding taps of
// convolutions included, to check (*Encoder).FLOPs independently.
var refMACs int64

// refConv is a direct CHW convolution with groups, zero padding and bias.
func refConv(src []float64, inC, h, w int, weight, bias []float32, outC, k, stride, pad, groups int) ([]float64, int, int) {
	oh, ow := (h+2*pad-k)/stride+1, (w+2*pad-k)/stride+1
	icg, ocg := inC/groups, outC/groups
	out := make([]float64, outC*oh*ow)
	refMACs += int64(outC * oh * ow * icg * k * k)
	for oc := 0; oc < outC; oc++ {
		g := oc / ocg
		for y := 0; y < oh; y++ {
			for x := 0; x < ow; x++ {
				s := 0.0
				if bias != nil {
					s = float64(bias[oc])
				}
				for ic := 0; ic < icg; ic++ {
					for ky := 0; ky < k; ky++ {
						for kx := 0; kx < k; kx++ {
							iy, ix := y*stride-pad+ky, x*stride-pad+kx
							if iy < 0 || iy >= h || ix < 0 || ix >= w {
								continue
							}
							s += src[((g*icg+ic)*h+iy)*w+ix] * float64(weight[((oc*icg+ic)*k+ky)*k+kx])
						}
					}
				}
				out[(oc*oh+y)*ow+x] = s
			}
		}
	}
	return out, oh, ow
}

func refGELU(x float64) float64 { return 0.5 * x * (1 + math.Erf(x/math.Sqrt2)) }

func refGELUAll(x []float64) []float64 {
	for i, v := range x {
		x[i] = refGELU(v)
	}
	return x
}

// refLinear is y[n, out] = x[n, in] W^T + b, W as [out, in].
func refLinear(x []float64, n, in, out int, w, b []float32) []float64 {
	y := make([]float64, n*out)
	refMACs += int64(n * out * in)
	for r := 0; r < n; r++ {
		for o := 0; o < out; o++ {
			s := float64(b[o])
			for i := 0; i < in; i++ {
				s += x[r*in+i] * float64(w[o*in+i])
			}
			y[r*out+o] = s
		}
	}
	return y
}

func chw2tok(x []float64, c, h, w int) []float64 {
	t := make([]float64, len(x))
	for ch := 0; ch < c; ch++ {
		for i := 0; i < h*w; i++ {
			t[i*c+ch] = x[ch*h*w+i]
		}
	}
	return t
}

func tok2chw(t []float64, c, h, w int) []float64 {
	x := make([]float64, len(t))
	for ch := 0; ch < c; ch++ {
		for i := 0; i < h*w; i++ {
			x[ch*h*w+i] = t[i*c+ch]
		}
	}
	return x
}

// refAttention is TinyViT's attentionOp on one window's tokens [n, dim].
func refAttention(x []float64, n int, at *attentionOp, bias []float32) []float64 {
	dim, heads, kd := at.Dim, at.Heads, at.KeyDim
	xn := testutil.LayerNorm(x, n, dim, at.normW, at.normB, 1e-5)
	qkv := refLinear(xn, n, dim, 3*dim, at.qkvW, at.qkvB)
	o := make([]float64, n*dim)
	scale := 1 / math.Sqrt(float64(kd))
	refMACs += int64(2 * heads * n * n * kd) // q k^T and p v
	for h := 0; h < heads; h++ {
		// qkv.view(n, heads, -1).split([kd, kd, kd]): per head [q | k | v].
		at := func(t, part, d int) float64 { return qkv[t*3*dim+h*3*kd+part*kd+d] }
		for i := 0; i < n; i++ {
			s := make([]float64, n)
			mx := math.Inf(-1)
			for j := 0; j < n; j++ {
				dot := 0.0
				for d := 0; d < kd; d++ {
					dot += at(i, 0, d) * at(j, 1, d)
				}
				s[j] = dot*scale + float64(bias[(h*n+i)*n+j])
				mx = math.Max(mx, s[j])
			}
			sum := 0.0
			for j := range s {
				s[j] = math.Exp(s[j] - mx)
				sum += s[j]
			}
			for d := 0; d < kd; d++ {
				v := 0.0
				for j := 0; j < n; j++ {
					v += s[j] / sum * at(j, 2, d)
				}
				o[i*dim+h*kd+d] = v
			}
		}
	}
	return refLinear(o, n, dim, dim, at.projW, at.projB)
}

// refWindowAttention pads tokens [h*w, dim] with zeros to whole windows,
// runs refAttention on each window, crops, and adds the residual.
func refWindowAttention(x []float64, h, w int, at *attentionOp) []float64 {
	ws, dim := at.Window, at.Dim
	ph, pw := (h+ws-1)/ws*ws, (w+ws-1)/ws*ws
	out := append([]float64(nil), x...)
	for wy := 0; wy < ph/ws; wy++ {
		for wx := 0; wx < pw/ws; wx++ {
			win := make([]float64, ws*ws*dim)
			for t := 0; t < ws*ws; t++ {
				y, xx := wy*ws+t/ws, wx*ws+t%ws
				if y < h && xx < w {
					copy(win[t*dim:(t+1)*dim], x[(y*w+xx)*dim:(y*w+xx+1)*dim])
				}
			}
			r := refAttention(win, ws*ws, at, at.bias)
			for t := 0; t < ws*ws; t++ {
				y, xx := wy*ws+t/ws, wx*ws+t%ws
				if y < h && xx < w {
					for c := 0; c < dim; c++ {
						out[(y*w+xx)*dim+c] += r[t*dim+c]
					}
				}
			}
		}
	}
	return out
}

// refConvBN runs a convOp from its original PyTorch weight on a CHW map.
func refConvBN(p map[string]*tensor.Tensor, prefix string, x []float64, inC, h, w, outC, k, stride, groups int, withBias bool) ([]float64, int, int) {
	wt := p[prefix+".weight"].Data
	var b []float32
	if withBias {
		b = p[prefix+".bias"].Data
	}
	return refConv(x, inC, h, w, wt, b, outC, k, stride, k/2, groups)
}

// refEncoder is the whole encoder, module by module as in tiny_vit_sam.py,
// on a CHW input.
func refEncoder(cfg Config, p map[string]*tensor.Tensor, x []float64, h, w int) ([]float64, int, int) {
	ps, err := NewParams(cfg, p) // for the gathered attention biases
	if err != nil {
		panic(err)
	}
	d := cfg.EmbedDims
	y, h, w := refConvBN(p, "patch_embed.seq.0.c", x, cfg.InChans, h, w, d[0]/2, 3, 2, 1, true)
	refGELUAll(y)
	y, h, w = refConvBN(p, "patch_embed.seq.2.c", y, d[0]/2, h, w, d[0], 3, 2, 1, true)
	hid := d[0] * cfg.MBConvExpand
	for i := 0; i < cfg.Depths[0]; i++ {
		pre := fmt.Sprintf("layers.0.blocks.%d", i)
		t, _, _ := refConvBN(p, pre+".conv1.c", y, d[0], h, w, hid, 1, 1, 1, true)
		refGELUAll(t)
		t, _, _ = refConvBN(p, pre+".conv2.c", t, hid, h, w, hid, 3, 1, hid, true)
		refGELUAll(t)
		t, _, _ = refConvBN(p, pre+".conv3.c", t, hid, h, w, d[0], 1, 1, 1, true)
		for j := range y {
			y[j] = refGELU(y[j] + t[j])
		}
	}
	merge := func(pre string, y []float64, inC, outC, h, w, stride int) ([]float64, int, int) {
		t, _, _ := refConvBN(p, pre+".conv1.c", y, inC, h, w, outC, 1, 1, 1, true)
		refGELUAll(t)
		t, h, w = refConvBN(p, pre+".conv2.c", t, outC, h, w, outC, 3, stride, outC, true)
		refGELUAll(t)
		t, h, w = refConvBN(p, pre+".conv3.c", t, outC, h, w, outC, 1, 1, 1, true)
		return t, h, w
	}
	y, h, w = merge("layers.0.downsample", y, d[0], d[1], h, w, 2)
	for s := 1; s < 4; s++ {
		for i := 0; i < cfg.Depths[s]; i++ {
			pre := fmt.Sprintf("layers.%d.blocks.%d", s, i)
			at := newAttentionOp(&ps.Blocks[s][i].Attn)
			tok := refWindowAttention(chw2tok(y, d[s], h, w), h, w, at)
			y, _, _ = refConvBN(p, pre+".local_conv.c", tok2chw(tok, d[s], h, w), d[s], h, w, d[s], 3, 1, d[s], true)
			tok = chw2tok(y, d[s], h, w)
			m := testutil.LayerNorm(tok, h*w, d[s], p[pre+".mlp.norm.weight"].Data, p[pre+".mlp.norm.bias"].Data, 1e-5)
			m = refGELUAll(refLinear(m, h*w, d[s], 4*d[s], p[pre+".mlp.fc1.weight"].Data, p[pre+".mlp.fc1.bias"].Data))
			m = refLinear(m, h*w, 4*d[s], d[s], p[pre+".mlp.fc2.weight"].Data, p[pre+".mlp.fc2.bias"].Data)
			for j := range tok {
				tok[j] += m[j]
			}
			y = tok2chw(tok, d[s], h, w)
		}
		if s < 3 {
			stride := 2
			if s == 2 {
				stride = cfg.LastMergeStride
			}
			y, h, w = merge(fmt.Sprintf("layers.%d.downsample", s), y, d[s], d[s+1], h, w, stride)
		}
	}
	nd := cfg.NeckDim
	y, _, _ = refConvBN(p, "neck.0", y, d[3], h, w, nd, 1, 1, 1, false)
	y = tok2chw(testutil.LayerNorm(chw2tok(y, nd, h, w), h*w, nd, p["neck.1.weight"].Data, p["neck.1.bias"].Data, 1e-6), nd, h, w)
	y, _, _ = refConvBN(p, "neck.2", y, nd, h, w, nd, 3, 1, 1, false)
	y = tok2chw(testutil.LayerNorm(chw2tok(y, nd, h, w), h*w, nd, p["neck.3.weight"].Data, p["neck.3.bias"].Data, 1e-6), nd, h, w)
	return y, h, w
}

// randomParams is RandomParams for a config the test knows is valid.
func randomParams(cfg Config, seed uint64) map[string]*tensor.Tensor {
	p, err := RandomParams(cfg, seed)
	if err != nil {
		panic(err)
	}
	return p
}
