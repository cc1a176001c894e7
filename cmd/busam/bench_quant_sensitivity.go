package main

// busam bench quant --sensitivity: which layers' int8 rounding changes the
// predictions. Each configuration stores one group of layers in int8 (in
// memory: the exact round trip a file makes, quant.RoundTrip; every other
// tensor stays fp32) and is compared with fp32 on the same images:
// embedding cosine, images whose class changes, Dice. The fp32 embeddings
// are read (or computed) once per image and shared by all groups.

import (
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/busam/busam/dataset"
	"github.com/busam/busam/metrics"
	"github.com/busam/busam/model/encoder"
	"github.com/busam/busam/model/heads"
	"github.com/busam/busam/model/pipeline"
	"github.com/busam/busam/model/tensor"
	"github.com/busam/busam/modelfile"
	"github.com/busam/busam/quant"
)

// layerGroup is a set of layers quantized together in one configuration.
type layerGroup struct {
	name  string
	heads bool           // layers of the heads file rather than the encoder
	re    *regexp.Regexp // matches tensor names; only int8-eligible weights count
}

// The built-in groups follow TinyViT's structure: the convolutional stem
// and stage 0 (MBConv), the patch merges between stages, and per
// transformer block its window attention, MLP and depthwise local conv.
var builtinGroups = map[string]struct {
	heads   bool
	pattern string
}{
	"stem+mbconv":      {false, `^(patch_embed|layers\.0\.blocks)\.`},
	"merges":           {false, `^layers\.\d+\.downsample\.`},
	"attention":        {false, `^layers\.\d+\.blocks\.\d+\.attn\.`},
	"mlp":              {false, `^layers\.\d+\.blocks\.\d+\.mlp\.`},
	"local-conv":       {false, `^layers\.\d+\.blocks\.\d+\.local_conv\.`},
	"neck":             {false, `^neck\.`},
	"encoder-all":      {false, ``},
	"heads-decoder":    {true, `^(dec|stem\d)\.`},
	"heads-classifier": {true, `^cls\.`},
}

// defaultGroupNames is the coarse study: one group per kind of layer, the
// whole encoder (whose class changes the groups should explain), the heads.
var defaultGroupNames = []string{"stem+mbconv", "merges", "attention", "mlp", "local-conv", "neck", "encoder-all", "heads-decoder", "heads-classifier"}

// stageKinds split attention, mlp and local-conv by transformer stage
// (1..3), to refine a coarse group that changes predictions.
var stageKinds = map[string]string{"attention": "attn", "mlp": "mlp", "local-conv": "local_conv"}

func stageGroupNames() []string {
	var names []string
	for _, kind := range slices.Sorted(maps.Keys(stageKinds)) {
		for s := 1; s <= 3; s++ {
			names = append(names, fmt.Sprintf("%s-%d", kind, s))
		}
	}
	return names
}

// parseGroups reads --groups: a comma list of built-in names (the default
// set when empty) or NAME=REGEXP groups over encoder tensor names.
func parseGroups(list string) ([]layerGroup, error) {
	items := defaultGroupNames
	if strings.TrimSpace(list) != "" {
		items = strings.Split(list, ",")
	}
	seen := map[string]bool{}
	var gs []layerGroup
	for _, item := range items {
		item = strings.TrimSpace(item)
		g, err := parseGroup(item)
		if err != nil {
			return nil, err
		}
		if seen[g.name] {
			return nil, fmt.Errorf("group %q named twice", g.name)
		}
		seen[g.name] = true
		gs = append(gs, g)
	}
	return gs, nil
}

func parseGroup(item string) (layerGroup, error) {
	if name, pattern, ok := strings.Cut(item, "="); ok {
		if name == "" {
			return layerGroup{}, fmt.Errorf("%q: empty group name", item)
		}
		re, err := regexp.Compile(pattern)
		if err != nil {
			return layerGroup{}, fmt.Errorf("group %s: %v", name, err)
		}
		return layerGroup{name: name, re: re}, nil
	}
	if b, ok := builtinGroups[item]; ok {
		return layerGroup{name: item, heads: b.heads, re: regexp.MustCompile(b.pattern)}, nil
	}
	for kind, module := range stageKinds {
		if s, found := strings.CutPrefix(item, kind+"-"); found && len(s) == 1 && s >= "1" && s <= "3" {
			return layerGroup{name: item, re: regexp.MustCompile(`^layers\.` + s + `\.blocks\.\d+\.` + module + `\.`)}, nil
		}
	}
	return layerGroup{}, fmt.Errorf("unknown group %q (built-in: %s, %s; or NAME=REGEXP)", item,
		strings.Join(slices.Sorted(maps.Keys(builtinGroups)), ", "), strings.Join(stageGroupNames(), ", "))
}

