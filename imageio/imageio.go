// Package imageio decodes the images busam accepts (PNG, JPEG, GIF, BMP,
// TIFF, WebP and monochrome DICOM) safely: the format is sniffed from the
// content, the header is read first and oversized images are refused before
// any large allocation, and every failure is an error that names the file.
// Bad input never panics.
package imageio

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/draw"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"os"
	"unicode/utf8"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
	"golang.org/x/image/webp"
)

// Size limits, checked on the header before any pixel is decoded.
const (
	MaxSide   = 16384       // longest accepted width or height, in pixels
	MaxPixels = 100_000_000 // largest accepted width*height
	// MaxFileBytes bounds what Load reads into memory; no accepted image
	// needs more (100 MP at 4 bytes plus container overhead).
	MaxFileBytes = 512 << 20
)

// Format names, as reported in Meta.Format.
const (
	FormatPNG   = "png"
	FormatJPEG  = "jpeg"
	FormatGIF   = "gif"
	FormatBMP   = "bmp"
	FormatTIFF  = "tiff"
	FormatWebP  = "webp"
	FormatDICOM = "dicom"
)

// Meta describes a decoded image beyond its pixels.
type Meta struct {
	Format string
	// PixelSpacingMM is the physical size of a pixel (row spacing, column
	// spacing) in millimetres; zero when the file does not say.
	PixelSpacingMM [2]float64
	// Frames is the number of frames of a multi-frame file (a DICOM cine
	// loop), Frame the one decoded (from 0); 0 and 0 for other formats.
	Frames, Frame int
}

// Sentinel errors, wrapped with the file name; test with errors.Is.
var (
	ErrEmpty         = errors.New("empty file")
	ErrUnknownFormat = errors.New("unknown image format")
	ErrNotImage      = errors.New("not an image (looks like text)")
	ErrTooLarge      = errors.New("image too large")
	ErrUnsupported   = errors.New("unsupported image variant")
	ErrCorrupt       = errors.New("corrupt or truncated image")
)

// Load reads and decodes the image file at path.
func Load(path string) (image.Image, error) {
	img, _, err := LoadWithMeta(path)
	return img, err
}

// LoadWithMeta is Load that also returns the image's Meta.
func LoadWithMeta(path string) (image.Image, Meta, error) {
	data, err := readBounded(path)
	if err != nil {
		return nil, Meta{}, err
	}
	return Decode(path, data)
}

// Decode decodes data; name is only used in error messages and never opened.
// Of a multi-frame file it decodes the middle frame (DecodeFrame).
func Decode(name string, data []byte) (img image.Image, meta Meta, err error) {
	return DecodeFrame(name, data, -1)
}

// DecodeFrame is Decode of frame (from 0) of a multi-frame DICOM file;
// a negative frame is the middle one. Other formats have one frame, 0.
func DecodeFrame(name string, data []byte, frame int) (img image.Image, meta Meta, err error) {
	format, err := sniff(name, data)
	if err != nil {
		return nil, Meta{}, err
	}
	meta.Format = format
	if format == FormatDICOM {
		return decodeDICOM(name, data, frame)
	}
	if frame > 0 {
		return nil, meta, fmt.Errorf("%s: frame %d asked for, a %s image has one", name, frame, format)
	}
	cfg, err := decodeConfig(name, format, bytes.NewReader(data), data)
	if err != nil {
		return nil, meta, err
	}
	dec := decoders[format].decode
	img, err = safeDecode(func() (image.Image, error) { return dec(bytes.NewReader(data)) })
	if err != nil {
		return nil, meta, fmt.Errorf("%s: %w (%s): %v", name, ErrCorrupt, format, err)
	}
	if p, ok := img.(*image.Paletted); ok && format == FormatGIF {
		img = onGIFScreen(p, cfg)
	}
	if b := img.Bounds(); b.Dx() != cfg.Width || b.Dy() != cfg.Height {
		return nil, meta, fmt.Errorf("%s: %w (%s): header says %dx%d, pixels are %dx%d",
			name, ErrCorrupt, format, cfg.Width, cfg.Height, b.Dx(), b.Dy())
	}
	return img, meta, nil
}

