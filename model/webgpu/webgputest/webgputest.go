// Package webgputest opens WebGPU devices for the tests of the packages
// built on model/webgpu (tinyvit, samheads). Natively the device must be
// Vulkan (Mesa lavapipe: apt-get install mesa-vulkan-drivers libvulkan1);
// without one a test is skipped, or fails when $CI is set.
package webgputest

import (
	"os"
	"runtime"
	"testing"

	"github.com/busam/busam/model/webgpu"
)

// Open opens a device with opt for the test t and closes it when t ends.
// It sets XDG_RUNTIME_DIR (which the native driver wants) when unset.
func Open(t testing.TB, opt webgpu.Options) *webgpu.Device {
	t.Helper()
	if os.Getenv("XDG_RUNTIME_DIR") == "" {
		t.Setenv("XDG_RUNTIME_DIR", os.TempDir())
	}
	d, err := webgpu.Open(opt)
	missing := ""
	switch {
	case err != nil:
		missing = "no WebGPU device: " + err.Error()
	case runtime.GOOS != "js" && d.Backend() != "vulkan":
		missing = "WebGPU adapter is " + d.Description() + ", not Vulkan (install mesa-vulkan-drivers libvulkan1)"
		d.Close()
	}
	if missing != "" {
		if os.Getenv("CI") != "" {
			t.Fatal(missing)
		}
		t.Skip(missing)
	}
	t.Cleanup(d.Close)
	return d
}
