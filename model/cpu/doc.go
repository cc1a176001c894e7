// Package cpu holds the float32 compute kernels of the CPU backend: matrix
// multiply (Gemm, GemmBatched), 2-D convolution (Conv2D) and ParallelFor.
//
// Gemm packs panels of A and B into cache-sized contiguous blocks
// (GotoBLAS/BLIS blocking: kc x nc panels of B, mc x kc blocks of A) and
// runs a register-tiled micro-kernel over them, split over the cores:
//
//   - avx512-8x32: AVX-512 assembly, 16 zmm accumulators (amd64)
//   - avx2-6x16: AVX2+FMA assembly, 12 ymm accumulators (amd64 without AVX-512)
//   - generic-4x4: plain Go, what wasm and every other target run
//
// The assembly kernels can also read A in place (no packing copy) when n is
// small, and C = A*B^T with k much larger than m and n takes a dot-product
// path that reads both operands in place. Every kernel is tested against
// the plain triple loops in ref.go, and the plain-Go path gives the same
// results within float rounding (GemmGeneric forces it anywhere).
//
// Conv2D turns 1x1 convolutions into one Gemm over the CHW planes, other
// dense and grouped ones into im2col (in bounded bands of output rows) +
// Gemm per group, and depthwise ones into a direct row kernel (AVX-512 for
// 3x3 with stride 1 or 2).
//
// Speed: `go test -bench . ./model/cpu` and `busam bench gemm`, which also
// measures this machine's FMA peak (FMAPeak) to compare against.
//
// Kernels panic when slices are shorter than the shapes they are given:
// that is always a programming error of the caller, never bad user input.
package cpu
