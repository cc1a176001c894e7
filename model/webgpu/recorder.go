package webgpu

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/cogentcore/webgpu/wgpu"
)

// dispatch is one recorded kernel launch.
type dispatch struct {
	k      *kernel
	params []uint32
	bufs   []*wgpu.Buffer
	groups [3]uint32
}

// recorder holds dispatches until they are submitted together: one
// uniform buffer for all their parameters, one compute pass, one submit.
type recorder struct {
	pending []dispatch
	// releases are buffers released by the caller while still used by
	// pending dispatches; they are freed after the submission.
	releases []*wgpu.Buffer
}

func (r *recorder) uses(b *Buffer) bool {
	for _, d := range r.pending {
		for _, x := range d.bufs {
			if x == b.buf {
				return true
			}
		}
	}
	return false
}

// run records one dispatch of k over groups workgroups. params are the
// words of the kernel's uniform Params struct; bufs fill its storage
// bindings in order (nil binds an empty buffer, for optional inputs).
func (d *Device) run(spec *kernelSpec, params []uint32, groups [3]uint32, bufs ...*Buffer) error {
	if d.closed {
		return fmt.Errorf("webgpu: %s: device closed", spec.name)
	}
	if len(bufs) != len(spec.writes) {
		return fmt.Errorf("webgpu: %s: %d buffers for %d bindings", spec.name, len(bufs), len(spec.writes))
	}
	if len(params)*4 > paramBytes {
		return fmt.Errorf("webgpu: %s: %d parameter words exceed %d bytes", spec.name, len(params), paramBytes)
	}
	maxGroups := d.limits.MaxComputeWorkgroupsPerDimension
	for _, g := range groups {
		if g == 0 {
			return nil // nothing to compute
		}
		if maxGroups > 0 && g > maxGroups {
			return fmt.Errorf("webgpu: %s: %d workgroups exceed the per-dimension limit %d", spec.name, g, maxGroups)
		}
	}
	k, err := d.kernel(spec)
	if err != nil {
		return err
	}
	raw := make([]*wgpu.Buffer, len(bufs))
	for i, b := range bufs {
		if b == nil {
			b = d.empty
		}
		if b.buf == nil {
			return fmt.Errorf("webgpu: %s: binding %d is a released buffer", spec.name, i+1)
		}
		raw[i] = b.buf
	}
	// WebGPU forbids binding a buffer as writable and also elsewhere in
	// the same dispatch; say so here rather than fail at submit.
	for i, w := range spec.writes {
		for j := range raw {
			if w && j != i && raw[j] == raw[i] && bufs[i] != nil {
				return fmt.Errorf("webgpu: %s: output binding %d aliases binding %d (use separate buffers)", spec.name, i+1, j+1)
			}
		}
	}
	d.rec.pending = append(d.rec.pending, dispatch{k: k, params: params, bufs: raw, groups: groups})
	if d.profile != nil {
		return d.timeAlone(spec.name)
	}
	if len(d.rec.pending) >= d.maxDispatches {
		return d.Flush()
	}
	return nil
}

// KernelTime is the profile of one kernel: dispatches and their total
// wall time, each measured alone from submit to idle.
type KernelTime struct {
	Dispatches int
	Time       time.Duration
}

// timeAlone submits the one pending dispatch, waits, and books the time.
func (d *Device) timeAlone(name string) error {
	start := time.Now()
	if err := d.Sync(); err != nil {
		return err
	}
	kt := d.profile[name]
	kt.Dispatches++
	kt.Time += time.Since(start)
	d.profile[name] = kt
	return nil
}

// Profile returns the time per kernel name since Open, when the device
// was opened with Options.Profile (nil otherwise).
func (d *Device) Profile() map[string]KernelTime {
	if d.profile == nil {
		return nil
	}
	out := make(map[string]KernelTime, len(d.profile))
	for k, v := range d.profile {
		out[k] = v
	}
	return out
}

// Flush submits the recorded dispatches without waiting for them.
func (d *Device) Flush() error {
	pending := d.rec.pending
	if len(pending) == 0 {
		d.releaseDeferred()
		return nil
	}
	d.rec.pending = nil
	defer d.releaseDeferred()

	stride := uint64(max(paramBytes, 256, int(d.limits.MinUniformBufferOffsetAlignment)))
	blob := make([]byte, stride*uint64(len(pending)))
	for i, p := range pending {
		for j, w := range p.params {
			binary.LittleEndian.PutUint32(blob[uint64(i)*stride+uint64(4*j):], w)
		}
	}
	params, err := d.dev.CreateBufferInit(&wgpu.BufferInitDescriptor{Contents: blob, Usage: wgpu.BufferUsageUniform})
	if err != nil {
		return fmt.Errorf("webgpu: flush: parameter buffer: %w", err)
	}
	defer freeBuffer(params)

	enc, err := d.dev.CreateCommandEncoder(nil)
	if err != nil {
		return fmt.Errorf("webgpu: flush: %w", err)
	}
	defer enc.Release()
	pass := enc.BeginComputePass(nil)
	groups := make([]*wgpu.BindGroup, 0, len(pending))
	defer func() {
		for _, g := range groups {
			g.Release()
		}
	}()
	for i, p := range pending {
		entries := []wgpu.BindGroupEntry{{Binding: 0, Buffer: params, Offset: uint64(i) * stride, Size: paramBytes}}
		for j, b := range p.bufs {
			entries = append(entries, wgpu.BindGroupEntry{Binding: uint32(j + 1), Buffer: b, Size: wgpu.WholeSize})
		}
		bg, err := d.dev.CreateBindGroup(&wgpu.BindGroupDescriptor{Layout: p.k.bgl, Entries: entries})
		if err != nil {
			pass.End()
			pass.Release()
			return fmt.Errorf("webgpu: flush: bind group for %s: %w", p.k.spec.name, err)
		}
		groups = append(groups, bg)
		pass.SetPipeline(p.k.pipeline)
		pass.SetBindGroup(0, bg, nil)
		pass.DispatchWorkgroups(p.groups[0], p.groups[1], p.groups[2])
	}
	pass.End()
	// wgpu-native needs the pass released before the encoder finishes.
	pass.Release()
	cmd, err := enc.Finish(nil)
	if err != nil {
		return fmt.Errorf("webgpu: flush: finish: %w", err)
	}
	defer cmd.Release()
	d.queue.Submit(cmd)
	return nil
}

func (d *Device) releaseDeferred() {
	for _, b := range d.rec.releases {
		freeBuffer(b)
	}
	d.rec.releases = nil
}

// Sync submits the recorded dispatches and waits until the device is idle.
func (d *Device) Sync() error {
	if err := d.Flush(); err != nil {
		return err
	}
	waitIdle(d)
	return nil
}

// groups1D spreads n invocations of a kernel with workgroup size wg over a
// 2-D grid, since one dimension holds at most 65535 workgroups. Kernels
// recover the linear index as (wid.y*nwg.x + wid.x)*wg + lid.x.
func groups1D(n, wg int) [3]uint32 {
	g := (n + wg - 1) / wg
	if g <= 65535 {
		return [3]uint32{uint32(g), 1, 1}
	}
	x := 65535
	return [3]uint32{uint32(x), uint32((g + x - 1) / x), 1}
}

func f32bits(v float32) uint32 { return math.Float32bits(v) }

func ceilDiv(a, b int) int { return (a + b - 1) / b }
