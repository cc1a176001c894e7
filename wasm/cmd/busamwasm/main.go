//go:build js && wasm

// Command busamwasm is busam's WebAssembly module. worker.js runs it in a
// Web Worker and drives it through globalThis.busamGo:
//
//	setManifest(text)        -> Promise<[{role, path, size, sha256}]>
//	addFile(role, Uint8Array, sha256hex?) -> Promise<void>  (rejects a file whose SHA-256 differs)
//	load({inputSize, backend, gpu}) -> Promise<{backend, backendReason, files, inputSize}>
//	analyze(name, Uint8Array, {flip, embedding}?) -> Promise<{mask, width, height, probs, label, timings, backend, attention, evidence, flip, calibrated, sure, sureAccuracy, unusual, notUltrasound, embedding?}>
//	decode(name, Uint8Array) -> Promise<{rgba: Uint8ClampedArray, width, height, format, pixelSpacingMM: [row, col], frames, frame}>
//	maskPNG(Uint8Array mask, width, height) -> Promise<Uint8Array>  (the mask as an 8-bit PNG)
//
// analyze's flip option also analyses the image mirrored left-right and
// averages the two predictions (test-time augmentation: more accurate,
// about twice the time; the result's flip says whether it was used). Its
// embedding option adds the encoder's embedding to the result,
// {shape: [256, S/16, S/16], data: Float32Array}. Both are off by default;
// the embedding because on WebGPU it is read back from the device only for
// this.
//
// decode and maskPNG are for the page: it shows the image and reads
// teaching-mode masks from decode's pixels and offers maskPNG's bytes as a
// download, so its own module needs no image codecs. A rejected
// image-file error carries a kind (engine.ErrorKind: "corrupt",
// "not-image", ...) for the page to word its message.
//
// Every call returns a promise and runs its work in a goroutine: blocking
// inside a js.FuncOf callback would deadlock the Go scheduler, and the
// WebGPU backend waits on promises. A panic becomes a rejected promise, so
// a bad input never kills the module.
package main

import (
	"fmt"
	"runtime/debug"
	"syscall/js"
	"unsafe"

	"github.com/busam/busam/wasm/engine"
	"github.com/busam/busam/wasm/manifest"
)

func main() {
	eng := engine.New(
		engine.Candidate{Name: "webgpu", Usable: engine.WebGPUUsable, Build: engine.BuildWebGPUModel},
		engine.Candidate{Name: "cpu", Build: engine.BuildPipelineModel},
	)
	api := js.Global().Get("Object").New()
	api.Set("version", "1")
	api.Set("setManifest", js.FuncOf(func(_ js.Value, args []js.Value) any {
		text, err := stringArg(args, 0, "manifest text")
		return promise(func() (any, error) {
			if err != nil {
				return nil, err
			}
			files, err := eng.SetManifest("model/"+manifest.FileName, []byte(text))
			if err != nil {
				return nil, err
			}
			return filesToJS(files), nil
		})
	}))
	api.Set("addFile", js.FuncOf(func(_ js.Value, args []js.Value) any {
		role, err1 := stringArg(args, 0, "role")
		data, err2 := bytesArg(args, 1, "file bytes")
		digest := "" // optional: the SHA-256 crypto.subtle computed
		if len(args) > 2 && args[2].Type() == js.TypeString {
			digest = args[2].String()
		}
		return promise(func() (any, error) {
			if err := firstErr(err1, err2); err != nil {
				return nil, err
			}
			return nil, eng.AddFile(role, data, digest)
		})
	}))
	api.Set("load", js.FuncOf(func(_ js.Value, args []js.Value) any {
		opt := loadOptions(args)
		return promise(func() (any, error) {
			info, err := eng.Load(opt)
			if err != nil {
				return nil, err
			}
			debug.FreeOSMemory() // the raw file bytes are garbage now
			return map[string]any{
				"backend":       info.Backend.Name,
				"backendReason": info.Backend.Reason,
				"files":         filesToJS(info.Files),
				"inputSize":     info.InputSize,
			}, nil
		})
	}))
	api.Set("analyze", js.FuncOf(func(_ js.Value, args []js.Value) any {
		name, err1 := stringArg(args, 0, "file name")
		data, err2 := bytesArg(args, 1, "image bytes")
		opt := analyzeOptions(args, 2)
		return promise(func() (any, error) {
			if err := firstErr(err1, err2); err != nil {
				return nil, err
			}
			r, err := eng.AnalyzeWith(name, data, opt)
			if err != nil {
				return nil, err
			}
			return resultToJS(r), nil
		})
	}))
	api.Set("decode", js.FuncOf(func(_ js.Value, args []js.Value) any {
		name, err1 := stringArg(args, 0, "file name")
		data, err2 := bytesArg(args, 1, "image bytes")
		return promise(func() (any, error) {
			if err := firstErr(err1, err2); err != nil {
				return nil, err
			}
			p, err := engine.DecodePicture(name, data)
			if err != nil {
				return nil, err
			}
			return pictureToJS(p), nil
		})
	}))
	api.Set("maskPNG", js.FuncOf(func(_ js.Value, args []js.Value) any {
		mask, err1 := bytesArg(args, 0, "mask")
		w, err2 := intArg(args, 1, "width")
		h, err3 := intArg(args, 2, "height")
		return promise(func() (any, error) {
			if err := firstErr(err1, err2, err3); err != nil {
				return nil, err
			}
			b, err := engine.MaskPNG(mask, w, h)
			if err != nil {
				return nil, err
			}
			arr := js.Global().Get("Uint8Array").New(len(b))
			js.CopyBytesToJS(arr, b)
			return arr, nil
		})
	}))
	js.Global().Set("busamGo", api)
	if ready := js.Global().Get("busamGoReady"); ready.Type() == js.TypeFunction {
		ready.Invoke()
	}
	select {} // keep serving calls
}

