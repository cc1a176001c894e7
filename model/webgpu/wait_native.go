//go:build !js

package webgpu

// waitIdle blocks until all submitted work has finished.
func waitIdle(d *Device) { d.dev.Poll(true, nil) }
