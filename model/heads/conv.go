package heads

import (
	"fmt"

	"github.com/busam/busam/model/cpu"
	"github.com/busam/busam/model/tensor"
)

// Conv2d is a stride-1 "same" convolution with an odd square kernel over a
// CHW map: y = W * x + b, W shaped [OutC, InC, K, K].
type Conv2d struct {
	InC, OutC, K int
	W, B         *Param // B may be nil
}

func newConv2d(s *paramSet, name string, inC, outC, k int, bias bool) *Conv2d {
	c := &Conv2d{InC: inC, OutC: outC, K: k}
	c.W = s.normal(s.add(name+".weight", outC, inC, k, k), heStd(inC*k*k))
	if bias {
		c.B = s.add(name+".bias", outC)
	}
	return c
}

func (c *Conv2d) check(x *tensor.Tensor) error {
	if len(x.Shape) != 3 || x.Shape[0] != c.InC {
		return fmt.Errorf("conv2d: input %v, want [%d,H,W]", x.Shape, c.InC)
	}
	return nil
}

// Forward returns the convolution of x [InC,H,W] as [OutC,H,W].
func (c *Conv2d) Forward(x *tensor.Tensor) *tensor.Tensor {
	y, _ := c.forward(x)
	return y
}

// forward also returns the im2col matrix, which training keeps so the
// backward pass need not rebuild it.
func (c *Conv2d) forward(x *tensor.Tensor) (*tensor.Tensor, []float32) {
	h, w := x.Shape[1], x.Shape[2]
	p := h * w
	ikk := c.InC * c.K * c.K
	y := tensor.New(c.OutC, h, w)
	col := im2col(x.Data, c.InC, h, w, c.K)
	cpu.Gemm(false, false, c.OutC, p, ikk, 1, c.W.Value.Data, ikk, col, p, 0, y.Data, p)
	if c.B != nil {
		for o, b := range c.B.Value.Data {
			row := y.Data[o*p : (o+1)*p]
			for i := range row {
				row[i] += b
			}
		}
	}
	return y, col
}

// Backward adds the weight and bias gradients for output gradient dy into g
// and returns the input gradient (nil unless wantDx: the first layer on the
// frozen embedding does not need it, and it costs as much as the forward).
func (c *Conv2d) Backward(x, dy *tensor.Tensor, g Grads, wantDx bool) *tensor.Tensor {
	return c.backward(x, nil, dy, g, wantDx)
}

// backward is Backward with the forward pass's im2col matrix (nil: rebuild it).
func (c *Conv2d) backward(x *tensor.Tensor, col []float32, dy *tensor.Tensor, g Grads, wantDx bool) *tensor.Tensor {
	h, w := x.Shape[1], x.Shape[2]
	p := h * w
	ikk := c.InC * c.K * c.K
	if col == nil {
		col = im2col(x.Data, c.InC, h, w, c.K)
	}
	cpu.Gemm(false, true, c.OutC, ikk, p, 1, dy.Data, p, col, p, 1, g[c.W.Index], ikk)
	if c.B != nil {
		gb := g[c.B.Index]
		for o := range c.OutC {
			var s float32
			for _, v := range dy.Data[o*p : (o+1)*p] {
				s += v
			}
			gb[o] += s
		}
	}
	if !wantDx {
		return nil
	}
	dx := tensor.New(c.InC, h, w)
	if c.K == 1 {
		cpu.Gemm(true, false, ikk, p, c.OutC, 1, c.W.Value.Data, ikk, dy.Data, p, 0, dx.Data, p)
		return dx
	}
	dcol := make([]float32, ikk*p)
	cpu.Gemm(true, false, ikk, p, c.OutC, 1, c.W.Value.Data, ikk, dy.Data, p, 0, dcol, p)
	col2im(dcol, dx.Data, c.InC, h, w, c.K)
	return dx
}

// FLOPs is the multiply-add count (times two) of one forward pass on an
// h x w map.
func (c *Conv2d) FLOPs(h, w int) int64 {
	return 2 * int64(c.OutC) * int64(c.InC*c.K*c.K) * int64(h*w)
}

// im2col lays out the K x K neighbourhoods of x [C,H,W] as a
// [C*K*K, H*W] matrix (zero outside the map). For K = 1 it is x itself.
func im2col(x []float32, c, h, w, k int) []float32 {
	if k == 1 {
		return x
	}
	pad := k / 2
	p := h * w
	col := make([]float32, c*k*k*p)
	for ch := range c {
		src := x[ch*p : (ch+1)*p]
		for ky := range k {
			for kx := range k {
				dst := col[((ch*k+ky)*k+kx)*p:][:p]
				dx := kx - pad
				for y := range h {
					sy := y + ky - pad
					if sy < 0 || sy >= h {
						continue
					}
					row := dst[y*w : (y+1)*w]
					srow := src[sy*w : (sy+1)*w]
					lo, hi := max(0, -dx), min(w, w-dx)
					if lo < hi {
						copy(row[lo:hi], srow[lo+dx:hi+dx])
					}
				}
			}
		}
	}
	return col
}

// col2im is the adjoint of im2col: it adds each column entry back onto the
// input pixel it was copied from.
func col2im(col, dx []float32, c, h, w, k int) {
	pad := k / 2
	p := h * w
	for ch := range c {
		dst := dx[ch*p : (ch+1)*p]
		for ky := range k {
			for kx := range k {
				src := col[((ch*k+ky)*k+kx)*p:][:p]
				dxo := kx - pad
				for y := range h {
					sy := y + ky - pad
					if sy < 0 || sy >= h {
						continue
					}
					row := src[y*w : (y+1)*w]
					drow := dst[sy*w : (sy+1)*w]
					lo, hi := max(0, -dxo), min(w, w-dxo)
					for x := lo; x < hi; x++ {
						drow[x+dxo] += row[x]
					}
				}
			}
		}
	}
}
