// Package metrics scores lesion segmentation and normal/benign/malignant
// classification: Dice, IoU and HD95 on binary masks, confusion matrices,
// accuracy, balanced accuracy, per-class sensitivity and specificity,
// one-vs-rest ROC curves with exact tie-aware AUC, false-positive area on
// normal images, and a Summarize step that turns per-image records into the
// numbers a report shows.
//
// Masks are row-major []uint8 of width*height values; any non-zero value is
// foreground. Undefined quantities (a sensitivity with no positive samples,
// an AUC with one class missing, the mean of nothing) are NaN, never a
// made-up number; the doc comment of each function says when that happens.
package metrics

import (
	"fmt"
	"math"
	"sort"
)

// checkPair validates that two masks cover the same w×h image.
func checkPair(pred, truth []uint8, w, h int) error {
	if w <= 0 || h <= 0 {
		return fmt.Errorf("metrics: mask size %dx%d is not positive", w, h)
	}
	if len(pred) != w*h || len(truth) != w*h {
		return fmt.Errorf("metrics: masks hold %d (pred) and %d (truth) values, want %dx%d=%d",
			len(pred), len(truth), w, h, w*h)
	}
	return nil
}

// overlap counts |pred|, |truth| and |pred ∩ truth|.
func overlap(pred, truth []uint8) (np, nt, both int) {
	for i := range pred {
		p, t := pred[i] != 0, truth[i] != 0
		if p {
			np++
		}
		if t {
			nt++
		}
		if p && t {
			both++
		}
	}
	return
}

// Dice is 2|P∩T| / (|P|+|T|). Two empty masks agree perfectly: Dice = 1.
func Dice(pred, truth []uint8) (float64, error) {
	if len(pred) != len(truth) {
		return 0, fmt.Errorf("metrics: Dice of masks with %d and %d values", len(pred), len(truth))
	}
	np, nt, both := overlap(pred, truth)
	if np+nt == 0 {
		return 1, nil
	}
	return 2 * float64(both) / float64(np+nt), nil
}

// IoU is |P∩T| / |P∪T| (Jaccard). Two empty masks agree perfectly: IoU = 1.
func IoU(pred, truth []uint8) (float64, error) {
	if len(pred) != len(truth) {
		return 0, fmt.Errorf("metrics: IoU of masks with %d and %d values", len(pred), len(truth))
	}
	np, nt, both := overlap(pred, truth)
	union := np + nt - both
	if union == 0 {
		return 1, nil
	}
	return float64(both) / float64(union), nil
}

// Area is the fraction of the image that the mask covers (0 for an empty
// mask). On a normal image every predicted pixel is a false positive, so this
// is the false-positive area there.
func Area(mask []uint8) float64 {
	if len(mask) == 0 {
		return 0
	}
	n := 0
	for _, v := range mask {
		if v != 0 {
			n++
		}
	}
	return float64(n) / float64(len(mask))
}

// Spacing is the physical size of a pixel: Row is the distance between
// pixel centres vertically, Col horizontally (in mm, or 1,1 for pixels).
type Spacing struct{ Row, Col float64 }

// Pixels measures distances in pixels.
var Pixels = Spacing{1, 1}

// HD95 is the symmetric 95th-percentile Hausdorff distance between the
// boundaries of two masks, in the units of sp (use Pixels for pixels):
//
//	HD95 = max(P95{d(a, ∂T) : a ∈ ∂P}, P95{d(b, ∂P) : b ∈ ∂T})
//
// where ∂M is the set of foreground pixels with a 4-neighbour that is
// background or outside the image, d is the Euclidean distance between
// pixel centres and P95 is the 95th percentile with linear interpolation
// between order statistics (NumPy's default): rank 0.95·(n−1).
//
// Empty cases: both masks empty → 0 (perfect agreement); exactly one empty →
// the image diagonal sqrt(((h−1)·Row)² + ((w−1)·Col)²), the largest distance
// two pixels of the image can have, so a missed or hallucinated lesion scores
// as badly as any prediction can.
func HD95(pred, truth []uint8, w, h int, sp Spacing) (float64, error) {
	if err := checkPair(pred, truth, w, h); err != nil {
		return 0, err
	}
	if !(sp.Row > 0) || !(sp.Col > 0) || math.IsInf(sp.Row, 0) || math.IsInf(sp.Col, 0) {
		return 0, fmt.Errorf("metrics: HD95 pixel spacing %v must be positive and finite", sp)
	}
	bp, bt := Boundary(pred, w, h), Boundary(truth, w, h)
	switch {
	case len(bp) == 0 && len(bt) == 0:
		return 0, nil
	case len(bp) == 0 || len(bt) == 0:
		return math.Hypot(float64(h-1)*sp.Row, float64(w-1)*sp.Col), nil
	}
	toTruth := directedDistances(bp, bt, w, h, sp)
	toPred := directedDistances(bt, bp, w, h, sp)
	return math.Max(Percentile(toTruth, 95), Percentile(toPred, 95)), nil
}

