package webgpu

var (
	maskWeightsSpec = &kernelSpec{name: "maskweights", files: []string{"common.wgsl", "maskweights.wgsl"}, writes: []bool{false, true}}
	maskPoolSpec    = &kernelSpec{name: "maskpool", files: []string{"common.wgsl", "maskpool.wgsl"}, writes: []bool{false, false, true}}
)

// MaskWeights turns a soft mask s [n] into the mask-guided pooling weights
// of the heads' classifier: dst[i] = s[i] / (sum(s) + eps), followed by
// dst[n] = mean(s) and dst[n+1] = max(s, 0), n+2 values in all (see
// heads.Model's attention). One workgroup reduces the whole mask, which
// is small (64x64 for SAM).
func (d *Device) MaskWeights(dst, s *Buffer, n int, eps float32) error {
	const op = "maskweights"
	if err := positive(op, n); err != nil {
		return err
	}
	if err := fits32(op, n+2); err != nil {
		return err
	}
	if err := need(op, "s", s, n); err != nil {
		return err
	}
	if err := need(op, "dst", dst, n+2); err != nil {
		return err
	}
	return d.run(maskWeightsSpec, []uint32{uint32(n), f32bits(eps), 0, 0}, [3]uint32{1, 1, 1}, s, dst)
}

// MaskPool mirrors heads.MaskPool: for a CHW map f [c,hw] and pixel
// weights a [hw], dst[ch] = sum_i f[ch,i]*a[i] and dst[c+ch] = the mean of
// channel ch, 2c values.
func (d *Device) MaskPool(dst, f, a *Buffer, c, hw int) error {
	const op = "maskpool"
	if err := positive(op, c, hw); err != nil {
		return err
	}
	if err := fits32(op, c*hw); err != nil {
		return err
	}
	if err := need(op, "f", f, c*hw); err != nil {
		return err
	}
	if err := need(op, "a", a, hw); err != nil {
		return err
	}
	if err := need(op, "dst", dst, 2*c); err != nil {
		return err
	}
	return d.run(maskPoolSpec, []uint32{uint32(c), uint32(hw), 0, 0}, groups1D(c, 1), f, a, dst)
}

var evidenceSpec = &kernelSpec{name: "evidence", files: []string{"common.wgsl", "evidence.wgsl"}, writes: []bool{false, false, false, true}}

// Evidence mirrors heads.ClassEvidence: for a CHW map f [c,hw], pixel
// weights a [hw] (a may be longer: the attention with its two mask
// statistics) and weights w [classes,2c], dst[k*hw+i] = a[i] * sum_ch
// f[ch,i] w[k,ch] + sum_ch f[ch,i] w[k,c+ch], classes*hw values.
func (d *Device) Evidence(dst, f, a, w *Buffer, c, hw, classes int) error {
	const op = "evidence"
	if err := positive(op, c, hw, classes); err != nil {
		return err
	}
	if err := fits32(op, max(c*hw, classes*hw, classes*2*c)); err != nil {
		return err
	}
	if err := need(op, "f", f, c*hw); err != nil {
		return err
	}
	if err := need(op, "a", a, hw); err != nil {
		return err
	}
	if err := need(op, "w", w, classes*2*c); err != nil {
		return err
	}
	if err := need(op, "dst", dst, classes*hw); err != nil {
		return err
	}
	return d.run(evidenceSpec, []uint32{uint32(c), uint32(hw), uint32(classes), 0}, groups1D(classes*hw, 256), f, a, w, dst)
}
