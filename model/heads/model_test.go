package heads

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/busam/busam/model/tensor"
)

func TestConfigValidate(t *testing.T) {
	mod := func(f func(*Config)) Config { c := DefaultConfig("unet"); f(&c); return c }
	cases := []struct {
		name string
		cfg  Config
		want string // substring of the error; "" = valid
	}{
		{"default conv", DefaultConfig("conv"), ""},
		{"default unet", DefaultConfig("unet"), ""},
		{"bad kind", mod(func(c *Config) { c.Kind = "vit" }), "kind"},
		{"width not multiple of groups", mod(func(c *Config) { c.Width[1] = 6 }), "multiple"},
		{"stem not multiple of groups", mod(func(c *Config) { c.Stem[1] = 5 }), "multiple"},
		{"one class", mod(func(c *Config) { c.Classes = 1 }), "classes"},
		{"dropout 1", mod(func(c *Config) { c.Dropout = 1 }), "dropout"},
		{"huge embed", mod(func(c *Config) { c.EmbedDim = 1 << 20 }), "exceeds"},
	}
	for _, c := range cases {
		err := c.cfg.Validate()
		if (err == nil) != (c.want == "") || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s: Validate() = %v, want error containing %q", c.name, err, c.want)
		}
	}
}

func TestForwardShapesAndAttention(t *testing.T) {
	for _, kind := range []string{"conv", "unet"} {
		m, err := New(tinyConfig(kind))
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(1, 1))
		// The image may come at full encoder size (16h) or already pooled.
		for _, imgSize := range [][2]int{{48, 32}, {12, 8}} {
			in := Input{Embedding: randTensor(rng, 6, 3, 2), Image: randTensor(rng, 3, imgSize[0], imgSize[1])}
			out, err := m.Predict(in)
			if err != nil {
				t.Fatalf("%s: %v", kind, err)
			}
			if !slices.Equal(out.MaskLogits.Shape, []int{1, 12, 8}) || len(out.ClassLogits) != 3 || !slices.Equal(out.Attention.Shape, []int{1, 3, 2}) {
				t.Fatalf("%s: shapes mask %v classes %d attention %v", kind, out.MaskLogits.Shape, len(out.ClassLogits), out.Attention.Shape)
			}
			var sum float64
			for _, a := range out.Attention.Data {
				if a < 0 {
					t.Fatalf("%s: negative attention %v", kind, a)
				}
				sum += float64(a)
			}
			if sum > 1+1e-5 {
				t.Errorf("%s: attention sums to %v, want <= 1", kind, sum)
			}
		}
	}
}

func TestCheckRejectsBadInput(t *testing.T) {
	m, err := New(tinyConfig("unet"))
	if err != nil {
		t.Fatal(err)
	}
	good := tensor.New(6, 3, 2)
	cases := []struct {
		name string
		in   Input
	}{
		{"no embedding", Input{}},
		{"wrong channels", Input{Embedding: tensor.New(5, 3, 2), Image: tensor.New(3, 12, 8)}},
		{"2-D embedding", Input{Embedding: tensor.New(6, 6), Image: tensor.New(3, 12, 8)}},
		{"short data", Input{Embedding: &tensor.Tensor{Shape: []int{6, 3, 2}, Data: make([]float32, 5)}, Image: tensor.New(3, 12, 8)}},
		{"no image", Input{Embedding: good}},
		{"image not a multiple", Input{Embedding: good, Image: tensor.New(3, 13, 8)}},
		{"image aspect differs", Input{Embedding: good, Image: tensor.New(3, 24, 8)}},
		{"grey image", Input{Embedding: good, Image: tensor.New(1, 12, 8)}},
	}
	for _, c := range cases {
		if _, err := m.Predict(c.in); err == nil {
			t.Errorf("%s: Predict accepted it", c.name)
		}
	}
}