// promise runs work in a goroutine and settles a JS promise with its
// result; errors and panics reject it with an Error carrying the message.
func promise(work func() (any, error)) js.Value {
	executor := js.FuncOf(func(_ js.Value, args []js.Value) any {
		resolve, reject := args[0], args[1]
		go func() {
			defer func() {
				if p := recover(); p != nil {
					reject.Invoke(jsError(fmt.Sprintf("busam: internal error: %v", p)))
				}
			}()
			v, err := work()
			if err != nil {
				e := jsError(err.Error())
				if kind := engine.ErrorKind(err); kind != "" {
					e.Set("kind", kind)
				}
				reject.Invoke(e)
				return
			}
			resolve.Invoke(v)
		}()
		return nil
	})
	defer executor.Release() // the executor runs inside the constructor
	return js.Global().Get("Promise").New(executor)
}

// loadOptions reads load's argument: {inputSize, backend, gpu: {available,
// fallback, description, reason}}; anything missing keeps its default.
func loadOptions(args []js.Value) engine.Options {
	var opt engine.Options
	if len(args) == 0 || args[0].Type() != js.TypeObject {
		return opt
	}
	o := args[0]
	if v := o.Get("inputSize"); v.Type() == js.TypeNumber {
		opt.InputSize = v.Int()
	}
	if v := o.Get("backend"); v.Type() == js.TypeString {
		opt.Backend = v.String()
	}
	if g := o.Get("gpu"); g.Type() == js.TypeObject {
		opt.GPU.Available = g.Get("available").Truthy()
		opt.GPU.Fallback = g.Get("fallback").Truthy()
		if v := g.Get("description"); v.Type() == js.TypeString {
			opt.GPU.Description = v.String()
		}
		if v := g.Get("reason"); v.Type() == js.TypeString {
			opt.GPU.Reason = v.String()
		}
	}
	return opt
}

// analyzeOptions reads analyze's optional options object {flip, embedding}.
func analyzeOptions(args []js.Value, i int) engine.AnalyzeOptions {
	var opt engine.AnalyzeOptions
	if i < len(args) && args[i].Type() == js.TypeObject {
		opt.Flip = args[i].Get("flip").Truthy()
		opt.Embedding = args[i].Get("embedding").Truthy()
	}
	return opt
}

func jsError(msg string) js.Value { return js.Global().Get("Error").New(msg) }

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func stringArg(args []js.Value, i int, what string) (string, error) {
	if i >= len(args) || args[i].Type() != js.TypeString {
		return "", fmt.Errorf("busam: argument %d (%s) must be a string", i+1, what)
	}
	return args[i].String(), nil
}

