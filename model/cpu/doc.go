// Package cpu holds busam's CPU compute kernels, float32 throughout: matrix
// multiply (Gemm, GemmBatched, GemmSerial), the kernels on HWC feature maps
// the encoder runs (Linear, LayerNorm, Depthwise, Im2colRows, BiasAct, the
// row kernels GELURow and SoftmaxRow, window attention AttentionHead), the
// one parallel loop (ParallelFor and its variants) and plain-loop
// references (ref.go) that other implementations are checked against.
//
// Gemm packs panels of A and B into cache-sized contiguous blocks
// (GotoBLAS/BLIS blocking: kc x nc panels of B, mc x kc blocks of A) and
// runs a register-tiled micro-kernel over them, split over the cores:
//
//   - avx512-8x32: AVX-512 assembly, 16 zmm accumulators (amd64)
//   - avx2-6x16: AVX2+FMA assembly, 12 ymm accumulators (amd64 without AVX-512)
//   - wasm-simd128-64x64: hand-written WebAssembly SIMD (package wasmsimd, js/wasm)
//   - generic-4x4: plain Go, what every other target runs
//
// The assembly kernels can also read A in place (no packing copy) when n is
// small, and C = A*B^T with k much larger than m and n takes a dot-product
// path that reads both operands in place. Every kernel is tested against
// the plain triple loops in ref.go, and the plain-Go path gives the same
// results within float rounding (GemmGeneric forces it anywhere).
//
// The HWC kernels' hot loops (GELU, softmax, LayerNorm rows, the 3x3
// depthwise row, window attention with head dimension 32) have AVX-512
// versions in fastmath_amd64.s and wasm SIMD ones in package wasmsimd;
// fastmath_other.go keeps the plain-Go loops for every other target.
//
// Speed: `go test -bench . ./model/cpu` and `busam bench gemm`, which also
// measures this machine's FMA peak (FMAPeak) to compare against.
//
// Kernels panic when slices are shorter than the shapes they are given:
// that is always a programming error of the caller, never bad user input.
package cpu
