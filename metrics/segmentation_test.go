package metrics

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"
)

func near(a, b float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b))
}

// mask builds a w×h mask with the given (x, y) pixels set.
func mask(w, h int, pts ...[2]int) []uint8 {
	m := make([]uint8, w*h)
	for _, p := range pts {
		m[p[1]*w+p[0]] = 1
	}
	return m
}

// rect builds a w×h mask with the rectangle [x0,x1]×[y0,y1] (inclusive) set.
func rect(w, h, x0, y0, x1, y1 int) []uint8 {
	m := make([]uint8, w*h)
	for y := y0; y <= y1; y++ {
		for x := x0; x <= x1; x++ {
			m[y*w+x] = 1
		}
	}
	return m
}

func TestDiceIoU(t *testing.T) {
	tests := []struct {
		name        string
		pred, truth []uint8
		dice, iou   float64
	}{
		// Both empty: defined as perfect agreement.
		{"both empty", []uint8{0, 0, 0}, []uint8{0, 0, 0}, 1, 1},
		// |P|=0, |T|=2, |P∩T|=0: Dice 0/2 = 0, IoU 0/2 = 0.
		{"pred empty", []uint8{0, 0, 0}, []uint8{0, 1, 1}, 0, 0},
		// |P|=2, |T|=0: Dice 0, IoU 0 (a lesion where there is none).
		{"truth empty", []uint8{1, 1, 0}, []uint8{0, 0, 0}, 0, 0},
		{"identical", []uint8{1, 0, 1}, []uint8{1, 0, 1}, 1, 1},
		// P={0,1,2}, T={1,2,3}: ∩={1,2}, ∪={0,1,2,3}. Dice 2·2/(3+3) = 2/3, IoU 2/4.
		{"partial", []uint8{1, 1, 1, 0, 0}, []uint8{0, 1, 1, 1, 0}, 2.0 / 3, 0.5},
		// Any non-zero value is foreground: 255 and 1 agree.
		{"non-binary values", []uint8{255, 0}, []uint8{1, 0}, 1, 1},
		// Disjoint: P={0}, T={1}: Dice 0, IoU 0.
		{"disjoint", []uint8{1, 0}, []uint8{0, 1}, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Dice(tc.pred, tc.truth)
			if err != nil || !near(d, tc.dice) {
				t.Errorf("Dice = %v, %v; want %v", d, err, tc.dice)
			}
			j, err := IoU(tc.pred, tc.truth)
			if err != nil || !near(j, tc.iou) {
				t.Errorf("IoU = %v, %v; want %v", j, err, tc.iou)
			}
			// Dice and IoU of the same pair always satisfy Dice = 2J/(1+J).
			if !near(d, 2*j/(1+j)) {
				t.Errorf("Dice %v and IoU %v disagree", d, j)
			}
		})
	}
	if _, err := Dice([]uint8{1}, []uint8{1, 0}); err == nil {
		t.Error("Dice of masks of different sizes: no error")
	}
	if _, err := IoU([]uint8{1}, nil); err == nil {
		t.Error("IoU of masks of different sizes: no error")
	}
}

func TestArea(t *testing.T) {
	tests := []struct {
		m    []uint8
		want float64
	}{
		{nil, 0},
		{[]uint8{0, 0}, 0},
		{[]uint8{0, 1, 0, 255}, 0.5}, // 2 of 4 pixels
		{[]uint8{1, 1, 1}, 1},
	}
	for _, tc := range tests {
		if got := Area(tc.m); !near(got, tc.want) {
			t.Errorf("Area(%v) = %v, want %v", tc.m, got, tc.want)
		}
	}
}

func TestBoundary(t *testing.T) {
	tests := []struct {
		name string
		m    []uint8
		w, h int
		want []int
	}{
		// 3×3 block at (1..3, 1..3) of a 5×5 image: all but the centre (2,2)=12.
		{"block", rect(5, 5, 1, 1, 3, 3), 5, 5, []int{6, 7, 8, 11, 13, 16, 17, 18}},
		// A mask filling the image: pixels next to the image edge are boundary,
		// so a full 3×3 image has every pixel but the centre.
		{"full image", rect(3, 3, 0, 0, 2, 2), 3, 3, []int{0, 1, 2, 3, 5, 6, 7, 8}},
		{"empty", make([]uint8, 4), 2, 2, nil},
		{"single pixel", mask(3, 3, [2]int{1, 1}), 3, 3, []int{4}},
	}
	for _, tc := range tests {
		got := Boundary(tc.m, tc.w, tc.h)
		if len(got) != len(tc.want) {
			t.Errorf("%s: Boundary = %v, want %v", tc.name, got, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("%s: Boundary = %v, want %v", tc.name, got, tc.want)
				break
			}
		}
	}
}

