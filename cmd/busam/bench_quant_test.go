package main

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/busam/busam/dataset"
	"github.com/busam/busam/model/encoder"
	"github.com/busam/busam/model/heads"
	"github.com/busam/busam/model/tensor"
	"github.com/busam/busam/quant"
)

func TestParseGroups(t *testing.T) {
	tests := []struct {
		list  string
		names []string
		heads []bool
		err   string
	}{
		{"", defaultGroupNames, nil, ""},
		{"neck, mlp-3", []string{"neck", "mlp-3"}, []bool{false, false}, ""},
		{"heads-classifier,mine=^neck\\.0\\.", []string{"heads-classifier", "mine"}, []bool{true, false}, ""},
		{"mlp-4", nil, nil, "unknown group"},
		{"nope", nil, nil, "unknown group"},
		{"neck,neck", nil, nil, "named twice"},
		{"x=(", nil, nil, "group x"},
		{"=abc", nil, nil, "empty group name"},
	}
	for _, tc := range tests {
		gs, err := parseGroups(tc.list)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err = %v, want %q", tc.list, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.list, err)
			continue
		}
		var names []string
		for i, g := range gs {
			names = append(names, g.name)
			if tc.heads != nil && g.heads != tc.heads[i] {
				t.Errorf("%q: group %s heads = %v", tc.list, g.name, g.heads)
			}
		}
		if !slices.Equal(names, tc.names) {
			t.Errorf("%q: groups %v, want %v", tc.list, names, tc.names)
		}
	}
}

// eligible lists the int8-eligible tensors of ts.
func eligible(ts map[string]*tensor.Tensor) []string {
	var names []string
	for _, n := range slices.Sorted(maps.Keys(ts)) {
		if quant.ShouldQuantizeInt8(n, ts[n].Shape, quant.DefaultMinNumel) {
			names = append(names, n)
		}
	}
	return names
}

// partition checks that every name is matched by exactly one of groups.
func partition(t *testing.T, names []string, groups []string) {
	t.Helper()
	gs, err := parseGroups(strings.Join(groups, ","))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		var in []string
		for _, g := range gs {
			if g.re.MatchString(n) {
				in = append(in, g.name)
			}
		}
		if len(in) != 1 {
			t.Errorf("%s is in groups %v, want exactly one of %v", n, in, groups)
		}
	}
}

// The built-in encoder groups split MobileSAM's int8 layers without gaps or
// overlaps, both the coarse ones and the per-stage refinement.
func TestGroupsPartitionEncoder(t *testing.T) {
	p, err := encoder.RandomParams(encoder.MobileSAM, 1)
	if err != nil {
		t.Fatal(err)
	}
	names := eligible(p)
	if len(names) != 68 {
		t.Fatalf("%d int8-eligible encoder tensors, want 68", len(names))
	}
	partition(t, names, []string{"stem+mbconv", "merges", "attention", "mlp", "local-conv", "neck"})
	partition(t, names, append([]string{"stem+mbconv", "merges", "neck"}, stageGroupNames()...))
	partition(t, names, []string{"encoder-all"})
}

func TestGroupsPartitionHeads(t *testing.T) {
	for _, kind := range []string{"unet", "conv"} {
		h, err := heads.Load("../../weights/heads/" + kind + "/heads.safetensors")
		if err != nil {
			t.Fatal(err)
		}
		ts := map[string]*tensor.Tensor{}
		for _, p := range h.Params() {
			ts[p.Name] = p.Value
		}
		names := eligible(ts)
		if len(names) == 0 {
			t.Fatalf("%s: no int8-eligible heads tensor", kind)
		}
		partition(t, names, []string{"heads-decoder", "heads-classifier"})
	}
}