func intArg(args []js.Value, i int, what string) (int, error) {
	if i >= len(args) || args[i].Type() != js.TypeNumber {
		return 0, fmt.Errorf("busam: argument %d (%s) must be a number", i+1, what)
	}
	return args[i].Int(), nil
}

// bytesArg copies a Uint8Array argument into Go memory; it runs in the
// callback itself, before the caller can reuse the array.
func bytesArg(args []js.Value, i int, what string) ([]byte, error) {
	if i >= len(args) || !args[i].InstanceOf(js.Global().Get("Uint8Array")) {
		return nil, fmt.Errorf("busam: argument %d (%s) must be a Uint8Array", i+1, what)
	}
	b := make([]byte, args[i].Get("length").Int())
	js.CopyBytesToGo(b, args[i])
	return b, nil
}

func filesToJS(files []manifest.File) []any {
	out := make([]any, len(files))
	for i, f := range files {
		out[i] = map[string]any{"role": f.Role, "path": f.Path, "size": f.Size, "sha256": f.SHA256}
	}
	return out
}

func resultToJS(r *engine.Result) map[string]any {
	mask := js.Global().Get("Uint8Array").New(len(r.Mask))
	js.CopyBytesToJS(mask, r.Mask)
	out := map[string]any{
		"mask":   mask,
		"width":  r.Width,
		"height": r.Height,
		"probs": map[string]any{
			"normal": float64(r.Normal), "benign": float64(r.Benign), "malignant": float64(r.Malign),
		},
		"label": r.Label,
		"timings": map[string]any{
			"decode": r.Timings.Decode, "preprocess": r.Timings.Preprocess,
			"encoder": r.Timings.Encoder, "heads": r.Timings.Heads,
			"postprocess": r.Timings.Postprocess, "total": r.Timings.Total,
		},
		"backend":   r.Backend,
		"flip":      r.Flip,
		"attention": nil,
		"evidence":  nil,
		// calibrated probabilities, and whether the answer is sure (the
		// top class reaches the threshold fitted on validation data)
		"calibrated":   r.Calibrated,
		"sure":         r.Sure,
		"sureAccuracy": r.SureAccuracy,
		// how unlike the training images the image is (see engine.Result)
		"unusual":       r.Unusual,
		"notUltrasound": r.NotUltrasound,
		"views":         viewsToJS(r.ViewProbs),
	}
	if len(r.Attention) > 0 {
		out["attention"] = map[string]any{
			"width": r.AttentionW, "height": r.AttentionH, "data": float32sToJS(r.Attention),
		}
	}
	if len(r.Evidence) > 0 {
		out["evidence"] = map[string]any{
			"width": r.EvidenceW, "height": r.EvidenceH, "data": float32sToJS(r.Evidence),
		}
	}
	if len(r.Embedding) > 0 {
		shape := make([]any, len(r.EmbeddingShape))
		for i, n := range r.EmbeddingShape {
			shape[i] = n
		}
		out["embedding"] = map[string]any{"shape": shape, "data": float32sToJS(r.Embedding)}
	}
	return out
}

func pictureToJS(p *engine.Picture) map[string]any {
	rgba := js.Global().Get("Uint8ClampedArray").New(len(p.RGBA))
	js.CopyBytesToJS(rgba, p.RGBA)
	return map[string]any{
		"rgba": rgba, "width": p.W, "height": p.H, "format": p.Format,
		"pixelSpacingMM": []any{p.PixelSpacingMM[0], p.PixelSpacingMM[1]},
		"frames":         p.Frames,
		"frame":          p.Frame,
	}
}

// float32sToJS copies floats into a new Float32Array through its bytes.
func float32sToJS(v []float32) js.Value {
	arr := js.Global().Get("Float32Array").New(len(v))
	raw := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(v))), 4*len(v))
	js.CopyBytesToJS(js.Global().Get("Uint8Array").New(arr.Get("buffer")), raw)
	return arr
}

// viewsToJS is the per-view probabilities (image, mirror image) as an array
// of {normal, benign, malignant} objects; empty for one view.
func viewsToJS(views []map[string]float32) []any {
	out := make([]any, len(views))
	for i, v := range views {
		m := map[string]any{}
		for k, p := range v {
			m[k] = float64(p)
		}
		out[i] = m
	}
	return out
}
