//go:build js

package webgpu

import "github.com/cogentcore/webgpu/wgpu"

// requestDevice uses the default limits: the js binding does not pass
// requiredLimits, and RequiredFeatures would panic there.
func requestDevice(a *wgpu.Adapter) (*wgpu.Device, error) {
	return a.RequestDevice(nil)
}
