//go:build js

package webgpu

import (
	"syscall/js"

	"github.com/cogentcore/webgpu/jsx"
	"github.com/cogentcore/webgpu/wgpu"
)

// requestDevice uses the default limits: the js binding does not pass
// requiredLimits, and RequiredFeatures would panic there.
func requestDevice(a *wgpu.Adapter) (*wgpu.Device, error) {
	return a.RequestDevice(nil)
}

// adapterInfo asks navigator.gpu for the adapter's description, since
// Adapter.GetInfo is empty on js. A fallback adapter (SwiftShader, what
// headless Chromium offers) is reported as a CPU adapter, so Software()
// tells the caller that the CPU path is likely faster.
func adapterInfo(*wgpu.Adapter) wgpu.AdapterInfo {
	info := wgpu.AdapterInfo{BackendType: wgpu.BackendTypeWebGPU, AdapterType: wgpu.AdapterTypeUnknown}
	gpu := js.Global().Get("navigator").Get("gpu")
	if !gpu.Truthy() {
		return info
	}
	opts := map[string]any{"powerPreference": "high-performance"}
	a, ok := jsx.Await(gpu.Call("requestAdapter", opts))
	if !ok || !a.Truthy() {
		return info
	}
	fallback := a.Get("isFallbackAdapter").Truthy()
	if ai := a.Get("info"); ai.Truthy() {
		info.VendorName = jsString(ai.Get("vendor"))
		info.Architecture = jsString(ai.Get("architecture"))
		info.DriverDescription = jsString(ai.Get("description"))
		fallback = fallback || ai.Get("isFallbackAdapter").Truthy()
	}
	if fallback {
		info.AdapterType = wgpu.AdapterTypeCPU
	}
	return info
}

func jsString(v js.Value) string {
	if v.Type() != js.TypeString {
		return ""
	}
	return v.String()
}

// freeBuffer destroys the GPUBuffer now rather than when JavaScript's
// garbage collector gets to it, so large activations do not pile up
// between frames. Work already submitted still completes with it.
func freeBuffer(b *wgpu.Buffer) { b.Destroy() }
