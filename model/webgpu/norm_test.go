package webgpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// layerNormRef normalizes rows of a strided view in float64.
func layerNormRef(x, gamma, beta []float32, rows, cols, rowStride, colStride int, eps float64) []float32 {
	y := make([]float32, len(x))
	for r := 0; r < rows; r++ {
		var mean, v float64
		for j := 0; j < cols; j++ {
			mean += float64(x[r*rowStride+j*colStride])
		}
		mean /= float64(cols)
		for j := 0; j < cols; j++ {
			d := float64(x[r*rowStride+j*colStride]) - mean
			v += d * d
		}
		inv := 1 / math.Sqrt(v/float64(cols)+eps)
		for j := 0; j < cols; j++ {
			i := r*rowStride + j*colStride
			o := (float64(x[i]) - mean) * inv
			if gamma != nil {
				o = o*float64(gamma[j]) + float64(beta[j])
			}
			y[i] = float32(o)
		}
	}
	return y
}

func TestLayerNorm(t *testing.T) {
	d := testDevice(t)
	r := rand.New(rand.NewPCG(15, 16))
	for _, tc := range []struct {
		rows, cols int
		affine     bool
		eps        float32
	}{{1, 1, true, 1e-5}, {7, 64, true, 1e-5}, {130, 320, false, 1e-5}, {49, 3, true, 1e-6}} {
		t.Run(fmt.Sprintf("%dx%d/affine=%v", tc.rows, tc.cols, tc.affine), func(t *testing.T) {
			x := randSlice(r, tc.rows*tc.cols, 3)
			for i := range x {
				x[i] += 2 // a mean offset, as real activations have
			}
			var gamma, beta []float32
			var gg, gb *Buffer
			if tc.affine {
				gamma, beta = randSlice(r, tc.cols, 1), randSlice(r, tc.cols, 1)
				gg, gb = upload(t, d, gamma), upload(t, d, beta)
			}
			want := layerNormRef(x, gamma, beta, tc.rows, tc.cols, tc.cols, 1, float64(tc.eps))
			gy := zeros(t, d, len(x))
			if err := d.LayerNorm(gy, upload(t, d, x), gg, gb, tc.rows, tc.cols, tc.eps); err != nil {
				t.Fatal(err)
			}
			check(t, "layernorm", read(t, d, gy), want, 2e-6)
		})
	}
}

func TestLayerNorm2d(t *testing.T) {
	d := testDevice(t)
	r := rand.New(rand.NewPCG(17, 18))
	for _, s := range []struct{ c, h, w int }{{1, 1, 1}, {256, 4, 5}, {3, 17, 9}} {
		t.Run(fmt.Sprintf("%dx%dx%d", s.c, s.h, s.w), func(t *testing.T) {
			x := randSlice(r, s.c*s.h*s.w, 2)
			gamma, beta := randSlice(r, s.c, 1), randSlice(r, s.c, 1)
			want := layerNormRef(x, gamma, beta, s.h*s.w, s.c, 1, s.h*s.w, 1e-6)
			gy := zeros(t, d, len(x))
			if err := d.LayerNorm2d(gy, upload(t, d, x), upload(t, d, gamma), upload(t, d, beta), s.c, s.h, s.w, 1e-6); err != nil {
				t.Fatal(err)
			}
			check(t, "layernorm2d", read(t, d, gy), want, 2e-6)
		})
	}
}

func softmaxRef(x []float32, rows, cols int, scale float32, bias []float32, biasRows int) []float32 {
	y := make([]float32, len(x))
	for r := 0; r < rows; r++ {
		l := make([]float64, cols)
		mx := math.Inf(-1)
		for j := range l {
			l[j] = float64(scale) * float64(x[r*cols+j])
			if bias != nil {
				l[j] += float64(bias[(r%biasRows)*cols+j])
			}
			mx = math.Max(mx, l[j])
		}
		var s float64
		for j := range l {
			l[j] = math.Exp(l[j] - mx)
			s += l[j]
		}
		for j := range l {
			y[r*cols+j] = float32(l[j] / s)
		}
	}
	return y
}

func TestSoftmax(t *testing.T) {
	d := testDevice(t)
	r := rand.New(rand.NewPCG(19, 20))
	for _, tc := range []struct {
		rows, cols int
		scale      float32
		biasRows   int
	}{{1, 1, 1, 0}, {5, 49, 1, 0}, {3, 7, 0.125, 0}, {2 * 3 * 49, 49, 0.176, 3 * 49}, {20, 196, 0.25, 10}} {
		t.Run(fmt.Sprintf("%dx%d/scale=%v/biasRows=%d", tc.rows, tc.cols, tc.scale, tc.biasRows), func(t *testing.T) {
			// Large logits check the max subtraction.
			x := randSlice(r, tc.rows*tc.cols, 40)
			var bias []float32
			var gb *Buffer
			if tc.biasRows > 0 {
				bias = randSlice(r, tc.biasRows*tc.cols, 3)
				gb = upload(t, d, bias)
			}
			want := softmaxRef(x, tc.rows, tc.cols, tc.scale, bias, tc.biasRows)
			gx := upload(t, d, x)
			var err error
			if gb == nil && tc.scale == 1 {
				err = d.Softmax(gx, tc.rows, tc.cols)
			} else {
				err = d.SoftmaxBias(gx, tc.rows, tc.cols, tc.scale, gb, tc.biasRows)
			}
			if err != nil {
				t.Fatal(err)
			}
			check(t, "softmax", read(t, d, gx), want, 2e-6)
		})
	}
}

func TestGroupNorm(t *testing.T) {
	d := testDevice(t)
	r := rand.New(rand.NewPCG(35, 36))
	for _, s := range []struct{ c, h, w, groups int }{{1, 1, 1, 1}, {8, 5, 7, 4}, {32, 64, 64, 8}, {6, 3, 3, 6}} {
		t.Run(fmt.Sprintf("%+v", s), func(t *testing.T) {
			hw := s.h * s.w
			x := randSlice(r, s.c*hw, 2)
			for i := range x {
				x[i] += 1
			}
			gamma, beta := randSlice(r, s.c, 1), randSlice(r, s.c, 1)
			// A group is a contiguous run: a layer norm of rows of cg*hw
			// values, with the affine part per channel applied after.
			cg := s.c / s.groups
			want := layerNormRef(x, nil, nil, s.groups, cg*hw, cg*hw, 1, 1e-5)
			for i := range want {
				c := i / hw
				want[i] = want[i]*gamma[c] + beta[c]
			}
			gy := zeros(t, d, len(x))
			if err := d.GroupNorm(gy, upload(t, d, x), upload(t, d, gamma), upload(t, d, beta), s.c, s.h, s.w, s.groups, 1e-5); err != nil {
				t.Fatal(err)
			}
			check(t, "groupnorm", read(t, d, gy), want, 2e-6)
		})
	}
}
