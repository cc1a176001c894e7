package imageio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
)

// gradient is a small greyscale test image with distinct pixel values.
func gradient(w, h int) *image.Gray {
	img := image.NewGray(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.SetGray(x, y, color.Gray{uint8((x*7 + y*13) % 256)})
		}
	}
	return img
}

func encode(t *testing.T, f func(*bytes.Buffer) error) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := f(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func pngBytes(t *testing.T, img image.Image) []byte {
	return encode(t, func(b *bytes.Buffer) error { return png.Encode(b, img) })
}

// pngHeaderOnly is a PNG signature plus a valid IHDR chunk and nothing else:
// a file that claims any size without holding any pixel data.
func pngHeaderOnly(w, h uint32, depth, colour byte) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	chunk := make([]byte, 0, 17)
	chunk = append(chunk, "IHDR"...)
	chunk = binary.BigEndian.AppendUint32(chunk, w)
	chunk = binary.BigEndian.AppendUint32(chunk, h)
	chunk = append(chunk, depth, colour, 0, 0, 0)
	b.Write(binary.BigEndian.AppendUint32(nil, 13))
	b.Write(chunk)
	b.Write(binary.BigEndian.AppendUint32(nil, crc32.ChecksumIEEE(chunk)))
	return b.Bytes()
}

func TestDecodeGoodFormats(t *testing.T) {
	src := gradient(13, 9)
	pal := image.NewPaletted(src.Bounds(), color.Palette{color.Black, color.White})
	tests := []struct {
		name, format string
		data         []byte
		exact        bool // lossless: pixels must match src
	}{
		{"grey.png", FormatPNG, pngBytes(t, src), true},
		{"rgb.png", FormatPNG, pngBytes(t, toRGBA(src)), true},
		{"a.jpg", FormatJPEG, encode(t, func(b *bytes.Buffer) error { return jpeg.Encode(b, src, nil) }), false},
		{"a.gif", FormatGIF, encode(t, func(b *bytes.Buffer) error { return gif.Encode(b, pal, nil) }), false},
		{"a.bmp", FormatBMP, encode(t, func(b *bytes.Buffer) error { return bmp.Encode(b, src) }), true},
		{"a.tif", FormatTIFF, encode(t, func(b *bytes.Buffer) error { return tiff.Encode(b, src, nil) }), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			img, meta, err := Decode(tc.name, tc.data)
			if err != nil {
				t.Fatal(err)
			}
			if meta.Format != tc.format {
				t.Errorf("format %q, want %q", meta.Format, tc.format)
			}
			if img.Bounds().Dx() != 13 || img.Bounds().Dy() != 9 {
				t.Fatalf("size %v, want 13x9", img.Bounds())
			}
			if tc.exact {
				for y := 0; y < 9; y++ {
					for x := 0; x < 13; x++ {
						if g := color.GrayModel.Convert(img.At(x, y)).(color.Gray); g != src.GrayAt(x, y) {
							t.Fatalf("pixel (%d,%d) = %v, want %v", x, y, g, src.GrayAt(x, y))
						}
					}
				}
			}
		})
	}
}

func toRGBA(src image.Image) *image.RGBA {
	b := src.Bounds()
	dst := image.NewRGBA(b)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			dst.Set(x, y, src.At(x, y))
		}
	}
	return dst
}

