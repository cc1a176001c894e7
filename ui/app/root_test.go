package app

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/busam/busam/imageio"
	"github.com/busam/busam/wasm/engine"
)

func TestDescribeProgress(t *testing.T) {
	for _, tc := range []struct {
		name     string
		p        loadProgress
		frac     float64
		contains string
	}{
		{"manifest", loadProgress{Phase: "manifest"}, 0, "Checking"},
		{"download", loadProgress{Phase: "download", File: "encoder", Loaded: 5e6, Total: 20e6, HasOverallSize: true}, 0.25, "Downloading encoder model (5.0 MB of 20.0 MB)"},
		{"cached", loadProgress{Phase: "download", File: "heads", Loaded: 20e6, Total: 20e6, HasOverallSize: true, FromCache: true}, 1, "cache"},
		{"overshoot clamps", loadProgress{Phase: "verify", File: "heads", Loaded: 30, Total: 20, HasOverallSize: true}, 1, "Verifying"},
		{"no total", loadProgress{Phase: "download", File: "heads", Loaded: 30}, 0, "Downloading"},
		{"init", loadProgress{Phase: "init"}, 1, "Preparing"},
		{"unknown phase", loadProgress{Phase: "later"}, 0, "Loading the model"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			frac, text := describeProgress(tc.p)
			if frac != tc.frac || !strings.Contains(text, tc.contains) {
				t.Errorf("got %v %q; want %v and text with %q", frac, text, tc.frac, tc.contains)
			}
		})
	}
}

func TestDescribeBackend(t *testing.T) {
	for _, tc := range []struct {
		backend, reason string
		noWebGPU        bool
		name, note      string
	}{
		{"webgpu", "", false, "WebGPU", ""},
		{"cpu", "whatever", true, "CPU", "does not offer WebGPU"},
		{"cpu", "adapter refused", false, "CPU", "adapter refused"},
		{"cpu", "fallback; webgpu: the only WebGPU adapter is a software fallback (google swiftshader), slower than the CPU path", false, "CPU", "without a graphics card"},
		{"cpu", "", false, "CPU", ""},
	} {
		name, note := describeBackend(tc.backend, tc.reason, tc.noWebGPU)
		if name != tc.name || (tc.note == "" && note != "") || !strings.Contains(note, tc.note) {
			t.Errorf("describeBackend(%q, %q, %v) = %q, %q; want %q and a note with %q", tc.backend, tc.reason, tc.noWebGPU, name, note, tc.name, tc.note)
		}
	}
}

// TestDescribeFileError goes from the decoder's error through the kind the
// worker reports (engine.ErrorKind, as the rejected call's Error carries
// it) to the page's words, so the two lists of kinds cannot drift apart.
func TestDescribeFileError(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("x.txt: %w", imageio.ErrNotImage), "not a supported image"},
		{fmt.Errorf("x.xyz: %w", imageio.ErrUnknownFormat), "PNG, JPEG, BMP, TIFF, WebP, GIF or DICOM"},
		{fmt.Errorf("x.png: %w", imageio.ErrEmpty), "is empty"},
		{fmt.Errorf("x.png: %w", imageio.ErrTooLarge), "too large"},
		{fmt.Errorf("x.png: %w", imageio.ErrCorrupt), "damaged or incomplete"},
		{fmt.Errorf("x.png: %w", imageio.ErrUnsupported), "variant"},
		{errors.New("truncated"), "could not be analysed: truncated"},
	} {
		reported := &callError{msg: tc.err.Error(), kind: engine.ErrorKind(tc.err)}
		got := describeFileError("scan.png", reported)
		if !strings.Contains(got, tc.want) || !strings.Contains(got, "scan.png") {
			t.Errorf("describeFileError(%v) = %q; want it to name the file and say %q", tc.err, got, tc.want)
		}
	}
	if got := describeFileError("scan.png", errors.New("the worker returned malformed pixels")); !strings.Contains(got, "could not be analysed: the worker") {
		t.Errorf("an error without a kind reads %q", got)
	}
	for _, tc := range []struct{ err, want string }{
		{"busam: cannot fetch /model/manifest.json (offline?): Failed to fetch", "network is unreachable"},
		{"busam: /model/encoder.1234.safetensors: HTTP 404", "could not be downloaded from this server"},
		{"busam: model file heads.x.safetensors: SHA-256 mismatch", "integrity check"},
		{"busam: building the model: bad tensor", "could not be loaded: busam: building"},
	} {
		if got := describeLoadError(errors.New(tc.err)); !strings.Contains(got, tc.want) || !strings.Contains(got, tc.err) {
			t.Errorf("load error %q reads %q; want %q and the cause", tc.err, got, tc.want)
		}
	}
}

