package webgpu

import "fmt"

var (
	layerNormSpec = &kernelSpec{name: "layernorm", files: []string{"common.wgsl", "layernorm.wgsl"}, writes: []bool{false, false, false, true}}
	softmaxSpec   = &kernelSpec{name: "softmax", files: []string{"common.wgsl", "softmax.wgsl"}, writes: []bool{false, true}}
)

func (d *Device) layerNorm(op string, dst, src, gamma, beta *Buffer, rows, cols, rowStride, colStride int, eps float32) error {
	if err := positive(op, rows, cols); err != nil {
		return err
	}
	if err := fits32(op, rows*cols); err != nil {
		return err
	}
	if err := need(op, "src", src, rows*cols); err != nil {
		return err
	}
	if err := need(op, "dst", dst, rows*cols); err != nil {
		return err
	}
	if (gamma == nil) != (beta == nil) {
		return fmt.Errorf("webgpu: %s: weight and bias must both be given or both nil", op)
	}
	var flags uint32
	if gamma != nil {
		flags = 1
		if err := need(op, "weight", gamma, cols); err != nil {
			return err
		}
		if err := need(op, "bias", beta, cols); err != nil {
			return err
		}
	}
	params := []uint32{uint32(rows), uint32(cols), uint32(rowStride), uint32(colStride), f32bits(eps), flags, 0, 0}
	return d.run(layerNormSpec, params, groups1D(rows, 64), src, gamma, beta, dst)
}

// LayerNorm is nn.LayerNorm over the last dimension of tokens [rows, cols]:
// dst = (x - mean) / sqrt(var + eps) * gamma + beta. gamma and beta may both
// be nil (no affine part). dst must not be src.
func (d *Device) LayerNorm(dst, src, gamma, beta *Buffer, rows, cols int, eps float32) error {
	return d.layerNorm("layernorm", dst, src, gamma, beta, rows, cols, cols, 1, eps)
}

// LayerNorm2d is SAM's LayerNorm2d: a CHW map [c,h,w] normalized over
// channels at each pixel, with per-channel gamma and beta.
func (d *Device) LayerNorm2d(dst, src, gamma, beta *Buffer, c, h, w int, eps float32) error {
	return d.layerNorm("layernorm2d", dst, src, gamma, beta, h*w, c, 1, h*w, eps)
}

// Softmax replaces each row of x [rows, cols] by its softmax.
func (d *Device) Softmax(x *Buffer, rows, cols int) error {
	return d.SoftmaxBias(x, rows, cols, 1, nil, 0)
}

// SoftmaxBias replaces each row r of x [rows, cols] by softmax(scale*x[r] +
// bias[r % biasRows]), bias being a [biasRows, cols] table (nil: none).
// This is attention's softmax(QK^T*scale + B) with B [heads, N, N] repeated
// over windows when rows are ordered (window, head, query).
func (d *Device) SoftmaxBias(x *Buffer, rows, cols int, scale float32, bias *Buffer, biasRows int) error {
	const op = "softmax"
	if err := positive(op, rows, cols); err != nil {
		return err
	}
	if err := fits32(op, rows*cols); err != nil {
		return err
	}
	if err := need(op, "x", x, rows*cols); err != nil {
		return err
	}
	var flags uint32
	if bias != nil {
		flags = 4
		if biasRows <= 0 {
			return fmt.Errorf("webgpu: %s: bias table needs biasRows > 0", op)
		}
		if err := need(op, "bias", bias, biasRows*cols); err != nil {
			return err
		}
	} else {
		biasRows = 1
	}
	params := []uint32{uint32(rows), uint32(cols), f32bits(scale), uint32(biasRows), flags, 0, 0, 0}
	return d.run(softmaxSpec, params, groups1D(rows, 64), bias, x)
}

var groupNormSpec = &kernelSpec{name: "groupnorm", files: []string{"common.wgsl", "groupnorm.wgsl"}, writes: []bool{false, false, false, true}}

// GroupNorm is nn.GroupNorm on a CHW map [c,h,w]: each of groups groups of
// c/groups channels is normalized over its channels and pixels, then
// scaled and shifted per channel by gamma and beta [c].
func (d *Device) GroupNorm(dst, src, gamma, beta *Buffer, c, h, w, groups int, eps float32) error {
	const op = "groupnorm"
	if err := positive(op, c, h, w, groups); err != nil {
		return err
	}
	if c%groups != 0 {
		return fmt.Errorf("webgpu: %s: %d channels not divisible into %d groups", op, c, groups)
	}
	if err := fits32(op, c*h*w); err != nil {
		return err
	}
	for _, b := range []struct {
		name string
		buf  *Buffer
		n    int
	}{{"src", src, c * h * w}, {"dst", dst, c * h * w}, {"weight", gamma, c}, {"bias", beta, c}} {
		if err := need(op, b.name, b.buf, b.n); err != nil {
			return err
		}
	}
	params := []uint32{uint32(groups), uint32(c / groups), uint32(h * w), f32bits(eps)}
	return d.run(groupNormSpec, params, [3]uint32{uint32(groups), 1, 1}, src, gamma, beta, dst)
}
