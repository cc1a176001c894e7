package app

import (
	"fmt"
	"strconv"

	"github.com/vugu/vugu"

	"github.com/busam/busam/ui/view"
)

// Element ids the markup and the tests rely on.
const (
	FileInputID  = "file-input"
	TruthInputID = "truth-input"
)

// guard turns a panic in an event handler into a message: an uncaught
// panic would end the Go program and with it the whole page.
func (c *Root) guard(what string) {
	if r := recover(); r != nil {
		c.FileError = fmt.Sprintf("Internal error while %s: %v. Reload the page if the app misbehaves.", what, r)
	}
}

// FileChosen handles the file input's change event.
func (c *Root) FileChosen(e vugu.DOMEvent) {
	defer c.guard("opening the file")
	target := e.JSEventTarget()
	if f, name, ok := firstFile(target); ok {
		c.openFile(f, name)
	}
	target.Set("value", "") // choosing the same file again fires change again
}

// DropKey opens the file picker on Enter or Space, like a button.
func (c *Root) DropKey(e vugu.DOMEvent) {
	switch e.PropString("key") {
	case "Enter", " ", "Spacebar":
		e.PreventDefault()
		clickElement(FileInputID)
	}
}

// DropClick opens the file picker.
func (c *Root) DropClick(vugu.DOMEvent) { clickElement(FileInputID) }

// DragEnter marks the drop zone while a file hovers over it.
func (c *Root) DragEnter(e vugu.DOMEvent) {
	e.PreventDefault() // required for the drop to be allowed
	c.DragOver = true
}

// DragLeave unmarks the drop zone.
func (c *Root) DragLeave(vugu.DOMEvent) { c.DragOver = false }

// Drop opens the dropped file.
func (c *Root) Drop(e vugu.DOMEvent) {
	defer c.guard("opening the dropped file")
	e.PreventDefault() // the browser would otherwise navigate to the file
	c.DragOver = false
	if f, name, ok := firstFile(e.JSEvent().Get("dataTransfer")); ok {
		c.openFile(f, name)
	}
}

// ToggleFill, ToggleContour, ToggleEvidence and ToggleOverlap follow
// their checkboxes.
func (c *Root) ToggleFill(e vugu.DOMEvent)    { c.ShowFill = checked(e); c.redraw() }
func (c *Root) ToggleContour(e vugu.DOMEvent) { c.ShowContour = checked(e); c.redraw() }
func (c *Root) ToggleEvidence(e vugu.DOMEvent) {
	c.ShowEvidence = checked(e)
	c.redraw()
}
func (c *Root) ToggleOverlap(e vugu.DOMEvent) { c.ShowOverlap = checked(e); c.redraw() }

// ToggleFlip follows the mirror-image setting; the open image is analysed
// again with it.
func (c *Root) ToggleFlip(e vugu.DOMEvent) {
	defer c.guard("changing the setting")
	if c.setFlip(checked(e)) {
		c.reanalyze()
	}
}

func checked(e vugu.DOMEvent) bool { return e.PropBool("target", "checked") }

// OpacityInput follows the opacity slider.
func (c *Root) OpacityInput(e vugu.DOMEvent) {
	if v, err := strconv.Atoi(e.PropString("target", "value")); err == nil && v >= 0 && v <= 100 {
		c.Opacity = v
		c.redraw()
	}
}

// TruthChosen loads a ground-truth mask (teaching mode).
func (c *Root) TruthChosen(e vugu.DOMEvent) {
	defer c.guard("opening the mask")
	target := e.JSEventTarget()
	if f, name, ok := firstFile(target); ok && c.Result != nil {
		c.loadTruth(f, name)
	}
	target.Set("value", "")
}

// ClearTruth leaves teaching mode.
func (c *Root) ClearTruth(vugu.DOMEvent) {
	c.truth, c.TruthName, c.TruthError, c.ShowOverlap = nil, "", "", false
	c.redraw()
}

// HasTruth reports whether a ground-truth mask is loaded.
func (c *Root) HasTruth() bool { return c.truth != nil }

// DownloadMask saves the predicted mask as a PNG, which the worker
// encodes (in a goroutine: an event handler must not wait on a promise).
func (c *Root) DownloadMask(vugu.DOMEvent) {
	defer c.guard("saving the mask")
	if c.Result == nil || c.client == nil {
		return
	}
	r, client, name := c.Result, c.client, view.ExportName(c.FileName, "_mask.png")
	go func() {
		png, err := client.maskPNG(r.Mask, r.Width, r.Height)
		if err == nil {
			downloadBytes(name, "image/png", png)
			return
		}
		if isCancelled(err) { // a new file stopped the worker meanwhile
			return
		}
		c.env.Lock()
		defer c.env.UnlockRender()
		c.FileError = "The mask could not be saved: " + err.Error()
	}()
}

// DownloadJSON saves the result as JSON, generated here.
func (c *Root) DownloadJSON(vugu.DOMEvent) {
	defer c.guard("saving the result")
	if c.Result == nil {
		return
	}
	b, err := c.report().JSON()
	if err != nil {
		c.FileError = err.Error()
		return
	}
	download(view.ExportName(c.FileName, "_result.json"), "application/json", b)
}

// DropClass is the drop zone's class list.
func (c *Root) DropClass() string {
	cls := "drop"
	if c.DragOver {
		cls += " drop-over"
	}
	if !c.Ready() {
		cls += " drop-busy"
	}
	if c.HasImage() {
		cls += " drop-compact"
	}
	return cls
}
