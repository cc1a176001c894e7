package e2e

import (
	"bytes"
	"encoding/json"
	"image"
	"image/jpeg"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/busam/busam/imageio"
	"github.com/busam/busam/internal/browsertest"
	"github.com/busam/busam/model/heads"
	"github.com/busam/busam/ui/view"
	"github.com/busam/busam/wasm/manifest"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/frame"
	"github.com/suyashkumar/dicom/pkg/tag"
	"github.com/suyashkumar/dicom/pkg/uid"
)

// The DICOM files of these tests are made here, in Go, from BUSI images,
// as an ultrasound machine exports them: JPEG baseline or uncompressed
// pixel data, one frame or a cine loop, the scale as a PixelSpacing or in
// the ultrasound regions sequence, and the patient's name and ID.

// dicomFixture describes one DICOM file.
type dicomFixture struct {
	Frames          []*image.Gray // all of one size; more than one: a cine loop
	JPEG            bool          // JPEG baseline (1.2.840.10008.1.2.4.50), else explicit VR little endian
	PixelSpacingMM  float64       // PixelSpacing (0: none)
	RegionSpacingMM float64       // a Sequence of Ultrasound Regions in cm (0: none)
	PatientName     string
	PatientID       string
}

// The patient attributes the fixtures carry, which must show nowhere.
const (
	fixturePatientName = "Testpatient^Zelda"
	fixturePatientID   = "MRN-4471-E2E"
)

// patientSecrets are the parts of the fixture's patient attributes a page
// could show.
var patientSecrets = []string{"Testpatient", "Zelda", "4471"}

// greyImage loads an image as 8-bit grey, as a scanner's frame.
func greyImage(t *testing.T, src string) *image.Gray {
	t.Helper()
	img, err := imageio.Load(src)
	if err != nil {
		t.Fatal(err)
	}
	b := img.Bounds()
	g := image.NewGray(image.Rect(0, 0, b.Dx(), b.Dy()))
	for y := 0; y < b.Dy(); y++ {
		for x := 0; x < b.Dx(); x++ {
			r, gr, bl, _ := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
			g.Pix[y*g.Stride+x] = uint8((299*r + 587*gr + 114*bl) / 1000 >> 8)
		}
	}
	return g
}

// inverted is a frame unlike g (a cine loop's other frames): were one of
// them analysed instead of the middle one, the result would differ.
func inverted(g *image.Gray) *image.Gray {
	out := image.NewGray(g.Rect)
	for i, v := range g.Pix {
		out.Pix[i] = 255 - v
	}
	return out
}

