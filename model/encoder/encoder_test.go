package encoder

import (
	"fmt"
	"image"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/busam/busam/internal/testutil"
	"github.com/busam/busam/model/tensor"
)

// tinyConfig runs in milliseconds, also in the float64 reference.
var tinyConfig = Tiny

// TestEncoderMatchesReference runs the whole encoder at several input
// sizes, including odd ones, against the module-by-module reference.
func TestEncoderMatchesReference(t *testing.T) {
	// Small bands and im2col chunks, so banded code paths run many bands
	// with a partial last one even on these small maps.
	savedMLP, savedMB, savedCol := mlpBand, mbBandPixels, imcolPixels
	defer func() { mlpBand, mbBandPixels, imcolPixels = savedMLP, savedMB, savedCol }()
	mlpBand, mbBandPixels, imcolPixels = 7, 30, 50
	p := randomParams(tinyConfig, 42)
	enc, err := NewWithConfig(tinyConfig, p)
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range [][2]int{{32, 32}, {45, 29}, {16, 80}, {1, 1}, {100, 76}} {
		h, w := size[0], size[1]
		rng := rand.New(rand.NewPCG(uint64(h), uint64(w)))
		x := testutil.To32(testutil.RandomInput(rng, 3*h*w))
		xd := make([]float64, len(x))
		for i, v := range x {
			xd[i] = float64(v)
		}
		want, oh, ow := refEncoder(tinyConfig, p, xd, h, w)
		got, err := enc.Forward(tensor.From(x, 3, h, w))
		if err != nil {
			t.Fatal(err)
		}
		if eh, ew := enc.OutputSize(h, w); eh != oh || ew != ow {
			t.Fatalf("%dx%d: OutputSize %dx%d, reference %dx%d", h, w, eh, ew, oh, ow)
		}
		if s := got.Shape; len(s) != 3 || s[0] != tinyConfig.NeckDim || s[1] != oh || s[2] != ow {
			t.Fatalf("%dx%d: output shape %v, want [%d %d %d]", h, w, s, tinyConfig.NeckDim, oh, ow)
		}
		testutil.AssertClose(t, "encoder", got.Data, want, 1e-4)
	}
}

// TestForwardRepeatable checks that scratch reuse leaks nothing from one
// call into the next, also across sizes and concurrent calls.
func TestForwardRepeatable(t *testing.T) {
	enc, err := NewWithConfig(tinyConfig, randomParams(tinyConfig, 7))
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	a := tensor.From(testutil.To32(testutil.RandomInput(rng, 3*40*40)), 3, 40, 40)
	b := tensor.From(testutil.To32(testutil.RandomInput(rng, 3*23*31)), 3, 23, 31)
	first, _ := enc.Forward(a)
	enc.Forward(b)
	done := make(chan *tensor.Tensor, 4)
	for i := 0; i < 4; i++ {
		go func() {
			out, _ := enc.Forward(a)
			done <- out
		}()
	}
	for i := 0; i < 4; i++ {
		out := <-done
		for j := range first.Data {
			if out.Data[j] != first.Data[j] {
				t.Fatalf("run %d differs at %d: %v vs %v", i, j, out.Data[j], first.Data[j])
			}
		}
	}
}

func TestForwardRejectsBadInput(t *testing.T) {
	enc, err := NewWithConfig(tinyConfig, randomParams(tinyConfig, 7))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		x    *tensor.Tensor
	}{
		{"nil", nil},
		{"2-D", tensor.New(8, 8)},
		{"1 channel", tensor.New(1, 8, 8)},
		{"zero height", &tensor.Tensor{Shape: []int{3, 0, 8}}},
		{"short data", &tensor.Tensor{Shape: []int{3, 4, 4}, Data: make([]float32, 10)}},
		{"huge", &tensor.Tensor{Shape: []int{3, 100000, 1}}},
	} {
		if _, err := enc.Forward(tc.x); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}