// Config reads only as much of the file at path as its header needs and
// returns the image size, after the same checks as Decode (format, bit
// depth, size limits). Datasets use it to index images without decoding.
func Config(path string) (image.Config, Meta, error) {
	f, err := os.Open(path)
	if err != nil {
		return image.Config{}, Meta{}, fmt.Errorf("imageio: %w", err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 64<<10)
	head, err := br.Peek(sniffLen)
	if err != nil && !errors.Is(err, io.EOF) {
		return image.Config{}, Meta{}, fmt.Errorf("%s: reading: %w", path, err)
	}
	format, err := sniff(path, head)
	if err != nil {
		return image.Config{}, Meta{}, err
	}
	if format == FormatDICOM {
		// DICOM headers may be long; read the file but skip pixel data.
		data, err := readBounded(path)
		if err != nil {
			return image.Config{}, Meta{}, err
		}
		h, err := readDICOMHeader(path, data)
		if err != nil {
			return image.Config{}, Meta{}, err
		}
		return image.Config{Width: h.cols, Height: h.rows}, Meta{Format: format, PixelSpacingMM: h.spacing}, nil
	}
	cfg, err := decodeConfig(path, format, br, head)
	return cfg, Meta{Format: format}, err
}

func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("imageio: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("imageio: %w", err)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("%s: is a directory, not an image file", path)
	}
	if st.Size() > MaxFileBytes {
		return nil, fmt.Errorf("%s: %w: file is %d bytes (limit %d)", path, ErrTooLarge, st.Size(), MaxFileBytes)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: reading: %w", path, err)
	}
	return data, nil
}

type decoder struct {
	config func(io.Reader) (image.Config, error)
	decode func(io.Reader) (image.Image, error)
}

// decoders are called directly rather than through image.Decode so that the
// sniffed format, not whatever other packages registered, picks the decoder.
var decoders = map[string]decoder{
	FormatPNG:  {png.DecodeConfig, png.Decode},
	FormatJPEG: {jpeg.DecodeConfig, jpeg.Decode},
	FormatGIF:  {gif.DecodeConfig, gif.Decode}, // gif.Decode returns the first frame
	FormatBMP:  {bmp.DecodeConfig, bmp.Decode},
	FormatTIFF: {tiff.DecodeConfig, tiff.Decode},
	FormatWebP: {webp.DecodeConfig, webp.Decode},
}

// sniffLen is how many leading bytes sniff needs (DICOM's magic is at 128).
const sniffLen = 132

// sniff identifies the format from the leading bytes of the file.
func sniff(name string, head []byte) (string, error) {
	switch {
	case len(head) == 0:
		return "", fmt.Errorf("%s: %w", name, ErrEmpty)
	case bytes.HasPrefix(head, []byte("\x89PNG\r\n\x1a\n")):
		return FormatPNG, nil
	case bytes.HasPrefix(head, []byte{0xFF, 0xD8, 0xFF}):
		return FormatJPEG, nil
	case bytes.HasPrefix(head, []byte("GIF87a")), bytes.HasPrefix(head, []byte("GIF89a")):
		return FormatGIF, nil
	case bytes.HasPrefix(head, []byte("BM")) && len(head) >= 26:
		return FormatBMP, nil
	case bytes.HasPrefix(head, []byte("II*\x00")), bytes.HasPrefix(head, []byte("MM\x00*")):
		return FormatTIFF, nil
	case len(head) >= 12 && string(head[:4]) == "RIFF" && string(head[8:12]) == "WEBP":
		return FormatWebP, nil
	case len(head) >= 132 && string(head[128:132]) == "DICM":
		return FormatDICOM, nil
	}
	if looksLikeText(head) {
		return "", fmt.Errorf("%s: %w", name, ErrNotImage)
	}
	return "", fmt.Errorf("%s: %w (first bytes % x)", name, ErrUnknownFormat, head[:min(len(head), 8)])
}

