package imageio

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"strings"
	"testing"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
)

// What ultrasound machines write: JPEG baseline frames, colour, cine
// loops, and the scale in the ultrasound regions sequence.

func jpegOf(t *testing.T, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	if b.Len()%2 == 1 {
		b.WriteByte(0) // DICOM fragments have even lengths; a decoder stops at the end marker
	}
	return b.Bytes()
}

func greyRamp(w, h, offset int) *image.Gray {
	g := image.NewGray(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			g.Pix[y*w+x] = uint8((x*8 + y*2 + offset) % 256)
		}
	}
	return g
}

// A JPEG baseline DICOM decodes to exactly what image/jpeg makes of its
// stream (the file-level check used to call it "damaged"); a cine loop of
// three JPEG frames opens on the middle one, and any frame can be asked for.
func TestDecodeDICOMJPEGBaseline(t *testing.T) {
	const w, h = 32, 16
	var frames [][]byte
	for f := range 3 {
		frames = append(frames, jpegOf(t, greyRamp(w, h, 80*f)))
	}
	single := buildDICOM(t, dicomSpec{rows: h, cols: w, bits: 8, photometric: "MONOCHROME2",
		syntax: "1.2.840.10008.1.2.4.50", jpegFrames: frames[:1]})
	img, meta, err := Decode("us.dcm", single)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := jpeg.Decode(bytes.NewReader(frames[0]))
	if !samePixels(img, want) || meta.Frames != 1 || meta.Frame != 0 {
		t.Errorf("single JPEG frame: pixels differ from image/jpeg's or meta %+v", meta)
	}
	cine := buildDICOM(t, dicomSpec{rows: h, cols: w, bits: 8, photometric: "MONOCHROME2", frames: 3,
		syntax: "1.2.840.10008.1.2.4.50", jpegFrames: frames})
	for _, c := range []struct{ ask, got int }{{-1, 1}, {0, 0}, {2, 2}} {
		img, meta, err := DecodeFrame("cine.dcm", cine, c.ask)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := jpeg.Decode(bytes.NewReader(frames[c.got]))
		if !samePixels(img, want) || meta.Frames != 3 || meta.Frame != c.got {
			t.Errorf("frame %d: want frame %d's pixels, meta %+v", c.ask, c.got, meta)
		}
	}
	if _, _, err := DecodeFrame("cine.dcm", cine, 3); err == nil || !strings.Contains(err.Error(), "cine.dcm") || !strings.Contains(err.Error(), "3 frames") {
		t.Errorf("frame 3 of 3: %v", err)
	}
	// a JPEG whose size disagrees with the header is corrupt, named
	lying := buildDICOM(t, dicomSpec{rows: h, cols: 2 * w, bits: 8, photometric: "MONOCHROME2",
		syntax: "1.2.840.10008.1.2.4.50", jpegFrames: frames[:1]})
	if _, _, err := Decode("lying.dcm", lying); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "lying.dcm") {
		t.Errorf("JPEG of the wrong size: %v", err)
	}
}

// Uncompressed cine loops open on the middle frame; RGB and YBR_FULL
// frames (pixel- and plane-interleaved) come back as RGB.
func TestDecodeDICOMFramesAndColour(t *testing.T) {
	pix := []uint8{0, 10, 20, 30, 40, 50, 60, 70, 80} // 3 frames of 1x3
	cine := buildDICOM(t, dicomSpec{rows: 1, cols: 3, bits: 8, photometric: "MONOCHROME2", frames: 3, pixels8: pix})
	img, meta, err := Decode("cine.dcm", cine)
	if err != nil {
		t.Fatal(err)
	}
	if g := img.(*image.Gray); meta.Frame != 1 || meta.Frames != 3 || !bytes.Equal(g.Pix, []uint8{0, 128, 255}) {
		t.Errorf("middle frame: meta %+v, pixels %v (frame 1 is 30,40,50 stretched to 0..255)", meta, g.Pix)
	}
	rgb := buildDICOM(t, dicomSpec{rows: 1, cols: 2, bits: 8, photometric: "RGB", samplesPerPixl: 3, pixels8: []uint8{255, 0, 0, 0, 0, 255}})
	img, _, err = Decode("rgb.dcm", rgb)
	if err != nil {
		t.Fatal(err)
	}
	if r, g, b, _ := img.At(0, 0).RGBA(); r>>8 != 255 || g != 0 || b != 0 {
		t.Errorf("RGB pixel 0 = %v, want red", img.At(0, 0))
	}
	planar := buildDICOM(t, dicomSpec{rows: 1, cols: 2, bits: 8, photometric: "RGB", samplesPerPixl: 3, pixels8: []uint8{255, 0, 0, 0, 0, 255},
		extra: []*dicom.Element{mustElement(t, tag.PlanarConfiguration, []int{1})}})
	img, _, err = Decode("planar.dcm", planar)
	if err != nil {
		t.Fatal(err)
	}
	// planes R = (255, 0), G = (0, 0), B = (0, 255): red then blue
	if r, _, _, _ := img.At(0, 0).RGBA(); r>>8 != 255 {
		t.Errorf("planar pixel 0 = %v, want red", img.At(0, 0))
	}
	if _, _, b, _ := img.At(1, 0).RGBA(); b>>8 != 255 {
		t.Errorf("planar pixel 1 = %v, want blue", img.At(1, 0))
	}
	y, cb, cr := color.RGBToYCbCr(200, 100, 50)
	ybr := buildDICOM(t, dicomSpec{rows: 1, cols: 1, bits: 8, photometric: "YBR_FULL", samplesPerPixl: 3, pixels8: []uint8{y, cb, cr}})
	img, _, err = Decode("ybr.dcm", ybr)
	if err != nil {
		t.Fatal(err)
	}
	if r, g, b, _ := img.At(0, 0).RGBA(); absDiff(r>>8, 200) > 2 || absDiff(g>>8, 100) > 2 || absDiff(b>>8, 50) > 2 {
		t.Errorf("YBR_FULL pixel = %v, want about (200,100,50)", img.At(0, 0))
	}
}