func TestDecodeRejectsBadInput(t *testing.T) {
	good := pngBytes(t, gradient(64, 64))
	goodJPEG := encode(t, func(b *bytes.Buffer) error { return jpeg.Encode(b, gradient(64, 64), nil) })
	gray16 := image.NewGray16(image.Rect(0, 0, 4, 4))
	corrupt := append([]byte(nil), good...)
	for i := 60; i < 70; i++ { // inside the IDAT chunk: breaks its CRC
		corrupt[i] ^= 0xFF
	}
	tests := []struct {
		name    string
		data    []byte
		want    error
		message string // must appear in the error text
	}{
		{"empty.png", nil, ErrEmpty, "empty"},
		{"text.png", []byte("hello, this is not an image\n"), ErrNotImage, "text"},
		{"random.png", []byte{0x00, 0x01, 0x02, 0x03, 0xFE, 0xFD, 0x80, 0x81}, ErrUnknownFormat, "00 01 02"},
		{"deep.png", pngBytes(t, gray16), ErrUnsupported, "16-bit PNG"},
		{"wide.png", pngHeaderOnly(20000, 10, 8, 0), ErrTooLarge, "16384"},
		{"tall.png", pngHeaderOnly(10, 16385, 8, 0), ErrTooLarge, "16384"},
		{"megapixels.png", pngHeaderOnly(12000, 12000, 8, 0), ErrTooLarge, "megapixels"},
		{"zero.png", pngHeaderOnly(0, 5, 8, 0), ErrCorrupt, ""},
		{"headeronly.png", pngHeaderOnly(100, 100, 8, 0), ErrCorrupt, ""},
		{"truncated.png", good[:len(good)/2], ErrCorrupt, "truncated"},
		{"signature.png", good[:8], ErrCorrupt, "IHDR"},
		{"corrupt.png", corrupt, ErrCorrupt, ""},
		{"truncated.jpg", goodJPEG[:len(goodJPEG)/2], ErrCorrupt, ""},
		{"magic.jpg", goodJPEG[:3], ErrCorrupt, ""},
		{"garbage.gif", []byte("GIF89a\xff\xff\xff\xff"), ErrCorrupt, ""},
		{"garbage.webp", []byte("RIFF\x10\x00\x00\x00WEBPVP8 \x00\x00"), ErrCorrupt, ""},
		{"garbage.tif", []byte("II*\x00\x08\x00\x00\x00\xff\xff"), ErrCorrupt, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			img, _, err := Decode(tc.name, tc.data)
			if err == nil {
				t.Fatalf("decoded %v, want an error", img.Bounds())
			}
			if !errors.Is(err, tc.want) {
				t.Errorf("error %q is not %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.name) {
				t.Errorf("error %q does not name the file", err)
			}
			if !strings.Contains(err.Error(), tc.message) {
				t.Errorf("error %q does not say %q", err, tc.message)
			}
		})
	}
}

// TestHugeHeaderDoesNotAllocate checks that refusing a too-large image
// happens before the decoder allocates its pixels.
func TestHugeHeaderDoesNotAllocate(t *testing.T) {
	data := pngHeaderOnly(10001, 10000, 8, 6) // 400 MB of RGBA if allocated
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, _, err := Decode("huge.png", data)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("got %v, want ErrTooLarge", err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Errorf("refusing a huge header allocated %d bytes", grew)
	}
}

func TestLoadAndConfig(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.png")
	if err := os.WriteFile(good, pngBytes(t, gradient(31, 17)), 0o644); err != nil {
		t.Fatal(err)
	}
	img, err := Load(good)
	if err != nil || img.Bounds().Dx() != 31 {
		t.Fatalf("Load: %v %v", img, err)
	}
	cfg, meta, err := Config(good)
	if err != nil || cfg.Width != 31 || cfg.Height != 17 || meta.Format != FormatPNG {
		t.Fatalf("Config = %+v %+v %v, want 31x17 png", cfg, meta, err)
	}
	deep := filepath.Join(dir, "deep.png")
	if err := os.WriteFile(deep, pngBytes(t, image.NewGray16(image.Rect(0, 0, 3, 3))), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Config(deep); !errors.Is(err, ErrUnsupported) {
		t.Errorf("Config of a 16-bit PNG: %v, want ErrUnsupported", err)
	}
	for _, bad := range []string{filepath.Join(dir, "missing.png"), dir} {
		if _, err := Load(bad); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("Load(%s) = %v, want an error naming it", bad, err)
		}
	}
	empty := filepath.Join(dir, "empty.png")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Config(empty); !errors.Is(err, ErrEmpty) {
		t.Errorf("Config of an empty file: %v, want ErrEmpty", err)
	}
}

func FuzzDecode(f *testing.F) {
	g := gradient(8, 8)
	var b bytes.Buffer
	_ = png.Encode(&b, g)
	f.Add(b.Bytes())
	b.Reset()
	_ = jpeg.Encode(&b, g, nil)
	f.Add(b.Bytes())
	b.Reset()
	_ = bmp.Encode(&b, g)
	f.Add(b.Bytes())
	b.Reset()
	_ = tiff.Encode(&b, g, nil)
	f.Add(b.Bytes())
	f.Add(pngHeaderOnly(12000, 12000, 8, 0))
	f.Add([]byte("RIFF\x10\x00\x00\x00WEBPVP8L"))
	f.Add(solidWebP(3, 2, color.NRGBA{1, 2, 3, 255}))
	f.Add([]byte("GIF89a"))
	f.Add(dicomSeed())
	f.Fuzz(func(t *testing.T, data []byte) {
		img, meta, err := Decode("fuzz", data)
		if err != nil {
			if img != nil {
				t.Fatal("image returned with an error")
			}
			return
		}
		b := img.Bounds()
		if b.Dx() <= 0 || b.Dy() <= 0 || b.Dx() > MaxSide || b.Dy() > MaxSide || meta.Format == "" {
			t.Fatalf("accepted %v (format %q)", b, meta.Format)
		}
	})
}