func TestHD95(t *testing.T) {
	tests := []struct {
		name        string
		pred, truth []uint8
		w, h        int
		sp          Spacing
		want        float64
	}{
		// One pixel each at (0,0) and (4,3): distance sqrt(4²+3²) = 5 both ways.
		{"two points", mask(5, 5, [2]int{0, 0}), mask(5, 5, [2]int{4, 3}), 5, 5, Pixels, 5},
		// Same points, rows 2 mm apart, columns 1 mm: sqrt((3·2)² + (4·1)²) = sqrt(52).
		{"anisotropic spacing", mask(5, 5, [2]int{0, 0}), mask(5, 5, [2]int{4, 3}), 5, 5, Spacing{2, 1}, math.Sqrt(52)},
		{"identical", rect(6, 6, 1, 1, 4, 3), rect(6, 6, 1, 1, 4, 3), 6, 6, Pixels, 0},
		{"both empty", make([]uint8, 20), make([]uint8, 20), 5, 4, Pixels, 0},
		// One empty in a 5×4 image: diagonal sqrt(4² + 3²) = 5.
		{"pred empty", make([]uint8, 20), mask(5, 4, [2]int{2, 2}), 5, 4, Pixels, 5},
		// ... in mm with (row 0.5, col 0.25): sqrt((3·0.5)² + (4·0.25)²) = sqrt(3.25).
		{"truth empty, mm", mask(5, 4, [2]int{2, 2}), make([]uint8, 20), 5, 4, Spacing{0.5, 0.25}, math.Sqrt(3.25)},
		// 11×1 image: pred {x=0, x=10}, truth {x=0}. pred→truth distances
		// [0, 10]: P95 at rank 0.95·1 = 0 + 0.95·(10−0) = 9.5. truth→pred [0]: 0.
		// HD95 = max(9.5, 0) = 9.5 (the plain Hausdorff distance would be 10).
		{"percentile interpolation", mask(11, 1, [2]int{0, 0}, [2]int{10, 0}), mask(11, 1, [2]int{0, 0}), 11, 1, Pixels, 9.5},
		// Asymmetric: pred fills a 5×5 image (boundary = the 16-pixel outer
		// ring), truth is the centre pixel (2,2). pred→truth: 4 edge middles at
		// 2, 8 pixels at sqrt(1+4) = 2.236, 4 corners at sqrt(8) = 2.828; sorted,
		// rank 0.95·15 = 14.25 falls between two corners: 2√2. truth→pred: the
		// centre is 2 from the ring. HD95 = max(2√2, 2) = 2√2.
		{"ring vs centre", rect(5, 5, 0, 0, 4, 4), mask(5, 5, [2]int{2, 2}), 5, 5, Pixels, 2 * math.Sqrt2},
		// 3×3 squares at x=1..3 (truth) and x=2..4 (pred), y=1..3, 6×5 image.
		// Each ring has 8 pixels. pred→truth: (2,1),(3,1),(2,3),(3,3) lie on
		// the truth ring (0); (4,1),(4,3),(2,2),(4,2) are 1 away. Sorted
		// [0,0,0,0,1,1,1,1], rank 6.65 → 1. truth→pred is the mirror image: 1.
		{"shifted square", rect(6, 5, 2, 1, 4, 3), rect(6, 5, 1, 1, 3, 3), 6, 5, Pixels, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := HD95(tc.pred, tc.truth, tc.w, tc.h, tc.sp)
			if err != nil || !near(got, tc.want) {
				t.Errorf("HD95 = %v, %v; want %v", got, err, tc.want)
			}
			// HD95 is symmetric in its arguments.
			rev, err := HD95(tc.truth, tc.pred, tc.w, tc.h, tc.sp)
			if err != nil || !near(rev, got) {
				t.Errorf("HD95 with arguments swapped = %v, %v; want %v", rev, err, got)
			}
		})
	}
}

