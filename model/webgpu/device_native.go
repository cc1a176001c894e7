//go:build !js

package webgpu

import "github.com/cogentcore/webgpu/wgpu"

// requestDevice asks for the adapter's own limits, so that large feature
// maps fit in one binding where the hardware allows it.
func requestDevice(a *wgpu.Adapter) (*wgpu.Device, error) {
	l := a.GetLimits().Limits
	l.MaxPushConstantSize = 0 // not used; the reported value is not meaningful
	return a.RequestDevice(&wgpu.DeviceDescriptor{
		Label:          "busam",
		RequiredLimits: &wgpu.RequiredLimits{Limits: l},
	})
}

func adapterInfo(a *wgpu.Adapter) wgpu.AdapterInfo { return a.GetInfo() }

// freeBuffer drops the handle; wgpu keeps the memory until submitted work
// using it has finished.
func freeBuffer(b *wgpu.Buffer) { b.Release() }
