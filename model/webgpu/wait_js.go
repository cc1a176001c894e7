//go:build js

package webgpu

import "github.com/cogentcore/webgpu/wgpu"

// waitIdle awaits the queue's onSubmittedWorkDone promise (Poll is a no-op
// in the browser).
func waitIdle(d *Device) { d.queue.OnSubmittedWorkDone(func(wgpu.QueueWorkDoneStatus) {}) }
