package imageio

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"strconv"
	"strings"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/frame"
	"github.com/suyashkumar/dicom/pkg/tag"
)

// dicomHeader is what decodeDICOM needs from the attributes before it
// touches the pixel data.
type dicomHeader struct {
	rows, cols, frames int
	bitsAllocated      int
	bitsStored         int
	signed             bool
	samples            int
	photometric        string
	slope, intercept   float64
	center, width      float64
	hasWindow          bool
	spacing            [2]float64
	pixelBytesNeeded   int64 // native pixel data only
	planar             bool  // colour samples stored plane by plane
	syntax             string
	compression        string // "" for native pixel data, else the codec (see transferSyntaxes)
}

// transferSyntaxes names the compressed transfer syntaxes: the ones
// decoded (JPEG baseline, through image/jpeg) and the ones refused by
// name. Native syntaxes (implicit/explicit VR, little/big endian) are not
// listed.
var transferSyntaxes = map[string]struct {
	name      string
	supported bool
}{
	"1.2.840.10008.1.2.4.50":  {"JPEG Baseline (8-bit)", true},
	"1.2.840.10008.1.2.4.51":  {"JPEG Extended (12-bit)", false},
	"1.2.840.10008.1.2.4.57":  {"JPEG Lossless", false},
	"1.2.840.10008.1.2.4.70":  {"JPEG Lossless (first-order prediction)", false},
	"1.2.840.10008.1.2.4.80":  {"JPEG-LS Lossless", false},
	"1.2.840.10008.1.2.4.81":  {"JPEG-LS Near-lossless", false},
	"1.2.840.10008.1.2.4.90":  {"JPEG 2000 Lossless", false},
	"1.2.840.10008.1.2.4.91":  {"JPEG 2000", false},
	"1.2.840.10008.1.2.5":     {"RLE Lossless", false},
	"1.2.840.10008.1.2.4.100": {"MPEG-2 video", false},
	"1.2.840.10008.1.2.4.101": {"MPEG-2 video", false},
	"1.2.840.10008.1.2.4.102": {"MPEG-4 video", false},
	"1.2.840.10008.1.2.4.103": {"MPEG-4 video", false},
	"1.2.840.10008.1.2.4.201": {"HTJ2K Lossless", false},
	"1.2.840.10008.1.2.4.203": {"HTJ2K", false},
}

// nativeSyntaxes are the uncompressed transfer syntaxes.
var nativeSyntaxes = map[string]bool{
	"1.2.840.10008.1.2": true, "1.2.840.10008.1.2.1": true, "1.2.840.10008.1.2.2": true, "": true,
}