func TestHD95BadInput(t *testing.T) {
	ok := make([]uint8, 6)
	tests := []struct {
		name        string
		pred, truth []uint8
		w, h        int
		sp          Spacing
	}{
		{"size mismatch", ok, make([]uint8, 5), 3, 2, Pixels},
		{"wrong dimensions", ok, ok, 2, 2, Pixels},
		{"zero width", nil, nil, 0, 2, Pixels},
		{"negative size", ok, ok, -3, -2, Pixels},
		{"zero spacing", ok, ok, 3, 2, Spacing{0, 1}},
		{"NaN spacing", ok, ok, 3, 2, Spacing{1, math.NaN()}},
		{"infinite spacing", ok, ok, 3, 2, Spacing{math.Inf(1), 1}},
	}
	for _, tc := range tests {
		if _, err := HD95(tc.pred, tc.truth, tc.w, tc.h, tc.sp); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}

// bruteHD95 is the definition of HD95 written out directly: every boundary
// pixel against every other, O(n·m).
func bruteHD95(pred, truth []uint8, w, h int, sp Spacing) float64 {
	bp, bt := Boundary(pred, w, h), Boundary(truth, w, h)
	directed := func(from, to []int) []float64 {
		out := make([]float64, len(from))
		for i, a := range from {
			best := math.Inf(1)
			for _, b := range to {
				dy := float64(a/w-b/w) * sp.Row
				dx := float64(a%w-b%w) * sp.Col
				best = math.Min(best, math.Hypot(dx, dy))
			}
			out[i] = best
		}
		return out
	}
	return math.Max(Percentile(directed(bp, bt), 95), Percentile(directed(bt, bp), 95))
}

// The distance transform must agree exactly with the brute-force definition
// on random blobs, random sizes and random anisotropic spacings.
func TestHD95MatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 200; trial++ {
		w, h := 1+rng.IntN(40), 1+rng.IntN(40)
		density := rng.Float64() * 0.3
		pred, truth := make([]uint8, w*h), make([]uint8, w*h)
		for i := range pred {
			if rng.Float64() < density {
				pred[i] = 1
			}
			if rng.Float64() < density {
				truth[i] = 1
			}
		}
		truth[rng.IntN(w*h)] = 1 // the empty cases are tested above
		pred[rng.IntN(w*h)] = 1
		sp := Spacing{0.1 + rng.Float64()*2, 0.1 + rng.Float64()*2}
		if trial%3 == 0 {
			sp = Pixels
		}
		got, err := HD95(pred, truth, w, h, sp)
		if err != nil {
			t.Fatal(err)
		}
		if want := bruteHD95(pred, truth, w, h, sp); !near(got, want) {
			t.Fatalf("trial %d (%dx%d, spacing %v): HD95 = %v, brute force %v", trial, w, h, sp, got, want)
		}
	}
}

func TestPercentile(t *testing.T) {
	tests := []struct {
		xs   []float64
		p    float64
		want float64
	}{
		{[]float64{4, 1, 3, 2}, 50, 2.5},  // rank 0.5·3 = 1.5: 2 + 0.5·(3−2)
		{[]float64{4, 1, 3, 2}, 95, 3.85}, // rank 0.95·3 = 2.85: 3 + 0.85·(4−3)
		{[]float64{4, 1, 3, 2}, 0, 1},
		{[]float64{4, 1, 3, 2}, 100, 4},
		{[]float64{7}, 95, 7},
		{[]float64{2, 2, 2}, 95, 2}, // ties
		{nil, 50, math.NaN()},
	}
	for _, tc := range tests {
		in := append([]float64(nil), tc.xs...)
		if got := Percentile(tc.xs, tc.p); !near(got, tc.want) {
			t.Errorf("Percentile(%v, %v) = %v, want %v", tc.xs, tc.p, got, tc.want)
		}
		if !sort.Float64sAreSorted(in) && sort.Float64sAreSorted(tc.xs) {
			t.Errorf("Percentile sorted its input %v", in)
		}
	}
}