// groupRun is one configuration of the study and its scores.
type groupRun struct {
	layerGroup
	layers   []string         // the tensors it stores in int8
	enc      *encoder.Encoder // encoder groups
	neckOnly bool             // only neck layers: runs on the fp32 trunk features when cached
	h        *heads.Model     // heads groups
	cos      []float64
	dice     []float64
	correct  int
	changed  map[string]dataset.Label // image id -> the class it predicts instead of fp32's
	elapsed  time.Duration
}

// imageRef is the fp32 prediction of one image.
type imageRef struct {
	id            string
	truth, label  dataset.Label
	margin        float64 // top-1 minus top-2 class probability
	lesion, right bool
}

// newGroupRun builds a group's model: the encoder (or heads) with the
// group's int8-eligible weights through the int8 round trip. Encoder
// tensors the heads override stay as stored: the app ships them in the
// heads, never in int8.
func newGroupRun(g layerGroup, p32, over map[string]*tensor.Tensor, headsPath string, headsData []byte) (*groupRun, error) {
	r := &groupRun{layerGroup: g, changed: map[string]dataset.Label{}}
	if g.heads {
		h, err := heads.Decode(headsPath, headsData)
		if err != nil {
			return nil, err
		}
		for _, p := range h.Params() {
			if !g.re.MatchString(p.Name) || !quant.ShouldQuantizeInt8(p.Name, p.Value.Shape, quant.DefaultMinNumel) {
				continue
			}
			q, err := quant.RoundTrip(quant.Int8, p.Name, p.Value)
			if err != nil {
				return nil, fmt.Errorf("heads %s: %w", headsPath, err)
			}
			copy(p.Value.Data, q.Data)
			r.layers = append(r.layers, p.Name)
		}
		r.h = h
		return r, nil
	}
	p := maps.Clone(p32)
	r.neckOnly = true
	for _, name := range slices.Sorted(maps.Keys(p32)) {
		t := p32[name]
		if over[name] != nil || !g.re.MatchString(name) || !quant.ShouldQuantizeInt8(name, t.Shape, quant.DefaultMinNumel) {
			continue
		}
		q, err := quant.RoundTrip(quant.Int8, name, t)
		if err != nil {
			return nil, err
		}
		p[name] = q
		r.layers = append(r.layers, name)
		r.neckOnly = r.neckOnly && strings.HasPrefix(name, "neck.")
	}
	if len(r.layers) == 0 {
		return r, nil
	}
	var err error
	if r.enc, err = encoder.New(p); err != nil {
		return nil, fmt.Errorf("group %s: %w", g.name, err)
	}
	return r, nil
}

// runSensitivity runs every group over the part and returns the report.
func runSensitivity(b *quantBench, fp32Path string, groups []layerGroup) (string, error) {
	over := b.h.EncoderOverrides
	ref, err := modelfile.LoadEncoder(fp32Path, over)
	if err != nil {
		return "", err
	}
	p32, err := modelfile.ReadTensors(fp32Path)
	if err != nil {
		return "", err
	}
	if err := encoder.ApplyOverrides(p32, over); err != nil {
		return "", fmt.Errorf("%w (applying the overrides of %s)", err, b.headsPath)
	}
	headsData, err := os.ReadFile(b.headsPath)
	if err != nil {
		return "", fmt.Errorf("--heads: %w", err)
	}
	var runs, empty []*groupRun
	for _, g := range groups {
		r, err := newGroupRun(g, p32, over, b.headsPath, headsData)
		if err != nil {
			return "", err
		}
		if len(r.layers) == 0 {
			empty = append(empty, r)
			continue
		}
		runs = append(runs, r)
	}
	fmt.Fprintf(os.Stderr, "bench quant --sensitivity: %d groups, %d images of the %s part\n", len(runs), len(b.ids), b.part)
	start := time.Now()
	var refs []imageRef
	var dice32 []float64
	for i := range b.ids {
		x, err := b.load(i)
		if err != nil {
			return "", err
		}
		emb32, trunk32, err := b.reference(ref, x)
		if err != nil {
			return "", err
		}
		res32, err := pipeline.Predict(b.h, emb32, x.input, x.g)
		if err != nil {
			return "", err
		}
		ir := imageRef{id: x.s.ID, truth: x.s.Label, label: res32.Label, margin: topMargin(res32.Probs),
			lesion: x.s.Label.HasLesion(), right: res32.Label == x.s.Label}
		refs = append(refs, ir)
		if ir.lesion {
			d, err := metrics.Dice(res32.Mask, x.truth)
			if err != nil {
				return "", err
			}
			dice32 = append(dice32, d)
		}
		for _, r := range runs {
			t0 := time.Now()
			emb, h := emb32, b.h
			switch {
			case r.h != nil:
				h = r.h
			case r.neckOnly && trunk32 != nil:
				emb, err = r.enc.Neck(trunk32)
			default:
				emb, err = r.enc.Forward(x.input)
			}
			if err != nil {
				return "", fmt.Errorf("group %s: %w", r.name, err)
			}
			if !r.heads {
				r.cos = append(r.cos, tensor.Cosine(emb32.Data, emb.Data))
			}
			res, err := pipeline.Predict(h, emb, x.input, x.g)
			if err != nil {
				return "", err
			}
			if res.Label == x.s.Label {
				r.correct++
			}
			if res.Label != res32.Label {
				r.changed[x.s.ID] = res.Label
			}
			if ir.lesion {
				d, err := metrics.Dice(res.Mask, x.truth)
				if err != nil {
					return "", err
				}
				r.dice = append(r.dice, d)
			}
			r.elapsed += time.Since(t0)
		}
		fmt.Fprintf(os.Stderr, "\r%d/%d", i+1, len(b.ids))
	}
	fmt.Fprintln(os.Stderr)
	return sensitivityReport(b, runs, empty, refs, dice32, time.Since(start)), nil
}

