package app

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/vugu/vugu/js"

	"github.com/busam/busam/ui/view"
)

// A file opened while the model loads waits for it; nothing is refused
// and no error is shown. The latest file wins.
func TestFileQueuedWhileLoading(t *testing.T) {
	c := New(nil)
	c.FileError = "an old error"
	c.openFile(js.Undefined(), "a.png")
	c.openFile(js.Undefined(), "b.png")
	if c.QueuedName != "b.png" || c.FileError != "" || c.Analyzing || c.State() != "loading" {
		t.Errorf("queued %q, error %q, analysing %v, state %q", c.QueuedName, c.FileError, c.Analyzing, c.State())
	}
	if q := c.QueuedText(); !strings.Contains(q, "b.png") || !strings.Contains(q, "as soon as it is ready") {
		t.Errorf("queued text %q", q)
	}
	c.Phase = PhaseFailed
	if q := c.QueuedText(); !strings.Contains(q, "b.png") || !strings.Contains(q, "try loading it again") {
		t.Errorf("queued text after a failed load %q", q)
	}
}

// Cancel forgets the analysis (its reply will not match the sequence
// number) and keeps the image.
func TestCancel(t *testing.T) {
	c := New(nil)
	c.Phase, c.FileName, c.Analyzing, c.Stage = PhaseReady, "a.png", true, stageDecode
	c.base = view.Frame{Pix: make([]byte, 4), W: 1, H: 1}
	seq := c.seq
	c.Cancel(nil)
	if c.Analyzing || !c.Cancelled || c.seq == seq || c.FileName != "a.png" || !c.HasImage() || c.State() != "ready" {
		t.Errorf("after Cancel: analysing %v, cancelled %v, seq %d->%d, file %q, image %v, state %q", c.Analyzing, c.Cancelled, seq, c.seq, c.FileName, c.HasImage(), c.State())
	}
	seq = c.seq
	c.Cancel(nil) // nothing running: nothing changes
	if c.seq != seq {
		t.Error("Cancel without an analysis moved the sequence number")
	}
}

func TestProgress(t *testing.T) {
	for _, tc := range []struct {
		elapsed, expected time.Duration
		want              float64
	}{
		{0, time.Minute, 0},
		{30 * time.Second, time.Minute, 0.5},
		{2 * time.Minute, time.Minute, 0.95}, // late: held below the end
		{time.Second, 0, 0},
	} {
		if got := progressFraction(tc.elapsed, tc.expected); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("progressFraction(%v, %v) = %v, want %v", tc.elapsed, tc.expected, got, tc.want)
		}
	}
	c := New(nil)
	c.Analyzing, c.Stage, c.Flip = true, stageModel, true
	if c.ProgressValue() != "" || strings.Contains(c.StageText(), "of about") {
		t.Errorf("no earlier run: progress %q, %q; want no estimate", c.ProgressValue(), c.StageText())
	}
	c.lastRun[false] = 40 * time.Second // another setting's time is no estimate
	if c.ProgressValue() != "" {
		t.Errorf("an estimate from the other mirror setting: %q", c.ProgressValue())
	}
	c.lastRun[true], c.runStarted = 80*time.Second, time.Now().Add(-20*time.Second)
	if got := c.ProgressValue(); got != "25" || !strings.Contains(c.StageText(), "of about 80 s") {
		t.Errorf("20 s into an 80 s run: progress %q, %q", got, c.StageText())
	}
	c.Stage = stageDecode
	if c.ProgressValue() != "" || !strings.Contains(c.StageText(), "reading the image") {
		t.Errorf("decoding: %q, %q", c.ProgressValue(), c.StageText())
	}
}

func TestParseCalibration(t *testing.T) {
	line := view.Segment{A: view.Point{X: 0, Y: 0}, B: view.Point{X: 100, Y: 0}}
	for _, tc := range []struct {
		text string
		want float64 // mm per pixel; 0: an error
		msg  string
	}{
		{"10", 0.1, ""},
		{" 12,5 ", 0.125, ""},
		{"5 mm", 0.05, ""},
		{"abc", 0, `"abc" is not a length`},
		{"", 0, "not a length"},
		{"-4", 0, "positive"},
	} {
		sp, err := parseCalibration(line, tc.text)
		switch {
		case tc.want == 0 && (err == nil || !strings.Contains(err.Error(), tc.msg)):
			t.Errorf("parseCalibration(%q) = %v, %v; want an error with %q", tc.text, sp, err, tc.msg)
		case tc.want != 0 && (err != nil || math.Abs(sp.Row-tc.want) > 1e-12 || sp.Col != sp.Row):
			t.Errorf("parseCalibration(%q) = %v, %v; want %v mm square pixels", tc.text, sp, err, tc.want)
		}
	}
}

