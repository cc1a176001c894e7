package encoder

import (
	"image"
	"image/color"
	"math"
	"testing"
)

// pixel un-normalizes channel ch of x at (px, py).
func pixel(x []float32, size, ch, px, py int) float64 {
	v := float64(x[ch*size*size+py*size+px])
	return v*float64(pixelStd[ch]) + float64(pixelMean[ch])
}

func TestResizedSize(t *testing.T) {
	for _, tc := range []struct{ w, h, size, rw, rh int }{
		{562, 471, 1024, 1024, 858}, // 471*1024/562 = 858.2
		{449, 598, 1024, 769, 1024}, // 449*1024/598 = 768.9
		{1024, 1024, 1024, 1024, 1024},
		{3000, 10, 256, 256, 1}, // never below one pixel
		{4, 2, 8, 8, 4},
	} {
		rw, rh := ResizedSize(tc.w, tc.h, tc.size)
		if rw != tc.rw || rh != tc.rh {
			t.Errorf("ResizedSize(%d,%d,%d) = %d,%d, want %d,%d", tc.w, tc.h, tc.size, rw, rh, tc.rw, tc.rh)
		}
	}
}

func TestPreprocessConstantImages(t *testing.T) {
	grey := image.NewGray(image.Rect(0, 0, 6, 3))
	for i := range grey.Pix {
		grey.Pix[i] = 77
	}
	rgb := image.NewRGBA(image.Rect(0, 0, 3, 5))
	for y := 0; y < 5; y++ {
		for x := 0; x < 3; x++ {
			rgb.Set(x, y, color.RGBA{10, 200, 30, 255})
		}
	}
	// Half-transparent colour is composited over black (premultiplied).
	translucent := image.NewNRGBA(image.Rect(0, 0, 4, 4))
	for i := 0; i < len(translucent.Pix); i += 4 {
		copy(translucent.Pix[i:], []uint8{200, 100, 50, 128})
	}
	for _, tc := range []struct {
		name string
		img  image.Image
		want [3]float64
		tol  float64
	}{
		{"grey replicated", grey, [3]float64{77, 77, 77}, 1e-3},
		{"rgb", rgb, [3]float64{10, 200, 30}, 1e-3},
		{"nrgba half alpha", translucent, [3]float64{100, 50, 25}, 1.001}, // 8-bit premultiplication rounds
	} {
		const size = 16
		x, g := Preprocess(tc.img, size)
		if len(x.Shape) != 3 || x.Shape[0] != 3 || x.Shape[1] != size || x.Shape[2] != size {
			t.Fatalf("%s: shape %v", tc.name, x.Shape)
		}
		b := tc.img.Bounds()
		wantW, wantH := ResizedSize(b.Dx(), b.Dy(), size)
		if g != (Geometry{OrigW: b.Dx(), OrigH: b.Dy(), ResizedW: wantW, ResizedH: wantH, Size: size}) {
			t.Fatalf("%s: geometry %+v", tc.name, g)
		}
		for ch := 0; ch < 3; ch++ {
			for py := 0; py < size; py++ {
				for px := 0; px < size; px++ {
					inside := px < g.ResizedW && py < g.ResizedH
					if !inside {
						// Padding is zero after normalization.
						if v := x.Data[ch*size*size+py*size+px]; v != 0 {
							t.Fatalf("%s: padding (%d,%d,%d) = %v", tc.name, ch, px, py, v)
						}
						continue
					}
					if v := pixel(x.Data, size, ch, px, py); math.Abs(v-tc.want[ch]) > tc.tol {
						t.Fatalf("%s: pixel (%d,%d) channel %d = %v, want %v", tc.name, px, py, ch, v, tc.want[ch])
					}
				}
			}
		}
	}
}

// TestPreprocessNoResizeIsExact: an image whose longest side already is
// the target size keeps its pixels, also when its bounds do not start at 0.
func TestPreprocessNoResizeIsExact(t *testing.T) {
	src := image.NewGray(image.Rect(0, 0, 20, 12))
	for i := range src.Pix {
		src.Pix[i] = uint8(i * 7)
	}
	sub := src.SubImage(image.Rect(4, 2, 20, 12)).(*image.Gray) // 16 x 10, origin (4,2)
	x, g := Preprocess(sub, 16)
	if g.ResizedW != 16 || g.ResizedH != 10 {
		t.Fatalf("geometry %+v", g)
	}
	for py := 0; py < 10; py++ {
		for px := 0; px < 16; px++ {
			want := float64(sub.GrayAt(4+px, 2+py).Y)
			for ch := 0; ch < 3; ch++ {
				if v := pixel(x.Data, 16, ch, px, py); math.Abs(v-want) > 1e-3 {
					t.Fatalf("(%d,%d) channel %d = %v, want %v", px, py, ch, v, want)
				}
			}
		}
	}
}

