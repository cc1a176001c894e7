//go:build js && wasm

package wasmsimd

import (
	"errors"
	"fmt"
	"runtime"
	"syscall/js"
	"unsafe"
)

// The exports of the two modules, instantiated at package init on the Go
// module's memory; undefined when loading failed (err says why).
var (
	tile, geluFn, softmaxFn, depthwiseFn js.Value
	loadErr                              error
)

func init() { loadErr = load() }

// Err is nil when the SIMD kernels are loaded, else why they are not.
func Err() error { return loadErr }

func load() (err error) {
	defer func() {
		// syscall/js panics with a js.Error when the browser refuses (no
		// SIMD support, a memory that does not match the import).
		if r := recover(); r != nil {
			err = fmt.Errorf("wasm SIMD kernels: %v", r)
		}
	}()
	mem := goMemory()
	if mem.IsUndefined() {
		return errors.New("wasm SIMD kernels: the Go module's memory is not reachable (the page must keep the instantiation result in globalThis.wasm)")
	}
	g, err := instantiate("gemm.wasm", GemmModule, mem)
	if err != nil {
		return err
	}
	o, err := instantiate("ops.wasm", OpsModule, mem)
	if err != nil {
		return err
	}
	tile, geluFn, softmaxFn, depthwiseFn = g.Get("tile"), o.Get("gelu"), o.Get("softmax"), o.Get("depthwise")
	for name, f := range map[string]js.Value{"tile": tile, "gelu": geluFn, "softmax": softmaxFn, "depthwise": depthwiseFn} {
		if f.Type() != js.TypeFunction {
			return fmt.Errorf("wasm SIMD kernels: no %s export", name)
		}
	}
	return nil
}

// instantiate compiles a module synchronously (these are a few kilobytes,
// within what browsers compile on the main thread) on memory mem and
// returns its exports.
func instantiate(name string, module []byte, mem js.Value) (js.Value, error) {
	wa := js.Global().Get("WebAssembly")
	bytes := js.Global().Get("Uint8Array").New(len(module))
	js.CopyBytesToJS(bytes, module)
	if !wa.Call("validate", bytes).Bool() {
		return js.Undefined(), fmt.Errorf("wasm SIMD kernels: this browser does not accept %s (no WebAssembly SIMD?)", name)
	}
	imports := map[string]any{"env": map[string]any{"memory": mem}}
	inst := wa.Get("Instance").New(wa.Get("Module").New(bytes), imports)
	return inst.Get("exports"), nil
}

// goMemory returns the Go module's WebAssembly.Memory from globalThis.wasm,
// which is either the {module, instance} pair instantiateStreaming returns
// or the Instance itself; undefined when there is neither.
func goMemory() js.Value {
	wa := js.Global().Get("WebAssembly")
	w := js.Global().Get("wasm")
	if wa.Type() != js.TypeObject || w.Type() != js.TypeObject {
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
	if !mem.InstanceOf(wa.Get("Memory")) {
		return js.Undefined()
	}
	return mem
}

// Addresses: Go's wasm pointers are byte offsets into its linear memory.
// Every slice passed below lives on the heap (the callers' slices escape,
// packed panels come from pools), and Go's collector does not move heap
// objects, so an address stays valid for the duration of a call.
func addr(p *float32) uintptr { return uintptr(unsafe.Pointer(p)) }

// GemmTile runs the GEMM kernel's tile export (see gemm.wat): C = alpha*A*B
// + beta*C + bias over a rows x cols block (multiples of TileRows and
// TileCols), A element (i, p) at a[i*rsA+p*csA] (a packed panel or A in
// place), B element (p, j) at b[p*sb+j] (a packed panel). k >= 1. The
// caller checks every bound: the kernel reads A up to
// a[(rows-1)*rsA+(k-1)*csA], b[:k*sb], bias[:rows], and C rows of cols
// values ldc apart. Call it only when Err is nil.
func GemmTile(k int, a []float32, rsA, csA int, b []float32, sb int, c []float32, ldc, rows, cols int, alpha, beta float32, bias []float32) {
	tile.Invoke(k, addr(&a[0]), rsA, csA, addr(&b[0]), sb, addr(&c[0]), ldc, rows, cols, alpha, beta, addr(&bias[0]))
	runtime.KeepAlive(a)
	runtime.KeepAlive(b)
	runtime.KeepAlive(c)
	runtime.KeepAlive(bias)
}

// minOps is the shortest slice worth a call into JavaScript (about a
// microsecond) for the elementwise kernels.
const minOps = 16

// GELU sets x[i] = gelu(x[i] + bias[i]) (bias nil: none) with the exact,
// erf-based GELU of model/encoder, bit for bit. It returns false, having
// done nothing, when the kernels are not loaded or x is too short to gain.
func GELU(x, bias []float32) bool {
	n := len(x)
	if loadErr != nil || n < minOps {
		return false
	}
	hasBias, bp := 0, &x[0]
	if bias != nil {
		if len(bias) < n {
			panic(fmt.Sprintf("wasmsimd.GELU: %d values but %d biases", n, len(bias)))
		}
		hasBias, bp = 1, &bias[0]
	}
	geluFn.Invoke(addr(&x[0]), addr(bp), n, hasBias)
	runtime.KeepAlive(x)
	runtime.KeepAlive(bias)
	return true
}

// Softmax replaces row by its softmax, shifted by the row maximum, bit for
// bit as model/encoder's softmaxRowGo. It returns false, having done
// nothing, when the kernels are not loaded or the row is too short to gain.
func Softmax(row []float32) bool {
	if loadErr != nil || len(row) < minOps {
		return false
	}
	softmaxFn.Invoke(addr(&row[0]), len(row))
	runtime.KeepAlive(row)
	return true
}

// Depthwise computes output pixels [ox0, ox1) of output row oy of a k x k
// depthwise convolution (stride, zero padding k/2, then GELU when gelu is
// set) over the HWC map src (h x wd x c) into dst, the output row (pixel ox
// at dst[ox*c:]); w is [k*k, c], bias [c]. It matches model/encoder's
// depthwisePixels bit for bit. It returns false, having done nothing, when
// the kernels are not loaded or c is not a multiple of 4.
func Depthwise(dst, src []float32, h, wd, c, k, stride, oy, ox0, ox1 int, w, bias []float32, gelu bool) bool {
	if loadErr != nil || c%4 != 0 || c <= 0 || k <= 0 || stride <= 0 || ox1 <= ox0 {
		return false
	}
	// Bounds, so the kernel never strays outside the slices: the whole
	// input map, the written output pixels, all weights and biases.
	if len(src) < h*wd*c || len(dst) < ox1*c || ox0 < 0 || len(w) < k*k*c || len(bias) < c || oy < 0 {
		panic(fmt.Sprintf("wasmsimd.Depthwise: slices too short for %dx%dx%d, k %d, pixels [%d,%d)", h, wd, c, k, ox0, ox1))
	}
	g := 0
	if gelu {
		g = 1
	}
	depthwiseFn.Invoke(addr(&dst[0]), addr(&src[0]), h, wd, c, k, stride, oy, ox0, ox1, addr(&w[0]), addr(&bias[0]), g)
	runtime.KeepAlive(dst)
	runtime.KeepAlive(src)
	runtime.KeepAlive(w)
	runtime.KeepAlive(bias)
	return true
}