// writeDICOM saves fx as an ultrasound DICOM file at dst.
func writeDICOM(t *testing.T, dst string, fx dicomFixture) {
	t.Helper()
	el := func(tg tag.Tag, v any) *dicom.Element {
		e, err := dicom.NewElement(tg, v)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	w, h := fx.Frames[0].Rect.Dx(), fx.Frames[0].Rect.Dy()
	syntax := uid.ExplicitVRLittleEndian
	if fx.JPEG {
		syntax = "1.2.840.10008.1.2.4.50"
	}
	elems := []*dicom.Element{
		el(tag.MediaStorageSOPClassUID, []string{"1.2.840.10008.5.1.4.1.1.6.1"}), // ultrasound image storage
		el(tag.MediaStorageSOPInstanceUID, []string{"1.2.826.0.1.3680043.2.1125.1"}),
		el(tag.TransferSyntaxUID, []string{syntax}),
		el(tag.PatientName, []string{fx.PatientName}),
		el(tag.PatientID, []string{fx.PatientID}),
		el(tag.Modality, []string{"US"}),
		el(tag.Rows, []int{h}),
		el(tag.Columns, []int{w}),
		el(tag.BitsAllocated, []int{8}),
		el(tag.BitsStored, []int{8}),
		el(tag.HighBit, []int{7}),
		el(tag.PixelRepresentation, []int{0}),
		el(tag.SamplesPerPixel, []int{1}),
		el(tag.PhotometricInterpretation, []string{"MONOCHROME2"}),
	}
	if len(fx.Frames) > 1 {
		elems = append(elems, el(tag.NumberOfFrames, []string{strconv.Itoa(len(fx.Frames))}))
	}
	if fx.PixelSpacingMM > 0 {
		sp := strconv.FormatFloat(fx.PixelSpacingMM, 'f', -1, 64)
		elems = append(elems, el(tag.PixelSpacing, []string{sp, sp}))
	}
	if fx.RegionSpacingMM > 0 {
		cm := fx.RegionSpacingMM / 10
		elems = append(elems, el(tag.SequenceOfUltrasoundRegions, [][]*dicom.Element{{
			el(tag.PhysicalUnitsXDirection, []int{3}), el(tag.PhysicalUnitsYDirection, []int{3}),
			el(tag.PhysicalDeltaX, []float64{cm}), el(tag.PhysicalDeltaY, []float64{cm}),
		}}))
	}
	var frames []*frame.Frame
	for _, g := range fx.Frames {
		if g.Rect.Dx() != w || g.Rect.Dy() != h || g.Stride != w {
			t.Fatalf("cine frames of different sizes")
		}
		if fx.JPEG {
			var b bytes.Buffer
			if err := jpeg.Encode(&b, g, &jpeg.Options{Quality: 95}); err != nil {
				t.Fatal(err)
			}
			if b.Len()%2 == 1 {
				b.WriteByte(0) // fragments have even lengths; the decoder stops at the end marker
			}
			frames = append(frames, &frame.Frame{Encapsulated: true, EncapsulatedData: frame.EncapsulatedFrame{Data: b.Bytes()}})
			continue
		}
		frames = append(frames, &frame.Frame{NativeData: &frame.NativeFrame[uint8]{
			InternalBitsPerSample: 8, InternalRows: h, InternalCols: w, InternalSamplesPerPixel: 1, RawData: g.Pix,
		}})
	}
	pixels := el(tag.PixelData, dicom.PixelDataInfo{IsEncapsulated: fx.JPEG, Frames: frames})
	if fx.JPEG {
		pixels.ValueLength = tag.VLUndefinedLength
	}
	elems = append(elems, pixels)
	var out bytes.Buffer
	if err := dicom.Write(&out, dicom.Dataset{Elements: elems}, dicom.SkipVRVerification()); err != nil {
		t.Fatalf("writing %s: %v", dst, err)
	}
	for _, s := range []string{fx.PatientName, fx.PatientID} {
		if !bytes.Contains(out.Bytes(), []byte(s)) {
			t.Fatalf("the fixture %s lacks its patient attribute %q", dst, s)
		}
	}
	if err := os.WriteFile(dst, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// checkNoPatientData looks for the patient attributes of the open DICOM
// file in everything the page has: its markup and text (the report
// included, opened as a user opens it), its storage, and the JSON export.
func checkNoPatientData(t *testing.T, p page, file string) {
	t.Helper()
	p.click("#open-report")
	p.waitFor(`document.querySelector('.report-open') !== null`, quickUITimeout)
	report := p.text("#report")
	if !strings.Contains(report, file) {
		t.Errorf("the report of %s does not name the file: %q", file, report)
	}
	all, err := browsertest.Eval[string](p.b, `[document.title, document.documentElement.outerHTML, document.body.innerText,
		JSON.stringify(Object.entries(localStorage)), JSON.stringify(Object.entries(sessionStorage))].join('\n')`)
	if err != nil {
		t.Fatal(err)
	}
	p.click("#close-report")
	p.waitFor(`document.querySelector('.report-open') === null`, quickUITimeout)
	export := p.download("#download-json", view.ExportName(file, "_result.json"))
	var rep view.Report
	if err := json.Unmarshal(export, &rep); err != nil {
		t.Fatalf("the exported result of %s: %v", file, err)
	}
	if rep.File != file || rep.Format != imageio.FormatDICOM || rep.LesionAreaMM2 == nil || rep.SpacingSource != "file" {
		t.Errorf("the exported result of %s: file %q, format %q, area %v mm², spacing from %q; want the file, dicom, an area in mm² from the file's spacing",
			file, rep.File, rep.Format, rep.LesionAreaMM2, rep.SpacingSource)
	}
	for _, s := range patientSecrets {
		low := strings.ToLower(s)
		for what, text := range map[string]string{"the page": all, "the report": report, "the JSON export": string(export)} {
			if strings.Contains(strings.ToLower(text), low) {
				t.Errorf("%s shows the patient attribute %q of %s", what, s, file)
			}
		}
	}
}

// sureThreshold is the calibrated heads' "sure" threshold from the heads
// file the app serves; ok is false for uncalibrated heads.
func sureThreshold(t *testing.T, dir string) (threshold float64, ok bool) {
	t.Helper()
	hf, _ := modelManifest(t, dir).File(manifest.RoleHeads)
	meta, err := heads.Metadata(filepath.Join(dir, "model", hf.Path))
	if err != nil {
		t.Fatal(err)
	}
	var cal struct {
		SureThreshold float64 `json:"sure_threshold"`
	}
	if s, found := meta["calibration"]; found && json.Unmarshal([]byte(s), &cal) == nil && cal.SureThreshold > 0 {
		return cal.SureThreshold, true
	}
	return 0, false
}

// checkCertainty checks that what the page says about the answer agrees
// with its probabilities: the top one below the heads' threshold is
// "Unsure" (and the class is marked so), at or above it "Confident". It
// reports whether the answer shown is unsure.
func checkCertainty(t *testing.T, p page, threshold float64, what string) (unsure bool) {
	t.Helper()
	shown := p.result()
	top := 0.0
	for _, v := range shown.Probs {
		top = max(top, v)
	}
	certainty := p.text("#certainty")
	class, err := browsertest.Eval[string](p.b, `document.getElementById('result-label')?.className ?? ''`)
	if err != nil {
		t.Fatal(err)
	}
	unsure = top < threshold
	markedUnsure := strings.Contains(" "+class+" ", " label-unsure ")
	switch {
	case unsure && (!strings.HasPrefix(certainty, "Unsure") || !markedUnsure):
		t.Errorf("%s: top probability %.3f is below the threshold %.3f, yet the page says %q (class %q)", what, top, threshold, certainty, class)
	case !unsure && (!strings.HasPrefix(certainty, "Confident") || markedUnsure):
		t.Errorf("%s: top probability %.3f reaches the threshold %.3f, yet the page says %q (class %q)", what, top, threshold, certainty, class)
	}
	t.Logf("%s: %s %v, top %.3f, threshold %.3f: %q", what, shown.Label, shown.Probs, top, threshold, certainty)
	return unsure
}

// checkTruthRefused loads a file that is not a mask (the ultrasound image
// itself) as the ground truth: the page must refuse it, naming it, and
// show no Dice.
func checkTruthRefused(t *testing.T, p page, path string, w, h int) {
	t.Helper()
	name := filepath.Base(path)
	img, err := imageio.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := view.MaskFromImage(name, img, w, h); err == nil {
		t.Fatalf("%s passes for a mask natively; it is no fixture for the refusal", name)
	}
	if err := p.b.Upload("#truth-input", path); err != nil {
		t.Fatal(err)
	}
	p.waitFor(`document.getElementById('truth-error') !== null`, quickUITimeout)
	if msg := p.text("#truth-error"); !strings.Contains(msg, name) || !strings.Contains(msg, "does not look like a lesion mask") ||
		strings.Contains(msg, "could not be analysed") {
		t.Errorf("the ultrasound image as its own mask: the page says %q; want a refusal naming %s", msg, name)
	}
	if d := p.text("#dice"); d != "" {
		t.Errorf("an image refused as a mask, yet the page shows a Dice of %s", d)
	}
	if s := p.state(); s != "done" {
		t.Errorf("after a refused mask the app is in state %q, want done (the result kept)", s)
	}
}

// checkCaption checks the image caption (size, format, cine frame).
func checkCaption(t *testing.T, p page, want ...string) {
	t.Helper()
	got := p.text("figcaption")
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("the image caption %q lacks %q", got, w)
		}
	}
}
