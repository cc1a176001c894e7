package view

import (
	"errors"
	"math"
	"strings"
	"testing"
)

// ellipse returns a w×h mask with (x-cx)²/a² + (y-cy)²/b² ≤ 1 set.
func ellipse(w, h int, cx, cy, a, b float64) []uint8 {
	m := make([]uint8, w*h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			dx, dy := (float64(x)-cx)/a, (float64(y)-cy)/b
			if dx*dx+dy*dy <= 1 {
				m[y*w+x] = 1
			}
		}
	}
	return m
}

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

func TestLesionAxes(t *testing.T) {
	for _, tc := range []struct {
		name                string
		mask                []uint8
		w, h                int
		sp                  Spacing
		longPx, shortPx     float64 // lengths in pixels
		longMM, shortMM     float64 // lengths in mm (0: spacing unknown)
		longVertical, check bool    // check: the long axis's direction
	}{
		// Centres of the extreme pixels: (5,5)-(35,5) is 30 px; across at
		// x=20, y runs 0..10: 10 px.
		{name: "ellipse 15x5", mask: ellipse(41, 11, 20, 5, 15, 5), w: 41, h: 11, longPx: 30, shortPx: 10, check: true},
		// A disc of radius 10: every diameter through the centre is 20.
		{name: "disc r=10", mask: ellipse(21, 21, 10, 10, 10, 10), w: 21, h: 21, longPx: 20, shortPx: 20},
		// One row of 11 pixels: long 10, nothing across.
		{name: "line", mask: square(13, 3, 1, 1, 12, 2), w: 13, h: 3, longPx: 10, shortPx: 0, check: true},
		// 5 columns x 3 rows: the diagonal between corner centres (4, 2)
		// is √20; across it, the widest chord passes the middle pixel.
		{name: "rectangle 5x3", mask: square(5, 3, 0, 0, 5, 3), w: 5, h: 3, longPx: math.Sqrt(20), shortPx: -1},
		// Square pixels of 0.1 mm: 30 px = 3 mm, 10 px = 1 mm.
		{name: "ellipse at 0.1 mm", mask: ellipse(41, 11, 20, 5, 15, 5), w: 41, h: 11, sp: Spacing{Row: 0.1, Col: 0.1},
			longPx: 30, shortPx: 10, longMM: 3, shortMM: 1, check: true},
		// Rows 0.5 mm apart, columns 0.1 mm: the 10 px vertical axis is
		// 5 mm, longer than the 30 px (3 mm) horizontal one, so it is the
		// long axis.
		{name: "non-square pixels", mask: ellipse(41, 11, 20, 5, 15, 5), w: 41, h: 11, sp: Spacing{Row: 0.5, Col: 0.1},
			longPx: 10, shortPx: 30, longMM: 5, shortMM: 3, longVertical: true, check: true},
		{name: "one pixel", mask: square(3, 3, 1, 1, 2, 2), w: 3, h: 3, longPx: 0, shortPx: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ax, err := LesionAxes(tc.mask, tc.w, tc.h, tc.sp)
			if err != nil {
				t.Fatal(err)
			}
			if got := ax.Long.LengthPx(); !near(got, tc.longPx, 1e-9) {
				t.Errorf("long axis %v px (%v), want %v", got, ax.Long, tc.longPx)
			}
			if tc.shortPx >= 0 {
				if got := ax.Short.LengthPx(); !near(got, tc.shortPx, 1e-9) {
					t.Errorf("short axis %v px (%v), want %v", got, ax.Short, tc.shortPx)
				}
			} else if got := ax.Short.LengthPx(); got <= 0 || got > ax.Long.LengthPx() {
				t.Errorf("short axis %v px, want in (0, long]", got)
			}
			if tc.longMM > 0 {
				l, ok1 := ax.Long.LengthMM(tc.sp)
				s, ok2 := ax.Short.LengthMM(tc.sp)
				if !ok1 || !ok2 || !near(l, tc.longMM, 1e-9) || !near(s, tc.shortMM, 1e-9) {
					t.Errorf("axes %v mm, %v mm; want %v, %v", l, s, tc.longMM, tc.shortMM)
				}
			}
			if tc.check {
				dx, dy := math.Abs(ax.Long.B.X-ax.Long.A.X), math.Abs(ax.Long.B.Y-ax.Long.A.Y)
				if vertical := dy > dx; vertical != tc.longVertical {
					t.Errorf("long axis %v: vertical %v, want %v", ax.Long, vertical, tc.longVertical)
				}
				// The short axis is perpendicular to the long one.
				if l, s := ax.Long, ax.Short; s.LengthPx() > 0 {
					dot := (l.B.X-l.A.X)*(s.B.X-s.A.X) + (l.B.Y-l.A.Y)*(s.B.Y-s.A.Y)
					if !near(dot, 0, 1e-6) {
						t.Errorf("axes %v and %v are not perpendicular (dot %v)", l, s, dot)
					}
				}
			}
		})
	}
	if _, err := LesionAxes(make([]uint8, 6), 3, 2, Spacing{}); !errors.Is(err, ErrEmptyMask) {
		t.Errorf("empty mask: %v, want ErrEmptyMask", err)
	}
	if _, err := LesionAxes(make([]uint8, 5), 3, 2, Spacing{}); err == nil {
		t.Error("a mask of the wrong size measured without error")
	}
}

