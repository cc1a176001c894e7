package webgpu

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/busam/busam/model/cpu"
)

func TestConv2DMatchesCPU(t *testing.T) {
	d := testDevice(t)
	r := rand.New(rand.NewPCG(11, 12))
	for _, p := range []cpu.ConvParams{
		{InC: 1, InH: 1, InW: 1, OutC: 1, KH: 1, KW: 1, Stride: 1},
		{InC: 3, InH: 17, InW: 13, OutC: 8, KH: 3, KW: 3, Stride: 2, Pad: 1},             // patch embed
		{InC: 16, InH: 9, InW: 11, OutC: 70, KH: 1, KW: 1, Stride: 1},                    // 1x1 expand
		{InC: 8, InH: 10, InW: 10, OutC: 12, KH: 3, KW: 3, Stride: 1, Pad: 1, Groups: 2}, // grouped
		{InC: 5, InH: 12, InW: 7, OutC: 5, KH: 3, KW: 3, Stride: 1, Pad: 1, Groups: 5},   // depthwise
		{InC: 6, InH: 15, InW: 15, OutC: 6, KH: 3, KW: 3, Stride: 2, Pad: 1, Groups: 6},  // depthwise, stride 2
		{InC: 4, InH: 8, InW: 9, OutC: 8, KH: 3, KW: 3, Stride: 1, Pad: 1, Groups: 4},    // channel multiplier 2
		{InC: 70, InH: 6, InW: 5, OutC: 33, KH: 3, KW: 3, Stride: 1, Pad: 1},             // neck 3x3
		{InC: 2, InH: 7, InW: 7, OutC: 3, KH: 5, KW: 4, Stride: 3, Pad: 2},               // odd kernel
		{InC: 12, InH: 64, InW: 64, OutC: 8, KH: 3, KW: 3, Stride: 1, Pad: 1},            // heads' up2 (direct)
		{InC: 64, InH: 8, InW: 8, OutC: 16, KH: 3, KW: 3, Stride: 1, Pad: 1},             // direct, most channels
		{InC: 64, InH: 8, InW: 8, OutC: 17, KH: 3, KW: 3, Stride: 1, Pad: 1},             // GEMM, fewest channels
	} {
		for _, withBias := range []bool{false, true} {
			t.Run(fmt.Sprintf("%+v/bias=%v", p, withBias), func(t *testing.T) {
				g := max(p.Groups, 1)
				oh, ow := p.OutSize()
				src := randSlice(r, p.InC*p.InH*p.InW, 1)
				w := randSlice(r, p.OutC*p.InC/g*p.KH*p.KW, 1)
				var bias []float32
				if withBias {
					bias = randSlice(r, p.OutC, 1)
				}
				want := make([]float32, p.OutC*oh*ow)
				cpu.Conv2DReference(want, src, w, bias, p)
				gsrc, gw, gdst := upload(t, d, src), upload(t, d, w), zeros(t, d, len(want))
				var gb *Buffer
				if withBias {
					gb = upload(t, d, bias)
				}
				if err := d.Conv2D(gdst, gsrc, gw, gb, p); err != nil {
					t.Fatal(err)
				}
				check(t, "conv2d", read(t, d, gdst), want, gemmBound)
			})
		}
	}
}

func TestConv2DEpilogue(t *testing.T) {
	d := testDevice(t)
	r := rand.New(rand.NewPCG(13, 14))
	for _, p := range []cpu.ConvParams{
		{InC: 8, InH: 9, InW: 9, OutC: 16, KH: 1, KW: 1, Stride: 1},                   // direct
		{InC: 8, InH: 9, InW: 9, OutC: 40, KH: 3, KW: 3, Stride: 1, Pad: 1},           // GEMM
		{InC: 8, InH: 9, InW: 9, OutC: 8, KH: 3, KW: 3, Stride: 1, Pad: 1, Groups: 8}, // depthwise
	} {
		t.Run(fmt.Sprintf("%+v", p), func(t *testing.T) {
			oh, ow := p.OutSize()
			src := randSlice(r, p.InC*p.InH*p.InW, 1)
			w := randSlice(r, p.OutC*p.InC/max(p.Groups, 1)*p.KH*p.KW, 1)
			bias := randSlice(r, p.OutC, 1)
			prev := randSlice(r, p.OutC*oh*ow, 1)
			want := make([]float32, len(prev))
			cpu.Conv2DReference(want, src, w, bias, p)
			for i := range want {
				want[i] = geluRef(want[i]) + prev[i]
			}
			gdst := upload(t, d, prev)
			if err := d.Conv2DEpilogue(gdst, upload(t, d, src), upload(t, d, w), p, Epilogue{Bias: upload(t, d, bias), Act: ActGELU, Beta: 1}); err != nil {
				t.Fatal(err)
			}
			check(t, "conv2d+gelu+residual", read(t, d, gdst), want, 4e-6)
		})
	}
}

func TestDepthwiseConv2DHWC(t *testing.T) {
	d := testDevice(t)
	r := rand.New(rand.NewPCG(33, 34))
	for _, p := range []cpu.ConvParams{
		{InC: 5, InH: 9, InW: 7, OutC: 5, KH: 3, KW: 3, Stride: 1, Pad: 1, Groups: 5},
		{InC: 16, InH: 14, InW: 15, OutC: 16, KH: 3, KW: 3, Stride: 2, Pad: 1, Groups: 16},
	} {
		t.Run(fmt.Sprintf("%+v", p), func(t *testing.T) {
			oh, ow := p.OutSize()
			src := randSlice(r, p.InC*p.InH*p.InW, 1)
			w := randSlice(r, p.OutC*p.KH*p.KW, 1)
			bias := randSlice(r, p.OutC, 1)
			want := make([]float32, p.OutC*oh*ow)
			cpu.Conv2DReference(want, src, w, bias, p) // CHW reference
			// Same maps channels-last: transpose in, compute, compare transposed.
			srcHWC := make([]float32, len(src))
			for c := 0; c < p.InC; c++ {
				for i := 0; i < p.InH*p.InW; i++ {
					srcHWC[i*p.InC+c] = src[c*p.InH*p.InW+i]
				}
			}
			gdst := zeros(t, d, len(want))
			if err := d.DepthwiseConv2DHWC(gdst, upload(t, d, srcHWC), upload(t, d, w), p, Epilogue{Bias: upload(t, d, bias)}); err != nil {
				t.Fatal(err)
			}
			got := read(t, d, gdst)
			gotCHW := make([]float32, len(got))
			for c := 0; c < p.OutC; c++ {
				for i := 0; i < oh*ow; i++ {
					gotCHW[c*oh*ow+i] = got[i*p.OutC+c]
				}
			}
			check(t, "depthwise hwc", gotCHW, want, gemmBound)
		})
	}
	if err := d.DepthwiseConv2DHWC(zeros(t, d, 100), zeros(t, d, 100), zeros(t, d, 100), cpu.ConvParams{InC: 2, InH: 3, InW: 3, OutC: 4, KH: 1, KW: 1, Stride: 1, Groups: 2}, Epilogue{}); err == nil {
		t.Error("channel multiplier 2 accepted by DepthwiseConv2DHWC")
	}
}
