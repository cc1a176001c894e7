package encoder

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/busam/busam/internal/testutil"
	"github.com/busam/busam/model/tensor"
)

// TestConv2dBN checks every conv shape of the model (pointwise, dense KxK
// as im2col + GEMM, depthwise) against a direct CHW convolution.
func TestConv2dBN(t *testing.T) {
	saved := imcolPixels
	defer func() { imcolPixels = saved }()
	imcolPixels = 10 // several im2col chunks even on tiny maps

	for _, tc := range []struct {
		name                  string
		inC, outC, k, stride  int
		h, w                  int
		depthwise, bias, gelu bool
		accumulate            bool
	}{
		{"pointwise", 5, 7, 1, 1, 4, 6, false, true, false, false},
		{"pointwise gelu residual", 6, 6, 1, 1, 5, 3, false, true, true, true},
		{"dense 3x3 s2 odd", 3, 8, 3, 2, 9, 7, false, true, true, false},
		{"dense 3x3 s2 even", 4, 6, 3, 2, 8, 10, false, true, false, false},
		{"dense 3x3 s1 no bias", 5, 4, 3, 1, 6, 5, false, false, false, false},
		{"depthwise s1", 6, 6, 3, 1, 5, 7, true, true, true, false},
		{"depthwise s2 odd", 5, 5, 3, 2, 7, 9, true, true, false, false},
		{"depthwise 1x1 map", 4, 4, 3, 1, 1, 1, true, true, false, false},
		// Channel counts that are multiples of 16 take the AVX-512 row
		// kernel for interior pixels (where available).
		{"depthwise 32ch s1", 32, 32, 3, 1, 6, 9, true, true, false, false},
		{"depthwise 16ch s1 gelu", 16, 16, 3, 1, 5, 4, true, true, true, false},
		{"depthwise 48ch s2 odd", 48, 48, 3, 2, 7, 9, true, true, true, false},
		{"depthwise 16ch s2 even", 16, 16, 3, 2, 8, 6, true, true, false, false},
		{"depthwise 16ch 2x2 map", 16, 16, 3, 1, 2, 2, true, true, false, false},
		{"depthwise 16ch 1 column", 16, 16, 3, 2, 5, 1, true, true, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(3, uint64(tc.inC*100+tc.h)))
			inG := tc.inC
			if tc.depthwise {
				inG = 1
			}
			p := map[string]*tensor.Tensor{"c.weight": tensor.From(testutil.To32(testutil.RandomInput(rng, tc.outC*inG*tc.k*tc.k)), tc.outC, inG, tc.k, tc.k)}
			if tc.bias {
				p["c.bias"] = tensor.From(testutil.To32(testutil.RandomInput(rng, tc.outC)), tc.outC)
			}
			conv := newConvOp(testConv(p, "c", tc.inC, tc.outC, tc.k, tc.stride, tc.inC/inG, tc.bias))
			x := testutil.RandomInput(rng, tc.inC*tc.h*tc.w)
			for i := range x {
				x[i] = float64(float32(x[i]))
			}
			groups := 1
			if tc.depthwise {
				groups = tc.inC
			}
			var bias []float32
			if tc.bias {
				bias = p["c.bias"].Data
			}
			want, oh, ow := refConv(x, tc.inC, tc.h, tc.w, p["c.weight"].Data, bias, tc.outC, tc.k, tc.stride, tc.k/2, groups)
			want = chw2tok(want, tc.outC, oh, ow)
			dst := make([]float32, oh*ow*tc.outC)
			if tc.accumulate {
				shortcut := testutil.RandomInput(rng, len(dst))
				for i := range shortcut {
					shortcut[i] = float64(float32(shortcut[i]))
					want[i] += shortcut[i]
				}
				dst = testutil.To32(shortcut)
			}
			act := ActNone
			if tc.gelu {
				act = ActGELU
				refGELUAll(want)
			}
			gh, gw := conv.forward(&arena{}, dst, testutil.To32(chw2tok(x, tc.inC, tc.h, tc.w)), tc.h, tc.w, act, tc.accumulate)
			if gh != oh || gw != ow {
				t.Fatalf("output %dx%d, want %dx%d", gh, gw, oh, ow)
			}
			testutil.AssertClose(t, tc.name, dst, want, 1e-5)
		})
	}
}

func TestGatherAttentionBias(t *testing.T) {
	// Window 2: tokens (0,0) (0,1) (1,0) (1,1). Offsets (|dy|,|dx|) are
	// numbered as first met in row-major (i, j) order: (0,0)=0 (0,1)=1
	// (1,0)=2 (1,1)=3.
	wantIdx := []int{
		0, 1, 2, 3,
		1, 0, 3, 2,
		2, 3, 0, 1,
		3, 2, 1, 0,
	}
	table := []float32{10, 11, 12, 13, 20, 21, 22, 23} // 2 heads
	got := gatherAttentionBias(table, 2, 2)
	for h := 0; h < 2; h++ {
		for k, id := range wantIdx {
			if want := table[h*4+id]; got[h*16+k] != want {
				t.Fatalf("head %d entry %d = %v, want %v", h, k, got[h*16+k], want)
			}
		}
	}
}