// looksLikeText reports whether head is valid UTF-8 without control bytes
// other than whitespace, i.e. what a text file renamed .png looks like.
func looksLikeText(head []byte) bool {
	// The sniff window may cut a multi-byte rune; drop a partial tail.
	for i := 0; i < utf8.UTFMax && len(head) > 0 && !utf8.Valid(head); i++ {
		head = head[:len(head)-1]
	}
	if !utf8.Valid(head) {
		return false
	}
	for _, c := range head {
		if c < 0x20 && c != '\n' && c != '\r' && c != '\t' {
			return false
		}
	}
	return true
}

// decodeConfig reads the header from r and applies the checks that must
// happen before decoding. head holds the first bytes of the file.
func decodeConfig(name, format string, r io.Reader, head []byte) (image.Config, error) {
	if format == FormatPNG {
		if err := checkPNGHeader(name, head); err != nil {
			return image.Config{}, err
		}
	}
	cfg, err := func() (cfg image.Config, err error) {
		defer recoverAsError(&err)
		return decoders[format].config(r)
	}()
	if err != nil {
		return image.Config{}, fmt.Errorf("%s: %w (%s header): %v", name, ErrCorrupt, format, err)
	}
	if err := checkSize(name, cfg.Width, cfg.Height); err != nil {
		return image.Config{}, err
	}
	return cfg, nil
}

func checkSize(name string, w, h int) error {
	switch {
	case w <= 0 || h <= 0:
		return fmt.Errorf("%s: %w: image has no pixels (%dx%d)", name, ErrCorrupt, w, h)
	case w > MaxSide || h > MaxSide:
		return fmt.Errorf("%s: %w: %dx%d, a side exceeds %d px", name, ErrTooLarge, w, h, MaxSide)
	case int64(w)*int64(h) > MaxPixels:
		return fmt.Errorf("%s: %w: %dx%d is %.1f megapixels (limit %d)", name, ErrTooLarge, w, h,
			float64(w)*float64(h)/1e6, MaxPixels/1_000_000)
	}
	return nil
}

// checkPNGHeader reads the IHDR chunk, which the PNG spec puts first, to
// refuse 16-bit images: the model is trained on 8-bit data and the standard
// decoder would silently hand back a 16-bit image of a different type.
func checkPNGHeader(name string, head []byte) error {
	// signature(8) length(4) "IHDR"(4) width(4) height(4) depth(1) colour(1)
	if len(head) < 26 || string(head[12:16]) != "IHDR" {
		return fmt.Errorf("%s: %w (png): missing IHDR header", name, ErrCorrupt)
	}
	w := binary.BigEndian.Uint32(head[16:20])
	h := binary.BigEndian.Uint32(head[20:24])
	if w > MaxSide || h > MaxSide {
		return fmt.Errorf("%s: %w: %dx%d, a side exceeds %d px", name, ErrTooLarge, w, h, MaxSide)
	}
	if depth := head[24]; depth == 16 {
		return fmt.Errorf("%s: %w: 16-bit PNG (convert it to 8 bits per channel first)", name, ErrUnsupported)
	}
	return nil
}

// onGIFScreen places a GIF's first frame on its logical screen: a frame may
// cover only part of it, and callers expect the size the header declares.
func onGIFScreen(frame *image.Paletted, cfg image.Config) image.Image {
	screen := image.Rect(0, 0, cfg.Width, cfg.Height)
	if frame.Bounds() == screen {
		return frame
	}
	out := image.NewPaletted(screen, frame.Palette)
	draw.Draw(out, frame.Bounds(), frame, frame.Bounds().Min, draw.Src)
	return out
}

// safeDecode runs a third-party decoder, turning a panic on hostile input
// into an error.
func safeDecode(f func() (image.Image, error)) (img image.Image, err error) {
	defer recoverAsError(&err)
	return f()
}

func recoverAsError(err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("decoder panicked: %v", r)
	}
}
