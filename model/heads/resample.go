package heads

import "github.com/busam/busam/model/tensor"

// Upsample2x doubles the height and width of x [C,H,W] by bilinear
// interpolation with PyTorch's align_corners=False convention.
func Upsample2x(x *tensor.Tensor) *tensor.Tensor {
	c, h, w := x.Shape[0], x.Shape[1], x.Shape[2]
	y := tensor.New(c, 2*h, 2*w)
	ty, tx := upTaps(h), upTaps(w)
	for ch := range c {
		src := x.Data[ch*h*w : (ch+1)*h*w]
		dst := y.Data[ch*4*h*w : (ch+1)*4*h*w]
		for oy, a := range ty {
			for ox, b := range tx {
				v := (1-a.f)*((1-b.f)*src[a.i0*w+b.i0]+b.f*src[a.i0*w+b.i1]) +
					a.f*((1-b.f)*src[a.i1*w+b.i0]+b.f*src[a.i1*w+b.i1])
				dst[oy*2*w+ox] = v
			}
		}
	}
	return y
}

// Upsample2xBackward is the adjoint of Upsample2x: dy [C,2H,2W] -> [C,H,W].
func Upsample2xBackward(dy *tensor.Tensor) *tensor.Tensor {
	c, h, w := dy.Shape[0], dy.Shape[1]/2, dy.Shape[2]/2
	dx := tensor.New(c, h, w)
	ty, tx := upTaps(h), upTaps(w)
	for ch := range c {
		src := dy.Data[ch*4*h*w : (ch+1)*4*h*w]
		dst := dx.Data[ch*h*w : (ch+1)*h*w]
		for oy, a := range ty {
			for ox, b := range tx {
				d := src[oy*2*w+ox]
				dst[a.i0*w+b.i0] += (1 - a.f) * (1 - b.f) * d
				dst[a.i0*w+b.i1] += (1 - a.f) * b.f * d
				dst[a.i1*w+b.i0] += a.f * (1 - b.f) * d
				dst[a.i1*w+b.i1] += a.f * b.f * d
			}
		}
	}
	return dx
}

// tap is one output coordinate's two source indices and the weight of the
// second.
type tap struct {
	i0, i1 int
	f      float32
}

// upTaps gives the bilinear source taps of the 2n outputs of an n-long axis:
// source = (o+0.5)/2 - 0.5, clamped at the borders.
func upTaps(n int) []tap {
	t := make([]tap, 2*n)
	for o := range t {
		s := (float32(o)+0.5)/2 - 0.5
		if s < 0 {
			s = 0
		}
		i0 := int(s)
		i1 := min(i0+1, n-1)
		t[o] = tap{i0, i1, s - float32(i0)}
	}
	return t
}

// AvgPool averages non-overlapping k x k blocks of x [C,H,W]; H and W must
// be multiples of k.
func AvgPool(x *tensor.Tensor, k int) *tensor.Tensor {
	c, h, w := x.Shape[0], x.Shape[1], x.Shape[2]
	oh, ow := h/k, w/k
	y := tensor.New(c, oh, ow)
	inv := 1 / float32(k*k)
	for ch := range c {
		src := x.Data[ch*h*w : (ch+1)*h*w]
		dst := y.Data[ch*oh*ow : (ch+1)*oh*ow]
		for iy := range oh * k {
			row := src[iy*w : iy*w+ow*k]
			out := dst[(iy/k)*ow : (iy/k+1)*ow]
			for ix, v := range row {
				out[ix/k] += v
			}
		}
		for i := range dst {
			dst[i] *= inv
		}
	}
	return y
}

// AvgPoolBackward spreads dy [C,H/k,W/k] evenly back over each k x k block.
func AvgPoolBackward(dy *tensor.Tensor, k int) *tensor.Tensor {
	c, oh, ow := dy.Shape[0], dy.Shape[1], dy.Shape[2]
	h, w := oh*k, ow*k
	dx := tensor.New(c, h, w)
	inv := 1 / float32(k*k)
	for ch := range c {
		src := dy.Data[ch*oh*ow : (ch+1)*oh*ow]
		dst := dx.Data[ch*h*w : (ch+1)*h*w]
		for iy := range h {
			row := dst[iy*w : (iy+1)*w]
			in := src[(iy/k)*ow : (iy/k+1)*ow]
			for ix := range row {
				row[ix] = in[ix/k] * inv
			}
		}
	}
	return dx
}

// Concat stacks CHW maps of equal H and W along the channel axis.
func Concat(xs ...*tensor.Tensor) *tensor.Tensor {
	c := 0
	for _, x := range xs {
		c += x.Shape[0]
	}
	y := tensor.New(c, xs[0].Shape[1], xs[0].Shape[2])
	off := 0
	for _, x := range xs {
		off += copy(y.Data[off:], x.Data)
	}
	return y
}

// Split is the adjoint of Concat: it cuts dy into pieces of the given
// channel counts.
func Split(dy *tensor.Tensor, channels ...int) []*tensor.Tensor {
	h, w := dy.Shape[1], dy.Shape[2]
	out := make([]*tensor.Tensor, len(channels))
	off := 0
	for i, c := range channels {
		out[i] = tensor.From(append([]float32(nil), dy.Data[off:off+c*h*w]...), c, h, w)
		off += c * h * w
	}
	return out
}