func TestNewReportsBadTensors(t *testing.T) {
	for _, tc := range []struct {
		name, tensor, want string
		edit               func(map[string]*tensor.Tensor)
	}{
		{"missing", "layers.2.blocks.1.mlp.fc1.weight", "missing tensor layers.2.blocks.1.mlp.fc1.weight", func(p map[string]*tensor.Tensor) {
			delete(p, "layers.2.blocks.1.mlp.fc1.weight")
		}},
		{"wrong shape", "neck.2.weight", "neck.2.weight has shape", func(p map[string]*tensor.Tensor) {
			p["neck.2.weight"] = tensor.New(3, 3)
		}},
		{"bias table", "layers.1.blocks.0.attn.attention_biases", "attention_biases has shape", func(p map[string]*tensor.Tensor) {
			p["layers.1.blocks.0.attn.attention_biases"] = tensor.New(2, 5)
		}},
		{"data shorter than shape", "patch_embed.seq.0.c.bias", "patch_embed.seq.0.c.bias", func(p map[string]*tensor.Tensor) {
			p["patch_embed.seq.0.c.bias"] = &tensor.Tensor{Shape: []int{4}, Data: make([]float32, 3)}
		}},
	} {
		p := randomParams(tinyConfig, 1)
		tc.edit(p)
		_, err := NewWithConfig(tinyConfig, p)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
	if _, err := NewWithConfig(Config{}, nil); err == nil {
		t.Error("zero config accepted")
	}
}

func TestGatheredBiasAccepted(t *testing.T) {
	// The ONNX export stores the bias gathered to [heads, N, N]; both forms
	// must build the same model.
	p := randomParams(tinyConfig, 3)
	a, err := NewWithConfig(tinyConfig, p)
	if err != nil {
		t.Fatal(err)
	}
	q := map[string]*tensor.Tensor{}
	for k, v := range p {
		q[k] = v
	}
	for s := 1; s < 4; s++ {
		for _, b := range a.Params.Blocks[s] {
			n := b.Attn.Window * b.Attn.Window
			delete(q, b.Attn.Bias.Name+"es") // the table
			q[b.Attn.Bias.Name] = tensor.From(b.Attn.Bias.Data, b.Attn.Heads, n, n)
		}
	}
	b, err := NewWithConfig(tinyConfig, q)
	if err != nil {
		t.Fatal(err)
	}
	x := tensor.From(testutil.To32(testutil.RandomInput(rand.New(rand.NewPCG(2, 2)), 3*20*20)), 3, 20, 20)
	ya, _ := a.Forward(x)
	yb, _ := b.Forward(x)
	for i := range ya.Data {
		if ya.Data[i] != yb.Data[i] {
			t.Fatalf("outputs differ at %d", i)
		}
	}
}

func TestSHA256DependsOnWeights(t *testing.T) {
	p := randomParams(tinyConfig, 1)
	a, _ := NewWithConfig(tinyConfig, p)
	b, _ := NewWithConfig(tinyConfig, randomParams(tinyConfig, 1))
	p["neck.3.bias"].Data[0] += 1
	c, _ := NewWithConfig(tinyConfig, p)
	if a.SHA256() != b.SHA256() || a.SHA256() == c.SHA256() || len(a.SHA256()) != 64 {
		t.Errorf("hashes %s %s %s", a.SHA256(), b.SHA256(), c.SHA256())
	}
}

func TestEmbed(t *testing.T) {
	enc, err := NewWithConfig(tinyConfig, randomParams(tinyConfig, 5))
	if err != nil {
		t.Fatal(err)
	}
	img := image.NewGray(image.Rect(0, 0, 30, 20))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 13)
	}
	emb, g, err := enc.Embed(img)
	if err != nil {
		t.Fatal(err)
	}
	if g.OrigW != 30 || g.OrigH != 20 || g.ResizedW != DefaultSize || g.ResizedH != 683 || g.Size != DefaultSize {
		t.Fatalf("geometry %+v", g)
	}
	x, _ := Preprocess(img, DefaultSize)
	want, err := enc.Forward(x)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(emb.Shape) != fmt.Sprint(want.Shape) {
		t.Fatalf("shape %v, want %v", emb.Shape, want.Shape)
	}
	for i := range want.Data {
		if emb.Data[i] != want.Data[i] {
			t.Fatalf("Embed differs from Forward(Preprocess) at %d", i)
		}
	}
	for _, bad := range []image.Image{nil, image.NewGray(image.Rect(3, 3, 3, 9))} {
		if _, _, err := enc.Embed(bad); err == nil {
			t.Errorf("Embed(%v): no error", bad)
		}
	}
}

// TestFLOPs checks the analytic count against the multiply-adds the
// module-by-module reference performs (padding tokens of window attention
// and padding taps of convolutions included, as in the ONNX graph; the MLP
// and the rest run on real tokens only).
func TestFLOPs(t *testing.T) {
	p := randomParams(tinyConfig, 9)
	enc, err := NewWithConfig(tinyConfig, p)
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range [][2]int{{32, 32}, {45, 29}, {100, 76}} {
		h, w := size[0], size[1]
		refMACs = 0
		refEncoder(tinyConfig, p, make([]float64, 3*h*w), h, w)
		if got, want := enc.FLOPs(h, w), 2*refMACs; got != want {
			t.Errorf("%dx%d: FLOPs %d, reference performs %d", h, w, got, want)
		}
	}
}