func TestSegmentLengths(t *testing.T) {
	s := Segment{Point{1, 2}, Point{4, 6}} // 3 across, 4 down
	if got := s.LengthPx(); got != 5 {
		t.Errorf("LengthPx = %v, want 5", got)
	}
	for _, tc := range []struct {
		sp   Spacing
		want float64
		ok   bool
	}{
		{Spacing{Row: 0.1, Col: 0.1}, 0.5, true},
		{Spacing{Row: 0.2, Col: 0.1}, math.Hypot(0.3, 0.8), true}, // rows are 0.2 mm apart: 4 rows = 0.8 mm
		{Spacing{}, 0, false},
		{Spacing{Row: 0.1, Col: 0}, 0, false},
		{Spacing{Row: math.Inf(1), Col: 0.1}, 0, false},
	} {
		got, ok := s.LengthMM(tc.sp)
		if ok != tc.ok || !near(got, tc.want, 1e-12) {
			t.Errorf("LengthMM(%v) = %v, %v; want %v, %v", tc.sp, got, ok, tc.want, tc.ok)
		}
	}
	if got := FormatLength(s, Spacing{Row: 0.1, Col: 0.1}); got != "0.5 mm" {
		t.Errorf("FormatLength with spacing = %q", got)
	}
	if got := FormatLength(s, Spacing{}); got != "5 px" {
		t.Errorf("FormatLength without spacing = %q", got)
	}
}

func TestCalibrate(t *testing.T) {
	// A 200 px line over a 10 mm scale bar: 0.05 mm a pixel.
	sp, err := Calibrate(Segment{Point{10, 10}, Point{130, 170}}, 10)
	if err != nil || !near(sp.Row, 0.05, 1e-12) || sp.Row != sp.Col {
		t.Errorf("Calibrate = %v, %v; want 0.05 mm square pixels", sp, err)
	}
	// What was drawn now measures what the user said.
	if mm, _ := (Segment{Point{10, 10}, Point{130, 170}}).LengthMM(sp); !near(mm, 10, 1e-9) {
		t.Errorf("the calibration line measures %v mm, want 10", mm)
	}
	for _, tc := range []struct {
		line Segment
		mm   float64
		want string
	}{
		{Segment{Point{0, 0}, Point{100, 0}}, 0, "positive"},
		{Segment{Point{0, 0}, Point{100, 0}}, -3, "positive"},
		{Segment{Point{0, 0}, Point{100, 0}}, math.NaN(), "positive"},
		{Segment{Point{0, 0}, Point{100, 0}}, math.Inf(1), "positive"},
		{Segment{Point{0, 0}, Point{3, 4}}, 10, "5.0 px long"},
	} {
		if _, err := Calibrate(tc.line, tc.mm); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Calibrate(%v, %v) = %v; want an error saying %q", tc.line, tc.mm, err, tc.want)
		}
	}
}

func TestViewport(t *testing.T) {
	const w, h = 400, 300
	// Zooming 2× about the frame's centre (200, 150): the image point there
	// (200, 150) stays; the top-left moves to 200 - 2*200 = -200.
	v := Identity.ZoomAt(200, 150, 2, w, h)
	if v != (Viewport{Zoom: 2, X: -200, Y: -150}) {
		t.Errorf("zoom 2 about the centre: %+v", v)
	}
	// About the top-left corner nothing moves.
	if v := Identity.ZoomAt(0, 0, 3, w, h); v != (Viewport{Zoom: 3}) {
		t.Errorf("zoom 3 about the corner: %+v", v)
	}
	// About (100, 0) at zoom 2: the image point 100 stays at 100, so X = 100 - 200.
	if v := Identity.ZoomAt(100, 0, 2, w, h); v != (Viewport{Zoom: 2, X: -100}) {
		t.Errorf("zoom 2 about (100, 0): %+v", v)
	}
	// Limits: never below 1 (the whole image), never above MaxZoom.
	if v := Identity.ZoomAt(200, 150, 0.25, w, h); v != Identity {
		t.Errorf("zooming out past the whole image: %+v", v)
	}
	if v := (Viewport{Zoom: 6}).ZoomAt(0, 0, 4, w, h); v.Zoom != MaxZoom {
		t.Errorf("zoom 6 × 4 = %v, want the limit %v", v.Zoom, MaxZoom)
	}
	// Panning stops where the image's edge meets the frame's: at zoom 2
	// X lies in [400 - 800, 0].
	for _, tc := range []struct {
		dx, dy float64
		want   Viewport
	}{
		{50, 20, Viewport{Zoom: 2, X: -150, Y: -130}},
		{500, 500, Viewport{Zoom: 2, X: 0, Y: 0}},
		{-900, -900, Viewport{Zoom: 2, X: -400, Y: -300}},
	} {
		if got := v.Pan(tc.dx, tc.dy, w, h); got != tc.want {
			t.Errorf("pan (%v, %v) from %+v: %+v, want %+v", tc.dx, tc.dy, v, got, tc.want)
		}
	}
	// At zoom 1 there is nowhere to pan to.
	if got := Identity.Pan(30, -30, w, h); got != Identity {
		t.Errorf("pan at zoom 1: %+v", got)
	}
	if got := (Viewport{Zoom: math.NaN(), X: math.NaN()}).Clamp(w, h); got != Identity {
		t.Errorf("NaN viewport clamps to %+v", got)
	}
}