// TestPreprocessBilinear checks the resize on a ramp: endpoints kept,
// values in between increase, and the two middle samples of a 2 -> 4
// upscale are symmetric about mid-grey (linear interpolation).
func TestPreprocessBilinear(t *testing.T) {
	ramp := image.NewGray(image.Rect(0, 0, 2, 1))
	ramp.Pix[0], ramp.Pix[1] = 0, 255
	x, g := Preprocess(ramp, 4)
	if g.ResizedW != 4 || g.ResizedH != 2 {
		t.Fatalf("geometry %+v", g)
	}
	v := make([]float64, 4)
	for px := range v {
		v[px] = pixel(x.Data, 4, 0, px, 0)
	}
	if math.Abs(v[0]) > 1e-3 || math.Abs(v[3]-255) > 1e-3 {
		t.Fatalf("endpoints %v, want 0 and 255", v)
	}
	if !(v[0] < v[1] && v[1] < v[2] && v[2] < v[3]) {
		t.Fatalf("not increasing: %v", v)
	}
	if s := v[1] + v[2]; math.Abs(s-255) > 1.01 {
		t.Fatalf("middle samples %v, %v not symmetric about 127.5", v[1], v[2])
	}
}

func TestPreprocessEmptyAndNil(t *testing.T) {
	for _, img := range []image.Image{nil, image.NewGray(image.Rect(0, 0, 0, 5))} {
		x, g := Preprocess(img, 0) // 0 means DefaultSize
		if x.Shape[1] != DefaultSize || g != (Geometry{Size: DefaultSize}) {
			t.Fatalf("shape %v geometry %+v", x.Shape, g)
		}
		for _, v := range x.Data {
			if v != 0 {
				t.Fatal("non-zero input for an empty image")
			}
		}
	}
}

// TestPreprocessShrinkAntialiases: halving a one-pixel checkerboard must
// average neighbours to mid-grey, which point-sampling bilinear would not.
func TestPreprocessShrinkAntialiases(t *testing.T) {
	img := image.NewGray(image.Rect(0, 0, 32, 16))
	for y := 0; y < 16; y++ {
		for x := 0; x < 32; x++ {
			if (x+y)%2 == 1 {
				img.Pix[y*img.Stride+x] = 255
			}
		}
	}
	x, g := Preprocess(img, 16)
	if g.ResizedW != 16 || g.ResizedH != 8 {
		t.Fatalf("geometry %+v", g)
	}
	// Interior pixels (the border renormalizes its clipped kernel).
	for py := 1; py < 7; py++ {
		for px := 1; px < 15; px++ {
			if v := pixel(x.Data, 16, 0, px, py); math.Abs(v-127.5) > 1 {
				t.Fatalf("(%d,%d) = %v, want about 127.5", px, py, v)
			}
		}
	}
}

// TestPreprocessMatchesFilterDefinition checks an upscale and a
// downscale of a random image against the triangle filter computed
// directly in float64 (2-D weights, PIL's pixel-centre convention).
func TestPreprocessMatchesFilterDefinition(t *testing.T) {
	src := image.NewGray(image.Rect(0, 0, 13, 7))
	for i := range src.Pix {
		src.Pix[i] = uint8((i * 97) % 256)
	}
	for _, size := range []int{40, 5} {
		x, g := Preprocess(src, size)
		for py := 0; py < g.ResizedH; py++ {
			for px := 0; px < g.ResizedW; px++ {
				want := triangleSample(src, 13, 7, g.ResizedW, g.ResizedH, px, py)
				if v := pixel(x.Data, size, 1, px, py); math.Abs(v-math.Round(want)) > 1.001 {
					t.Fatalf("size %d (%d,%d) = %v, want %v", size, px, py, v, want)
				}
			}
		}
	}
}

func triangleSample(img *image.Gray, w, h, ow, oh, px, py int) float64 {
	axis := func(in, out, o int) map[int]float64 {
		scale := float64(in) / float64(out)
		sup := math.Max(1, scale)
		c := (float64(o) + 0.5) * scale
		ws, sum := map[int]float64{}, 0.0
		for i := 0; i < in; i++ {
			if wt := 1 - math.Abs((float64(i)+0.5-c)/sup); wt > 0 {
				ws[i] = wt
				sum += wt
			}
		}
		for i := range ws {
			ws[i] /= sum
		}
		return ws
	}
	v := 0.0
	for y, wy := range axis(h, oh, py) {
		for x, wx := range axis(w, ow, px) {
			v += wy * wx * float64(img.GrayAt(x, y).Y)
		}
	}
	return v
}
