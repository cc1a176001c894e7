package app

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/vugu/vugu"

	"github.com/busam/busam/ui/view"
)

// This file holds what the user does to the open image besides analysing
// it: zoom and pan, brightness and contrast, the lesion's axes, caliper
// measurements, calibration, the report and the overlay PNG. The geometry
// is package view's; this is the state and the wording.

// Tools the pointer works as on the image.
const (
	toolMove      = "move"      // drag to pan (when zoomed), wheel to zoom
	toolCaliper   = "caliper"   // two clicks: a distance
	toolCalibrate = "calibrate" // two clicks along a known length, then its mm
)

// dragStart is where a pan drag last was, in screen pixels.
type dragStart struct{ X, Y float64 }

// resetImageTools forgets everything tied to the previous image.
func (c *Root) resetImageTools() {
	c.vp, c.drag, c.Brightness, c.Contrast = view.Identity, nil, 0, 0
	c.axes, c.pending, c.Calipers, c.calLine, c.CalMM, c.CalError = nil, nil, nil, nil, "", ""
	c.userSpacing, c.Tool, c.Cancelled, c.ReportOpen = view.Spacing{}, toolMove, false, false
}

// spacing is the pixel size in use: the user's calibration, else the
// file's (DICOM), else unknown.
func (c *Root) spacing() view.Spacing {
	if c.userSpacing.Known() {
		return c.userSpacing
	}
	return view.SpacingOf(c.Meta.PixelSpacingMM)
}

// spacingRC is spacing in ImageMeta's [row, column] form.
func (c *Root) spacingRC() [2]float64 {
	sp := c.spacing()
	return [2]float64{sp.Row, sp.Col}
}

// spacingSource says where the spacing comes from: "calibration", "file" or "".
func (c *Root) spacingSource() string {
	switch {
	case c.userSpacing.Known():
		return "calibration"
	case c.spacing().Known():
		return "file"
	}
	return ""
}

// SpacingText says what scale measurements use.
func (c *Root) SpacingText() string {
	sp := c.spacing()
	switch c.spacingSource() {
	case "calibration":
		return fmt.Sprintf("Pixel spacing %.4f mm (from your calibration)", sp.Row)
	case "file":
		return fmt.Sprintf("Pixel spacing %.3f × %.3f mm (from the file)", sp.Row, sp.Col)
	}
	return "No pixel spacing: lengths are in pixels. To get mm, choose Calibrate and draw a line along a known length (a scale bar or the depth ruler)."
}

// HasCalibration reports a calibration set by the user.
func (c *Root) HasCalibration() bool { return c.userSpacing.Known() }

// CalibrationPending reports a calibration line waiting for its length.
func (c *Root) CalibrationPending() bool { return c.calLine != nil }

// updateAxes measures the result's lesion in the scale at hand (on
// non-square pixels the scale decides which axis is the longest).
func (c *Root) updateAxes() {
	c.axes = nil
	if c.Result == nil {
		return
	}
	if ax, err := view.LesionAxes(c.Result.Mask, c.Result.Width, c.Result.Height, c.spacing()); err == nil {
		c.axes = &ax
	}
}

// lines are the measurements drawn on the image.
func (c *Root) lines() []view.Line {
	var out []view.Line
	if c.ShowAxes && c.axes != nil && c.Result != nil {
		out = append(out, view.Line{Segment: c.axes.Long, Color: view.LongAxisColor}, view.Line{Segment: c.axes.Short, Color: view.ShortAxisColor})
	}
	for _, s := range c.Calipers {
		out = append(out, view.Line{Segment: s, Color: view.CaliperColor})
	}
	if c.calLine != nil {
		out = append(out, view.Line{Segment: *c.calLine, Color: view.CalibrationColor})
	}
	if p := c.pending; p != nil {
		col := view.CaliperColor
		if c.Tool == toolCalibrate {
			col = view.CalibrationColor
		}
		out = append(out, view.Line{Segment: view.Segment{A: *p, B: *p}, Color: col})
	}
	return out
}

// LongAxisText and ShortAxisText give the lesion's axes ("" without a lesion).
func (c *Root) LongAxisText() string {
	if c.axes == nil || c.Result == nil {
		return ""
	}
	return view.FormatLength(c.axes.Long, c.spacing())
}

func (c *Root) ShortAxisText() string {
	if c.axes == nil || c.Result == nil {
		return ""
	}
	return view.FormatLength(c.axes.Short, c.spacing())
}

