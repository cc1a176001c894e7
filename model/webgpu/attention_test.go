package webgpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// partitionRef is TinyViT's pad + view + transpose window partition, as
// plain loops.
func partitionRef(x []float32, h, w, c, ws int) []float32 {
	nh, nw := (h+ws-1)/ws, (w+ws-1)/ws
	out := make([]float32, nh*nw*ws*ws*c)
	for wy := 0; wy < nh; wy++ {
		for wx := 0; wx < nw; wx++ {
			for ty := 0; ty < ws; ty++ {
				for tx := 0; tx < ws; tx++ {
					y, xx := wy*ws+ty, wx*ws+tx
					if y >= h || xx >= w {
						continue
					}
					dst := (((wy*nw+wx)*ws+ty)*ws + tx) * c
					copy(out[dst:dst+c], x[(y*w+xx)*c:(y*w+xx+1)*c])
				}
			}
		}
	}
	return out
}

func TestWindowPartitionReverse(t *testing.T) {
	d := testDevice(t)
	r := rand.New(rand.NewPCG(21, 22))
	for _, s := range []struct{ h, w, c, ws int }{{1, 1, 1, 1}, {7, 7, 3, 7}, {9, 12, 5, 7}, {16, 16, 4, 14}, {5, 3, 2, 2}} {
		t.Run(fmt.Sprintf("%dx%dx%d/ws=%d", s.h, s.w, s.c, s.ws), func(t *testing.T) {
			x := randSlice(r, s.h*s.w*s.c, 1)
			want := partitionRef(x, s.h, s.w, s.c, s.ws)
			gx, gwin := upload(t, d, x), zeros(t, d, len(want))
			if err := d.WindowPartition(gwin, gx, s.h, s.w, s.c, s.ws); err != nil {
				t.Fatal(err)
			}
			check(t, "partition", read(t, d, gwin), want, 0)
			// Reverse with beta = 1 onto a residual r: r + x exactly.
			res := randSlice(r, len(x), 1)
			back := upload(t, d, res)
			if err := d.WindowReverse(back, gwin, s.h, s.w, s.c, s.ws, 1); err != nil {
				t.Fatal(err)
			}
			wantBack := make([]float32, len(x))
			for i := range x {
				wantBack[i] = x[i] + res[i]
			}
			check(t, "reverse+residual", read(t, d, back), wantBack, 0)
		})
	}
}

// attentionRef is TinyViT's Attention core in float64 loops: per window
// and head, softmax(q k^T * scale + bias) v, heads concatenated.
func attentionRef(qkv, bias []float32, a Attention) []float32 {
	n, hd := a.Tokens, 2*a.KeyDim+a.ValDim
	row := a.Heads * hd
	out := make([]float32, a.Windows*n*a.Heads*a.ValDim)
	for w := 0; w < a.Windows; w++ {
		for h := 0; h < a.Heads; h++ {
			at := func(tok, off int) float64 { return float64(qkv[(w*n+tok)*row+h*hd+off]) }
			for i := 0; i < n; i++ {
				s := make([]float64, n)
				mx := math.Inf(-1)
				for j := 0; j < n; j++ {
					var dot float64
					for e := 0; e < a.KeyDim; e++ {
						dot += at(i, e) * at(j, a.KeyDim+e)
					}
					s[j] = dot * float64(a.Scale)
					if bias != nil {
						s[j] += float64(bias[(h*n+i)*n+j])
					}
					mx = math.Max(mx, s[j])
				}
				var sum float64
				for j := range s {
					s[j] = math.Exp(s[j] - mx)
					sum += s[j]
				}
				for e := 0; e < a.ValDim; e++ {
					var v float64
					for j := 0; j < n; j++ {
						v += s[j] / sum * at(j, 2*a.KeyDim+e)
					}
					out[(w*n+i)*a.Heads*a.ValDim+h*a.ValDim+e] = float32(v)
				}
			}
		}
	}
	return out
}

func TestWindowAttention(t *testing.T) {
	d := testDevice(t)
	r := rand.New(rand.NewPCG(23, 24))
	for _, a := range []Attention{
		{Windows: 1, Tokens: 1, Heads: 1, KeyDim: 1, ValDim: 1},
		{Windows: 3, Tokens: 49, Heads: 2, KeyDim: 32, ValDim: 32},  // TinyViT stage 1
		{Windows: 2, Tokens: 196, Heads: 5, KeyDim: 32, ValDim: 32}, // stage 3, window 14
		{Windows: 4, Tokens: 10, Heads: 3, KeyDim: 8, ValDim: 12},   // key and value widths differ
	} {
		a.Scale = float32(1 / math.Sqrt(float64(a.KeyDim)))
		for _, withBias := range []bool{false, true} {
			t.Run(fmt.Sprintf("%+v/bias=%v", a, withBias), func(t *testing.T) {
				qkv := randSlice(r, a.Windows*a.Tokens*a.Heads*(2*a.KeyDim+a.ValDim), 1)
				var bias []float32
				var gb *Buffer
				if withBias {
					bias = randSlice(r, a.Heads*a.Tokens*a.Tokens, 2)
					gb = upload(t, d, bias)
				}
				want := attentionRef(qkv, bias, a)
				out := zeros(t, d, len(want))
				if err := d.WindowAttention(out, upload(t, d, qkv), gb, nil, a); err != nil {
					t.Fatal(err)
				}
				check(t, "window attention", read(t, d, out), want, 4e-6)
			})
		}
	}
}
