package app

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/vugu/vugu/js"
)

// This file is the app's only contact with JavaScript APIs: the busam.js
// worker client (window.Busam, set by boot.js), files, the canvas and
// downloads. It uses vugu's js package, which mirrors syscall/js in the
// browser and is an inert stub natively, so the package builds and its
// logic is tested with go test.

// await blocks the calling goroutine until the promise settles. Never
// call it from inside a js.FuncOf callback or a vugu event handler: the
// promise needs the JavaScript event loop that such a call holds.
func await(p js.Value) (js.Value, error) {
	type settled struct {
		v   js.Value
		err error
	}
	ch := make(chan settled, 1)
	onOK := js.FuncOf(func(_ js.Value, args []js.Value) any {
		v := js.Undefined()
		if len(args) > 0 {
			v = args[0]
		}
		ch <- settled{v: v}
		return nil
	})
	onErr := js.FuncOf(func(_ js.Value, args []js.Value) any {
		msg := "unknown error"
		if len(args) > 0 {
			msg = errorText(args[0])
		}
		ch <- settled{err: errors.New(msg)}
		return nil
	})
	defer onOK.Release()
	defer onErr.Release()
	p.Call("then", onOK, onErr)
	s := <-ch
	return s.v, s.err
}

// errorText is the message of a thrown JS value.
func errorText(v js.Value) string {
	if v.Type() == js.TypeObject {
		if m := v.Get("message"); m.Type() == js.TypeString {
			return m.String()
		}
	}
	return v.String()
}

// modelClient is the busam.js instance that owns the worker.
type modelClient struct{ v js.Value }

// loadProgress is the part of busam.js's progress events the UI shows.
type loadProgress struct {
	Phase          string
	File           string
	Loaded, Total  float64 // overall bytes
	FromCache      bool
	FileLoaded     float64
	FileTotal      float64
	HasOverallSize bool
}

// modelInfo is what Busam.load resolves to.
type modelInfo struct {
	Backend, BackendReason string
	FromCache              bool // every model file came from Cache Storage
}

// loadModel starts the worker and loads the model, reporting progress.
func loadModel(onProgress func(loadProgress)) (*modelClient, modelInfo, error) {
	busam := js.Global().Get("Busam")
	if busam.Type() != js.TypeFunction {
		return nil, modelInfo{}, errors.New("the page did not load busam.js (window.Busam is missing)")
	}
	cb := js.FuncOf(func(_ js.Value, args []js.Value) any {
		if len(args) == 0 || args[0].Type() != js.TypeObject {
			return nil
		}
		p := args[0]
		lp := loadProgress{Phase: str(p.Get("phase")), File: str(p.Get("file")), FromCache: p.Get("fromCache").Truthy()}
		if t := p.Get("overallTotal"); t.Type() == js.TypeNumber {
			lp.Total, lp.Loaded, lp.HasOverallSize = t.Float(), num(p.Get("overallLoaded")), true
		}
		lp.FileLoaded, lp.FileTotal = num(p.Get("loaded")), num(p.Get("total"))
		onProgress(lp)
		return nil
	})
	defer cb.Release()
	v, err := await(busam.Call("load", js.Undefined(), cb))
	if err != nil {
		return nil, modelInfo{}, err
	}
	info := v.Get("info")
	mi := modelInfo{Backend: str(info.Get("backend")), BackendReason: str(info.Get("backendReason")), FromCache: true}
	if src := info.Get("sources"); src.Type() == js.TypeObject {
		keys := js.Global().Get("Object").Call("values", src)
		for i := 0; i < keys.Length(); i++ {
			if keys.Index(i).String() != "cache" {
				mi.FromCache = false
			}
		}
	}
	return &modelClient{v: v}, mi, nil
}

// analysis is one result of the worker, converted to Go.
type analysis struct {
	Mask          []uint8
	Width, Height int
	Probs         map[string]float64
	Label         string
	Timings       map[string]float64
	Backend       string
	Attention     []float32
	AttW, AttH    int
}