// CaliperRows lists the user's measurements.
func (c *Root) CaliperRows() []string {
	rows := make([]string, len(c.Calipers))
	for i, s := range c.Calipers {
		rows[i] = view.FormatLength(s, c.spacing())
	}
	return rows
}

// MeasurementRows are the report's measurements table.
func (c *Root) MeasurementRows() [][2]string {
	var rows [][2]string
	if c.Result != nil {
		rows = append(rows, [2]string{"Lesion area", c.AreaText()})
	}
	if t := c.LongAxisText(); t != "" {
		rows = append(rows, [2]string{"Long axis", t}, [2]string{"Short axis", c.ShortAxisText()})
	}
	for i, t := range c.CaliperRows() {
		rows = append(rows, [2]string{fmt.Sprintf("Caliper %d", i+1), t})
	}
	rows = append(rows, [2]string{"Scale", c.SpacingText()})
	return rows
}

// ToolClass and ToolPressed show which tool is active.
func (c *Root) ToolClass(tool string) string {
	if c.Tool == tool {
		return "tool tool-active"
	}
	return "tool"
}

func (c *Root) ToolPressed(tool string) string { return strconv.FormatBool(c.Tool == tool) }

// SetTool picks what the pointer does on the image.
func (c *Root) SetTool(_ vugu.DOMEvent, tool string) {
	switch tool {
	case toolMove, toolCaliper, toolCalibrate:
	default:
		return
	}
	c.Tool, c.pending, c.drag = tool, nil, nil
	if tool != toolCalibrate {
		c.calLine, c.CalError = nil, ""
	}
	c.redraw()
}

// ToolHint says what the active tool does.
func (c *Root) ToolHint() string {
	switch c.Tool {
	case toolCaliper:
		if c.pending != nil {
			return "Click the second point."
		}
		return "Measure: click two points."
	case toolCalibrate:
		if c.pending != nil {
			return "Click the other end of the known length."
		}
		return "Calibrate: click both ends of a known length."
	}
	if c.vp.Zoom > 1 {
		return "Drag to move; wheel to zoom."
	}
	return "Wheel or + to zoom."
}

// HostClass lets the image take the pointer's gestures when a tool or a
// zoom needs them (otherwise a finger on it scrolls the page).
func (c *Root) HostClass() string {
	switch {
	case c.Tool != toolMove:
		return "canvas-host canvas-measure"
	case c.vp.Zoom > 1:
		return "canvas-host canvas-pan"
	}
	return "canvas-host"
}

// zoomBy zooms about the frame point (cx, cy); NaN means the centre. It
// reports whether the view changed (not past the zoom limits).
func (c *Root) zoomBy(factor, cx, cy float64) bool {
	_, _, _, _, fw, fh, ok := canvasBox()
	if !ok || fw <= 0 || fh <= 0 {
		return false
	}
	if math.IsNaN(cx) {
		cx, cy = fw/2, fh/2
	}
	vp := c.vp.ZoomAt(cx, cy, factor, fw, fh)
	if vp == c.vp {
		return false
	}
	c.vp = vp
	setViewport(c.vp)
	return true
}

// ZoomIn, ZoomOut and ZoomFit are the zoom buttons.
func (c *Root) ZoomIn(vugu.DOMEvent)  { c.zoomBy(1.5, math.NaN(), 0) }
func (c *Root) ZoomOut(vugu.DOMEvent) { c.zoomBy(1/1.5, math.NaN(), 0) }
func (c *Root) ZoomFit(vugu.DOMEvent) { c.vp = view.Identity; setViewport(c.vp) }

// ZoomText is the zoom as a percentage of the fitted image.
func (c *Root) ZoomText() string { return fmt.Sprintf("%.0f%%", 100*c.vp.Zoom) }

// Wheel zooms about the pointer; past the zoom limits (out, at the whole
// image) the wheel scrolls the page as usual.
func (c *Root) Wheel(e vugu.DOMEvent) {
	if !c.HasImage() {
		return
	}
	left, top, _, _, _, _, ok := canvasBox()
	if !ok {
		return
	}
	// The frame's corner is the canvas's, less the pan.
	cx, cy := e.PropFloat64("clientX")-(left-c.vp.X), e.PropFloat64("clientY")-(top-c.vp.Y)
	factor := 1.25
	if e.PropFloat64("deltaY") > 0 {
		factor = 1 / factor
	}
	if c.zoomBy(factor, cx, cy) {
		e.PreventDefault()
	}
}