// topMargin is the top-1 minus the top-2 probability.
func topMargin(p []float32) float64 {
	s := slices.Sorted(slices.Values(p))
	if len(s) < 2 {
		return 1
	}
	return float64(s[len(s)-1] - s[len(s)-2])
}

func sensitivityReport(b *quantBench, runs, empty []*groupRun, refs []imageRef, dice32 []float64, wall time.Duration) string {
	var w strings.Builder
	correct32 := 0
	for _, r := range refs {
		if r.right {
			correct32++
		}
	}
	n := len(refs)
	w.WriteString("| group (int8, rest fp32) | int8 layers | embedding cosine vs fp32, mean (min) | Dice change, lesion images | images whose class changes | net accuracy change | CPU time |\n")
	w.WriteString("|---|---:|---|---:|---:|---:|---:|\n")
	for _, r := range runs {
		cos := "— (heads only)"
		if !r.heads {
			cos = fmt.Sprintf("%.6f (%.6f)", mean(r.cos), minimum(r.cos))
		}
		fmt.Fprintf(&w, "| %s | %d | %s | %+.4f | %d | %+d (%+.2f pts) | %s |\n",
			r.name, len(r.layers), cos, mean(r.dice)-mean(dice32), len(r.changed),
			r.correct-correct32, 100*float64(r.correct-correct32)/float64(n), r.elapsed.Round(time.Second))
	}
	for _, r := range empty {
		fmt.Fprintf(&w, "| %s | 0 | not run: no int8-eligible layer (or all overridden by the heads) | | | | |\n", r.name)
	}
	fmt.Fprintf(&w, "\n%d images of the %s part, heads %s; fp32: Dice %.4f, accuracy %.4f. Wall time %s.\n",
		n, b.part, b.headsPath, mean(dice32), float64(correct32)/float64(n), wall.Round(time.Second))
	if over := b.h.EncoderOverrides; len(over) > 0 {
		fmt.Fprintf(&w, "The heads override %d encoder tensors (%s); they stay as stored in every configuration.\n",
			len(over), strings.Join(slices.Sorted(maps.Keys(over)), ", "))
	}

	// Per image: which groups change its class.
	var rows []string
	for _, ir := range refs {
		var by []string
		for _, r := range runs {
			if l, ok := r.changed[ir.id]; ok {
				by = append(by, fmt.Sprintf("%s (%s)", r.name, l))
			}
		}
		if len(by) > 0 {
			verdict := "was wrong"
			if ir.right {
				verdict = "was right"
			}
			rows = append(rows, fmt.Sprintf("| %s | %s | %s, %s | %.4f | %s |", ir.id, ir.truth, ir.label, verdict, ir.margin, strings.Join(by, ", ")))
		}
	}
	if len(rows) > 0 {
		w.WriteString("\nImages whose class changes, and the groups that change it (the class it becomes):\n\n")
		w.WriteString("| image | truth | fp32 class | fp32 top-2 margin | changed by |\n|---|---|---|---:|---|\n")
		w.WriteString(strings.Join(rows, "\n") + "\n")
	}
	var below1, below5 int
	for _, ir := range refs {
		if ir.margin < 0.01 {
			below1++
		}
		if ir.margin < 0.05 {
			below5++
		}
	}
	fmt.Fprintf(&w, "\nfp32 top-2 probability margin: %d of %d images below 0.01, %d below 0.05.\n", below1, n, below5)
	return w.String()
}