// readDICOMHeader parses the attributes without the pixel data and checks
// that the image is one we support and within the size limits.
func readDICOMHeader(name string, data []byte) (h dicomHeader, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s: %w (dicom): parser panicked: %v", name, ErrCorrupt, r)
		}
	}()
	if err := checkDICOMStructure(data); err != nil {
		return h, fmt.Errorf("%s: %w (dicom): %v", name, ErrCorrupt, err)
	}
	ds, err := dicom.Parse(bytes.NewReader(data), int64(len(data)), nil, dicom.SkipPixelData())
	if err != nil {
		return h, fmt.Errorf("%s: %w (dicom): %v", name, ErrCorrupt, err)
	}
	ints := func(t tag.Tag, def int) int {
		e, err := ds.FindElementByTag(t)
		if err != nil {
			return def
		}
		v, ok := e.Value.GetValue().([]int)
		if !ok || len(v) == 0 {
			return def
		}
		return v[0]
	}
	strs := func(t tag.Tag) []string {
		e, err := ds.FindElementByTag(t)
		if err != nil {
			return nil
		}
		v, _ := e.Value.GetValue().([]string)
		return v
	}
	// Decimal strings (DS) may hold several values separated by '\'; the
	// library splits them, and we use the first (the primary window).
	firstFloat := func(t tag.Tag) (float64, bool) {
		v := strs(t)
		if len(v) == 0 {
			return 0, false
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(strings.SplitN(v[0], `\`, 2)[0]), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return 0, false
		}
		return f, true
	}

	h.rows = ints(tag.Rows, 0)
	h.cols = ints(tag.Columns, 0)
	h.bitsAllocated = ints(tag.BitsAllocated, 0)
	h.bitsStored = ints(tag.BitsStored, h.bitsAllocated)
	h.signed = ints(tag.PixelRepresentation, 0) == 1
	h.samples = ints(tag.SamplesPerPixel, 1)
	h.planar = ints(tag.PlanarConfiguration, 0) == 1
	h.frames = 1
	if v := strs(tag.NumberOfFrames); len(v) > 0 {
		if n, err := strconv.Atoi(strings.TrimSpace(v[0])); err == nil {
			h.frames = n
		}
	}
	if v := strs(tag.PhotometricInterpretation); len(v) > 0 {
		h.photometric = strings.TrimSpace(v[0])
	}
	h.slope, h.intercept = 1, 0
	if s, ok := firstFloat(tag.RescaleSlope); ok && s != 0 {
		h.slope = s
	}
	if i, ok := firstFloat(tag.RescaleIntercept); ok {
		h.intercept = i
	}
	c, okC := firstFloat(tag.WindowCenter)
	w, okW := firstFloat(tag.WindowWidth)
	if okC && okW && w >= 1 {
		h.center, h.width, h.hasWindow = c, w, true
	}
	if v := strs(tag.PixelSpacing); len(v) >= 2 {
		r, err1 := strconv.ParseFloat(strings.TrimSpace(v[0]), 64)
		c, err2 := strconv.ParseFloat(strings.TrimSpace(v[1]), 64)
		if err1 == nil && err2 == nil && r > 0 && c > 0 && !math.IsInf(r, 0) && !math.IsInf(c, 0) {
			h.spacing = [2]float64{r, c}
		}
	}
	if h.spacing == [2]float64{} {
		h.spacing = ultrasoundRegionSpacing(ds)
	}
	if v := strs(tag.TransferSyntaxUID); len(v) > 0 {
		h.syntax = strings.TrimRight(strings.TrimSpace(v[0]), "\x00")
	}
	if !nativeSyntaxes[h.syntax] {
		ts, known := transferSyntaxes[h.syntax]
		switch {
		case !known:
			return h, fmt.Errorf("%s: %w: DICOM transfer syntax %s is not one busam reads (it reads uncompressed and JPEG baseline pixel data)", name, ErrUnsupported, h.syntax)
		case !ts.supported:
			return h, fmt.Errorf("%s: %w: DICOM pixel data compressed as %s (transfer syntax %s); busam reads uncompressed and JPEG baseline pixel data: export the image uncompressed or as JPEG baseline", name, ErrUnsupported, ts.name, h.syntax)
		}
		h.compression = ts.name
	}

	if _, err := ds.FindElementByTag(tag.PixelData); err != nil {
		return h, fmt.Errorf("%s: %w: DICOM file has no pixel data", name, ErrUnsupported)
	}
	if err := checkSize(name, h.cols, h.rows); err != nil {
		return h, err
	}
	if h.frames < 1 || int64(h.frames)*int64(h.rows)*int64(h.cols) > MaxPixels {
		return h, fmt.Errorf("%s: %w: %d frames of %dx%d", name, ErrTooLarge, h.frames, h.cols, h.rows)
	}
	switch h.photometric {
	case "MONOCHROME1", "MONOCHROME2":
		if h.samples != 1 || (h.bitsAllocated != 8 && h.bitsAllocated != 16) {
			return h, fmt.Errorf("%s: %w: monochrome DICOM with %d samples of %d bits (need 1 sample of 8 or 16 bits)",
				name, ErrUnsupported, h.samples, h.bitsAllocated)
		}
	case "RGB", "YBR_FULL", "YBR_FULL_422":
		// colour ultrasound frames (annotations, Doppler): 3 samples of 8 bits
		if h.samples != 3 || h.bitsAllocated != 8 {
			return h, fmt.Errorf("%s: %w: %s DICOM with %d samples of %d bits (need 3 samples of 8 bits)",
				name, ErrUnsupported, h.photometric, h.samples, h.bitsAllocated)
		}
		if h.photometric == "YBR_FULL_422" && h.compression == "" {
			return h, fmt.Errorf("%s: %w: uncompressed YBR_FULL_422 (subsampled) DICOM pixel data", name, ErrUnsupported)
		}
	default:
		return h, fmt.Errorf("%s: %w: DICOM photometric interpretation %q (busam reads MONOCHROME1/2, RGB and YBR_FULL)",
			name, ErrUnsupported, h.photometric)
	}
	if h.bitsStored < 1 || h.bitsStored > h.bitsAllocated {
		h.bitsStored = h.bitsAllocated
	}
	// Refuse a header that promises more pixels than the file holds before
	// the library allocates the frames it describes (compressed data is
	// smaller than the pixels by design, so only native data is checked).
	if h.compression == "" {
		h.pixelBytesNeeded = int64(h.frames) * int64(h.rows) * int64(h.cols) * int64(h.samples) * int64(h.bitsAllocated/8)
	}
	return h, nil
}

// decodeDICOM decodes frame (a negative frame: the middle one, as a cine
// loop's most representative) of a DICOM file: monochrome frames windowed
// to 8 bits, colour frames as RGB, native or JPEG baseline pixel data.
// Meta says how many frames there are and which one was decoded. No
// patient attribute is read.
func decodeDICOM(name string, data []byte, frameIndex int) (img image.Image, meta Meta, err error) {
	meta.Format = FormatDICOM
	h, err := readDICOMHeader(name, data)
	if err != nil {
		return nil, meta, err
	}
	meta.PixelSpacingMM = h.spacing
	meta.Frames = h.frames
	if frameIndex < 0 {
		frameIndex = h.frames / 2
	}
	if frameIndex >= h.frames {
		return nil, meta, fmt.Errorf("%s: frame %d asked for, the file has %d frames (numbered from 0)", name, frameIndex, h.frames)
	}
	meta.Frame = frameIndex
	if h.pixelBytesNeeded > int64(len(data)) {
		return nil, meta, fmt.Errorf("%s: %w (dicom): header describes %d bytes of pixels, file has %d bytes",
			name, ErrCorrupt, h.pixelBytesNeeded, len(data))
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s: %w (dicom): parser panicked: %v", name, ErrCorrupt, r)
		}
	}()
	ds, err := dicom.Parse(bytes.NewReader(data), int64(len(data)), nil)
	if err != nil {
		return nil, meta, fmt.Errorf("%s: %w (dicom): %v", name, ErrCorrupt, err)
	}
	e, err := ds.FindElementByTag(tag.PixelData)
	if err != nil {
		return nil, meta, fmt.Errorf("%s: %w: DICOM file has no pixel data", name, ErrUnsupported)
	}
	info, ok := e.Value.GetValue().(dicom.PixelDataInfo)
	if !ok || len(info.Frames) == 0 || info.Frames[0] == nil {
		return nil, meta, fmt.Errorf("%s: %w (dicom): no pixel frames", name, ErrCorrupt)
	}
	if info.ParseErr != nil {
		return nil, meta, fmt.Errorf("%s: %w (dicom): %v", name, ErrCorrupt, info.ParseErr)
	}
	if h.compression != "" {
		img, err := decodeJPEGFrame(info, h, frameIndex)
		if err != nil {
			return nil, meta, fmt.Errorf("%s: %w (dicom, %s): %v", name, ErrCorrupt, h.compression, err)
		}
		return img, meta, nil
	}
	if info.IsEncapsulated || info.Frames[0].Encapsulated {
		return nil, meta, fmt.Errorf("%s: %w (dicom): encapsulated pixel data under the uncompressed transfer syntax %q", name, ErrCorrupt, h.syntax)
	}
	if len(info.Frames) != h.frames || info.Frames[frameIndex] == nil {
		return nil, meta, fmt.Errorf("%s: %w (dicom): %d frames of pixel data, the header says %d", name, ErrCorrupt, len(info.Frames), h.frames)
	}
	if h.samples == 3 {
		img, err := colourFrame(info.Frames[frameIndex], h)
		if err != nil {
			return nil, meta, fmt.Errorf("%s: %w (dicom): %v", name, ErrCorrupt, err)
		}
		return img, meta, nil
	}
	values, err := dicomValues(info.Frames[frameIndex], h)
	if err != nil {
		return nil, meta, fmt.Errorf("%s: %w (dicom): %v", name, ErrCorrupt, err)
	}
	return windowTo8Bit(values, h), meta, nil
}

// decodeJPEGFrame decodes frame i of JPEG baseline pixel data. The
// library makes one frame of each fragment; a single-frame image may be
// split over several fragments, which are then one JPEG stream.
func decodeJPEGFrame(info dicom.PixelDataInfo, h dicomHeader, i int) (image.Image, error) {
	var stream []byte
	switch {
	case h.frames == 1:
		for _, f := range info.Frames {
			stream = append(stream, f.EncapsulatedData.Data...)
		}
	case len(info.Frames) == h.frames:
		stream = info.Frames[i].EncapsulatedData.Data
	default:
		return nil, fmt.Errorf("%d fragments for %d frames (frames split over fragments are not supported)", len(info.Frames), h.frames)
	}
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(stream))
	if err != nil {
		return nil, err
	}
	if cfg.Width != h.cols || cfg.Height != h.rows {
		return nil, fmt.Errorf("JPEG frame is %dx%d, the header says %dx%d", cfg.Width, cfg.Height, h.cols, h.rows)
	}
	img, err := jpeg.Decode(bytes.NewReader(stream))
	if err != nil {
		return nil, err
	}
	if g, ok := img.(*image.Gray); ok && h.photometric == "MONOCHROME1" {
		for k := range g.Pix {
			g.Pix[k] = 255 - g.Pix[k]
		}
	}
	return img, nil
}

// colourFrame converts a native 3-sample frame (RGB or YBR_FULL, pixel-
// or plane-interleaved) to RGBA.
func colourFrame(f *frame.Frame, h dicomHeader) (image.Image, error) {
	nf, err := f.GetNativeFrame()
	if err != nil {
		return nil, err
	}
	raw, ok := nf.RawDataSlice().([]uint8)
	n := h.rows * h.cols
	if !ok || len(raw) < 3*n {
		return nil, fmt.Errorf("colour frame holds %d values for %d pixels of 3 samples", len(raw), n)
	}
	img := image.NewRGBA(image.Rect(0, 0, h.cols, h.rows))
	for p := range n {
		var a, b, c uint8
		if h.planar {
			a, b, c = raw[p], raw[n+p], raw[2*n+p]
		} else {
			a, b, c = raw[3*p], raw[3*p+1], raw[3*p+2]
		}
		if h.photometric == "YBR_FULL" {
			a, b, c = color.YCbCrToRGB(a, b, c)
		}
		img.Pix[4*p], img.Pix[4*p+1], img.Pix[4*p+2], img.Pix[4*p+3] = a, b, c, 255
	}
	return img, nil
}

// ultrasoundRegionSpacing is the pixel spacing in mm (row, column) of the
// first region of the Sequence of Ultrasound Regions (0018,6011) whose
// physical units are cm in both directions (code 3), or zero. Ultrasound
// files often give their scale only there.
func ultrasoundRegionSpacing(ds dicom.Dataset) [2]float64 {
	seq, err := ds.FindElementByTag(tag.SequenceOfUltrasoundRegions)
	if err != nil {
		return [2]float64{}
	}
	items, ok := seq.Value.GetValue().([]*dicom.SequenceItemValue)
	if !ok {
		return [2]float64{}
	}
	for _, it := range items {
		elems, _ := it.GetValue().([]*dicom.Element)
		var dx, dy float64
		ux, uy := -1, -1
		for _, e := range elems {
			switch e.Tag {
			case tag.PhysicalUnitsXDirection:
				if v, ok := e.Value.GetValue().([]int); ok && len(v) > 0 {
					ux = v[0]
				}
			case tag.PhysicalUnitsYDirection:
				if v, ok := e.Value.GetValue().([]int); ok && len(v) > 0 {
					uy = v[0]
				}
			case tag.PhysicalDeltaX:
				if v, ok := e.Value.GetValue().([]float64); ok && len(v) > 0 {
					dx = math.Abs(v[0])
				}
			case tag.PhysicalDeltaY:
				if v, ok := e.Value.GetValue().([]float64); ok && len(v) > 0 {
					dy = math.Abs(v[0])
				}
			}
		}
		if ux == 3 && uy == 3 && dx > 0 && dy > 0 && !math.IsInf(dx, 0) && !math.IsInf(dy, 0) {
			return [2]float64{10 * dy, 10 * dx} // cm -> mm; (row, column)
		}
	}
	return [2]float64{}
}

// dicomValues returns the modality values (rescaled stored values) of a
// native frame, sign-extending BitsStored-bit two's-complement samples.
func dicomValues(f *frame.Frame, h dicomHeader) ([]float64, error) {
	nf, err := f.GetNativeFrame()
	if err != nil {
		return nil, err
	}
	if nf.Rows() != h.rows || nf.Cols() != h.cols {
		return nil, fmt.Errorf("frame is %dx%d, header says %dx%d", nf.Cols(), nf.Rows(), h.cols, h.rows)
	}
	n := h.rows * h.cols
	out := make([]float64, n)
	mask := uint32(1)<<uint(h.bitsStored) - 1
	sign := uint32(1) << uint(h.bitsStored-1)
	stored := func(u uint32) float64 {
		u &= mask
		if h.signed && u&sign != 0 {
			return float64(int64(u) - int64(mask) - 1)
		}
		return float64(u)
	}
	switch raw := nf.RawDataSlice().(type) {
	case []uint8:
		if len(raw) < n {
			return nil, fmt.Errorf("%d pixel values for %d pixels", len(raw), n)
		}
		for i := range out {
			out[i] = stored(uint32(raw[i]))*h.slope + h.intercept
		}
	case []uint16:
		if len(raw) < n {
			return nil, fmt.Errorf("%d pixel values for %d pixels", len(raw), n)
		}
		for i := range out {
			out[i] = stored(uint32(raw[i]))*h.slope + h.intercept
		}
	default:
		return nil, fmt.Errorf("unexpected pixel storage %T", raw)
	}
	return out, nil
}

// windowTo8Bit maps values to 0..255 with the file's VOI window (the linear
// function of DICOM PS3.3 C.11.2.1.2) when it has one, else the value range;
// MONOCHROME1 (0 = white) is inverted so that the result is always
// dark-is-low like the other formats.
func windowTo8Bit(v []float64, h dicomHeader) *image.Gray {
	img := image.NewGray(image.Rect(0, 0, h.cols, h.rows))
	var lo, span float64
	if h.hasWindow {
		// y = ((x - (c - 0.5)) / (w - 1) + 0.5) * 255, clipped: the window
		// starts at c - 0.5 - (w-1)/2 and is w-1 wide.
		lo = h.center - 0.5 - (h.width-1)/2
		span = h.width - 1
	} else {
		hi := math.Inf(-1)
		lo = math.Inf(1)
		for _, x := range v {
			lo, hi = min(lo, x), max(hi, x)
		}
		span = hi - lo
	}
	invert := h.photometric == "MONOCHROME1"
	for i, x := range v {
		var y float64
		switch {
		case span > 0:
			y = (x - lo) / span * 255
		case h.hasWindow && x > lo: // a width-1 window is a threshold
			y = 255
		}
		y = math.Round(min(max(y, 0), 255))
		if invert {
			y = 255 - y
		}
		img.Pix[i] = uint8(y)
	}
	return img
}
