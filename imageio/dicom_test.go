package imageio

import (
	"bytes"
	"cmp"
	"errors"
	"image"
	"strconv"
	"strings"
	"testing"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/frame"
	"github.com/suyashkumar/dicom/pkg/tag"
	"github.com/suyashkumar/dicom/pkg/uid"
)

// dicomSpec describes a tiny DICOM file built in memory for tests.
type dicomSpec struct {
	rows, cols     int
	bits           int      // 8 or 16
	photometric    string   // MONOCHROME1 / MONOCHROME2 / RGB
	window         []string // center, width; nil for none
	spacing        []string // row, col; nil for none
	pixels8        []uint8
	pixels16       []uint16
	claimRows      int // if set, the Rows attribute lies
	omitPixelData  bool
	samplesPerPixl int
	// frames > 1: pixels8 holds that many frames one after the other
	frames int
	// syntax and jpegFrames: encapsulated (compressed) pixel data, one
	// fragment per frame
	syntax     string
	jpegFrames [][]byte
	extra      []*dicom.Element
}

func buildDICOM(t testing.TB, s dicomSpec) []byte {
	t.Helper()
	el := func(tg tag.Tag, v any) *dicom.Element {
		e, err := dicom.NewElement(tg, v)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	rows := s.rows
	if s.claimRows != 0 {
		rows = s.claimRows
	}
	spp := s.samplesPerPixl
	if spp == 0 {
		spp = 1
	}
	elems := []*dicom.Element{
		el(tag.MediaStorageSOPClassUID, []string{"1.2.840.10008.5.1.4.1.1.6.1"}),
		el(tag.MediaStorageSOPInstanceUID, []string{"1.2.3.4.5.6.7"}),
		el(tag.TransferSyntaxUID, []string{cmp.Or(s.syntax, uid.ExplicitVRLittleEndian)}),
		el(tag.Rows, []int{rows}),
		el(tag.Columns, []int{s.cols}),
		el(tag.BitsAllocated, []int{s.bits}),
		el(tag.BitsStored, []int{s.bits}),
		el(tag.PixelRepresentation, []int{0}),
		el(tag.SamplesPerPixel, []int{spp}),
		el(tag.PhotometricInterpretation, []string{s.photometric}),
	}
	if s.window != nil {
		elems = append(elems, el(tag.WindowCenter, []string{s.window[0]}), el(tag.WindowWidth, []string{s.window[1]}))
	}
	if s.spacing != nil {
		elems = append(elems, el(tag.PixelSpacing, s.spacing))
	}
	if s.frames > 1 {
		elems = append(elems, el(tag.NumberOfFrames, []string{strconv.Itoa(s.frames)}))
	}
	elems = append(elems, s.extra...)
	switch {
	case s.jpegFrames != nil:
		var frames []*frame.Frame
		for _, j := range s.jpegFrames {
			frames = append(frames, &frame.Frame{Encapsulated: true, EncapsulatedData: frame.EncapsulatedFrame{Data: j}})
		}
		e := el(tag.PixelData, dicom.PixelDataInfo{IsEncapsulated: true, Frames: frames})
		e.ValueLength = tag.VLUndefinedLength
		elems = append(elems, e)
	case s.frames > 1:
		var frames []*frame.Frame
		n := s.rows * s.cols * spp
		for f := range s.frames {
			frames = append(frames, &frame.Frame{NativeData: &frame.NativeFrame[uint8]{InternalBitsPerSample: 8, InternalRows: s.rows,
				InternalCols: s.cols, InternalSamplesPerPixel: spp, RawData: s.pixels8[f*n : (f+1)*n]}})
		}
		elems = append(elems, el(tag.PixelData, dicom.PixelDataInfo{Frames: frames}))
	case !s.omitPixelData:
		var nf frame.INativeFrame
		if s.bits == 8 {
			nf = &frame.NativeFrame[uint8]{InternalBitsPerSample: 8, InternalRows: s.rows, InternalCols: s.cols,
				InternalSamplesPerPixel: spp, RawData: s.pixels8}
		} else {
			nf = &frame.NativeFrame[uint16]{InternalBitsPerSample: 16, InternalRows: s.rows, InternalCols: s.cols,
				InternalSamplesPerPixel: spp, RawData: s.pixels16}
		}
		elems = append(elems, el(tag.PixelData, dicom.PixelDataInfo{Frames: []*frame.Frame{{NativeData: nf}}}))
	}
	var b bytes.Buffer
	if err := dicom.Write(&b, dicom.Dataset{Elements: elems}, dicom.SkipVRVerification()); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func dicomSeed() []byte {
	return buildDICOM(&testing.T{}, dicomSpec{rows: 2, cols: 2, bits: 8, photometric: "MONOCHROME2",
		pixels8: []uint8{0, 50, 100, 200}})
}

func TestDecodeDICOM(t *testing.T) {
	tests := []struct {
		name    string
		spec    dicomSpec
		want    []uint8
		spacing [2]float64
	}{
		{"8-bit min/max", dicomSpec{rows: 2, cols: 2, bits: 8, photometric: "MONOCHROME2",
			pixels8: []uint8{10, 20, 30, 110}}, []uint8{0, 26, 51, 255}, [2]float64{}},
		{"16-bit min/max with spacing", dicomSpec{rows: 1, cols: 3, bits: 16, photometric: "MONOCHROME2",
			pixels16: []uint16{1000, 3000, 5000}, spacing: []string{"0.1", "0.2"}},
			[]uint8{0, 128, 255}, [2]float64{0.1, 0.2}},
		// Window c=1000 w=1001: lo = 1000-0.5-500 = 499.5, span 1000.
		{"16-bit window", dicomSpec{rows: 1, cols: 4, bits: 16, photometric: "MONOCHROME2",
			pixels16: []uint16{0, 499, 1000, 4000}, window: []string{"1000", "1001"}},
			[]uint8{0, 0, 128, 255}, [2]float64{}},
		{"MONOCHROME1 inverted", dicomSpec{rows: 1, cols: 2, bits: 8, photometric: "MONOCHROME1",
			pixels8: []uint8{0, 255}}, []uint8{255, 0}, [2]float64{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data := buildDICOM(t, tc.spec)
			img, meta, err := Decode(tc.name+".dcm", data)
			if err != nil {
				t.Fatal(err)
			}
			g, ok := img.(*image.Gray)
			if !ok {
				t.Fatalf("got %T, want *image.Gray", img)
			}
			if g.Bounds().Dx() != tc.spec.cols || g.Bounds().Dy() != tc.spec.rows {
				t.Fatalf("size %v, want %dx%d", g.Bounds(), tc.spec.cols, tc.spec.rows)
			}
			if !bytes.Equal(g.Pix, tc.want) {
				t.Errorf("pixels %v, want %v", g.Pix, tc.want)
			}
			if meta.Format != FormatDICOM || meta.PixelSpacingMM != tc.spacing {
				t.Errorf("meta %+v, want dicom with spacing %v", meta, tc.spacing)
			}
		})
	}
}

func TestDecodeDICOMRejects(t *testing.T) {
	good := buildDICOM(t, dicomSpec{rows: 4, cols: 4, bits: 8, photometric: "MONOCHROME2", pixels8: make([]uint8, 16)})
	tests := []struct {
		name string
		data []byte
		want error
		text string
	}{
		{"huge.dcm", buildDICOM(t, dicomSpec{rows: 2, cols: 20000, bits: 8, photometric: "MONOCHROME2",
			pixels8: make([]uint8, 40000)}), ErrTooLarge, "16384"},
		{"lying.dcm", buildDICOM(t, dicomSpec{rows: 2, cols: 8000, claimRows: 8000, bits: 8, photometric: "MONOCHROME2",
			pixels8: make([]uint8, 16000)}), ErrCorrupt, "pixels"},
		{"palette.dcm", buildDICOM(t, dicomSpec{rows: 1, cols: 1, bits: 8, photometric: "PALETTE COLOR",
			pixels8: []uint8{1}}), ErrUnsupported, "PALETTE COLOR"},
		{"rgb16.dcm", buildDICOM(t, dicomSpec{rows: 1, cols: 1, bits: 16, photometric: "RGB", samplesPerPixl: 3,
			pixels16: []uint16{1, 2, 3}}), ErrUnsupported, "RGB"},
		{"lossless.dcm", buildDICOM(t, dicomSpec{rows: 2, cols: 2, bits: 8, photometric: "MONOCHROME2",
			syntax: "1.2.840.10008.1.2.4.70", jpegFrames: [][]byte{{0xff, 0xd8, 0xff, 0xd9}}}), ErrUnsupported, "JPEG Lossless (first-order prediction) (transfer syntax 1.2.840.10008.1.2.4.70)"},
		{"j2k.dcm", buildDICOM(t, dicomSpec{rows: 2, cols: 2, bits: 8, photometric: "MONOCHROME2",
			syntax: "1.2.840.10008.1.2.4.90", jpegFrames: [][]byte{{0, 0}}}), ErrUnsupported, "JPEG 2000"},
		{"unknownsyntax.dcm", buildDICOM(t, dicomSpec{rows: 2, cols: 2, bits: 8, photometric: "MONOCHROME2",
			syntax: "1.2.840.10008.1.2.4.92", jpegFrames: [][]byte{{0, 0}}}), ErrUnsupported, "1.2.840.10008.1.2.4.92 is not one busam reads"},
		{"badjpeg.dcm", buildDICOM(t, dicomSpec{rows: 2, cols: 2, bits: 8, photometric: "MONOCHROME2",
			syntax: "1.2.840.10008.1.2.4.50", jpegFrames: [][]byte{{0xff, 0xd8, 1, 2, 3, 4}}}), ErrCorrupt, "JPEG Baseline"},
		{"nopixels.dcm", buildDICOM(t, dicomSpec{rows: 2, cols: 2, bits: 8, photometric: "MONOCHROME2",
			omitPixelData: true}), ErrUnsupported, "no pixel data"},
		{"truncated.dcm", good[:len(good)-10], ErrCorrupt, ""},
		{"preamble.dcm", good[:132], ErrCorrupt, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Decode(tc.name, tc.data)
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.name) || !strings.Contains(err.Error(), tc.text) {
				t.Errorf("error %q should name the file and say %q", err, tc.text)
			}
		})
	}
}