// Measurements: axes from the result's mask, calipers from two clicks, a
// calibration that turns them into mm and overrides the file's spacing.
func TestMeasurements(t *testing.T) {
	c := New(nil)
	c.Phase = PhaseReady
	// A 20x5 lesion (rows 2..6, columns 0..19) in a 20x10 image.
	mask := make([]uint8, 200)
	for y := 2; y < 7; y++ {
		for x := 0; x < 20; x++ {
			mask[y*20+x] = 1
		}
	}
	c.Result = &analysis{Mask: mask, Width: 20, Height: 10, Label: "benign"}
	c.updateAxes()
	if c.LongAxisText() == "" || !strings.HasSuffix(c.LongAxisText(), " px") {
		t.Fatalf("long axis %q", c.LongAxisText())
	}
	if n := len(c.lines()); n != 2 {
		t.Errorf("%d lines drawn, want the two axes", n)
	}
	c.ShowAxes = false
	if n := len(c.lines()); n != 0 {
		t.Errorf("axes hidden: %d lines drawn", n)
	}
	if !strings.Contains(c.SpacingText(), "No pixel spacing") || c.spacingSource() != "" {
		t.Errorf("no spacing: %q", c.SpacingText())
	}

	// A file spacing, then a caliper across 10 columns.
	c.Meta.PixelSpacingMM = [2]float64{0.2, 0.1}
	c.Tool = toolCaliper
	c.placePoint(view.Point{X: 2, Y: 1})
	if c.pending == nil || len(c.Calipers) != 0 || !strings.Contains(c.ToolHint(), "second point") {
		t.Errorf("one click: pending %v, calipers %v, hint %q", c.pending, c.Calipers, c.ToolHint())
	}
	c.placePoint(view.Point{X: 12, Y: 1})
	if rows := c.CaliperRows(); len(rows) != 1 || rows[0] != "1.0 mm" || c.spacingSource() != "file" {
		t.Errorf("a 10-column caliper at 0.1 mm columns: %v (%s)", rows, c.spacingSource())
	}

	// Calibrate: 5 px are 2 mm, whatever the file says.
	c.SetTool(nil, toolCalibrate)
	c.placePoint(view.Point{X: 0, Y: 0})
	c.placePoint(view.Point{X: 3, Y: 4})
	if !c.CalibrationPending() {
		t.Fatal("two clicks with the calibration tool leave no line to set")
	}
	c.CalMM = "2"
	c.SetCalibration(nil)
	if c.CalError == "" || c.HasCalibration() {
		t.Errorf("a 5 px calibration line was accepted (error %q)", c.CalError)
	}
	c.calLine = &view.Segment{A: view.Point{X: 0, Y: 0}, B: view.Point{X: 0, Y: 20}}
	c.CalMM = "2"
	c.SetCalibration(nil)
	if !c.HasCalibration() || c.CalError != "" || c.Tool != toolMove || c.spacingSource() != "calibration" {
		t.Fatalf("calibration: set %v, error %q, tool %q", c.HasCalibration(), c.CalError, c.Tool)
	}
	if rows := c.CaliperRows(); rows[0] != "1.0 mm" { // 10 px at 0.1 mm
		t.Errorf("caliper after calibration %v, want 1.0 mm", rows)
	}
	if !strings.Contains(c.SpacingText(), "your calibration") || !strings.Contains(c.AreaText(), "mm²") {
		t.Errorf("after calibration: %q, area %q", c.SpacingText(), c.AreaText())
	}
	rows := c.MeasurementRows()
	var names []string
	for _, r := range rows {
		names = append(names, r[0])
	}
	if got := strings.Join(names, ","); got != "Lesion area,Long axis,Short axis,Caliper 1,Scale" {
		t.Errorf("report measurement rows %s", got)
	}
	rep := c.report()
	if rep.SpacingSource != "calibration" || rep.LongAxis == nil || rep.LongAxis.MM == nil || len(rep.Calipers) != 1 || *rep.Calipers[0].MM != 1 {
		t.Errorf("JSON report measurements: %+v", rep)
	}
	c.ClearCalibration(nil)
	if c.spacingSource() != "file" {
		t.Errorf("after clearing the calibration the scale comes from %q", c.spacingSource())
	}

	// A new image forgets the measurements, the calibration and the zoom.
	c.userSpacing, c.vp = view.Spacing{Row: 1, Col: 1}, view.Viewport{Zoom: 2}
	c.Phase = PhaseLoading // queued: no worker to call in a native test
	c.openFile(js.Undefined(), "next.png")
	if len(c.Calipers) != 0 || c.HasCalibration() || c.vp != view.Identity || c.axes != nil {
		t.Errorf("a new image keeps calipers %v, calibration %v, viewport %+v", c.Calipers, c.userSpacing, c.vp)
	}
}

func TestModelVersionAndDate(t *testing.T) {
	files := []modelFile{
		{Role: "encoder", SHA256: "518c318e22493693a2536200495016aa37a1832d0493da64551c45b62ae74fce"},
		{Role: "encoder-quant", SHA256: "849ca62de5e88f552f428e1a5b3f112fc6be42bae8a7cde7e827cd6caa3fbd45"},
		{Role: "heads", SHA256: "42e87814f772ada2fae8bb3abecf5451195b7b68ed7f2634039b58acbd7b4046"},
	}
	if got := modelVersion(files); got != "encoder 518c318e2249 · encoder-quant 849ca62de5e8 · heads 42e87814f772" {
		t.Errorf("modelVersion = %q", got)
	}
	if got := modelVersion(nil); got != "unknown" {
		t.Errorf("no files: %q", got)
	}
	now := time.Date(2026, 12, 2, 21, 5, 0, 0, time.UTC)
	if got := reportDate("", now); got != "2026-12-02 21:05 UTC" {
		t.Errorf("reportDate without a browser date = %q", got)
	}
	if got := reportDate("2.12.2026, 22:05:00", now); got != "2.12.2026, 22:05:00" {
		t.Errorf("reportDate keeps the browser's local date: %q", got)
	}
	c := New(nil)
	c.OpenReport(nil)
	if c.ReportOpen {
		t.Error("a report opened without a result")
	}
	c.Result = &analysis{Mask: []uint8{1}, Width: 1, Height: 1, Label: "benign"}
	c.OpenReport(nil)
	if !c.ReportOpen || c.ReportDate == "" || c.AppClass() != "app reporting" || c.ReportClass() != "report report-open" {
		t.Errorf("report open %v, date %q, classes %q %q", c.ReportOpen, c.ReportDate, c.AppClass(), c.ReportClass())
	}
}
