package webgpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

func TestActivations(t *testing.T) {
	d := testDevice(t)
	// A sweep over [-12, 12] (both GELU tails) plus random values.
	var x []float32
	for v := float32(-12); v <= 12; v += 0.01 {
		x = append(x, v)
	}
	x = append(x, randSlice(rand.New(rand.NewPCG(25, 26)), 1001, 5)...)
	gx := upload(t, d, x)
	for _, tc := range []struct {
		act Activation
		// Per-value bound on |got-want| / max(|want|, floor), times
		// (1 + grow*x^2): GELU's erfc has 1.2e-7 fractional error, and
		// Vulkan's exp may err by 3 + 2|arg| ulps, growing with the
		// argument -x^2/2 (at x = -12, values ~1e-32, it reaches ~5e-5).
		bound, floor, grow float64
	}{
		{ActNone, 0, 1, 0},
		{ActGELU, 2e-6, 1e-30, 0.25},
		{ActSigmoid, 2e-6, 1e-30, 0},
		{ActReLU, 0, 1, 0},
		// exp's argument grows like x^3 here.
		{ActGELUTanh, 2e-6, 1e-30, 0.25},
	} {
		t.Run(fmt.Sprint(tc.act), func(t *testing.T) {
			gy := zeros(t, d, len(x))
			if err := d.Activate(gy, gx, len(x), tc.act); err != nil {
				t.Fatal(err)
			}
			got := read(t, d, gy)
			worst, at := 0.0, float32(0)
			for i, v := range x {
				want := float64(actRef(v, tc.act))
				e := math.Abs(float64(got[i])-want) / math.Max(math.Abs(want), tc.floor)
				e /= 1 + tc.grow*float64(v)*float64(v)
				if e > worst {
					worst, at = e, v
				}
			}
			if worst > tc.bound {
				t.Errorf("worst scaled relative error %.3g at x=%v > %.3g", worst, at, tc.bound)
			}
		})
	}
}

func TestBinary(t *testing.T) {
	d := testDevice(t)
	r := rand.New(rand.NewPCG(27, 28))
	const c, h, w = 3, 5, 7
	n := c * h * w
	a := randSlice(r, n, 1)
	for _, tc := range []struct {
		name string
		op   BinaryOp
		bc   Broadcast
		bLen int
		pair func(i int) int
	}{
		{"add", OpAdd, Broadcast{}, n, func(i int) int { return i }},
		{"mul", OpMul, Broadcast{}, n, func(i int) int { return i }},
		{"mul mask [1,H,W]", OpMul, Broadcast{Len: h * w}, h * w, func(i int) int { return i % (h * w) }},
		{"add per channel [C]", OpAdd, Broadcast{Len: c, Inner: h * w}, c, func(i int) int { return i / (h * w) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := randSlice(r, tc.bLen, 1)
			want := make([]float32, n)
			for i := range want {
				if tc.op == OpMul {
					want[i] = a[i] * b[tc.pair(i)]
				} else {
					want[i] = a[i] + b[tc.pair(i)]
				}
			}
			gdst := zeros(t, d, n)
			if err := d.Binary(gdst, upload(t, d, a), upload(t, d, b), n, tc.op, tc.bc); err != nil {
				t.Fatal(err)
			}
			check(t, tc.name, read(t, d, gdst), want, 0)
		})
	}
	// The shortcuts.
	b := randSlice(r, n, 1)
	ga, gb, gdst := upload(t, d, a), upload(t, d, b), zeros(t, d, n)
	if err := d.Add(gdst, ga, gb, n); err != nil {
		t.Fatal(err)
	}
	got := read(t, d, gdst)
	if err := d.Mul(gdst, ga, gb, n); err != nil {
		t.Fatal(err)
	}
	got2 := read(t, d, gdst)
	for i := range a {
		if got[i] != a[i]+b[i] || got2[i] != a[i]*b[i] {
			t.Fatalf("Add/Mul value %d: %v, %v; want %v, %v", i, got[i], got2[i], a[i]+b[i], a[i]*b[i])
		}
	}
}

func TestTranspose(t *testing.T) {
	d := testDevice(t)
	r := rand.New(rand.NewPCG(29, 30))
	for _, s := range []struct{ rows, cols int }{{1, 1}, {1, 17}, {16, 16}, {33, 70}, {64, 49}} {
		for _, beta := range []float32{0, 1} {
			t.Run(fmt.Sprintf("%dx%d/beta=%v", s.rows, s.cols, beta), func(t *testing.T) {
				x := randSlice(r, s.rows*s.cols, 1)
				prev := randSlice(r, len(x), 1)
				want := make([]float32, len(x))
				for i := 0; i < s.rows; i++ {
					for j := 0; j < s.cols; j++ {
						want[j*s.rows+i] = x[i*s.cols+j] + beta*prev[j*s.rows+i]
					}
				}
				gdst := upload(t, d, prev)
				if err := d.Transpose(gdst, upload(t, d, x), s.rows, s.cols, beta); err != nil {
					t.Fatal(err)
				}
				check(t, "transpose", read(t, d, gdst), want, 0)
			})
		}
	}
}