// analyze sends the image bytes to the worker and converts its reply.
func (m *modelClient) analyze(name string, data []byte) (*analysis, error) {
	arr := js.Global().Get("Uint8Array").New(len(data))
	js.CopyBytesToJS(arr, data)
	v, err := await(m.v.Call("analyze", arr, name))
	if err != nil {
		return nil, err
	}
	a := &analysis{
		Width: num2int(v.Get("width")), Height: num2int(v.Get("height")),
		Label: str(v.Get("label")), Backend: str(v.Get("backend")),
		Probs: numberMap(v.Get("probs")), Timings: numberMap(v.Get("timings")),
	}
	mask := v.Get("mask")
	if mask.Type() != js.TypeObject || a.Width <= 0 || a.Height <= 0 || mask.Length() != a.Width*a.Height {
		return nil, fmt.Errorf("the model returned a malformed mask for a %dx%d image", a.Width, a.Height)
	}
	a.Mask = make([]uint8, a.Width*a.Height)
	js.CopyBytesToGo(a.Mask, mask)
	if att := v.Get("attention"); att.Type() == js.TypeObject {
		a.AttW, a.AttH = num2int(att.Get("width")), num2int(att.Get("height"))
		data := att.Get("data")
		if n := data.Length(); n == a.AttW*a.AttH && n > 0 {
			raw := make([]byte, 4*n)
			bytesView := js.Global().Get("Uint8Array").New(data.Get("buffer"), data.Get("byteOffset"), 4*n)
			js.CopyBytesToGo(raw, bytesView)
			a.Attention = make([]float32, n)
			for i := range a.Attention {
				a.Attention[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
			}
		}
	}
	return a, nil
}

// readFile reads a File (or Blob) into Go memory.
func readFile(file js.Value) ([]byte, error) {
	buf, err := await(file.Call("arrayBuffer"))
	if err != nil {
		return nil, err
	}
	arr := js.Global().Get("Uint8Array").New(buf)
	out := make([]byte, arr.Length())
	js.CopyBytesToGo(out, arr)
	return out, nil
}

// The canvas lives inside an element that the vugu template leaves empty
// (CanvasHostID), so vugu never syncs it: vugu re-sets every attribute on
// each render, and setting a canvas's width, even to the same value,
// clears its pixels.

// canvasPresent reports whether the host holds our canvas (vugu may have
// replaced the host element since the last draw).
func canvasPresent() bool {
	host := js.Global().Get("document").Call("getElementById", CanvasHostID)
	if host.Type() != js.TypeObject {
		return false
	}
	first := host.Get("firstElementChild")
	return first.Type() == js.TypeObject && first.Get("id").String() == CanvasID
}

// drawRGBA puts RGBA pixels on the canvas, creating it in the host if
// needed and resizing it to the image: one copy into an ImageData, one
// putImageData call.
func drawRGBA(pix []byte, w, h int) {
	doc := js.Global().Get("document")
	host := doc.Call("getElementById", CanvasHostID)
	if host.Type() != js.TypeObject {
		return
	}
	canvas := host.Get("firstElementChild")
	if canvas.Type() != js.TypeObject || canvas.Get("id").String() != CanvasID {
		host.Set("textContent", "")
		canvas = doc.Call("createElement", "canvas")
		canvas.Set("id", CanvasID)
		host.Call("appendChild", canvas)
	}
	if canvas.Get("width").Int() != w || canvas.Get("height").Int() != h {
		canvas.Set("width", w)
		canvas.Set("height", h)
	}
	clamped := js.Global().Get("Uint8ClampedArray").New(len(pix))
	js.CopyBytesToJS(clamped, pix)
	img := js.Global().Get("ImageData").New(clamped, w, h)
	canvas.Call("getContext", "2d").Call("putImageData", img, 0, 0)
}

// download offers bytes as a file: a Blob URL made here, clicked, then
// revoked. Nothing leaves the browser.
func download(name, mime string, data []byte) {
	arr := js.Global().Get("Uint8Array").New(len(data))
	js.CopyBytesToJS(arr, data)
	parts := js.Global().Get("Array").New(arr)
	opts := js.Global().Get("Object").New()
	opts.Set("type", mime)
	blob := js.Global().Get("Blob").New(parts, opts)
	url := js.Global().Get("URL").Call("createObjectURL", blob)
	doc := js.Global().Get("document")
	a := doc.Call("createElement", "a")
	a.Set("href", url.String()) // vugu's Value.Set does not unwrap js.Values
	a.Set("download", name)
	a.Set("hidden", true)
	doc.Get("body").Call("appendChild", a)
	a.Call("click")
	a.Call("remove")
	// Revoke after the click has been handled by the browser.
	var revoke js.Func
	revoke = js.FuncOf(func(js.Value, []js.Value) any {
		js.Global().Get("URL").Call("revokeObjectURL", url)
		revoke.Release()
		return nil
	})
	js.Global().Call("setTimeout", revoke, 1000)
}

// hasWebGPU reports whether this browser exposes navigator.gpu.
func hasWebGPU() bool {
	return js.Global().Get("navigator").Get("gpu").Truthy()
}

// clickElement clicks the element with the given id (opens a file picker).
func clickElement(id string) {
	el := js.Global().Get("document").Call("getElementById", id)
	if el.Type() == js.TypeObject {
		el.Call("click")
	}
}

// firstFile returns files[0] of a FileList-bearing value (an input or a
// DataTransfer), and whether there was one.
func firstFile(holder js.Value) (js.Value, string, bool) {
	if holder.Type() != js.TypeObject {
		return js.Undefined(), "", false
	}
	files := holder.Get("files")
	if files.Type() != js.TypeObject || files.Length() == 0 {
		return js.Undefined(), "", false
	}
	f := files.Index(0)
	return f, str(f.Get("name")), true
}

func str(v js.Value) string {
	if v.Type() == js.TypeString {
		return v.String()
	}
	return ""
}

func num(v js.Value) float64 {
	if v.Type() == js.TypeNumber {
		return v.Float()
	}
	return 0
}

func num2int(v js.Value) int { return int(num(v)) }

// numberMap converts a flat object of numbers.
func numberMap(v js.Value) map[string]float64 {
	out := map[string]float64{}
	if v.Type() != js.TypeObject {
		return out
	}
	keys := js.Global().Get("Object").Call("keys", v)
	for i := 0; i < keys.Length(); i++ {
		k := keys.Index(i).String()
		if x := v.Get(k); x.Type() == js.TypeNumber {
			out[k] = x.Float()
		}
	}
	return out
}