// bitWriter packs values LSB-first, the bit order of WebP lossless.
type bitWriter struct {
	buf  []byte
	nbit uint
}

func (w *bitWriter) put(v uint32, n uint) {
	for i := uint(0); i < n; i++ {
		if w.nbit%8 == 0 {
			w.buf = append(w.buf, 0)
		}
		w.buf[len(w.buf)-1] |= byte(v>>i&1) << (w.nbit % 8)
		w.nbit++
	}
}

// solidWebP builds a lossless (VP8L) WebP of one colour by hand, since Go
// has no WebP encoder: every prefix code is a one-symbol "simple" code, so
// the pixels themselves take no bits.
func solidWebP(w, h int, c color.NRGBA) []byte {
	var bw bitWriter
	bw.put(uint32(w-1), 14)
	bw.put(uint32(h-1), 14)
	bw.put(0, 1) // alpha hint
	bw.put(0, 3) // version
	bw.put(0, 1) // no transform
	bw.put(0, 1) // no colour cache
	bw.put(0, 1) // no meta prefix codes
	for _, v := range []uint8{c.G, c.R, c.B, c.A} {
		bw.put(1, 1) // simple code
		bw.put(0, 1) // one symbol
		bw.put(1, 1) // 8-bit symbol
		bw.put(uint32(v), 8)
	}
	bw.put(1, 1) // distance code: simple, one 1-bit symbol 0
	bw.put(0, 1)
	bw.put(0, 1)
	bw.put(0, 1)
	payload := append([]byte{0x2f}, bw.buf...)
	if len(payload)%2 == 1 {
		payload = append(payload, 0)
	}
	var b bytes.Buffer
	b.WriteString("RIFF")
	b.Write(binary.LittleEndian.AppendUint32(nil, uint32(4+8+len(payload))))
	b.WriteString("WEBPVP8L")
	b.Write(binary.LittleEndian.AppendUint32(nil, uint32(len(payload))))
	b.Write(payload)
	return b.Bytes()
}

func TestDecodeWebP(t *testing.T) {
	want := color.NRGBA{10, 20, 30, 255}
	img, meta, err := Decode("solid.webp", solidWebP(5, 3, want))
	if err != nil {
		t.Fatal(err)
	}
	if meta.Format != FormatWebP || img.Bounds().Dx() != 5 || img.Bounds().Dy() != 3 {
		t.Fatalf("got %s %v", meta.Format, img.Bounds())
	}
	if got := color.NRGBAModel.Convert(img.At(4, 2)).(color.NRGBA); got != want {
		t.Errorf("pixel %v, want %v", got, want)
	}
	huge := solidWebP(16384, 16384, want) // 268 MP header, a few bytes of data
	if _, _, err := Decode("huge.webp", huge); !errors.Is(err, ErrTooLarge) {
		t.Errorf("huge WebP: %v, want ErrTooLarge", err)
	}
}

// TestGIFFirstFrameOnScreen: an animated GIF whose first frame covers part
// of the logical screen decodes to the screen's size, frame in place.
func TestGIFFirstFrameOnScreen(t *testing.T) {
	pal := color.Palette{color.Black, color.White}
	f1 := image.NewPaletted(image.Rect(2, 1, 4, 3), pal)
	for i := range f1.Pix {
		f1.Pix[i] = 1
	}
	f2 := image.NewPaletted(image.Rect(0, 0, 6, 5), pal)
	anim := &gif.GIF{Image: []*image.Paletted{f1, f2}, Delay: []int{0, 0},
		Config: image.Config{Width: 6, Height: 5, ColorModel: pal}}
	data := encode(t, func(b *bytes.Buffer) error { return gif.EncodeAll(b, anim) })
	img, _, err := Decode("anim.gif", data)
	if err != nil {
		t.Fatal(err)
	}
	if img.Bounds() != image.Rect(0, 0, 6, 5) {
		t.Fatalf("bounds %v, want the 6x5 screen", img.Bounds())
	}
	white := func(x, y int) bool { return color.GrayModel.Convert(img.At(x, y)).(color.Gray).Y == 255 }
	if !white(2, 1) || !white(3, 2) || white(0, 0) || white(4, 2) {
		t.Error("first frame not placed at its offset on the screen")
	}
}