// newGroupRun changes exactly the group's eligible tensors, to their int8
// round trip, and leaves tensors the heads override alone.
func TestNewGroupRun(t *testing.T) {
	p32, err := encoder.RandomParams(encoder.MobileSAM, 2)
	if err != nil {
		t.Fatal(err)
	}
	gs, err := parseGroups("neck,attention-2")
	if err != nil {
		t.Fatal(err)
	}
	neck, err := newGroupRun(gs[0], p32, nil, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(neck.layers, []string{"neck.0.weight", "neck.2.weight"}) || !neck.neckOnly || neck.enc == nil {
		t.Errorf("neck group: layers %v, neckOnly %v", neck.layers, neck.neckOnly)
	}
	w := neck.enc.Params.Neck.Conv1.Weight.Data
	rt, _ := quant.RoundTrip(quant.Int8, "neck.0.weight", p32["neck.0.weight"])
	if !slices.Equal(w, rt.Data) {
		t.Error("neck.0.weight is not its int8 round trip")
	}
	if !slices.Equal(neck.enc.Params.Stem[1].Weight.Data, p32["patch_embed.seq.2.c.weight"].Data) {
		t.Error("a tensor outside the group changed")
	}
	attn, err := newGroupRun(gs[1], p32, nil, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(attn.layers) != 12 || attn.neckOnly { // 6 blocks x (qkv, proj)
		t.Errorf("attention-2: %d layers %v, neckOnly %v", len(attn.layers), attn.layers, attn.neckOnly)
	}
	over := map[string]*tensor.Tensor{"neck.0.weight": p32["neck.0.weight"], "neck.2.weight": p32["neck.2.weight"]}
	overridden, err := newGroupRun(gs[0], p32, over, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(overridden.layers) != 0 || overridden.enc != nil {
		t.Errorf("overridden neck quantized: %v", overridden.layers)
	}
}

func TestSensitivityReport(t *testing.T) {
	refs := []imageRef{
		{id: "benign/a", truth: dataset.Benign, label: dataset.Malignant, margin: 0.004, lesion: true},
		{id: "normal/b", truth: dataset.Normal, label: dataset.Normal, margin: 0.5, right: true},
	}
	runs := []*groupRun{
		{layerGroup: layerGroup{name: "mlp"}, layers: []string{"x"}, cos: []float64{1, 0.9999}, dice: []float64{0.5}, correct: 2,
			changed: map[string]dataset.Label{"benign/a": dataset.Benign}},
		{layerGroup: layerGroup{name: "heads-classifier", heads: true}, layers: []string{"y"}, dice: []float64{0.6}, correct: 1,
			changed: map[string]dataset.Label{}},
	}
	b := &quantBench{part: "test", headsPath: "h.safetensors", h: &heads.Model{}}
	got := sensitivityReport(b, runs, nil, refs, []float64{0.6}, 0)
	for _, want := range []string{
		"| mlp | 1 | 0.999950 (0.999900) | -0.1000 | 1 | +1 (+50.00 pts) |",
		"| heads-classifier | 1 | — (heads only) | +0.0000 | 0 | +0 (+0.00 pts) |",
		"| benign/a | benign | malignant, was wrong | 0.0040 | mlp (benign) |",
		"1 of 2 images below 0.01, 1 below 0.05",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "normal/b") {
		t.Error("an unchanged image is listed")
	}
}

// The non-reference rows see a fine-tuned neck as the fp16 heads file
// stores it: conv weights rounded to fp16, norm parameters float32.
func TestAsFP16File(t *testing.T) {
	w := tensor.From([]float32{0.1, 1.0 / 3, -2.7e-5, 65519}, 2, 2)
	b := tensor.From([]float32{0.1, 1.0 / 3}, 2)
	got, err := asFP16File(map[string]*tensor.Tensor{"neck.0.weight": w, "neck.1.bias": b})
	if err != nil {
		t.Fatal(err)
	}
	rt, _ := quant.RoundTrip(quant.FP16, "neck.0.weight", w)
	if !slices.Equal(got["neck.0.weight"].Data, rt.Data) || slices.Equal(rt.Data, w.Data) {
		t.Errorf("weight %v, want its fp16 rounding %v", got["neck.0.weight"].Data, rt.Data)
	}
	if !slices.Equal(got["neck.1.bias"].Data, b.Data) {
		t.Errorf("bias changed: %v", got["neck.1.bias"].Data)
	}
}

func TestBuiltinRows(t *testing.T) {
	tests := []struct {
		list  string
		paths []string
		err   bool
	}{
		{"fp32,fp16,int8", []string{"w/encoder.safetensors", "w/encoder.fp16.safetensors", "w/encoder.int8.safetensors"}, false},
		{"fp32", []string{"w/encoder.safetensors"}, false},
		{"fp32,int8", []string{"w/encoder.safetensors", "w/encoder.int8.safetensors"}, false},
		{"int8,fp32", nil, true},
		{"fp32,int8,int8", nil, true},
		{"fp32,int4", nil, true},
		{"", nil, true},
	}
	for _, tc := range tests {
		vs, err := builtinRows(tc.list, "w")
		if (err != nil) != tc.err {
			t.Errorf("%q: err = %v", tc.list, err)
			continue
		}
		var paths []string
		for _, v := range vs {
			paths = append(paths, v.path)
		}
		if !slices.Equal(paths, tc.paths) {
			t.Errorf("%q: paths %v, want %v", tc.list, paths, tc.paths)
		}
	}
}
