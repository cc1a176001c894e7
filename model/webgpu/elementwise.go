package webgpu

import "fmt"

var (
	unarySpec    = &kernelSpec{name: "unary", files: []string{"common.wgsl", "unary.wgsl"}, writes: []bool{false, true}}
	binarySpec   = &kernelSpec{name: "binary", files: []string{"common.wgsl", "binary.wgsl"}, writes: []bool{false, false, true}}
	upsampleSpec = &kernelSpec{name: "upsample", files: []string{"common.wgsl", "upsample.wgsl"}, writes: []bool{false, true}}
)

// Activate writes act(src[i]) to dst[i] for the first n values.
func (d *Device) Activate(dst, src *Buffer, n int, act Activation) error {
	const op = "activate"
	if err := positive(op, n); err != nil {
		return err
	}
	if act > ActGELUTanh {
		return fmt.Errorf("webgpu: %s: unknown activation %d", op, act)
	}
	if err := fits32(op, n); err != nil {
		return err
	}
	if err := need(op, "src", src, n); err != nil {
		return err
	}
	if err := need(op, "dst", dst, n); err != nil {
		return err
	}
	return d.run(unarySpec, []uint32{uint32(n), uint32(act), 0, 0}, groups1D(n, 256), src, dst)
}

// GELU writes gelu(src) (erf form) to dst.
func (d *Device) GELU(dst, src *Buffer, n int) error { return d.Activate(dst, src, n, ActGELU) }

// Sigmoid writes 1/(1+exp(-src)) to dst.
func (d *Device) Sigmoid(dst, src *Buffer, n int) error { return d.Activate(dst, src, n, ActSigmoid) }

// BinaryOp is the operation of Binary.
type BinaryOp uint32

// Binary operations.
const (
	OpAdd BinaryOp = 0
	OpMul BinaryOp = 1
)

// Broadcast says which value of b pairs with a[i] in Binary: Len = 0 means
// b has a's shape; otherwise b has Len values and pairs as b[(i/Inner) %
// Len] (Inner = 0 or 1: b repeats, e.g. a [1,H,W] mask over [C,H,W];
// Inner = H*W: b per channel of a CHW map).
type Broadcast struct {
	Len, Inner int
}

// Binary writes a[i] op b[j] to dst[i] for i < n, j given by bc.
func (d *Device) Binary(dst, a, b *Buffer, n int, op BinaryOp, bc Broadcast) error {
	const name = "binary"
	if err := positive(name, n); err != nil {
		return err
	}
	if op > OpMul || bc.Len < 0 || bc.Inner < 0 {
		return fmt.Errorf("webgpu: %s: bad op %d or broadcast %+v", name, op, bc)
	}
	if err := fits32(name, n); err != nil {
		return err
	}
	mode, bLen := uint32(0), n
	switch {
	case bc.Len > 0 && bc.Inner <= 1:
		mode, bLen = 1, bc.Len
	case bc.Len > 0:
		mode, bLen = 2, bc.Len
	}
	if err := need(name, "a", a, n); err != nil {
		return err
	}
	if err := need(name, "b", b, bLen); err != nil {
		return err
	}
	if err := need(name, "dst", dst, n); err != nil {
		return err
	}
	params := []uint32{uint32(n), uint32(op), mode, uint32(bLen), uint32(max(bc.Inner, 1)), 0, 0, 0}
	return d.run(binarySpec, params, groups1D(n, 256), a, b, dst)
}

// Add writes a + b to dst (n values each).
func (d *Device) Add(dst, a, b *Buffer, n int) error {
	return d.Binary(dst, a, b, n, OpAdd, Broadcast{})
}

// Mul writes a * b to dst (n values each).
func (d *Device) Mul(dst, a, b *Buffer, n int) error {
	return d.Binary(dst, a, b, n, OpMul, Broadcast{})
}

// ResizeBilinear resizes a CHW map src [c,inH,inW] into dst [c,outH,outW]
// with bilinear interpolation, align_corners=false (PyTorch's
// F.interpolate(x, size, mode="bilinear")).
func (d *Device) ResizeBilinear(dst, src *Buffer, c, inH, inW, outH, outW int) error {
	const op = "resize bilinear"
	if err := positive(op, c, inH, inW, outH, outW); err != nil {
		return err
	}
	if err := fits32(op, max(c*inH*inW, c*outH*outW)); err != nil {
		return err
	}
	if err := need(op, "src", src, c*inH*inW); err != nil {
		return err
	}
	if err := need(op, "dst", dst, c*outH*outW); err != nil {
		return err
	}
	params := []uint32{
		uint32(c), uint32(inH), uint32(inW), uint32(outH),
		uint32(outW), f32bits(float32(inH) / float32(outH)), f32bits(float32(inW) / float32(outW)), 0,
	}
	return d.run(upsampleSpec, params, groups1D(c*outH*outW, 256), src, dst)
}

var (
	avgPoolSpec = &kernelSpec{name: "avgpool", files: []string{"common.wgsl", "avgpool.wgsl"}, writes: []bool{false, true}}
	copySpec    = &kernelSpec{name: "copy", files: []string{"common.wgsl", "copy.wgsl"}, writes: []bool{false, true}}
)

// AvgPool averages non-overlapping k x k blocks of a CHW map src [c,h,w]
// into dst [c, h/k, w/k] (PyTorch AvgPool2d(k)).
func (d *Device) AvgPool(dst, src *Buffer, c, h, w, k int) error {
	const op = "avgpool"
	if err := positive(op, c, h, w, k); err != nil {
		return err
	}
	oh, ow := h/k, w/k
	if oh == 0 || ow == 0 {
		return fmt.Errorf("webgpu: %s: %dx%d map smaller than the %dx%d block", op, h, w, k, k)
	}
	if err := fits32(op, c*h*w); err != nil {
		return err
	}
	if err := need(op, "src", src, c*h*w); err != nil {
		return err
	}
	if err := need(op, "dst", dst, c*oh*ow); err != nil {
		return err
	}
	params := []uint32{uint32(c), uint32(h), uint32(w), uint32(k), uint32(oh), uint32(ow), 0, 0}
	return d.run(avgPoolSpec, params, groups1D(c*oh*ow, 256), src, dst)
}

// Copy copies n values from src[srcOff:] to dst[dstOff:]. Concatenating
// CHW maps along channels is one Copy per map.
func (d *Device) Copy(dst *Buffer, dstOff int, src *Buffer, srcOff, n int) error {
	const op = "copy"
	if err := positive(op, n); err != nil {
		return err
	}
	if srcOff < 0 || dstOff < 0 {
		return fmt.Errorf("webgpu: %s: negative offset %d or %d", op, srcOff, dstOff)
	}
	if err := fits32(op, max(srcOff, dstOff)+n); err != nil {
		return err
	}
	if err := need(op, "src", src, srcOff+n); err != nil {
		return err
	}
	if err := need(op, "dst", dst, dstOff+n); err != nil {
		return err
	}
	return d.run(copySpec, []uint32{uint32(n), uint32(srcOff), uint32(dstOff), 0}, groups1D(n, 256), src, dst)
}
