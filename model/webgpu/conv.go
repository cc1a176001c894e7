package webgpu

import (
	"fmt"

	"github.com/busam/busam/model/cpu"
)

var (
	conv2dSpec     = &kernelSpec{name: "conv2d", files: []string{"common.wgsl", "conv2d.wgsl", "gemm_tiled.wgsl"}, writes: []bool{false, false, false, true}}
	depthwiseSpec  = &kernelSpec{name: "depthwise", files: []string{"common.wgsl", "depthwise.wgsl"}, writes: []bool{false, false, false, true}}
	convDirectSpec = &kernelSpec{name: "conv2d_direct", files: []string{"common.wgsl", "conv2d_direct.wgsl"}, writes: []bool{false, false, false, true}}
)

// directMaxOut is the most output channels the direct convolution takes:
// up to it, the GEMM's 64-row tile would be at least three quarters
// padding.
const directMaxOut = 16

// Conv2D mirrors cpu.Conv2DReference: dst[OutC,OH,OW] = conv(src[InC,InH,InW], w
// [OutC,InC/Groups,KH,KW]) + bias (may be nil), PyTorch semantics.
func (d *Device) Conv2D(dst, src, w, bias *Buffer, p cpu.ConvParams) error {
	return d.Conv2DEpilogue(dst, src, w, p, Epilogue{Bias: bias})
}

func checkConv(p cpu.ConvParams) (cpu.ConvParams, error) {
	if p.Groups == 0 {
		p.Groups = 1
	}
	if p.InC <= 0 || p.InH <= 0 || p.InW <= 0 || p.OutC <= 0 || p.KH <= 0 || p.KW <= 0 || p.Stride <= 0 || p.Pad < 0 || p.Groups < 0 {
		return p, fmt.Errorf("webgpu: conv2d: bad parameters %+v", p)
	}
	if p.InC%p.Groups != 0 || p.OutC%p.Groups != 0 {
		return p, fmt.Errorf("webgpu: conv2d: %d and %d channels not divisible into %d groups", p.InC, p.OutC, p.Groups)
	}
	if oh, ow := p.OutSize(); oh <= 0 || ow <= 0 {
		return p, fmt.Errorf("webgpu: conv2d: empty output for %+v", p)
	}
	return p, nil
}

// Conv2DEpilogue is Conv2D with a fused epilogue (bias, activation,
// residual). Depthwise convolutions (Groups = InC = OutC) and ungrouped
// ones with at most 16 output channels run direct kernels; all others an
// implicit GEMM per group.
func (d *Device) Conv2DEpilogue(dst, src, w *Buffer, p cpu.ConvParams, ep Epilogue) error {
	const op = "conv2d"
	p, err := checkConv(p)
	if err != nil {
		return err
	}
	oh, ow := p.OutSize()
	if err := fits32(op, max(p.InC*p.InH*p.InW, p.OutC*oh*ow, p.OutC*(p.InC/p.Groups)*p.KH*p.KW)); err != nil {
		return err
	}
	if err := need(op, "src", src, p.InC*p.InH*p.InW); err != nil {
		return err
	}
	if err := need(op, "weight", w, p.OutC*(p.InC/p.Groups)*p.KH*p.KW); err != nil {
		return err
	}
	if err := need(op, "dst", dst, p.OutC*oh*ow); err != nil {
		return err
	}
	var flags uint32
	if ep.Bias != nil {
		flags = 4
		if err := need(op, "bias", ep.Bias, p.OutC); err != nil {
			return err
		}
	}
	if p.Groups == p.InC && p.OutC == p.InC {
		return d.depthwise(dst, src, w, p, flags, ep)
	}
	if p.Groups == 1 && p.OutC <= directMaxOut {
		params := []uint32{
			uint32(p.InC), uint32(p.InH), uint32(p.InW), uint32(p.OutC),
			uint32(p.KH), uint32(p.KW), uint32(p.Stride), uint32(p.Pad),
			uint32(oh), uint32(ow), flags, uint32(ep.Act),
			f32bits(ep.Beta), 0, 0, 0,
		}
		groups := groups1D(oh*ow, 256)
		groups[2] = uint32(ceilDiv(p.OutC, 4)) // blocks of 4 output channels
		return d.run(convDirectSpec, params, groups, src, w, ep.Bias, dst)
	}
	params := []uint32{
		uint32(p.InC), uint32(p.InH), uint32(p.InW), uint32(p.OutC),
		uint32(p.KH), uint32(p.KW), uint32(p.Stride), uint32(p.Pad),
		uint32(p.Groups), uint32(oh), uint32(ow), flags,
		uint32(ep.Act), f32bits(ep.Beta), 0, 0,
	}
	groups := [3]uint32{uint32(ceilDiv(oh*ow, tileN)), uint32(ceilDiv(p.OutC/p.Groups, tileM)), uint32(p.Groups)}
	return d.run(conv2dSpec, params, groups, src, w, ep.Bias, dst)
}

func (d *Device) depthwise(dst, src, w *Buffer, p cpu.ConvParams, flags uint32, ep Epilogue) error {
	oh, ow := p.OutSize()
	params := []uint32{
		uint32(p.InC), uint32(p.InH), uint32(p.InW), uint32(oh),
		uint32(ow), uint32(p.KH), uint32(p.KW), uint32(p.Stride),
		uint32(p.Pad), flags, uint32(ep.Act), f32bits(ep.Beta),
	}
	return d.run(depthwiseSpec, params, groups1D(p.OutC*oh*ow, 256), src, w, ep.Bias, dst)
}

// DepthwiseConv2DHWC is a depthwise convolution (Groups = InC = OutC) over
// channels-last maps: src [InH*InW, InC] token rows, dst [OH*OW, OutC]. The
// weight keeps PyTorch's [C, 1, KH, KW] layout. Transformer blocks keep
// their maps as tokens, so their local convolution needs no transposes.
func (d *Device) DepthwiseConv2DHWC(dst, src, w *Buffer, p cpu.ConvParams, ep Epilogue) error {
	const op = "depthwise conv2d (channels last)"
	p, err := checkConv(p)
	if err != nil {
		return err
	}
	if p.Groups != p.InC || p.OutC != p.InC {
		return fmt.Errorf("webgpu: %s: needs Groups = InC = OutC, got %+v", op, p)
	}
	oh, ow := p.OutSize()
	if err := fits32(op, max(p.InC*p.InH*p.InW, p.OutC*oh*ow)); err != nil {
		return err
	}
	if err := need(op, "src", src, p.InC*p.InH*p.InW); err != nil {
		return err
	}
	if err := need(op, "weight", w, p.OutC*p.KH*p.KW); err != nil {
		return err
	}
	if err := need(op, "dst", dst, p.OutC*oh*ow); err != nil {
		return err
	}
	flags := uint32(256)
	if ep.Bias != nil {
		flags |= 4
		if err := need(op, "bias", ep.Bias, p.OutC); err != nil {
			return err
		}
	}
	return d.depthwise(dst, src, w, p, flags, ep)
}