// Without PixelSpacing the scale comes from the first ultrasound region in
// cm (units code 3); regions in other units are skipped.
func TestDecodeDICOMUltrasoundRegions(t *testing.T) {
	seq := mustElement(t, tag.SequenceOfUltrasoundRegions, [][]*dicom.Element{
		{mustElement(t, tag.PhysicalUnitsXDirection, []int{4}), mustElement(t, tag.PhysicalUnitsYDirection, []int{4}),
			mustElement(t, tag.PhysicalDeltaX, []float64{0.5}), mustElement(t, tag.PhysicalDeltaY, []float64{0.5})},
		{mustElement(t, tag.PhysicalUnitsXDirection, []int{3}), mustElement(t, tag.PhysicalUnitsYDirection, []int{3}),
			mustElement(t, tag.PhysicalDeltaX, []float64{0.0125}), mustElement(t, tag.PhysicalDeltaY, []float64{0.02})},
	})
	data := buildDICOM(t, dicomSpec{rows: 2, cols: 2, bits: 8, photometric: "MONOCHROME2", pixels8: []uint8{0, 1, 2, 3},
		extra: []*dicom.Element{seq}})
	_, meta, err := Decode("regions.dcm", data)
	if err != nil {
		t.Fatal(err)
	}
	if absF(meta.PixelSpacingMM[0]-0.2) > 1e-9 || absF(meta.PixelSpacingMM[1]-0.125) > 1e-9 {
		t.Errorf("spacing %v mm, want (0.2, 0.125) from the cm region", meta.PixelSpacingMM)
	}
	// PixelSpacing, when present, wins
	data = buildDICOM(t, dicomSpec{rows: 2, cols: 2, bits: 8, photometric: "MONOCHROME2", pixels8: []uint8{0, 1, 2, 3},
		spacing: []string{"0.3", "0.3"}, extra: []*dicom.Element{seq}})
	if _, meta, _ := Decode("both.dcm", data); meta.PixelSpacingMM != [2]float64{0.3, 0.3} {
		t.Errorf("spacing %v, want PixelSpacing's 0.3", meta.PixelSpacingMM)
	}
}

// Patient attributes are never read into what decoding returns: neither
// the image nor its Meta carries them.
func TestDecodeDICOMKeepsNoPatientData(t *testing.T) {
	data := buildDICOM(t, dicomSpec{rows: 2, cols: 2, bits: 8, photometric: "MONOCHROME2", pixels8: []uint8{0, 1, 2, 3},
		extra: []*dicom.Element{mustElement(t, tag.PatientName, []string{"DOE^JANE"}), mustElement(t, tag.PatientID, []string{"MRN-778899"}),
			mustElement(t, tag.PatientBirthDate, []string{"19700101"})}})
	if !bytes.Contains(data, []byte("DOE^JANE")) {
		t.Fatal("the fixture lacks the patient name")
	}
	img, meta, err := Decode("patient.dcm", data)
	if err != nil {
		t.Fatal(err)
	}
	dump := fmt.Sprintf("%+v %#v", meta, img)
	for _, secret := range []string{"DOE", "JANE", "778899", "19700101"} {
		if strings.Contains(dump, secret) {
			t.Errorf("decoded image or meta holds %q", secret)
		}
	}
}

func mustElement(t *testing.T, tg tag.Tag, v any) *dicom.Element {
	t.Helper()
	e, err := dicom.NewElement(tg, v)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func samePixels(a, b image.Image) bool {
	if a.Bounds() != b.Bounds() {
		return false
	}
	for y := a.Bounds().Min.Y; y < a.Bounds().Max.Y; y++ {
		for x := a.Bounds().Min.X; x < a.Bounds().Max.X; x++ {
			r1, g1, b1, _ := a.At(x, y).RGBA()
			r2, g2, b2, _ := b.At(x, y).RGBA()
			if r1 != r2 || g1 != g2 || b1 != b2 {
				return false
			}
		}
	}
	return true
}

func absDiff(a, b uint32) uint32 {
	if a > b {
		return a - b
	}
	return b - a
}

func absF(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}