func TestSeededInitIsReproducible(t *testing.T) {
	a, _ := New(DefaultConfig("unet"))
	b, _ := New(DefaultConfig("unet"))
	c := DefaultConfig("unet")
	c.InitSeed = 2
	d, _ := New(c)
	same, differ := true, false
	for i, p := range a.Params() {
		if !slices.Equal(p.Value.Data, b.Params()[i].Value.Data) {
			same = false
		}
		if !slices.Equal(p.Value.Data, d.Params()[i].Value.Data) {
			differ = true
		}
	}
	if !same || !differ {
		t.Errorf("same seed identical: %v, other seed different: %v", same, differ)
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	for _, kind := range []string{"conv", "unet"} {
		m, _ := New(tinyConfig(kind))
		rng := rand.New(rand.NewPCG(3, 3))
		for _, p := range m.Params() {
			for i := range p.Value.Data {
				p.Value.Data[i] = float32(rng.NormFloat64())
			}
		}
		path := filepath.Join(t.TempDir(), "heads.safetensors")
		if err := m.SaveWithMetadata(path, map[string]string{"note": "x", "kind": "overridden?"}); err != nil {
			t.Fatal(err)
		}
		back, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		if back.Config != m.Config {
			t.Errorf("%s: config %+v, want %+v", kind, back.Config, m.Config)
		}
		in := Input{Embedding: randTensor(rng, 6, 3, 2), Image: randTensor(rng, 3, 12, 8)}
		want, err := m.Predict(in)
		if err != nil {
			t.Fatal(err)
		}
		got, err := back.Predict(in)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(want.MaskLogits.Data, got.MaskLogits.Data) || !slices.Equal(want.ClassLogits, got.ClassLogits) {
			t.Errorf("%s: loaded model predicts differently", kind)
		}
		meta, err := Metadata(path)
		if err != nil || meta["note"] != "x" || meta["kind"] != kind {
			t.Errorf("%s: metadata %v, %v", kind, meta, err)
		}
	}
}

func TestDecodeRejectsBadFiles(t *testing.T) {
	m, _ := New(tinyConfig("conv"))
	path := filepath.Join(t.TempDir(), "h.safetensors")
	if err := m.Save(path); err != nil {
		t.Fatal(err)
	}
	good, _ := os.ReadFile(path)
	other, _ := New(tinyConfig("unet"))
	otherPath := filepath.Join(t.TempDir(), "u.safetensors")
	other.Save(otherPath)
	unet, _ := os.ReadFile(otherPath)
	cases := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"truncated", good[:len(good)/2]},
		{"garbage", []byte("not a safetensors file at all")},
		// Kind swapped in the metadata: the tensors no longer match the config.
		{"config mismatch", []byte(strings.Replace(string(unet), `\"kind\":\"unet\"`, `\"kind\":\"conv\"`, 1))},
	}
	for _, c := range cases {
		if _, err := Decode(c.name, c.data); err == nil {
			t.Errorf("%s: Decode accepted it", c.name)
		} else if !strings.Contains(err.Error(), c.name) {
			t.Errorf("%s: error %q does not name the file", c.name, err)
		}
	}
}

func TestFLOPsOfDefaultModels(t *testing.T) {
	// Hand count for the conv head at 64x64: 1x1 256->32, 3x3 32->32,
	// 1x1 32->16 at 64^2; 3x3 16->16, 1x1 16->8 at 128^2; 3x3 8->8,
	// 1x1 8->1 at 256^2; classifier 578->64->3.
	macs := int64(256*32+9*32*32+32*16)*64*64 + int64(9*16*16+16*8)*128*128 + int64(9*8*8+8)*256*256 + 578*64 + 64*3
	m, _ := New(DefaultConfig("conv"))
	if got := m.FLOPs(64, 64); got != 2*macs {
		t.Errorf("conv FLOPs %d, want %d", got, 2*macs)
	}
	u, _ := New(DefaultConfig("unet"))
	if u.FLOPs(64, 64) <= m.FLOPs(64, 64) {
		t.Errorf("unet FLOPs %d not above conv %d", u.FLOPs(64, 64), m.FLOPs(64, 64))
	}
	for _, x := range []*Model{m, u} {
		if f, tf := x.FLOPs(64, 64), x.TrainFLOPs(64, 64); tf <= 2*f || tf >= 3*f {
			t.Errorf("%s: train FLOPs %d not between 2x and 3x forward %d", x.Config.Kind, tf, f)
		}
	}
}

func TestFeatureStatsStandardiseClassifierInput(t *testing.T) {
	m, _ := New(tinyConfig("conv"))
	rng := rand.New(rand.NewPCG(5, 5))
	in := Input{Embedding: randTensor(rng, 6, 3, 2)}
	prob := tensor.New(1, 12, 8)
	for i := range prob.Data {
		prob.Data[i] = rng.Float32()
	}
	z := append([]float32(nil), m.ClassifierInput(in, prob)...)
	// Standardising with this very input as the mean makes the classifier
	// see a zero vector, so LayerNorm passes only its bias: the class
	// logits no longer depend on the embedding.
	ones := make([]float32, len(z))
	for i := range ones {
		ones[i] = 1
	}
	if err := m.SetFeatureStats(z, ones); err != nil {
		t.Fatal(err)
	}
	out, _ := m.ForwardTrainMask(in, nil, prob)
	other := Input{Embedding: randTensor(rng, 6, 3, 2)}
	if got := m.ClassifierInput(other, prob); slices.Equal(got, z) {
		t.Fatal("different inputs gave the same classifier input")
	}
	zeroLN, _ := m.norm.Forward(tensor.New(len(z)))
	want := m.fc2.Forward(GELU(m.fc1.Forward(zeroLN)))
	for i, v := range out.ClassLogits {
		if math.Abs(float64(v-want.Data[i])) > 1e-5 {
			t.Errorf("class logit %d = %v, want %v for a zero standardised input", i, v, want.Data[i])
		}
	}
	if err := m.SetFeatureStats(z[:3], ones[:3]); err == nil {
		t.Error("short statistics accepted")
	}
}
