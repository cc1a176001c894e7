// Package simd holds busam's hand-written WebAssembly SIMD kernels: the
// WebAssembly text source (gemm.wat), its compiled module (gemm.wasm, made
// with wabt's wat2wasm and committed so builds need no wabt) and the bytes of
// that module for the Go side to instantiate.
//
// Go's wasm backend emits no SIMD, so the js/wasm build of model/cpu runs
// its matrix products through the "tile" export of this module: f32x4
// mul+add over the packed panels of its GEMM driver, reading and writing the
// Go module's own linear memory (the module imports it as env.memory).
// See model/cpu/gemm_wasmsimd_js.go for the Go side.
//
// To rebuild after editing gemm.wat:
//
//	wat2wasm wasm/simd/gemm.wat -o wasm/simd/gemm.wasm
//
// TestModuleMatchesSource fails when the two disagree (when wabt is installed).
package simd

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

// TileRows and TileCols are the register tile of the kernel: the rows and
// cols a tile call gets must be multiples of them.
const (
	TileRows = 4
	TileCols = 8
)