// resizeRef is bilinear resize with align_corners=false, as PyTorch
// computes it (float scale in/out, source index clamped at 0).
func resizeRef(x []float32, c, ih, iw, oh, ow int) []float32 {
	out := make([]float32, c*oh*ow)
	sh, sw := float32(ih)/float32(oh), float32(iw)/float32(ow)
	src := func(d int, s float32, n int) (int, int, float32) {
		f := max((float32(d)+0.5)*s-0.5, 0)
		i0 := min(int(f), n-1)
		i1 := min(i0+1, n-1)
		return i0, i1, f - float32(i0)
	}
	for ch := 0; ch < c; ch++ {
		for y := 0; y < oh; y++ {
			y0, y1, ly := src(y, sh, ih)
			for xx := 0; xx < ow; xx++ {
				x0, x1, lx := src(xx, sw, iw)
				p := x[ch*ih*iw:]
				top := (1-lx)*p[y0*iw+x0] + lx*p[y0*iw+x1]
				bot := (1-lx)*p[y1*iw+x0] + lx*p[y1*iw+x1]
				out[(ch*oh+y)*ow+xx] = (1-ly)*top + ly*bot
			}
		}
	}
	return out
}

func TestResizeBilinear(t *testing.T) {
	d := testDevice(t)
	// Hand-checked case: [0 1] widened to 4 is [0, 0.25, 0.75, 1] in PyTorch.
	gdst := zeros(t, d, 4)
	if err := d.ResizeBilinear(gdst, upload(t, d, []float32{0, 1}), 1, 1, 2, 1, 4); err != nil {
		t.Fatal(err)
	}
	check(t, "[0 1] -> 4", read(t, d, gdst), []float32{0, 0.25, 0.75, 1}, 1e-7)

	r := rand.New(rand.NewPCG(31, 32))
	for _, s := range []struct{ c, ih, iw, oh, ow int }{
		{1, 1, 1, 3, 3}, {2, 16, 16, 64, 64}, {3, 5, 7, 11, 4}, {1, 64, 64, 256, 256}, {2, 9, 9, 3, 3},
	} {
		t.Run(fmt.Sprintf("%+v", s), func(t *testing.T) {
			x := randSlice(r, s.c*s.ih*s.iw, 1)
			want := resizeRef(x, s.c, s.ih, s.iw, s.oh, s.ow)
			gdst := zeros(t, d, len(want))
			if err := d.ResizeBilinear(gdst, upload(t, d, x), s.c, s.ih, s.iw, s.oh, s.ow); err != nil {
				t.Fatal(err)
			}
			check(t, "resize", read(t, d, gdst), want, 1e-6)
		})
	}
}

func TestAvgPool(t *testing.T) {
	d := testDevice(t)
	r := rand.New(rand.NewPCG(37, 38))
	for _, s := range []struct{ c, h, w, k int }{{1, 1, 1, 1}, {3, 8, 12, 4}, {2, 9, 7, 2}, {1, 256, 256, 4}} {
		t.Run(fmt.Sprintf("%+v", s), func(t *testing.T) {
			x := randSlice(r, s.c*s.h*s.w, 1)
			oh, ow := s.h/s.k, s.w/s.k
			want := make([]float32, s.c*oh*ow)
			for c := 0; c < s.c; c++ {
				for y := 0; y < oh; y++ {
					for xx := 0; xx < ow; xx++ {
						var sum float64
						for dy := 0; dy < s.k; dy++ {
							for dx := 0; dx < s.k; dx++ {
								sum += float64(x[(c*s.h+y*s.k+dy)*s.w+xx*s.k+dx])
							}
						}
						want[(c*oh+y)*ow+xx] = float32(sum / float64(s.k*s.k))
					}
				}
			}
			gdst := zeros(t, d, len(want))
			if err := d.AvgPool(gdst, upload(t, d, x), s.c, s.h, s.w, s.k); err != nil {
				t.Fatal(err)
			}
			check(t, "avgpool", read(t, d, gdst), want, 1e-6)
		})
	}
}

func TestCopyConcat(t *testing.T) {
	d := testDevice(t)
	a := []float32{1, 2, 3, 4, 5, 6}    // [1,2,3]
	b := []float32{7, 8, 9, 10, 11, 12} // [1,2,3]
	cat := zeros(t, d, 12)              // [2,2,3]
	if err := d.Copy(cat, 0, upload(t, d, a), 0, 6); err != nil {
		t.Fatal(err)
	}
	if err := d.Copy(cat, 6, upload(t, d, b), 0, 6); err != nil {
		t.Fatal(err)
	}
	check(t, "concat", read(t, d, cat), append(append([]float32(nil), a...), b...), 0)
	// An offset source: the middle of b into the start of a fresh buffer.
	part := zeros(t, d, 3)
	if err := d.Copy(part, 0, upload(t, d, b), 2, 3); err != nil {
		t.Fatal(err)
	}
	check(t, "offset copy", read(t, d, part), []float32{9, 10, 11}, 0)
	if err := d.Copy(part, 1, cat, 0, 3); err == nil {
		t.Error("Copy past the end of dst accepted")
	}
}
