//go:build js && wasm

package cpu

import (
	"errors"
	"fmt"
	"runtime"
	"syscall/js"
	"unsafe"

	"github.com/busam/busam/wasm/simd"
)

// The js/wasm build runs Gemm (and so Conv2D and GemmBatched) through the
// hand-written f32x4 kernel of package wasm/simd when the page lets it:
// Go's wasm backend emits no SIMD, and the plain-Go 4x4 kernel manages 1-2
// GFLOP/s in Chromium. The SIMD module imports the Go module's linear
// memory, so it reads the packed panels and writes C in place.
//
// Crossing from Go into JavaScript costs about a microsecond, so the micro
// tile here is large (64 x 64: one call does 64*64*kc multiply-adds) and
// the module walks its own 4 x 8 register tiles inside it.
//
// The memory is found through globalThis.wasm, where wasm/worker.js (and any
// page that runs cogentcore/webgpu) keeps the result of instantiating the Go
// module. Without it, or without WebAssembly SIMD, Gemm stays on the plain-Go
// kernel.

var wasmSIMDKernel = &kernel{
	name: "wasm-simd128-64x64",
	mr:   64, nr: 64,
	// A 64 x 256 sliver of B (64 KiB) and 256 x 64 of A fit L2 with room;
	// the 4 x 8 register tile reads 16 + 32 bytes of each of their rows.
	kc: 256, mc: 256, nc: 512,
	micro: kernelWasmSIMD,
}

// wasmSIMDTile is the module's "tile" export; undefined until loaded.
var wasmSIMDTile js.Value

// wasmSIMDError says why the SIMD module is not in use (nil when it is).
var wasmSIMDError = errors.New("not loaded yet")

func init() {
	if err := loadWasmSIMD(); err != nil {
		wasmSIMDError = err
		return
	}
	wasmSIMDError = nil
	bestKernel = wasmSIMDKernel
}

// loadWasmSIMD compiles and instantiates the embedded SIMD module on the Go
// module's memory. It is synchronous: the module is under a kilobyte, well
// within the size browsers compile on the main thread.
func loadWasmSIMD() (err error) {
	defer func() {
		// syscall/js panics with a js.Error when the browser refuses (no
		// SIMD support, a memory that does not match the import).
		if r := recover(); r != nil {
			err = fmt.Errorf("wasm SIMD module: %v", r)
		}
	}()
	mem := goMemory()
	if mem.IsUndefined() {
		return errors.New("wasm SIMD module: the Go module's memory is not reachable (the page must keep the instantiation result in globalThis.wasm)")
	}
	wa := js.Global().Get("WebAssembly")
	if wa.IsUndefined() {
		return errors.New("wasm SIMD module: no WebAssembly object")
	}
	bytes := js.Global().Get("Uint8Array").New(len(simd.GemmModule))
	js.CopyBytesToJS(bytes, simd.GemmModule)
	if !wa.Call("validate", bytes).Bool() {
		return errors.New("wasm SIMD module: this browser does not accept it (no WebAssembly SIMD?)")
	}
	mod := wa.Get("Module").New(bytes)
	imports := map[string]any{"env": map[string]any{"memory": mem}}
	inst := wa.Get("Instance").New(mod, imports)
	tile := inst.Get("exports").Get("tile")
	if tile.Type() != js.TypeFunction {
		return errors.New("wasm SIMD module: no tile export")
	}
	wasmSIMDTile = tile
	return nil
}

// goMemory returns the Go module's WebAssembly.Memory from globalThis.wasm,
// which is either the {module, instance} pair instantiateStreaming returns
// or the Instance itself; undefined when there is neither.
func goMemory() js.Value {
	w := js.Global().Get("wasm")
	if w.Type() != js.TypeObject {
		return js.Undefined()
	}
	if inst := w.Get("instance"); inst.Type() == js.TypeObject {
		w = inst
	}
	exp := w.Get("exports")
	if exp.Type() != js.TypeObject {
		return js.Undefined()
	}
	mem := exp.Get("mem")
	if !mem.InstanceOf(js.Global().Get("WebAssembly").Get("Memory")) {
		return js.Undefined()
	}
	return mem
}

// WasmSIMD reports whether Gemm runs on the WebAssembly SIMD kernel, and
// if not, why.
func WasmSIMD() (bool, error) {
	return bestKernel == wasmSIMDKernel, wasmSIMDError
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
	if wasmSIMDError != nil {
		return wasmSIMDError
	}
	bestKernel = wasmSIMDKernel
	return nil
}

// zeroBias is the bias the module reads when a product has none.
var zeroBias [64]float32

// kernelWasmSIMD computes a tile of up to 64 x 64 from packed panels (rsA = 1,
// csA = 64, rsB = 64, zero padded) in one call into the SIMD module. A tile
// whose rows or cols are not multiples of the register tile is computed into
// a scratch tile, and only its valid part is stored here.
func kernelWasmSIMD(k int, a []float32, _, _ int, b []float32, _ int, c []float32, ldc int, alpha, beta float32, bias []float32, rows, cols int) {
	const mr, nr = 64, 64
	_, _ = a[mr*k-1], b[nr*k-1] // the whole panels: the module reads them unchecked
	rp, cp := roundUp(rows, simd.TileRows), roundUp(cols, simd.TileCols)
	if rp == rows && cp == cols {
		_ = c[(rows-1)*ldc+cols-1]
		bp := &zeroBias[0]
		if bias != nil {
			_ = bias[rows-1]
			bp = &bias[0]
		}
		// All of a, b, c and bias are on the heap (Gemm's slices escape
		// through its worker goroutines; packed panels come from a pool), so
		// their addresses stay valid across the call.
		callTile(k, &a[0], &b[0], &c[0], ldc, rows, cols, alpha, beta, bp)
		runtime.KeepAlive(a)
		runtime.KeepAlive(b)
		runtime.KeepAlive(c)
		runtime.KeepAlive(bias)
		return
	}
	scratch := getPacked(mr * nr)
	tile := scratch.data[:rp*nr]
	callTile(k, &a[0], &b[0], &tile[0], nr, rp, cp, alpha, 0, &zeroBias[0])
	runtime.KeepAlive(a)
	runtime.KeepAlive(b)
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

// callTile passes linear-memory addresses (Go's wasm pointers are offsets
// into its memory) to the module's tile export.
func callTile(k int, a, b, c *float32, ldc, rows, cols int, alpha, beta float32, bias *float32) {
	const mr, nr = 64, 64
	wasmSIMDTile.Invoke(k, addr(a), mr, addr(b), nr, addr(c), ldc, rows, cols, alpha, beta, addr(bias))
}

func addr(p *float32) uintptr { return uintptr(unsafe.Pointer(p)) }
