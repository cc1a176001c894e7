package app

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/vugu/vugu/js"

	"github.com/busam/busam/ui/view"
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
		err := &callError{msg: "unknown error"}
		if len(args) > 0 {
			err.msg = errorText(args[0])
			if args[0].Type() == js.TypeObject {
				err.kind = str(args[0].Get("kind"))
			}
		}
		ch <- settled{err: err}
		return nil
	})
	defer onOK.Release()
	defer onErr.Release()
	p.Call("then", onOK, onErr)
	s := <-ch
	return s.v, s.err
}

// callError is a rejected promise's reason: its message and, for an image
// file the worker could not read, busam.js's error kind ("corrupt", ...).
type callError struct{ msg, kind string }

func (e *callError) Error() string { return e.msg }

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
	FromCache              bool        // every model file came from Cache Storage
	Files                  []modelFile // the model files, as the manifest lists them
}

// modelFile is one verified model file: its role and SHA-256.
type modelFile struct{ Role, SHA256 string }

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
	return &modelClient{v: v}, readInfo(v.Get("info")), nil
}

// readInfo converts busam.js's info object.
func readInfo(info js.Value) modelInfo {
	mi := modelInfo{Backend: str(info.Get("backend")), BackendReason: str(info.Get("backendReason")), FromCache: true}
	if src := info.Get("sources"); src.Type() == js.TypeObject {
		keys := js.Global().Get("Object").Call("values", src)
		for i := 0; i < keys.Length(); i++ {
			if keys.Index(i).String() != "cache" {
				mi.FromCache = false
			}
		}
	}
	if files := info.Get("files"); files.Type() == js.TypeObject {
		for i := 0; i < files.Length(); i++ {
			f := files.Index(i)
			mi.Files = append(mi.Files, modelFile{Role: str(f.Get("role")), SHA256: str(f.Get("sha256"))})
		}
	}
	return mi
}

// cancel ends the worker's work at once (busam.js's cancel: the worker is
// replaced, pending calls reject with kind "cancelled") and returns the
// promise of the model's reload, for a goroutine to await. It must be
// called from the event handler itself, so the worker stops now.
func (m *modelClient) cancel() js.Value { return m.v.Call("cancel") }

// isCancelled reports an error of a call cut short by cancel.
func isCancelled(err error) bool {
	var ce *callError
	return errors.As(err, &ce) && ce.kind == "cancelled"
}

// analysis is one result of the worker, converted to Go.
type analysis struct {
	Mask          []uint8
	Width, Height int
	Probs         map[string]float64
	Label         string
	Timings       map[string]float64
	Backend       string
	// Evidence is the class-evidence map for Label (EvW x EvH cells of
	// the padded encoder frame; > 0 towards Label, < 0 away from it).
	Evidence []float32
	EvW, EvH int
	Flip     bool // the mirror image was analysed too
	// Calibrated probabilities; Sure: the top class reaches the threshold
	// fitted on validation data, where sure answers were right
	// SureAccuracy of the time.
	Calibrated, Sure bool
	SureAccuracy     float64
	// Unusual: unlike the training images; NotUltrasound: not taken for a
	// breast ultrasound image at all (nothing outlined).
	Unusual, NotUltrasound bool
	// Views are the probabilities of the image alone and of its mirror
	// image alone (when both were analysed).
	Views []map[string]float64
}

// picture is an image file decoded by the worker, for display.
type picture struct {
	Frame view.Frame
	Meta  ImageMeta
}