func TestToImage(t *testing.T) {
	// A 100×50 image drawn at 200×100 screen pixels from (10, 20): each
	// pixel is 2 screen pixels; pixel 0's centre is at screen 11.
	for _, tc := range []struct {
		sx, sy float64
		want   Point
		in     bool
	}{
		{11, 21, Point{0, 0}, true},
		{10, 20, Point{-0.5, -0.5}, true},
		{209, 119, Point{99, 49}, true},
		{110, 70, Point{49.5, 24.5}, true},
		{210, 70, Point{99.5, 24.5}, false},
		{5, 70, Point{-3, 24.5}, false},
	} {
		got, in := ToImage(tc.sx, tc.sy, 10, 20, 200, 100, 100, 50)
		if in != tc.in || !near(got.X, tc.want.X, 1e-12) || !near(got.Y, tc.want.Y, 1e-12) {
			t.Errorf("ToImage(%v, %v) = %v, %v; want %v, %v", tc.sx, tc.sy, got, in, tc.want, tc.in)
		}
	}
	if _, in := ToImage(0, 0, 0, 0, 0, 0, 10, 10); in {
		t.Error("an image with no size on screen contains a point")
	}
}

func TestWindowLevel(t *testing.T) {
	if WindowFromSliders(0, 0) != FullRange || FullRange.LUT() != nil {
		t.Error("sliders at 0 must show the image as it is (no lookup table)")
	}
	// Contrast +50: the window is 256/2 = 128 wide around 128, so 64..192
	// spread over 0..255: 64 -> 0 (clipped below), 128 -> 128, 191 -> 254.
	lut := WindowFromSliders(0, 50).LUT()
	for in, want := range map[int]uint8{0: 0, 63: 0, 64: 1, 128: 129, 191: 255, 255: 255} {
		if lut[in] != want {
			t.Errorf("contrast +50: %d -> %d, want %d", in, lut[in], want)
		}
	}
	// Brightness +50: the window's centre moves down to 64; 0 shows as 64.
	lut = WindowFromSliders(50, 0).LUT()
	for in, want := range map[int]uint8{0: 64, 100: 164, 191: 255, 255: 255} {
		if lut[in] != want {
			t.Errorf("brightness +50: %d -> %d, want %d", in, lut[in], want)
		}
	}
	// Out-of-range sliders are clamped, and the table is monotonic.
	if WindowFromSliders(300, -300) != WindowFromSliders(100, -100) {
		t.Error("sliders beyond ±100 are not clamped")
	}
	lut = WindowFromSliders(-30, 80).LUT()
	for i := 1; i < 256; i++ {
		if lut[i] < lut[i-1] {
			t.Fatalf("lookup table falls at %d: %d < %d", i, lut[i], lut[i-1])
		}
	}
}

func TestComposeWindowAndLines(t *testing.T) {
	const w, h = 20, 10
	base := grey(w, h, 100)
	dst := make([]byte, len(base.Pix))
	lut := WindowFromSliders(50, 0).LUT() // 100 -> 164
	l := Layers{Window: lut, Lines: []Line{{Segment{Point{2, 5}, Point{17, 5}}, CaliperColor}}}
	if err := Compose(dst, base, l); err != nil {
		t.Fatal(err)
	}
	if got := px(dst, w, 10, 0); got != (RGB{164, 164, 164}) {
		t.Errorf("windowed pixel %v, want 164 grey", got)
	}
	if got := px(base.Pix, w, 10, 0); got != (RGB{100, 100, 100}) {
		t.Errorf("the window changed the base image: %v", got)
	}
	for _, x := range []int{2, 10, 17} {
		if got := px(dst, w, x, 5); got != CaliperColor {
			t.Errorf("line pixel (%d, 5) = %v, want %v", x, got, CaliperColor)
		}
	}
	if got := px(dst, w, 10, 8); got == CaliperColor {
		t.Error("the line is drawn far from where it runs")
	}
	// A line running off the image is clipped, not a panic.
	l.Lines = []Line{{Segment{Point{-5, -5}, Point{30, 30}}, LongAxisColor}}
	if err := Compose(dst, base, l); err != nil {
		t.Fatal(err)
	}
	if got := px(dst, w, 3, 3); got != LongAxisColor {
		t.Errorf("diagonal line pixel (3, 3) = %v", got)
	}
}