func newTestAttention(t *testing.T, dim, heads, window int, seed uint64) *attentionOp {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	r := func(scale float64, offset float64, shape ...int) *tensor.Tensor {
		v := testutil.RandomInput(rng, tensor.Numel(shape))
		for i := range v {
			v[i] = offset + scale*v[i]
		}
		return tensor.From(testutil.To32(v), shape...)
	}
	n := window * window
	w := func(t *tensor.Tensor) *Weight { return &Weight{Shape: t.Shape, Data: t.Data} }
	return newAttentionOp(&Attention{Dim: dim, Heads: heads, KeyDim: dim / heads, Window: window,
		Norm: Norm{Dim: dim, Eps: 1e-5, Weight: w(r(0.3, 1, dim)), Bias: w(r(0.3, 0, dim))},
		QKV:  Linear{In: dim, Out: 3 * dim, Weight: w(r(1.5/math.Sqrt(float64(dim)), 0, 3*dim, dim)), Bias: w(r(0.2, 0, 3*dim))},
		Proj: Linear{In: dim, Out: dim, Weight: w(r(1/math.Sqrt(float64(dim)), 0, dim, dim)), Bias: w(r(0.2, 0, dim))},
		Bias: &Weight{Data: gatherAttentionBias(r(1, 0, heads, n).Data, heads, window)},
	})
}

// TestWindowAttention covers maps that are whole windows, need padding on
// one or both sides, and are smaller than one window.
func TestWindowAttention(t *testing.T) {
	for _, tc := range []struct{ h, w, window, dim, heads int }{
		{7, 7, 7, 8, 2},
		{5, 9, 3, 8, 2},
		{10, 4, 4, 12, 3},
		{3, 2, 5, 8, 4},
		{14, 14, 7, 6, 1},
		// Head dimension 32 (MobileSAM's) takes the AVX-512 kernels where
		// available; windows of 49 and 196 tokens as in the real stages.
		{9, 12, 7, 64, 2},
		{16, 16, 14, 96, 3},
		{7, 7, 7, 32, 1},
	} {
		at := newTestAttention(t, tc.dim, tc.heads, tc.window, uint64(tc.h*31+tc.w))
		rng := rand.New(rand.NewPCG(5, uint64(tc.h)))
		x := testutil.RandomInput(rng, tc.h*tc.w*tc.dim)
		for i := range x {
			x[i] = float64(float32(x[i]))
		}
		want := refWindowAttention(x, tc.h, tc.w, at)
		got := testutil.To32(x)
		at.forward(&arena{}, got, tc.h, tc.w)
		testutil.AssertClose(t, "window attention", got, want, 2e-5)
	}
}

func TestPatchMerging(t *testing.T) {
	for _, tc := range []struct{ h, w, in, out, stride int }{
		{8, 8, 4, 6, 2},
		{7, 5, 3, 5, 2},
		{6, 6, 4, 8, 1},
	} {
		rng := rand.New(rand.NewPCG(9, uint64(tc.h)))
		p := map[string]*tensor.Tensor{}
		for _, c := range []struct {
			name     string
			in, k, o int
		}{{"m.conv1.c", tc.in, 1, tc.out}, {"m.conv2.c", 1, 3, tc.out}, {"m.conv3.c", tc.out, 1, tc.out}} {
			p[c.name+".weight"] = tensor.From(testutil.To32(testutil.RandomInput(rng, c.o*c.in*c.k*c.k)), c.o, c.in, c.k, c.k)
			p[c.name+".bias"] = tensor.From(testutil.To32(testutil.RandomInput(rng, c.o)), c.o)
		}
		pm := newMergeOp(&Merge{
			Conv1: *testConv(p, "m.conv1.c", tc.in, tc.out, 1, 1, 1, true),
			Conv2: *testConv(p, "m.conv2.c", tc.out, tc.out, 3, tc.stride, tc.out, true),
			Conv3: *testConv(p, "m.conv3.c", tc.out, tc.out, 1, 1, 1, true),
		})
		x := testutil.RandomInput(rng, tc.in*tc.h*tc.w)
		y, _, _ := refConvBN(p, "m.conv1.c", x, tc.in, tc.h, tc.w, tc.out, 1, 1, 1, true)
		refGELUAll(y)
		y, oh, ow := refConvBN(p, "m.conv2.c", y, tc.out, tc.h, tc.w, tc.out, 3, tc.stride, tc.out, true)
		refGELUAll(y)
		y, _, _ = refConvBN(p, "m.conv3.c", y, tc.out, oh, ow, tc.out, 1, 1, 1, true)

		got, gh, gw := pm.forward(&arena{}, testutil.To32(chw2tok(x, tc.in, tc.h, tc.w)), tc.h, tc.w)
		if gh != oh || gw != ow {
			t.Fatalf("output %dx%d, want %dx%d", gh, gw, oh, ow)
		}
		testutil.AssertClose(t, "patch merging", got, chw2tok(y, tc.out, oh, ow), 1e-5)
	}
}

// testConv wraps tensors prefix.weight (and prefix.bias) as a Conv.
func testConv(p map[string]*tensor.Tensor, prefix string, in, out, k, stride, groups int, bias bool) *Conv {
	c := &Conv{InC: in, OutC: out, Kernel: k, Stride: stride, Groups: groups,
		Weight: &Weight{Name: prefix + ".weight", Data: p[prefix+".weight"].Data}}
	if bias {
		c.Bias = &Weight{Name: prefix + ".bias", Data: p[prefix+".bias"].Data}
	}
	return c
}
