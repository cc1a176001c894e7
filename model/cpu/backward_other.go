//go:build !amd64

package cpu

func geluGradRow(dz, dy, z []float32) { geluGradRowGo(dz, dy, z) }