// PointerDown starts a pan, or places a point of a measurement.
func (c *Root) PointerDown(e vugu.DOMEvent) {
	defer c.guard("measuring")
	if !c.HasImage() {
		return
	}
	x, y := e.PropFloat64("clientX"), e.PropFloat64("clientY")
	if c.Tool == toolMove {
		if c.vp.Zoom > 1 && c.drag == nil {
			c.drag = &dragStart{x, y}
			followPointer(func(x, y float64) { go c.dragTo(x, y) }, func() { go c.endDrag() })
		}
		return
	}
	left, top, w, h, _, _, ok := canvasBox()
	if !ok {
		return
	}
	if p, in := view.ToImage(x, y, left, top, w, h, c.base.W, c.base.H); in {
		c.placePoint(p)
	}
}

// dragTo pans by the pointer's move since the last call.
func (c *Root) dragTo(x, y float64) {
	c.env.Lock()
	defer c.env.UnlockOnly() // a transform, nothing vugu shows
	if c.drag == nil {
		return
	}
	if _, _, _, _, fw, fh, ok := canvasBox(); ok {
		c.vp = c.vp.Pan(x-c.drag.X, y-c.drag.Y, fw, fh)
		setViewport(c.vp)
	}
	c.drag.X, c.drag.Y = x, y
}

// endDrag ends a pan.
func (c *Root) endDrag() {
	c.env.Lock()
	defer c.env.UnlockOnly()
	c.drag = nil
}

// placePoint adds a measurement's point: the first waits, the second
// completes a caliper or a calibration line.
func (c *Root) placePoint(p view.Point) {
	if c.pending == nil {
		c.pending = &p
		c.redraw()
		return
	}
	seg := view.Segment{A: *c.pending, B: p}
	c.pending = nil
	switch c.Tool {
	case toolCaliper:
		c.Calipers = append(c.Calipers, seg)
	case toolCalibrate:
		c.calLine, c.CalError = &seg, ""
	}
	c.redraw()
}

// BrightnessInput, ContrastInput and ResetDisplay follow the display sliders.
func (c *Root) BrightnessInput(e vugu.DOMEvent) {
	if v, ok := sliderValue(e, -100, 100); ok {
		c.Brightness = v
		c.redraw()
	}
}

func (c *Root) ContrastInput(e vugu.DOMEvent) {
	if v, ok := sliderValue(e, -100, 100); ok {
		c.Contrast = v
		c.redraw()
	}
}

func (c *Root) ResetDisplay(vugu.DOMEvent) { c.Brightness, c.Contrast = 0, 0; c.redraw() }

func sliderValue(e vugu.DOMEvent, lo, hi int) (int, bool) {
	v, err := strconv.Atoi(e.PropString("target", "value"))
	return v, err == nil && v >= lo && v <= hi
}

// ToggleAxes shows or hides the lesion's axes.
func (c *Root) ToggleAxes(e vugu.DOMEvent) { c.ShowAxes = checked(e); c.redraw() }

// CalInput follows the calibration length field; Enter sets it.
func (c *Root) CalInput(e vugu.DOMEvent) { c.CalMM = e.PropString("target", "value") }

func (c *Root) CalKey(e vugu.DOMEvent) {
	if e.PropString("key") == "Enter" {
		c.CalMM = e.PropString("target", "value")
		c.SetCalibration(e)
	}
}

// SetCalibration takes the length of the drawn line as the scale.
func (c *Root) SetCalibration(vugu.DOMEvent) {
	if c.calLine == nil {
		return
	}
	sp, err := parseCalibration(*c.calLine, c.CalMM)
	if err != nil {
		c.CalError = err.Error()
		return
	}
	c.userSpacing, c.calLine, c.CalMM, c.CalError, c.Tool = sp, nil, "", "", toolMove
	c.updateAxes()
	c.redraw()
}

// parseCalibration reads the user's length ("12", "12.5", "12,5", "12 mm").
func parseCalibration(line view.Segment, text string) (view.Spacing, error) {
	t := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(text), "mm"))
	mm, err := strconv.ParseFloat(strings.Replace(t, ",", ".", 1), 64)
	if err != nil {
		return view.Spacing{}, fmt.Errorf("%q is not a length in mm; type a number such as 10", strings.TrimSpace(text))
	}
	return view.Calibrate(line, mm)
}

// ClearCalibration goes back to the file's scale (or none).
func (c *Root) ClearCalibration(vugu.DOMEvent) {
	c.userSpacing = view.Spacing{}
	c.updateAxes()
	c.redraw()
}