// decode has the worker decode an image file (a File or Blob, handed over
// as is) and copies its pixels into Go.
func (m *modelClient) decode(file js.Value, name string) (*picture, error) {
	v, err := await(m.v.Call("decode", file, name))
	if err != nil {
		return nil, err
	}
	w, h := num2int(v.Get("width")), num2int(v.Get("height"))
	rgba := v.Get("rgba")
	if rgba.Type() != js.TypeObject || w <= 0 || h <= 0 || rgba.Length() != 4*w*h {
		return nil, fmt.Errorf("the worker returned malformed pixels for a %dx%d image", w, h)
	}
	p := &picture{Frame: view.Frame{Pix: make([]byte, 4*w*h), W: w, H: h}, Meta: ImageMeta{Format: str(v.Get("format"))}}
	js.CopyBytesToGo(p.Frame.Pix, rgba)
	p.Meta.Frames, p.Meta.Frame = num2int(v.Get("frames")), num2int(v.Get("frame"))
	if sp := v.Get("pixelSpacingMM"); sp.Type() == js.TypeObject && sp.Length() == 2 {
		p.Meta.PixelSpacingMM = [2]float64{num(sp.Index(0)), num(sp.Index(1))}
	}
	return p, nil
}

// analyze has the worker analyse an image file (a File or Blob, handed
// over as is), with its mirror image when flip is set, and converts its
// reply.
func (m *modelClient) analyze(file js.Value, name string, flip bool) (*analysis, error) {
	opts := js.Global().Get("Object").New()
	opts.Set("flip", flip)
	v, err := await(m.v.Call("analyze", file, name, opts))
	if err != nil {
		return nil, err
	}
	a := &analysis{
		Width: num2int(v.Get("width")), Height: num2int(v.Get("height")),
		Label: str(v.Get("label")), Backend: str(v.Get("backend")),
		Probs: numberMap(v.Get("probs")), Timings: numberMap(v.Get("timings")),
		Flip:       v.Get("flip").Truthy(),
		Calibrated: v.Get("calibrated").Truthy(), Sure: v.Get("sure").Truthy(), SureAccuracy: num(v.Get("sureAccuracy")),
		Unusual: v.Get("unusual").Truthy(), NotUltrasound: v.Get("notUltrasound").Truthy(),
	}
	if views := v.Get("views"); views.Type() == js.TypeObject {
		for i := 0; i < views.Length(); i++ {
			a.Views = append(a.Views, numberMap(views.Index(i)))
		}
	}
	mask := v.Get("mask")
	if mask.Type() != js.TypeObject || a.Width <= 0 || a.Height <= 0 || mask.Length() != a.Width*a.Height {
		return nil, fmt.Errorf("the model returned a malformed mask for a %dx%d image", a.Width, a.Height)
	}
	a.Mask = make([]uint8, a.Width*a.Height)
	js.CopyBytesToGo(a.Mask, mask)
	if ev := v.Get("evidence"); ev.Type() == js.TypeObject {
		a.EvW, a.EvH = num2int(ev.Get("width")), num2int(ev.Get("height"))
		data := ev.Get("data")
		if n := data.Length(); n == a.EvW*a.EvH && n > 0 {
			raw := make([]byte, 4*n)
			bytesView := js.Global().Get("Uint8Array").New(data.Get("buffer"), data.Get("byteOffset"), 4*n)
			js.CopyBytesToGo(raw, bytesView)
			a.Evidence = make([]float32, n)
			for i := range a.Evidence {
				a.Evidence[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
			}
		}
	}
	return a, nil
}

// The canvas lives inside an element that the vugu template leaves empty
// (CanvasHostID), so vugu never syncs it: vugu re-sets every attribute on
// each render, and setting a canvas's width, even to the same value,
// clears its pixels.

// canvasPresent reports whether the host holds its canvas (vugu may have
// replaced the host element since the last draw). A host that is not on
// the page counts as present: there is nothing to draw into.
func canvasPresent(hostID, id string) bool {
	host := js.Global().Get("document").Call("getElementById", hostID)
	if host.Type() != js.TypeObject {
		return true
	}
	first := host.Get("firstElementChild")
	return first.Type() == js.TypeObject && first.Get("id").String() == id
}

// hostCanvas returns the canvas with id in the host element hostID,
// creating it if needed and sizing it to w×h (its aspect ratio goes to the
// style property --ratio, which app.css sizes it by, so it is never
// letterboxed and a point on it maps straight to a pixel). ok is false
// when the host is not on the page.
func hostCanvas(hostID, id string, w, h int) (js.Value, bool) {
	doc := js.Global().Get("document")
	host := doc.Call("getElementById", hostID)
	if host.Type() != js.TypeObject {
		return js.Undefined(), false
	}
	canvas := host.Get("firstElementChild")
	if canvas.Type() != js.TypeObject || canvas.Get("id").String() != id {
		host.Set("textContent", "")
		canvas = doc.Call("createElement", "canvas")
		canvas.Set("id", id)
		host.Call("appendChild", canvas)
	}
	if canvas.Get("width").Int() != w || canvas.Get("height").Int() != h {
		canvas.Set("width", w)
		canvas.Set("height", h)
		// CSSOM, which the page's style-src policy allows (unlike style attributes).
		canvas.Get("style").Call("setProperty", "--ratio", fmt.Sprintf("%.6f", float64(w)/float64(h)))
	}
	return canvas, true
}

// drawRGBA puts RGBA pixels on the canvas, creating it in the host if
// needed and resizing it to the image: one copy into an ImageData, one
// putImageData call; then it places it as the viewport says.
func drawRGBA(pix []byte, w, h int, vp view.Viewport) {
	canvas, ok := hostCanvas(CanvasHostID, CanvasID, w, h)
	if !ok {
		return
	}
	clamped := js.Global().Get("Uint8ClampedArray").New(len(pix))
	js.CopyBytesToJS(clamped, pix)
	img := js.Global().Get("ImageData").New(clamped, w, h)
	canvas.Call("getContext", "2d").Call("putImageData", img, 0, 0)
	setViewport(vp)
	copyToReport()
}

// copyToReport copies the image canvas onto the report's, when the
// report is on the page.
func copyToReport() {
	src := js.Global().Get("document").Call("getElementById", CanvasID)
	if src.Type() != js.TypeObject {
		return
	}
	dst, ok := hostCanvas(ReportCanvasHostID, ReportCanvasID, src.Get("width").Int(), src.Get("height").Int())
	if ok {
		dst.Call("getContext", "2d").Call("drawImage", src, 0, 0)
	}
}

// setViewport zooms and moves the image canvas (a CSS transform; the
// pixels are not redrawn).
func setViewport(vp view.Viewport) {
	canvas := js.Global().Get("document").Call("getElementById", CanvasID)
	if canvas.Type() != js.TypeObject {
		return
	}
	t := ""
	if vp != view.Identity {
		t = fmt.Sprintf("translate(%.2fpx, %.2fpx) scale(%.4f)", vp.X, vp.Y, vp.Zoom)
	}
	canvas.Get("style").Set("transform", t)
}

// canvasBox returns where the image canvas is on screen (transformed:
// left, top, width, height) and its size at zoom 1 (the frame's).
func canvasBox() (left, top, width, height, frameW, frameH float64, ok bool) {
	canvas := js.Global().Get("document").Call("getElementById", CanvasID)
	if canvas.Type() != js.TypeObject {
		return 0, 0, 0, 0, 0, 0, false
	}
	r := canvas.Call("getBoundingClientRect")
	return num(r.Get("left")), num(r.Get("top")), num(r.Get("width")), num(r.Get("height")),
		num(canvas.Get("offsetWidth")), num(canvas.Get("offsetHeight")), true
}

// followPointer calls onMove with the pointer's screen position until
// the pointer is released (then onUp), from listeners on the window added
// now and removed at the release. They live outside vugu: a vugu handler
// re-renders the page after every event, and a dragged pointer moves some
// 60 times a second. The callbacks run in JavaScript's event loop and must
// not wait for the render lock (hand the work to a goroutine).
func followPointer(onMove func(x, y float64), onUp func()) {
	win := js.Global()
	var move, up js.Func
	stop := func() {
		win.Call("removeEventListener", "pointermove", move)
		win.Call("removeEventListener", "pointerup", up)
		win.Call("removeEventListener", "pointercancel", up)
		move.Release()
		up.Release()
		onUp()
	}
	move = js.FuncOf(func(_ js.Value, args []js.Value) any {
		switch {
		case len(args) == 0:
		case num(args[0].Get("buttons")) == 0: // released where no pointerup reached us
			stop()
		default:
			onMove(num(args[0].Get("clientX")), num(args[0].Get("clientY")))
		}
		return nil
	})
	up = js.FuncOf(func(js.Value, []js.Value) any {
		stop()
		return nil
	})
	win.Call("addEventListener", "pointermove", move)
	win.Call("addEventListener", "pointerup", up)
	win.Call("addEventListener", "pointercancel", up)
}

// downloadCanvasPNG saves the image canvas (the image as shown, with its
// overlays and measurements) as a PNG, encoded by the browser into a Blob:
// nothing leaves the page.
func downloadCanvasPNG(name string) {
	canvas := js.Global().Get("document").Call("getElementById", CanvasID)
	if canvas.Type() != js.TypeObject {
		return
	}
	var done js.Func
	done = js.FuncOf(func(_ js.Value, args []js.Value) any {
		defer done.Release()
		if len(args) > 0 && args[0].Truthy() {
			downloadBlob(name, args[0])
		}
		return nil
	})
	canvas.Call("toBlob", done, "image/png")
}

// printPage opens the browser's print dialog (print or save as PDF).
func printPage() { js.Global().Call("print") }

// localDateTime is now, as this browser writes dates for its user; "" if
// it cannot say (natively, in tests).
func localDateTime() string {
	d := js.Global().Get("Date")
	if d.Type() != js.TypeFunction {
		return ""
	}
	return str(d.New().Call("toLocaleString"))
}

// maskPNG has the worker encode a 0|1 mask as PNG; it resolves to the
// bytes as a JS Uint8Array, ready for downloadBytes.
func (m *modelClient) maskPNG(mask []uint8, w, h int) (js.Value, error) {
	arr := js.Global().Get("Uint8Array").New(len(mask))
	js.CopyBytesToJS(arr, mask)
	v, err := await(m.v.Call("maskPNG", arr, w, h))
	if err != nil {
		return js.Undefined(), err
	}
	if !v.InstanceOf(js.Global().Get("Uint8Array")) {
		return js.Undefined(), errors.New("the worker returned no PNG bytes for the mask")
	}
	return v, nil
}

// download offers bytes as a file.
func download(name, mime string, data []byte) {
	arr := js.Global().Get("Uint8Array").New(len(data))
	js.CopyBytesToJS(arr, data)
	downloadBytes(name, mime, arr)
}

// downloadBytes offers a JS Uint8Array as a file: a Blob URL made here,
// clicked, then revoked. Nothing leaves the browser.
func downloadBytes(name, mime string, arr js.Value) {
	parts := js.Global().Get("Array").New(arr)
	opts := js.Global().Get("Object").New()
	opts.Set("type", mime)
	downloadBlob(name, js.Global().Get("Blob").New(parts, opts))
}

// downloadBlob offers a Blob as a file.
func downloadBlob(name string, blob js.Value) {
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

// readSetting returns a preference this browser remembers (localStorage),
// or "" when there is none or storage is unavailable (some private modes
// throw on access).
func readSetting(key string) (v string) {
	defer func() {
		if recover() != nil {
			v = ""
		}
	}()
	store := js.Global().Get("localStorage")
	if store.Type() != js.TypeObject {
		return ""
	}
	return str(store.Call("getItem", key))
}

// writeSetting remembers a preference; without storage it lasts until
// the page is reloaded.
func writeSetting(key, v string) {
	// Storage full or denied (it throws): the setting still applies now.
	defer func() { _ = recover() }()
	store := js.Global().Get("localStorage")
	if store.Type() == js.TypeObject {
		store.Call("setItem", key, v)
	}
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