// Boundary returns the indices (y*w+x) of the foreground pixels that have a
// 4-neighbour in the background or outside the image, in raster order.
func Boundary(mask []uint8, w, h int) []int {
	var out []int
	fg := func(x, y int) bool { return x >= 0 && y >= 0 && x < w && y < h && mask[y*w+x] != 0 }
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			if !fg(x, y) {
				continue
			}
			if !fg(x-1, y) || !fg(x+1, y) || !fg(x, y-1) || !fg(x, y+1) {
				out = append(out, y*w+x)
			}
		}
	}
	return out
}

// directedDistances returns, for every pixel in from, the distance to the
// nearest pixel in to, using an exact Euclidean distance transform of to.
func directedDistances(from, to []int, w, h int, sp Spacing) []float64 {
	sq := squaredDistanceTransform(to, w, h, sp)
	out := make([]float64, len(from))
	for i, p := range from {
		out[i] = math.Sqrt(sq[p])
	}
	return out
}

// squaredDistanceTransform returns, for every pixel, the squared distance to
// the nearest site, with the separable lower-envelope-of-parabolas algorithm
// of Felzenszwalb & Huttenlocher (2012): exact, O(w·h). Sites must be
// non-empty.
func squaredDistanceTransform(sites []int, w, h int, sp Spacing) []float64 {
	inf := math.Inf(1)
	grid := make([]float64, w*h)
	for i := range grid {
		grid[i] = inf
	}
	for _, p := range sites {
		grid[p] = 0
	}
	n := max(w, h)
	f := make([]float64, n)
	d := make([]float64, n)
	env := newEnvelope(n)
	// Columns first (distance along rows of pixels, spacing Row) ...
	for x := 0; x < w; x++ {
		for y := 0; y < h; y++ {
			f[y] = grid[y*w+x]
		}
		env.transform(f[:h], d[:h], sp.Row)
		for y := 0; y < h; y++ {
			grid[y*w+x] = d[y]
		}
	}
	// ... then rows, adding the horizontal part.
	for y := 0; y < h; y++ {
		env.transform(grid[y*w:(y+1)*w], d[:w], sp.Col)
		copy(grid[y*w:(y+1)*w], d[:w])
	}
	return grid
}

// envelope is the scratch space of the 1-D transform, reused across lines.
type envelope struct {
	v []int     // positions of the parabolas in the lower envelope
	z []float64 // boundaries between them (physical units)
}

func newEnvelope(n int) *envelope {
	return &envelope{v: make([]int, n), z: make([]float64, n+1)}
}

// transform computes d[p] = min_q f[q] + (s·(p−q))². Entries of f that are
// +Inf are not sites and are skipped; if all are, d is all +Inf.
func (e *envelope) transform(f, d []float64, s float64) {
	k := -1
	for q := range f {
		if math.IsInf(f[q], 1) {
			continue
		}
		xq := s * float64(q)
		for k >= 0 {
			xv := s * float64(e.v[k])
			// Where the parabola at q starts to be lower than the one at v[k].
			cross := ((f[q] + xq*xq) - (f[e.v[k]] + xv*xv)) / (2 * (xq - xv))
			if cross <= e.z[k] {
				k--
				continue
			}
			k++
			e.v[k], e.z[k] = q, cross
			break
		}
		if k < 0 {
			k = 0
			e.v[0], e.z[0] = q, math.Inf(-1)
		}
	}
	if k < 0 {
		for p := range d {
			d[p] = math.Inf(1)
		}
		return
	}
	e.z[k+1] = math.Inf(1)
	j := 0
	for p := range d {
		xp := s * float64(p)
		for e.z[j+1] < xp {
			j++
		}
		dx := xp - s*float64(e.v[j])
		d[p] = f[e.v[j]] + dx*dx
	}
}

// Percentile returns the p-th percentile (0..100) of xs with linear
// interpolation between the order statistics at rank p/100·(n−1) (NumPy's
// default). It is NaN for an empty slice; xs is not modified.
func Percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	rank := p / 100 * float64(len(s)-1)
	lo := int(math.Floor(rank))
	if lo >= len(s)-1 {
		return s[len(s)-1]
	}
	if lo < 0 {
		return s[0]
	}
	frac := rank - float64(lo)
	return s[lo] + frac*(s[lo+1]-s[lo])
}
