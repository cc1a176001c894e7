package view

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// Point is a position in image pixels: (0, 0) is the centre of the
// top-left pixel, x to the right, y down.
type Point struct{ X, Y float64 }

// Segment is a line between two image points.
type Segment struct{ A, B Point }

// Spacing is the size of a pixel in mm, as DICOM's Pixel Spacing gives it:
// Row is the distance between rows (the vertical size), Col between
// columns (the horizontal size). The zero value means unknown.
type Spacing struct{ Row, Col float64 }

// Known reports whether both sizes are positive numbers.
func (s Spacing) Known() bool {
	return s.Row > 0 && s.Col > 0 && !math.IsInf(s.Row, 0) && !math.IsInf(s.Col, 0)
}

// SpacingOf reads a [row, column] pixel spacing (ImageMeta's form).
func SpacingOf(rc [2]float64) Spacing { return Spacing{Row: rc[0], Col: rc[1]} }

// LengthPx is a segment's length in pixels.
func (s Segment) LengthPx() float64 { return math.Hypot(s.B.X-s.A.X, s.B.Y-s.A.Y) }

// LengthMM is a segment's length in mm; ok is false when the spacing is
// unknown.
func (s Segment) LengthMM(sp Spacing) (mm float64, ok bool) {
	if !sp.Known() {
		return 0, false
	}
	return math.Hypot((s.B.X-s.A.X)*sp.Col, (s.B.Y-s.A.Y)*sp.Row), true
}

// MinCalibrationPx is the shortest line a calibration may be drawn on: a
// click's error of a pixel or two must not matter.
const MinCalibrationPx = 10

// Calibrate returns the (square) pixel spacing that makes line measure mm:
// the user drew it over a ruler or a scale bar of known length.
func Calibrate(line Segment, mm float64) (Spacing, error) {
	switch {
	case math.IsNaN(mm) || math.IsInf(mm, 0) || mm <= 0:
		return Spacing{}, fmt.Errorf("the known length must be a positive number of millimetres, not %v", mm)
	case line.LengthPx() < MinCalibrationPx:
		return Spacing{}, fmt.Errorf("the calibration line is %.1f px long; draw it along at least %d px (a longer line is more precise)", line.LengthPx(), MinCalibrationPx)
	}
	s := mm / line.LengthPx()
	return Spacing{Row: s, Col: s}, nil
}

// Axes are a lesion's long axis (its longest diameter, between the centres
// of two mask pixels) and its short axis (the longest chord perpendicular
// to the long axis), measured in physical space when the spacing is known
// (so on non-square pixels the long axis is the longest in mm).
type Axes struct {
	Long, Short Segment
}

// ErrEmptyMask is returned by LesionAxes for a mask with no lesion.
var ErrEmptyMask = errors.New("view: the mask has no lesion pixels")

