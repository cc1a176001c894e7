//go:build !unix

package encoder

import "time"

// processCPU is not available off unix (js/wasm): benchmarks report 0.
func processCPU() time.Duration { return 0 }
