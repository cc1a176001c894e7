//go:build js && wasm

package cpu

import (
	"github.com/busam/busam/model/cpu/wasmsimd"
)

// The js/wasm build runs Gemm (and so Conv2D and GemmBatched) through the
// hand-written f32x4 kernel of package model/cpu/wasmsimd when it loaded (the page
// kept the Go module's instantiation in globalThis.wasm, as wasm/worker.js
// does): Go's wasm backend emits no SIMD, and the plain-Go 4x4 kernel
// manages 1-2 GFLOP/s in Chromium. The SIMD module works on Go's memory in
// place: it reads the packed panels and writes C.
//
// Crossing from Go into JavaScript costs about a microsecond, so the micro
// tile here is large (64 x 64: one call does 64*64*kc multiply-adds) and
// the module walks its own 4 x 8 register tiles inside it. kc matches the
// plain-Go kernel's, so both sum every element's products in the same
// order and give the same bits. The kernel is direct: it reads A in place
// (one pointer per row of its register tile), which spares the packing
// copy, in plain Go here and a large share of the time when n is small.

var wasmSIMDKernel = &kernel{
	name: "wasm-simd128-64x64",
	mr:   64, nr: 64,
	// A 64 x 256 sliver of B (64 KiB) and 256 x 64 of A fit L2 with room;
	// the 4 x 8 register tile reads 16 + 32 bytes of each of their rows.
	kc: 256, mc: 256, nc: 512,
	direct: true,
	micro:  kernelWasmSIMD,
}

func init() {
	if wasmsimd.Err() == nil {
		bestKernel = wasmSIMDKernel
	}
}

// WasmSIMD reports whether Gemm runs on the WebAssembly SIMD kernel, and
// if not, why.
func WasmSIMD() (bool, error) {
	return bestKernel == wasmSIMDKernel, wasmsimd.Err()
}

// SetWasmSIMD switches Gemm, Conv2D and GemmBatched between the SIMD kernel
// (on) and the plain-Go one (off), e.g. to compare them in one page. It
// fails, leaving the plain-Go kernel, when the SIMD module is not loaded.
// Call it only while no product runs.
func SetWasmSIMD(on bool) error {
	if !on {
		bestKernel = genericKernel
		return nil
	}
	if err := wasmsimd.Err(); err != nil {
		return err
	}
	bestKernel = wasmSIMDKernel
	return nil
}

// zeroBias is the bias the module reads when a product has none.
var zeroBias [64]float32

// kernelWasmSIMD computes a tile of up to 64 x 64 in one call into the SIMD
// module: A element (i, p) at a[i*rsA+p*csA] (A in place, or a packed
// sliver zero padded to 64 rows), B a packed sliver (rsB = 64, zero padded).
// A tile whose rows or cols are not multiples of the register tile is
// computed into a scratch tile, and only its valid part is stored here.
func kernelWasmSIMD(k int, a []float32, rsA, csA int, b []float32, _ int, c []float32, ldc int, alpha, beta float32, bias []float32, rows, cols int) {
	const nr = 64
	rp, cp := roundUp(rows, wasmsimd.TileRows), roundUp(cols, wasmsimd.TileCols)
	// Everything the module reads, checked here: it reads unchecked. A in
	// place always has whole 64-row slivers (rows == rp); a packed one is
	// zero padded to 64 rows.
	a, b = a[:(rp-1)*rsA+(k-1)*csA+1], b[:nr*k]
	if rp == rows && cp == cols {
		_ = c[(rows-1)*ldc+cols-1]
		bs := zeroBias[:]
		if bias != nil {
			bs = bias[:rows]
		}
		wasmsimd.GemmTile(k, a, rsA, csA, b, nr, c, ldc, rows, cols, alpha, beta, bs)
		return
	}
	scratch := getPacked(64 * nr)
	tile := scratch.data[:rp*nr]
	wasmsimd.GemmTile(k, a, rsA, csA, b, nr, tile, nr, rp, cp, alpha, 0, zeroBias[:])
	for i := 0; i < rows; i++ {
		row := c[i*ldc : i*ldc+cols]
		src := tile[i*nr : i*nr+cols]
		var bi float32
		if bias != nil {
			bi = bias[i]
		}
		// The order of the plain-Go kernel's storeTile: alpha*acc + beta*C + bias.
		if beta == 0 {
			for j, v := range src {
				row[j] = v + bi
			}
			continue
		}
		for j, v := range src {
			row[j] = v + beta*row[j] + bi
		}
	}
	putPacked(scratch)
}