// LesionAxes measures the lesion of a w×h 0|1 mask. With an unknown
// spacing, pixels are taken as square.
func LesionAxes(mask []uint8, w, h int, sp Spacing) (Axes, error) {
	if w <= 0 || h <= 0 || len(mask) != w*h {
		return Axes{}, fmt.Errorf("view: mask has %d pixels, want %dx%d", len(mask), w, h)
	}
	if !sp.Known() {
		sp = Spacing{Row: 1, Col: 1}
	}
	// Physical coordinates (x scaled by the column spacing, y by the row's).
	edge := Boundary(mask, w, h)
	if len(edge) == 0 {
		return Axes{}, ErrEmptyMask
	}
	pts := make([]Point, len(edge))
	for i, p := range edge {
		pts[i] = Point{float64(p%w) * sp.Col, float64(p/w) * sp.Row}
	}
	hull := convexHull(pts)
	a, b := hull[0], hull[0]
	best := -1.0
	for i := range hull {
		for j := i + 1; j < len(hull); j++ {
			if d := dist2(hull[i], hull[j]); d > best {
				best, a, b = d, hull[i], hull[j]
			}
		}
	}
	long := math.Sqrt(max(best, 0))
	toPx := func(p Point) Point { return Point{p.X / sp.Col, p.Y / sp.Row} }
	axes := Axes{Long: Segment{toPx(a), toPx(b)}}
	if long == 0 { // one pixel: both axes are that point
		axes.Short = axes.Long
		return axes, nil
	}
	// Unit vectors along (u) and across (v) the long axis. Pixels are
	// grouped in slices across the axis, one pixel (the finer spacing)
	// thick; the short axis is the widest slice.
	u := Point{(b.X - a.X) / long, (b.Y - a.Y) / long}
	v := Point{-u.Y, u.X}
	step := math.Min(sp.Row, sp.Col)
	type span struct{ lo, hi float64 }
	slicesAt := map[int]*span{}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			if mask[y*w+x] == 0 {
				continue
			}
			p := Point{float64(x)*sp.Col - a.X, float64(y)*sp.Row - a.Y}
			t := p.X*u.X + p.Y*u.Y
			s := p.X*v.X + p.Y*v.Y
			k := int(math.Round(t / step))
			if sl, ok := slicesAt[k]; ok {
				sl.lo, sl.hi = math.Min(sl.lo, s), math.Max(sl.hi, s)
			} else {
				slicesAt[k] = &span{s, s}
			}
		}
	}
	keys := make([]int, 0, len(slicesAt))
	for k := range slicesAt {
		keys = append(keys, k)
	}
	slices.Sort(keys) // ties go to the slice nearest the long axis's start, deterministically
	bestK, bestW := keys[0], -1.0
	for _, k := range keys {
		if wd := slicesAt[k].hi - slicesAt[k].lo; wd > bestW+1e-9 {
			bestK, bestW = k, wd
		}
	}
	t := float64(bestK) * step
	sl := slicesAt[bestK]
	at := func(s float64) Point { return toPx(Point{a.X + t*u.X + s*v.X, a.Y + t*u.Y + s*v.Y}) }
	axes.Short = Segment{at(sl.lo), at(sl.hi)}
	return axes, nil
}

func dist2(p, q Point) float64 { return (p.X-q.X)*(p.X-q.X) + (p.Y-q.Y)*(p.Y-q.Y) }

// convexHull is Andrew's monotone chain; it returns at least one point.
func convexHull(pts []Point) []Point {
	p := slices.Clone(pts)
	slices.SortFunc(p, func(a, b Point) int {
		if a.X != b.X {
			return cmpF(a.X, b.X)
		}
		return cmpF(a.Y, b.Y)
	})
	p = slices.Compact(p)
	if len(p) < 3 {
		return p
	}
	cross := func(o, a, b Point) float64 { return (a.X-o.X)*(b.Y-o.Y) - (a.Y-o.Y)*(b.X-o.X) }
	hull := make([]Point, 0, 2*len(p))
	for _, q := range p {
		for len(hull) >= 2 && cross(hull[len(hull)-2], hull[len(hull)-1], q) <= 0 {
			hull = hull[:len(hull)-1]
		}
		hull = append(hull, q)
	}
	lower := len(hull) + 1
	for i := len(p) - 2; i >= 0; i-- {
		for len(hull) >= lower && cross(hull[len(hull)-2], hull[len(hull)-1], p[i]) <= 0 {
			hull = hull[:len(hull)-1]
		}
		hull = append(hull, p[i])
	}
	return hull[:len(hull)-1]
}

