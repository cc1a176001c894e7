package encoder

import (
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/busam/busam/internal/testutil"
	"github.com/busam/busam/model/tensor"
	"github.com/busam/busam/weights/safetensors"
)

// TestLayoutCoversWeightsFile: the converted MobileSAM file holds exactly
// the tensors Layout names, with the same element counts.
func TestLayoutCoversWeightsFile(t *testing.T) {
	path := testutil.Need(t, filepath.Join(testutil.CacheDir(t), "weights", "encoder.safetensors"), "converted encoder weights")
	f, err := safetensors.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	layout, err := Layout(MobileSAM)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, w := range layout.Weights() {
		want = append(want, w.Name)
		got, err := f.Tensor(w.Name)
		if err != nil {
			t.Errorf("%s: %v", w.Name, err)
			continue
		}
		if tensor.Numel(got.Shape) != tensor.Numel(w.Shape) {
			t.Errorf("%s: file shape %v, layout %v", w.Name, got.Shape, w.Shape)
		}
	}
	names := f.Names()
	sort.Strings(names)
	sort.Strings(want)
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Errorf("file has %d tensors, layout %d:\nfile   %v\nlayout %v", len(names), len(want), names, want)
	}
}

func TestLayout(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     Config
		tensors int
	}{
		// 190: weights/ENCODER.md's count for the converted file.
		{"MobileSAM", MobileSAM, 190},
		// stem 4, MBConv 2x6, merges 3x6, blocks 4x15, neck 6.
		{"Tiny", Tiny, 4 + 12 + 18 + 60 + 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Layout(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			ws := p.Weights()
			if len(ws) != tc.tensors {
				t.Errorf("%d tensors, want %d", len(ws), tc.tensors)
			}
			seen := map[string]bool{}
			for _, w := range ws {
				if seen[w.Name] || w.Data != nil || tensor.Numel(w.Shape) < 1 {
					t.Errorf("tensor %s %v: duplicate, filled or empty", w.Name, w.Shape)
				}
				seen[w.Name] = true
			}
			blocks := tc.cfg.Depths[1] + tc.cfg.Depths[2] + tc.cfg.Depths[3]
			if n := len(p.TokenLinears()); n != 4*blocks {
				t.Errorf("%d token linears, want %d", n, 4*blocks)
			}
			// OutputSize (closed form) agrees with the convs' own geometry.
			for _, size := range [][2]int{{1, 1}, {45, 29}, {1024, 1024}, {1023, 700}} {
				h, w := size[0], size[1]
				for i := range p.Stem {
					h, w = p.Stem[i].OutSize(h, w)
				}
				for s := range p.Merges {
					h, w = p.Merges[s].OutSize(h, w)
				}
				if gh, gw := tc.cfg.OutputSize(size[0], size[1]); gh != h || gw != w {
					t.Errorf("%v: OutputSize %dx%d, convs give %dx%d", size, gh, gw, h, w)
				}
			}
		})
	}
	if _, err := Layout(Config{}); err == nil {
		t.Error("Layout accepted a zero config")
	}
}

// TestNewParamsFillsEveryWeight: RandomParams and NewParams agree on the
// names (attention biases come as tables and leave gathered).
func TestNewParamsFillsEveryWeight(t *testing.T) {
	raw := randomParams(Tiny, 3)
	p, err := NewParams(Tiny, raw)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range p.Weights() {
		if len(w.Data) != tensor.Numel(w.Shape) {
			t.Errorf("%s: %d values, shape %v", w.Name, len(w.Data), w.Shape)
		}
	}
	if len(p.Weights()) != len(raw) {
		t.Errorf("%d weights from %d tensors", len(p.Weights()), len(raw))
	}
}

// TestFromParams: an encoder built from a Params equals one built from the
// tensors, and its hash follows the values.
func TestFromParams(t *testing.T) {
	raw := randomParams(Tiny, 4)
	p, err := NewParams(Tiny, raw)
	if err != nil {
		t.Fatal(err)
	}
	a, err := NewWithConfig(Tiny, raw)
	if err != nil {
		t.Fatal(err)
	}
	b := FromParams(p)
	x := tensor.New(3, 21, 17)
	for i := range x.Data {
		x.Data[i] = float32(i%13)/6 - 1
	}
	ya, _ := a.Forward(x)
	yb, err := b.Forward(x)
	if err != nil {
		t.Fatal(err)
	}
	for i := range ya.Data {
		if ya.Data[i] != yb.Data[i] {
			t.Fatalf("outputs differ at %d", i)
		}
	}
	before := b.SHA256()
	p.Neck.Norm2.Bias.Data[0] += 1
	if after := FromParams(p).SHA256(); len(before) != 64 || before == after {
		t.Errorf("hash %q, after a weight change %q", before, after)
	}
}
