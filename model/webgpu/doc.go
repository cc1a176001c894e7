// Package webgpu is the WebGPU backend of the model: WGSL compute kernels for
// every op of the encoder and the heads, dispatched through
// github.com/cogentcore/webgpu. The same Go code and the same WGSL run
// natively (wgpu-native over Vulkan, e.g. Mesa lavapipe in tests) and in the
// browser (navigator.gpu under GOOS=js).
//
// A Device owns the adapter, the queue, a cache of compiled pipelines and a
// recorder that batches dispatches into few queue submissions. Ops take
// device Buffers and mirror the CPU ops of package model/cpu (same shapes,
// same parameter names), so one model definition can drive either backend.
// Work is recorded, not run, until Flush, Sync or a Read.
//
// Browser rules this package follows: every bind group and pipeline has an
// explicit layout (GetBindGroupLayout is missing on js); no optional features
// are requested (RequiredFeatures panics on js); shaders are plain f32.
// On js every call waits on a promise, so never call into a Device
// synchronously from a js.FuncOf callback: use a goroutine.
//
// Tests run natively on Mesa lavapipe (XDG_RUNTIME_DIR must be set) and in
// headless Chromium through wasmbrowsertest v0.11.0, installed outside this
// module (this module's chromedp is newer than it compiles against) and
// found through a "headless_shell" script early in PATH that runs
// /usr/bin/chromium --enable-unsafe-webgpu "$@":
//
//	GOOS=js GOARCH=wasm go test -exec=wasmbrowsertest ./model/webgpu/...
//
// Natively the package needs cgo (wgpu-native is linked through it).
package webgpu
