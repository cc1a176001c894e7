package engine

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/draw"

	"github.com/busam/busam/imageio"
)

// Picture is an image file decoded for display: what the page draws
// under the overlays and what teaching mode reads a ground-truth mask
// from. The page's own wasm module has no image codecs (they would double
// its download), so it asks the worker for this, and for MaskPNG.
type Picture struct {
	RGBA           []byte // 4 bytes a pixel (premultiplied, as image.RGBA), row-major, W*H pixels
	W, H           int
	Format         string     // imageio format name: "png", "jpeg", "dicom", ...
	PixelSpacingMM [2]float64 // row, column; zero when the file does not record it
	// Frames of a cine loop (multi-frame DICOM) and the one decoded, the
	// middle one, which Analyze analyses too; 0 and 0 for one image.
	Frames, Frame int
}

// DecodePicture decodes an image file (name is used in errors and for the
// format) into RGBA pixels at its own size, with the same checks and
// limits as Analyze.
func DecodePicture(name string, data []byte) (*Picture, error) {
	img, meta, err := decodeImage(name, data)
	if err != nil {
		return nil, err
	}
	pix, w, h := toRGBA(img)
	return &Picture{RGBA: pix, W: w, H: h, Format: meta.Format, PixelSpacingMM: meta.PixelSpacingMM, Frames: meta.Frames, Frame: meta.Frame}, nil
}

// decodeImage is the one decoding step of Analyze and DecodePicture.
func decodeImage(name string, data []byte) (image.Image, imageio.Meta, error) {
	if len(data) > MaxImageBytes {
		return nil, imageio.Meta{}, fmt.Errorf("busam: %s: %w: %d bytes, more than the %d MiB an image may have",
			name, imageio.ErrTooLarge, len(data), MaxImageBytes>>20)
	}
	return imageio.Decode(name, data)
}

// toRGBA converts a decoded image to RGBA bytes at its own size, without
// a copy when it is RGBA already.
func toRGBA(img image.Image) (pix []byte, w, h int) {
	b := img.Bounds()
	if rgba, ok := img.(*image.RGBA); ok && rgba.Rect.Min == (image.Point{}) && rgba.Stride == 4*b.Dx() {
		return rgba.Pix, b.Dx(), b.Dy()
	}
	dst := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(dst, dst.Rect, img, b.Min, draw.Src) // fast paths for Gray, YCbCr, NRGBA
	return dst.Pix, b.Dx(), b.Dy()
}

// MaskPNG encodes a 0|1 mask as a black-and-white 8-bit PNG (lesion 255),
// the format of BUSI's ground-truth masks: the page's mask download.
func MaskPNG(mask []uint8, w, h int) ([]byte, error) {
	if w <= 0 || h <= 0 || len(mask) != w*h {
		return nil, fmt.Errorf("busam: mask of %d pixels for %dx%d", len(mask), w, h)
	}
	var buf bytes.Buffer
	if err := imageio.WriteMaskPNG(&buf, mask, w, h); err != nil {
		return nil, fmt.Errorf("busam: encoding the mask: %w", err)
	}
	return buf.Bytes(), nil
}

// Error kinds that ErrorKind reports: JavaScript gets them as the kind of
// a rejected call's Error, so the page can say what is wrong with a file
// without linking the decoders to recognise their errors.
const (
	KindEmpty         = "empty"
	KindUnknownFormat = "unknown-format"
	KindNotImage      = "not-image"
	KindTooLarge      = "too-large"
	KindCorrupt       = "corrupt"
	KindUnsupported   = "unsupported"
)

// ErrorKind names the kind of an image-file error, or "" when err is not
// one of imageio's.
func ErrorKind(err error) string {
	for _, k := range []struct {
		err  error
		kind string
	}{
		{imageio.ErrEmpty, KindEmpty},
		{imageio.ErrUnknownFormat, KindUnknownFormat},
		{imageio.ErrNotImage, KindNotImage},
		{imageio.ErrTooLarge, KindTooLarge},
		{imageio.ErrCorrupt, KindCorrupt},
		{imageio.ErrUnsupported, KindUnsupported},
	} {
		if errors.Is(err, k.err) {
			return k.kind
		}
	}
	return ""
}
