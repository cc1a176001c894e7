package imageio

import (
	"bytes"
	"fmt"
	"image"
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
	pixelBytesNeeded   int64
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

	if _, err := ds.FindElementByTag(tag.PixelData); err != nil {
		return h, fmt.Errorf("%s: %w: DICOM file has no pixel data", name, ErrUnsupported)
	}
	if err := checkSize(name, h.cols, h.rows); err != nil {
		return h, err
	}
	if h.frames < 1 || int64(h.frames)*int64(h.rows)*int64(h.cols) > MaxPixels {
		return h, fmt.Errorf("%s: %w: %d frames of %dx%d", name, ErrTooLarge, h.frames, h.cols, h.rows)
	}
	if h.photometric != "MONOCHROME1" && h.photometric != "MONOCHROME2" {
		return h, fmt.Errorf("%s: %w: DICOM photometric interpretation %q (only MONOCHROME1/2 are supported)",
			name, ErrUnsupported, h.photometric)
	}
	if h.samples != 1 || (h.bitsAllocated != 8 && h.bitsAllocated != 16) {
		return h, fmt.Errorf("%s: %w: DICOM with %d samples of %d bits (need 1 sample of 8 or 16 bits)",
			name, ErrUnsupported, h.samples, h.bitsAllocated)
	}
	if h.bitsStored < 1 || h.bitsStored > h.bitsAllocated {
		h.bitsStored = h.bitsAllocated
	}
	// Refuse a header that promises more pixels than the file holds before
	// the library allocates the frames it describes.
	h.pixelBytesNeeded = int64(h.frames) * int64(h.rows) * int64(h.cols) * int64(h.bitsAllocated/8)
	return h, nil
}

// decodeDICOM decodes the first frame of a monochrome DICOM file and windows
// it to 8 bits.
func decodeDICOM(name string, data []byte) (img image.Image, meta Meta, err error) {
	meta.Format = FormatDICOM
	h, err := readDICOMHeader(name, data)
	if err != nil {
		return nil, meta, err
	}
	meta.PixelSpacingMM = h.spacing
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
	if info.IsEncapsulated || info.Frames[0].Encapsulated {
		return nil, meta, fmt.Errorf("%s: %w: compressed (encapsulated) DICOM pixel data", name, ErrUnsupported)
	}
	values, err := dicomValues(info.Frames[0], h)
	if err != nil {
		return nil, meta, fmt.Errorf("%s: %w (dicom): %v", name, ErrCorrupt, err)
	}
	return windowTo8Bit(values, h), meta, nil
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