func TestStateAndResultText(t *testing.T) {
	c := New(nil)
	if c.State() != "loading" {
		t.Errorf("initial state %q", c.State())
	}
	c.Phase = PhaseReady
	if c.State() != "ready" {
		t.Errorf("ready state %q", c.State())
	}
	c.Result = &analysis{
		Mask: []uint8{1, 1, 0, 1}, Width: 2, Height: 2, Label: "malignant",
		Probs:   map[string]float64{"benign": 0.3, "malignant": 0.6, "normal": 0.1},
		Timings: map[string]float64{"total": 1500, "encoder": 1200.4, "decode": 3},
	}
	if c.State() != "done" {
		t.Errorf("state with a result %q", c.State())
	}
	rows := c.Classes()
	if len(rows) != 3 || rows[0].Key != "normal" || rows[2].Key != "malignant" || !rows[2].Predicted || rows[1].Predicted {
		t.Errorf("class rows %+v", rows)
	}
	if got := c.AreaText(); got != "3 px" {
		t.Errorf("area without spacing %q", got)
	}
	if !strings.Contains(c.AreaNote(), "pixel spacing") {
		t.Errorf("area note %q should explain the missing mm²", c.AreaNote())
	}
	c.Meta.PixelSpacingMM = [2]float64{0.1, 0.2}
	if got := c.AreaText(); got != "3 px · 0.1 mm²" {
		t.Errorf("area with spacing %q", got)
	}
	timings := c.TimingRows()
	if len(timings) != 3 || timings[0] != [2]string{"Decode", "3 ms"} || timings[1] != [2]string{"Encoder", "1.20 s"} || timings[2][0] != "Total" {
		t.Errorf("timing rows %v", timings)
	}
	rep := c.report()
	if rep.LesionAreaPx != 3 || rep.LesionAreaMM2 == nil || *rep.LesionAreaMM2 < 0.0599 || rep.GroundTruth != nil {
		t.Errorf("report %+v", rep)
	}
	c.FileError = "bad"
	if c.State() != "error" {
		t.Errorf("state with an error %q", c.State())
	}
	c.Analyzing = true
	if c.State() != "analyzing" || c.Ready() {
		t.Errorf("state while analysing %q, ready %v", c.State(), c.Ready())
	}
}

func TestGuardTurnsPanicsIntoMessages(t *testing.T) {
	c := New(nil)
	func() {
		defer c.guard("testing")
		panic("boom")
	}()
	if !strings.Contains(c.FileError, "testing") || !strings.Contains(c.FileError, "boom") {
		t.Errorf("after a panic the message is %q", c.FileError)
	}
}

// The mirror-image setting: on by default and unless turned off; a change
// asks for the open image to be analysed again only when there is an
// analysis (done or running) that the new setting would change.
func TestFlipSetting(t *testing.T) {
	for _, tc := range []struct {
		stored string
		want   bool
	}{{"", true}, {"on", true}, {"off", false}, {"garbage", true}} {
		if got := flipFromSetting(tc.stored); got != tc.want {
			t.Errorf("stored %q reads as %v, want %v", tc.stored, got, tc.want)
		}
	}
	for _, on := range []bool{true, false} {
		if got := flipFromSetting(flipSetting(on)); got != on {
			t.Errorf("setting %v is stored as %q, which reads back as %v", on, flipSetting(on), got)
		}
	}
	if c := New(nil); !c.Flip {
		t.Error("a new page (nothing stored) has the mirror image off")
	}

	done := &analysis{Mask: []uint8{1}, Width: 1, Height: 1, Label: "benign"}
	for _, tc := range []struct {
		name      string
		setup     func(c *Root)
		on        bool
		wantRerun bool
	}{
		{"no image", func(c *Root) {}, false, false},
		{"same value", func(c *Root) { c.FileName, c.Result = "a.png", done }, true, false},
		{"result shown", func(c *Root) { c.FileName, c.Result = "a.png", done }, false, true},
		{"analysis running", func(c *Root) { c.FileName, c.Analyzing = "a.png", true }, false, true},
		{"file refused", func(c *Root) { c.FileName, c.FileError = "a.txt", "not an image" }, false, false},
		{"model loading", func(c *Root) { c.Phase, c.FileName, c.Result = PhaseLoading, "a.png", done }, false, false},
	} {
		c := New(nil)
		c.Phase = PhaseReady
		tc.setup(c)
		if got := c.setFlip(tc.on); got != tc.wantRerun || c.Flip != tc.on {
			t.Errorf("%s: setFlip(%v) = %v with Flip %v; want %v", tc.name, tc.on, got, c.Flip, tc.wantRerun)
		}
	}
}