func cmpF(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// FormatLength is a length for people: mm with one decimal when the
// spacing is known, else pixels.
func FormatLength(s Segment, sp Spacing) string {
	if mm, ok := s.LengthMM(sp); ok {
		return fmt.Sprintf("%.1f mm", mm)
	}
	return fmt.Sprintf("%.0f px", s.LengthPx())
}

// Viewport is how the image sits in its frame: scaled by Zoom (1 shows it
// whole) about the frame's top-left corner, then moved by (X, Y), in the
// frame's CSS pixels. The page applies it as a CSS transform
// translate(X, Y) scale(Zoom) with origin 0 0.
type Viewport struct{ Zoom, X, Y float64 }

// Zoom limits.
const (
	MinZoom = 1
	MaxZoom = 8
)

// Identity is the whole image, unmoved.
var Identity = Viewport{Zoom: 1}

// Clamp keeps the zoom within limits and the image covering the frame
// (w×h, the image's size at zoom 1): it cannot be panned out of sight.
func (v Viewport) Clamp(w, h float64) Viewport {
	if math.IsNaN(v.Zoom) || v.Zoom < MinZoom {
		v.Zoom = MinZoom
	}
	v.Zoom = math.Min(v.Zoom, MaxZoom)
	clampAxis := func(off, size float64) float64 {
		if math.IsNaN(off) {
			return 0
		}
		return math.Max(size-size*v.Zoom, math.Min(0, off))
	}
	v.X, v.Y = clampAxis(v.X, w), clampAxis(v.Y, h)
	return v
}

// ZoomAt scales by factor about the frame point (cx, cy), which stays
// where it is on screen (under the mouse, or the frame's centre for the
// buttons), then clamps.
func (v Viewport) ZoomAt(cx, cy, factor, w, h float64) Viewport {
	z := math.Min(MaxZoom, math.Max(MinZoom, v.Zoom*factor))
	// The image point under (cx, cy) before: ((cx-X)/Zoom); after, it must
	// map to (cx, cy) again.
	px, py := (cx-v.X)/v.Zoom, (cy-v.Y)/v.Zoom
	return Viewport{Zoom: z, X: cx - px*z, Y: cy - py*z}.Clamp(w, h)
}

// Pan moves the image by (dx, dy) frame pixels, then clamps.
func (v Viewport) Pan(dx, dy, w, h float64) Viewport {
	return Viewport{Zoom: v.Zoom, X: v.X + dx, Y: v.Y + dy}.Clamp(w, h)
}

// ToImage maps a point on screen to image pixel coordinates, given where
// the (transformed) image is drawn on screen: its rectangle's left, top,
// width and height, for an image of iw×ih pixels. ok is false outside the
// image.
func ToImage(sx, sy, left, top, width, height float64, iw, ih int) (Point, bool) {
	if !(width > 0 && height > 0) || iw <= 0 || ih <= 0 {
		return Point{}, false
	}
	// Pixel i covers [i, i+1) in screen units scaled; its centre is i.
	x := (sx-left)/width*float64(iw) - 0.5
	y := (sy-top)/height*float64(ih) - 0.5
	in := x >= -0.5 && y >= -0.5 && x < float64(iw)-0.5 && y < float64(ih)-0.5
	return Point{x, y}, in
}

// WindowLevel is the display's brightness and contrast: grey value v is
// shown as (v - (Level - Width/2)) / Width, clipped to black and white.
// It changes what is shown, never what is analysed.
type WindowLevel struct{ Width, Level float64 }

// FullRange shows the 8-bit values as they are.
var FullRange = WindowLevel{Width: 256, Level: 128}

// WindowFromSliders maps brightness and contrast sliders (each -100..100,
// 0 the image as it is) to a window: contrast narrows or widens the window
// (by up to 4×), brightness moves its centre (by up to half the range;
// brighter moves it down).
func WindowFromSliders(brightness, contrast int) WindowLevel {
	b := math.Max(-100, math.Min(100, float64(brightness))) / 100
	c := math.Max(-100, math.Min(100, float64(contrast))) / 100
	return WindowLevel{Width: 256 / math.Pow(4, c), Level: 128 - 128*b}
}

// LUT is the window's lookup table for 8-bit values; nil for FullRange,
// which changes nothing.
func (wl WindowLevel) LUT() *[256]uint8 {
	if wl == FullRange || !(wl.Width > 0) {
		return nil
	}
	var lut [256]uint8
	lo := wl.Level - wl.Width/2
	for i := range lut {
		// i+0.5: the centre of the value's bin, so FullRange maps i to i.
		v := (float64(i) + 0.5 - lo) / wl.Width * 256
		lut[i] = uint8(math.Max(0, math.Min(255, math.Floor(v))))
	}
	return &lut
}
