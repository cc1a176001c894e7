// Package wasmsimd holds busam's hand-written WebAssembly SIMD kernels: the
// WebAssembly text sources (gemm.wat, ops.wat), their compiled modules
// (gemm.wasm, ops.wasm, made with wabt's wat2wasm and committed so builds
// need no wabt), and, in js/wasm builds, the Go functions that call them.
//
// Go's wasm backend emits no SIMD. The modules import the Go module's own
// linear memory (env.memory) and work on Go slices in place: gemm.wasm is
// the GEMM tile kernel of model/cpu (see model/cpu/gemm_wasmsimd_js.go);
// ops.wasm has GELU, softmax and depthwise convolution for model/encoder,
// bit-identical to its plain-Go loops.
//
// The js/wasm build finds the Go memory through globalThis.wasm, where
// wasm/worker.js keeps the result of instantiating the Go module; without
// it every function here reports that it did nothing and callers keep
// their plain-Go paths (Err says why).
//
// To rebuild after editing a .wat file:
//
//	wat2wasm model/cpu/wasmsimd/gemm.wat -o model/cpu/wasmsimd/gemm.wasm
//	wat2wasm model/cpu/wasmsimd/ops.wat -o model/cpu/wasmsimd/ops.wasm
//
// TestModulesMatchSources fails when they disagree (when wabt is installed).
package wasmsimd

import _ "embed"

// GemmModule is gemm.wasm: one exported function,
//
//	tile(k, a, sa, b, sb, c, ldc, rows, cols i32, alpha, beta f32, bias i32)
//
// computing C = alpha*A*B + beta*C + bias for a rows x cols block (rows a
// multiple of 4, cols of 8) from packed panels; see gemm.wat.
//
//go:embed gemm.wasm
var GemmModule []byte

// OpsModule is ops.wasm: gelu, softmax and depthwise (see ops.wat).
//
//go:embed ops.wasm
var OpsModule []byte

// TileRows and TileCols are the register tile of the kernel: the rows and
// cols a tile call gets must be multiples of them.
const (
	TileRows = 4
	TileCols = 8
)
