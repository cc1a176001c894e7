//go:build js && wasm

// Command browserbench times busam's image encoder in a browser page for
// `busam bench browser` (page: tools/ortweb/bench.html). It exposes
// globalThis.busamBench, whose methods return promises:
//
//	load(weightsURL)             fetch and parse encoder.safetensors, build the CPU encoder
//	input(imageURL, size)        decode + preprocess one image; {data: Float32Array [3,size,size], decodeMs, preprocessMs}
//	cpu(size, simd, reps)        CPU encoder (Go wasm; simd: the wasm SIMD GEMM kernel, else plain Go)
//	webgpu(size, reps)           the WebGPU encoder (model/webgpu/tinyvit)
//
// cpu and webgpu run one warm-up pass and then reps timed passes, and
// resolve to {buildMs, warmupMs, times: [ms...], kernel, output: Float32Array}.
// The same preprocessed input goes to onnxruntime-web in the page.
package main

import (
	"errors"
	"fmt"
	"syscall/js"
	"time"
	"unsafe"

	"github.com/busam/busam/imageio"
	"github.com/busam/busam/model/cpu"
	"github.com/busam/busam/model/encoder"
	"github.com/busam/busam/model/tensor"
	"github.com/busam/busam/model/webgpu"
	"github.com/busam/busam/model/webgpu/tinyvit"
	"github.com/busam/busam/weights/safetensors"
)

// bench holds what the page loaded: the weights, both encoders (the
// WebGPU one made on first use) and the preprocessed inputs by size.
type bench struct {
	params map[string]*tensor.Tensor
	cpuEnc *encoder.Encoder
	gpuEnc *tinyvit.Encoder
	gpuMs  float64 // time to open the device and upload the weights
	inputs map[int]*tensor.Tensor
}

func main() {
	b := &bench{inputs: map[int]*tensor.Tensor{}}
	api := map[string]any{
		"load": async(func(args []js.Value) (any, error) { return b.load(args[0].String()) }),
		"input": async(func(args []js.Value) (any, error) {
			return b.input(args[0].String(), args[1].Int())
		}),
		"cpu": async(func(args []js.Value) (any, error) {
			return b.runCPU(args[0].Int(), args[1].Bool(), args[2].Int())
		}),
		"webgpu": async(func(args []js.Value) (any, error) { return b.runGPU(args[0].Int(), args[1].Int()) }),
	}
	js.Global().Set("busamBench", js.ValueOf(api))
	select {}
}

// async wraps f as a JavaScript function returning a promise; f runs on its
// own goroutine (WebGPU calls wait on promises and must not run inside the
// callback itself).
func async(f func(args []js.Value) (any, error)) js.Func {
	return js.FuncOf(func(this js.Value, args []js.Value) any {
		promise := js.Global().Get("Promise")
		return promise.New(js.FuncOf(func(_ js.Value, pa []js.Value) any {
			resolve, reject := pa[0], pa[1]
			go func() {
				v, err := func() (v any, err error) {
					defer func() {
						if r := recover(); r != nil {
							err = fmt.Errorf("panic: %v", r)
						}
					}()
					return f(args)
				}()
				if err != nil {
					reject.Invoke(js.Global().Get("Error").New(err.Error()))
					return
				}
				resolve.Invoke(v)
			}()
			return nil
		}))
	})
}

