package webgpu

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/busam/busam/model/heads"
	"github.com/busam/busam/model/tensor"
)

func TestMaskWeights(t *testing.T) {
	d := testDevice(t)
	r := rand.New(rand.NewPCG(41, 42))
	for _, tc := range []struct {
		n   int
		eps float32
	}{{1, 1}, {4096, 1}, {300, 0.5}, {257, 2}} {
		t.Run(fmt.Sprintf("n=%d/eps=%v", tc.n, tc.eps), func(t *testing.T) {
			s := make([]float32, tc.n)
			for i := range s {
				s[i] = r.Float32() // a soft mask: probabilities
			}
			// Reference in float64, as heads.Model's attention computes it.
			var mass float64
			var peak float32
			for _, v := range s {
				mass += float64(v)
				peak = max(peak, v)
			}
			want := make([]float32, tc.n+2)
			for i, v := range s {
				want[i] = float32(float64(v) / (mass + float64(tc.eps)))
			}
			want[tc.n], want[tc.n+1] = float32(mass/float64(tc.n)), peak
			gy := zeros(t, d, tc.n+2)
			if err := d.MaskWeights(gy, upload(t, d, s), tc.n, tc.eps); err != nil {
				t.Fatal(err)
			}
			got := read(t, d, gy)
			check(t, "weights", got[:tc.n], want[:tc.n], 2e-6)
			check(t, "mean and peak", got[tc.n:], want[tc.n:], 2e-6)
		})
	}
}

func TestMaskPoolMatchesHeads(t *testing.T) {
	d := testDevice(t)
	r := rand.New(rand.NewPCG(43, 44))
	for _, s := range []struct{ c, h, w int }{{1, 1, 1}, {320, 64, 64}, {5, 7, 3}} {
		t.Run(fmt.Sprintf("%dx%dx%d", s.c, s.h, s.w), func(t *testing.T) {
			hw := s.h * s.w
			f := tensor.From(randSlice(r, s.c*hw, 3), s.c, s.h, s.w)
			a := make([]float32, hw)
			for i := range a {
				a[i] = r.Float32() / float32(hw)
			}
			want := heads.MaskPool(f, a)
			gy := zeros(t, d, 2*s.c)
			if err := d.MaskPool(gy, upload(t, d, f.Data), upload(t, d, a), s.c, hw); err != nil {
				t.Fatal(err)
			}
			check(t, "maskpool", read(t, d, gy), want.Data, 2e-6)
		})
	}
}

func TestEvidenceMatchesHeads(t *testing.T) {
	d := testDevice(t)
	r := rand.New(rand.NewPCG(45, 46))
	for _, s := range []struct{ c, h, w, classes int }{{1, 1, 1, 2}, {288, 64, 64, 3}, {5, 7, 3, 3}} {
		t.Run(fmt.Sprintf("%dx%dx%d/%d", s.c, s.h, s.w, s.classes), func(t *testing.T) {
			hw := s.h * s.w
			f := tensor.From(randSlice(r, s.c*hw, 3), s.c, s.h, s.w)
			a := make([]float32, hw+2) // the attention buffer: weights, then mean and peak
			for i := range a {
				a[i] = r.Float32() / float32(hw)
			}
			w := randSlice(r, s.classes*2*s.c, 1)
			want := heads.ClassEvidence(f, a[:hw], w, s.classes)
			gy := zeros(t, d, s.classes*hw)
			if err := d.Evidence(gy, upload(t, d, f.Data), upload(t, d, a), upload(t, d, w), s.c, hw, s.classes); err != nil {
				t.Fatal(err)
			}
			check(t, "evidence", read(t, d, gy), want.Data, 2e-5)
		})
	}
}