// The result panel and the JSON export say whether the mirror image was
// analysed for the result shown, whatever the setting is now.
func TestResultSaysWhetherFlipped(t *testing.T) {
	c := New(nil)
	if c.FlipText() != "" {
		t.Errorf("without a result: %q", c.FlipText())
	}
	for _, flip := range []bool{true, false} {
		c.Flip = !flip // changed since: the text is about the result
		c.Result = &analysis{Mask: []uint8{0}, Width: 1, Height: 1, Label: "normal", Flip: flip}
		text, rep := c.FlipText(), c.report()
		if strings.Contains(text, "averaged") != flip || strings.Contains(text, "Not analysed") == flip || rep.MirrorImage != flip {
			t.Errorf("result with flip %v reads %q, report says %v", flip, text, rep.MirrorImage)
		}
	}
}

func TestPercentNeverClaimsCertainty(t *testing.T) {
	for p, want := range map[float64]string{1 - 7e-14: "> 99.9%", 0.9994: "> 99.9%", 0.999: "99.9%", 0.5051: "50.5%", 0.001: "0.1%", 3e-9: "< 0.1%", 0: "< 0.1%"} {
		if got := Percent(p); got != want {
			t.Errorf("Percent(%v) = %q, want %q", p, got, want)
		}
	}
}

func TestCertainty(t *testing.T) {
	c := &Root{}
	if c.CertaintyText() != "" || c.Unsure() {
		t.Error("no result: no certainty text")
	}
	c.Result = &analysis{Label: "malignant", Probs: map[string]float64{"malignant": 0.505, "benign": 0.491, "normal": 0.004}}
	if c.CertaintyText() != "" || c.Unsure() || c.LabelClass() != "label label-malignant" {
		t.Errorf("uncalibrated heads: %q, unsure %v, class %q", c.CertaintyText(), c.Unsure(), c.LabelClass())
	}
	c.Result.Calibrated, c.Result.SureAccuracy = true, 0.9
	if !c.Unsure() || c.LabelClass() != "label label-unsure" || !strings.HasPrefix(c.CertaintyText(), "Unsure") ||
		!strings.Contains(c.CertaintyText(), "90%") || c.LabelText() != "Malignant" {
		t.Errorf("a calibrated near-tie: %q, unsure %v, class %q", c.CertaintyText(), c.Unsure(), c.LabelClass())
	}
	c.Result.Sure = true
	if c.Unsure() || !strings.HasPrefix(c.CertaintyText(), "Confident") || !strings.Contains(c.CertaintyText(), "right 90%") {
		t.Errorf("a sure answer: %q", c.CertaintyText())
	}
}

func TestMirrorText(t *testing.T) {
	c := &Root{Result: &analysis{Label: "malignant"}}
	if c.MirrorText() != "" {
		t.Error("one view: no mirror text")
	}
	c.Result.Views = []map[string]float64{{"normal": 0.02, "benign": 0.25, "malignant": 0.73}, {"normal": 0.02, "benign": 0.30, "malignant": 0.68}}
	if c.MirrorText() != "" {
		t.Errorf("views that agree: %q", c.MirrorText())
	}
	c.Result.Views[1] = map[string]float64{"normal": 0.03, "benign": 0.52, "malignant": 0.45}
	if got := c.MirrorText(); !strings.Contains(got, "image alone 73.0% malignant") || !strings.Contains(got, "mirror image alone 52.0% benign") {
		t.Errorf("views with other classes: %q", got)
	}
	c.Result.Views[1] = map[string]float64{"normal": 0.1, "benign": 0.4, "malignant": 0.5}
	if got := c.MirrorText(); got == "" {
		t.Error("the same class but 0.73 vs 0.5: want a note")
	}
}

func TestTypicality(t *testing.T) {
	c := &Root{}
	if c.TypicalityText() != "" {
		t.Error("no result: no typicality text")
	}
	c.Result = &analysis{Label: "benign", Probs: map[string]float64{"benign": 0.9, "malignant": 0.05, "normal": 0.05}}
	if c.TypicalityText() != "" || c.LabelText() != "Benign" {
		t.Errorf("a typical image: %q, %q", c.TypicalityText(), c.LabelText())
	}
	c.Result.Unusual = true
	if !strings.HasPrefix(c.TypicalityText(), "Unusual") || c.LabelText() != "Benign" {
		t.Errorf("an unusual image: %q, %q", c.TypicalityText(), c.LabelText())
	}
	c.Result.NotUltrasound = true
	if !strings.Contains(c.TypicalityText(), "does not look like a breast ultrasound") || strings.Contains(c.LabelText(), "Benign") ||
		c.LabelClass() != "label label-unsure" {
		t.Errorf("not an ultrasound image: %q, %q, %q", c.TypicalityText(), c.LabelText(), c.LabelClass())
	}
}