// fetchBytes downloads url with the page's fetch.
func fetchBytes(url string) ([]byte, error) {
	type result struct {
		data []byte
		err  error
	}
	done := make(chan result, 1)
	var onOK, onArr, onErr js.Func
	onErr = js.FuncOf(func(_ js.Value, a []js.Value) any {
		done <- result{err: fmt.Errorf("fetch %s: %s", url, a[0].Call("toString").String())}
		return nil
	})
	onArr = js.FuncOf(func(_ js.Value, a []js.Value) any {
		u8 := js.Global().Get("Uint8Array").New(a[0])
		data := make([]byte, u8.Length())
		js.CopyBytesToGo(data, u8)
		done <- result{data: data}
		return nil
	})
	onOK = js.FuncOf(func(_ js.Value, a []js.Value) any {
		resp := a[0]
		if !resp.Get("ok").Bool() {
			done <- result{err: fmt.Errorf("fetch %s: HTTP %d", url, resp.Get("status").Int())}
			return nil
		}
		resp.Call("arrayBuffer").Call("then", onArr, onErr)
		return nil
	})
	defer onOK.Release()
	defer onArr.Release()
	defer onErr.Release()
	js.Global().Call("fetch", url).Call("then", onOK, onErr)
	r := <-done
	return r.data, r.err
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func (b *bench) load(url string) (any, error) {
	t0 := time.Now()
	data, err := fetchBytes(url)
	if err != nil {
		return nil, err
	}
	fetchMs := ms(time.Since(t0))
	t1 := time.Now()
	f, err := safetensors.Read(url, data)
	if err != nil {
		return nil, err
	}
	b.params = map[string]*tensor.Tensor{}
	for _, name := range f.Names() {
		t, err := f.Tensor(name)
		if err != nil {
			return nil, err
		}
		b.params[name] = t
	}
	parseMs := ms(time.Since(t1))
	t2 := time.Now()
	if b.cpuEnc, err = encoder.New(b.params); err != nil {
		return nil, err
	}
	simd, simdErr := cpu.WasmSIMD()
	reason := ""
	if simdErr != nil {
		reason = simdErr.Error()
	}
	return map[string]any{
		"fetchMs": fetchMs, "parseMs": parseMs, "buildMs": ms(time.Since(t2)), "bytes": len(data),
		"kernel": cpu.KernelName(), "simd": simd, "simdError": reason,
	}, nil
}

func (b *bench) input(url string, size int) (any, error) {
	data, err := fetchBytes(url)
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	img, _, err := imageio.Decode(url, data)
	if err != nil {
		return nil, err
	}
	t1 := time.Now()
	x, _ := encoder.Preprocess(img, size)
	t2 := time.Now()
	b.inputs[size] = x
	return map[string]any{
		"data": float32Array(x.Data), "decodeMs": ms(t1.Sub(t0)), "preprocessMs": ms(t2.Sub(t1)),
		"width": img.Bounds().Dx(), "height": img.Bounds().Dy(),
	}, nil
}

func (b *bench) runCPU(size int, simd bool, reps int) (any, error) {
	x, err := b.ready(size)
	if err != nil {
		return nil, err
	}
	if err := cpu.SetWasmSIMD(simd); err != nil {
		return nil, err
	}
	defer cpu.SetWasmSIMD(true)
	return timed(0, reps, func() (*tensor.Tensor, error) { return b.cpuEnc.Forward(x) })
}

func (b *bench) runGPU(size, reps int) (any, error) {
	x, err := b.ready(size)
	if err != nil {
		return nil, err
	}
	if b.gpuEnc == nil {
		t0 := time.Now()
		d, err := webgpu.Open(webgpu.Options{})
		if err != nil {
			return nil, err
		}
		if b.gpuEnc, err = tinyvit.New(d, encoder.MobileSAM, b.params); err != nil {
			return nil, err
		}
		b.gpuMs = ms(time.Since(t0))
	}
	return timed(b.gpuMs, reps, func() (*tensor.Tensor, error) { return b.gpuEnc.Forward(x) })
}

func (b *bench) ready(size int) (*tensor.Tensor, error) {
	if b.cpuEnc == nil {
		return nil, errors.New("busamBench: call load first")
	}
	x := b.inputs[size]
	if x == nil {
		return nil, fmt.Errorf("busamBench: call input(url, %d) first", size)
	}
	return x, nil
}

// timed runs f once to warm up and then reps times.
func timed(buildMs float64, reps int, f func() (*tensor.Tensor, error)) (any, error) {
	t0 := time.Now()
	out, err := f()
	if err != nil {
		return nil, err
	}
	warm := ms(time.Since(t0))
	times := make([]any, 0, reps)
	for range reps {
		t := time.Now()
		if out, err = f(); err != nil {
			return nil, err
		}
		times = append(times, ms(time.Since(t)))
	}
	return map[string]any{
		"buildMs": buildMs, "warmupMs": warm, "times": times, "kernel": cpu.KernelName(),
		"output": float32Array(out.Data),
	}, nil
}

// float32Array copies s into a new JavaScript Float32Array.
func float32Array(s []float32) js.Value {
	u8 := js.Global().Get("Uint8Array").New(len(s) * 4)
	if len(s) > 0 {
		js.CopyBytesToJS(u8, unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), len(s)*4))
	}
	return js.Global().Get("Float32Array").New(u8.Get("buffer"))
}