// ClearCalipers removes the user's measurements.
func (c *Root) ClearCalipers(vugu.DOMEvent) { c.Calipers, c.pending = nil, nil; c.redraw() }

// StageText says what the analysis is doing and for how long.
func (c *Root) StageText() string {
	if c.Stage != stageModel {
		return "· reading the image…"
	}
	s := fmt.Sprintf("· running the model: %s", c.ElapsedText())
	if est, ok := c.lastRun[c.Flip]; ok && est > 0 {
		s += fmt.Sprintf(" of about %.0f s", math.Max(1, est.Seconds()))
	}
	if c.Restarting {
		s += " (after reloading the model)"
	}
	return s
}

// ProgressValue is the progress bar's value (percent) while the model
// runs, estimated from the last run with the same setting; "" when there
// is no estimate yet (the bar then shows activity without a value).
func (c *Root) ProgressValue() string {
	est, ok := c.lastRun[c.Flip]
	if c.Stage != stageModel || !ok || est <= 0 {
		return ""
	}
	return fmt.Sprintf("%.0f", 100*progressFraction(time.Since(c.runStarted), est))
}

// progressFraction estimates how far a run is: its share of the expected
// time, held below 95% as long as it runs (an estimate is not a promise).
func progressFraction(elapsed, expected time.Duration) float64 {
	if expected <= 0 {
		return 0
	}
	return math.Min(0.95, math.Max(0, elapsed.Seconds()/expected.Seconds()))
}

// DropTitle is the drop zone's call to action.
func (c *Root) DropTitle() string {
	if c.HasImage() {
		return "Open another image"
	}
	return "Open an ultrasound image"
}

// OpenReport shows the printable report (the same page, print styled).
func (c *Root) OpenReport(vugu.DOMEvent) {
	if c.Result == nil {
		return
	}
	c.ReportOpen = true
	c.ReportDate = reportDate(localDateTime(), time.Now())
}

// reportDate is the browser's local date and time, or UTC when it says none.
func reportDate(local string, now time.Time) string {
	if local != "" {
		return local
	}
	return now.UTC().Format("2006-01-02 15:04 UTC")
}

// CloseReport goes back to the app.
func (c *Root) CloseReport(vugu.DOMEvent) { c.ReportOpen = false }

// PrintReport opens the browser's print dialog (print, or save as PDF).
func (c *Root) PrintReport(vugu.DOMEvent) {
	if c.ReportDate == "" {
		c.ReportDate = reportDate(localDateTime(), time.Now())
	}
	printPage()
}

// ReportClass shows the report on screen when asked for (print always
// shows it: app.css).
func (c *Root) ReportClass() string {
	if c.ReportOpen {
		return "report report-open"
	}
	return "report"
}

// ReportLegend explains the colours on the report's image.
func (c *Root) ReportLegend() string {
	parts := []string{}
	if c.ShowContour {
		parts = append(parts, "yellow: the lesion's outline")
	}
	if c.ShowFill {
		parts = append(parts, "cyan: the segmented lesion")
	}
	if c.ShowAxes && c.axes != nil {
		parts = append(parts, "magenta: long axis", "violet: short axis")
	}
	if len(c.Calipers) > 0 {
		parts = append(parts, "white: calipers")
	}
	if c.Brightness != 0 || c.Contrast != 0 {
		parts = append(parts, fmt.Sprintf("display brightness %d, contrast %d", c.Brightness, c.Contrast))
	}
	return strings.Join(parts, "; ")
}

// ModelVersion names the model files by role and SHA-256 prefix, so a
// report says exactly which weights made it.
func (c *Root) ModelVersion() string { return modelVersion(c.modelFiles) }

func modelVersion(files []modelFile) string {
	var parts []string
	for _, f := range files {
		if f.Role == "" || len(f.SHA256) < 12 {
			continue
		}
		parts = append(parts, f.Role+" "+f.SHA256[:12])
	}
	if len(parts) == 0 {
		return "unknown"
	}
	return strings.Join(parts, " · ")
}

// DownloadOverlay saves the image as shown, with its overlays and
// measurements, as a PNG made in the browser.
func (c *Root) DownloadOverlay(vugu.DOMEvent) {
	defer c.guard("saving the image")
	if c.HasImage() {
		downloadCanvasPNG(view.ExportName(c.FileName, "_overlay.png"))
	}
}
