package webgpu

// Transpose and its kernel are test-only: no model uses them; the tests keep
// the kernel (shaders/transpose.wgsl) checked.

var transposeSpec = &kernelSpec{name: "transpose", files: []string{"common.wgsl", "transpose.wgsl"}, writes: []bool{false, true}}

// Transpose writes src [rows, cols] transposed into dst [cols, rows], plus
// beta*dst (beta = 1 adds into dst). It turns CHW maps into token rows and
// back.
func (d *Device) Transpose(dst, src *Buffer, rows, cols int, beta float32) error {
	const op = "transpose"
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
	groups := [3]uint32{uint32(ceilDiv(cols, 16)), uint32(ceilDiv(rows, 16)), 1}
	return d.run(transposeSpec, []uint32{uint32(rows), uint32(cols), f32bits(beta), 0}, groups, src, dst)
}
