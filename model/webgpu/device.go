package webgpu

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cogentcore/webgpu/wgpu"
)

// DefaultMaxDispatches is how many dispatches one queue submission holds by
// default. Software drivers (lavapipe) return wrong data when one submission
// runs for more than a few seconds, so submissions are kept bounded.
const DefaultMaxDispatches = 64

// Options tune a Device.
type Options struct {
	// MaxDispatches caps the dispatches recorded into one queue submission;
	// 0 means DefaultMaxDispatches.
	MaxDispatches int
	// Profile runs every dispatch on its own and waits for it, adding its
	// wall time to Profile(): slow, for finding which kernels dominate.
	Profile bool
}

// Device is an opened WebGPU device with its pipeline cache and the
// recorder of pending dispatches. It is not safe for concurrent use.
type Device struct {
	instance *wgpu.Instance
	adapter  *wgpu.Adapter
	dev      *wgpu.Device
	queue    *wgpu.Queue
	info     wgpu.AdapterInfo
	limits   wgpu.Limits

	maxDispatches int
	profile       map[string]KernelTime // nil unless Options.Profile
	kernels       map[string]*kernel
	rec           recorder
	// empty is bound in place of an optional input (a nil bias), since
	// every binding of a layout must be filled.
	empty  *Buffer
	closed bool
}

// ErrNoAdapter means the platform offers no WebGPU adapter at all.
var ErrNoAdapter = errors.New("webgpu: no adapter available")

// Open requests an adapter (high performance preference) and a device.
func Open(opt Options) (*Device, error) {
	wgpu.SetLogLevel(wgpu.LogLevelError)
	inst := wgpu.CreateInstance(nil)
	if inst == nil {
		return nil, ErrNoAdapter
	}
	adapter, err := inst.RequestAdapter(&wgpu.RequestAdapterOptions{PowerPreference: wgpu.PowerPreferenceHighPerformance})
	if err != nil || adapter == nil {
		inst.Release()
		return nil, fmt.Errorf("%w: %v", ErrNoAdapter, err)
	}
	dev, err := requestDevice(adapter)
	if err != nil {
		adapter.Release()
		inst.Release()
		return nil, fmt.Errorf("webgpu: request device: %w", err)
	}
	d := &Device{
		instance:      inst,
		adapter:       adapter,
		dev:           dev,
		queue:         dev.GetQueue(),
		info:          adapterInfo(adapter),
		limits:        dev.GetLimits().Limits,
		maxDispatches: opt.MaxDispatches,
		kernels:       map[string]*kernel{},
	}
	if d.maxDispatches <= 0 {
		d.maxDispatches = DefaultMaxDispatches
	}
	if opt.Profile {
		d.profile = map[string]KernelTime{}
	}
	if d.empty, err = d.NewBuffer(4); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// Backend names the graphics API under the adapter ("vulkan", "open-gl",
// ...); in the browser it is "web-gpu".
func (d *Device) Backend() string { return d.info.BackendType.String() }

// Description is a one-line human description of the adapter.
func (d *Device) Description() string {
	name := strings.Join(strings.Fields(d.info.VendorName+" "+d.info.Architecture+" "+d.info.DriverDescription), " ")
	return fmt.Sprintf("%s (%s, %s)", name, d.info.AdapterType, d.info.BackendType)
}

// Software reports a CPU adapter (lavapipe, SwiftShader): correct but
// slow, and liable to fail a submission that runs for seconds.
func (d *Device) Software() bool { return d.info.AdapterType == wgpu.AdapterTypeCPU }

// Limits are the device's limits (maximum buffer binding size, workgroup
// storage, ...).
func (d *Device) Limits() wgpu.Limits { return d.limits }

// Close waits for pending work, then releases every pipeline, the queue,
// the device and the adapter. Buffers still alive must not be used after.
func (d *Device) Close() {
	if d == nil || d.closed {
		return
	}
	_ = d.Sync()
	d.closed = true
	if d.empty != nil {
		freeBuffer(d.empty.buf)
	}
	for _, k := range d.kernels {
		k.release()
	}
	d.kernels = nil
	d.queue.Release()
	d.dev.Release()
	d.adapter.Release()
	d.instance.Release()
}
