package split

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/busam/busam/dataset"
	"github.com/busam/busam/internal/testutil"
)

// fakeDataset has n samples with labels in BUSI-like proportions and
// groups of 1-4 samples (group sizes drawn from a fixed seed).
func fakeDataset(n int) (*dataset.Dataset, map[string]string) {
	rng := rand.New(rand.NewPCG(42, 0))
	ds := &dataset.Dataset{Root: "/fake"}
	groups := map[string]string{}
	for i := 0; i < n; {
		size := 1 + rng.IntN(4)
		label := dataset.Label([]int{0, 1, 1, 1, 2, 2}[rng.IntN(6)])
		gname := fmt.Sprintf("g%03d", i)
		for k := 0; k < size && i < n; k++ {
			id := fmt.Sprintf("s%04d", i)
			ds.Samples = append(ds.Samples, dataset.Sample{ID: id, Label: label, W: 10, H: 10})
			groups[id] = gname
			i++
		}
	}
	ds.Classes = dataset.AllLabels
	return ds, groups
}

func labelsOf(ds *dataset.Dataset) map[string]dataset.Label {
	m := map[string]dataset.Label{}
	for _, s := range ds.Samples {
		m[s.ID] = s.Label
	}
	return m
}

func maxGroupSize(groups map[string]string) int {
	c := map[string]int{}
	best := 0
	for _, g := range groups {
		c[g]++
		best = max(best, c[g])
	}
	return best
}

func TestDeterminism(t *testing.T) {
	ds, groups := fakeDataset(300)
	a, err := MakeWithGroups(ds, groups, DefaultOptions)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := MakeWithGroups(ds, groups, DefaultOptions)
	if !reflect.DeepEqual(a, b) {
		t.Error("same seed gave different splits")
	}
	o := DefaultOptions
	o.Seed = 2
	c, _ := MakeWithGroups(ds, groups, o)
	if reflect.DeepEqual(a.Test, c.Test) {
		t.Error("a different seed gave the same test set")
	}
}

func TestHoldOutInvariants(t *testing.T) {
	ds, groups := fakeDataset(500)
	labels := labelsOf(ds)
	slack := float64(maxGroupSize(groups))
	for seed := int64(0); seed < 5; seed++ {
		opts := Options{Seed: seed, TestFrac: 0.2, ValFrac: 0.1}
		sp, err := MakeWithGroups(ds, groups, opts)
		if err != nil {
			t.Fatal(err)
		}
		if err := sp.consistent(); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		checkNoStraddle(t, sp, groups)
		// Per class: test holds TestFrac of the class and validation holds
		// ValFrac of the rest, each within one group of the target.
		total, test, val := map[dataset.Label]float64{}, map[dataset.Label]float64{}, map[dataset.Label]float64{}
		for _, s := range ds.Samples {
			total[s.Label]++
		}
		for _, id := range sp.Test {
			test[labels[id]]++
		}
		for _, id := range sp.Val {
			val[labels[id]]++
		}
		for _, l := range dataset.AllLabels {
			if d := math.Abs(test[l] - 0.2*total[l]); d > slack {
				t.Errorf("seed %d %s: %v of %v in test, want %.1f +- %v", seed, l, test[l], total[l], 0.2*total[l], slack)
			}
			if d := math.Abs(val[l] - 0.1*(total[l]-test[l])); d > slack {
				t.Errorf("seed %d %s: %v in val, want %.1f +- %v", seed, l, val[l], 0.1*(total[l]-test[l]), slack)
			}
		}
	}
}

func checkNoStraddle(t *testing.T, sp *Split, groups map[string]string) {
	t.Helper()
	where := map[string]string{}
	for part, ids := range map[string][]string{"train": sp.Train, "val": sp.Val, "test": sp.Test} {
		for _, id := range ids {
			g := groups[id]
			if prev, ok := where[g]; ok && prev != part {
				t.Fatalf("group %s in %s and %s", g, prev, part)
			}
			where[g] = part
		}
	}
}

func TestKFoldPartition(t *testing.T) {
	ds, groups := fakeDataset(400)
	labels := labelsOf(ds)
	const k = 5
	seen := map[string]int{}
	slack := float64(maxGroupSize(groups))
	for f := 0; f < k; f++ {
		sp, err := MakeWithGroups(ds, groups, Options{Seed: 7, ValFrac: 0.1, Folds: k, Fold: f})
		if err != nil {
			t.Fatal(err)
		}
		if err := sp.consistent(); err != nil {
			t.Fatal(err)
		}
		checkNoStraddle(t, sp, groups)
		perClass := map[dataset.Label]float64{}
		for _, id := range sp.Test {
			seen[id]++
			perClass[labels[id]]++
		}
		total := map[dataset.Label]float64{}
		for _, s := range ds.Samples {
			total[s.Label]++
		}
		for _, l := range dataset.AllLabels {
			if d := math.Abs(perClass[l] - total[l]/k); d > slack {
				t.Errorf("fold %d %s: %v in test, want %.1f +- %v", f, l, perClass[l], total[l]/k, slack)
			}
		}
	}
	if len(seen) != len(ds.Samples) {
		t.Errorf("test folds cover %d of %d samples", len(seen), len(ds.Samples))
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s is in %d test folds", id, n)
		}
	}
}

func TestBadOptions(t *testing.T) {
	ds, groups := fakeDataset(20)
	for _, o := range []Options{{TestFrac: 1}, {TestFrac: -0.1}, {ValFrac: 1.5}, {Folds: 3, Fold: 3}, {TestFrac: math.NaN()}} {
		if _, err := MakeWithGroups(ds, groups, o); err == nil {
			t.Errorf("options %+v accepted", o)
		}
	}
}

func TestSaveLoadAndStale(t *testing.T) {
	ds, groups := fakeDataset(100)
	sp, err := MakeWithGroups(ds, groups, DefaultOptions)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "split.json")
	if err := Save(path, sp); err != nil {
		t.Fatal(err)
	}
	back, err := LoadFor(path, ds)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, sp) {
		t.Errorf("round trip differs")
	}
	// A relabelled sample makes the split stale.
	ds.Samples[3].Label = (ds.Samples[3].Label + 1) % dataset.NumLabels
	if _, err := LoadFor(path, ds); err == nil || !strings.Contains(err.Error(), "stale") {
		t.Errorf("stale split not detected: %v", err)
	}
	// A hand-edited file where a train sample joins a test sample's group
	// is refused.
	sp.Groups[sp.Train[0]] = sp.Groups[sp.Test[0]]
	if err := Save(path, sp); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "straddles") {
		t.Errorf("straddling group not detected: %v", err)
	}
	if err := os.WriteFile(path, []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("bad JSON: %v", err)
	}
}

// texture is a random smooth-ish image so different seeds give unrelated
// pictures.
func texture(seed uint64, w, h int) *image.Gray {
	rng := rand.New(rand.NewPCG(seed, 1))
	img := image.NewGray(image.Rect(0, 0, w, h))
	// a few random blobs on a gradient, like tissue layers
	type blob struct{ x, y, r, v float64 }
	var blobs []blob
	for i := 0; i < 6; i++ {
		blobs = append(blobs, blob{rng.Float64() * float64(w), rng.Float64() * float64(h), 10 + rng.Float64()*30, rng.Float64()*200 - 100})
	}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			v := 128.0
			for _, b := range blobs {
				d := math.Hypot(float64(x)-b.x, float64(y)-b.y)
				v += b.v * math.Exp(-d*d/(2*b.r*b.r))
			}
			img.SetGray(x, y, color.Gray{uint8(min(max(v, 0), 255))})
		}
	}
	return img
}

// nearCopy re-renders img slightly brighter with 3 px cropped from the right
// and a small annotation mark, as BUSI's duplicates differ.
func nearCopy(img *image.Gray) *image.Gray {
	b := img.Bounds()
	out := image.NewGray(image.Rect(0, 0, b.Dx()-3, b.Dy()))
	for y := 0; y < b.Dy(); y++ {
		for x := 0; x < b.Dx()-3; x++ {
			out.SetGray(x, y, color.Gray{uint8(min(int(img.GrayAt(x, y).Y)+12, 255))})
		}
	}
	for i := 0; i < 5; i++ {
		out.SetGray(20+i, 20, color.Gray{255})
	}
	return out
}

func savePNG(t *testing.T, path string, img image.Image) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
}

func TestFindGroups(t *testing.T) {
	dir := t.TempDir()
	var rows []string
	add := func(name string, img image.Image, group string, source ...string) {
		savePNG(t, filepath.Join(dir, name+".png"), img)
		rows = append(rows, fmt.Sprintf("%s.png,,normal,%s,%s", name, group, strings.Join(source, "")))
	}
	base := texture(1, 120, 90)
	add("a", base, "")
	add("a_copy", nearCopy(base), "")
	// the same near copy in another dataset is not searched for
	other := texture(30, 120, 90)
	add("b", other, "", "one")
	add("b_elsewhere", nearCopy(other), "", "two")
	for i := uint64(2); i < 8; i++ {
		add(fmt.Sprintf("other%d", i), texture(i, 120, 90), "")
	}
	add("p1", texture(20, 100, 100), "patient9")
	add("p2", texture(21, 100, 100), "patient9")
	csv := filepath.Join(dir, "m.csv")
	if err := os.WriteFile(csv, []byte("image,mask,label,group,source\n"+strings.Join(rows, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ds, err := dataset.Load(csv)
	if err != nil {
		t.Fatal(err)
	}
	g, err := FindGroups(ds, DefaultDupRule)
	if err != nil {
		t.Fatal(err)
	}
	if g.Of["a"] != g.Of["a_copy"] {
		t.Errorf("near copy not grouped: pairs %+v", g.Pairs)
	}
	if g.Of["p1"] != g.Of["p2"] || g.Of["p1"] != "group:patient9" {
		t.Errorf("manifest group not honoured: %q %q", g.Of["p1"], g.Of["p2"])
	}
	distinct := map[string]bool{}
	for i := 2; i < 8; i++ {
		distinct[g.Of[fmt.Sprintf("other%d", i)]] = true
	}
	if len(distinct) != 6 || distinct[g.Of["a"]] {
		t.Errorf("unrelated images were grouped: %v (pairs %+v)", g.Of, g.Pairs)
	}
	if g.Merged != 4 {
		t.Errorf("Merged = %d, want 4", g.Merged)
	}
	if g.Of["b"] == g.Of["b_elsewhere"] {
		t.Error("near copies in two datasets were grouped; near-duplicates are looked for within a dataset")
	}
}

// TestRealBUSISplit groups and splits the real data; the group counts are
// printed for the report and the invariants checked.
func TestRealBUSISplit(t *testing.T) {
	if testing.Short() {
		t.Skip("decodes all 780 images")
	}
	ds, err := dataset.Load(testutil.Need(t, testutil.DataDir(t), "BUSI dataset"))
	if err != nil {
		t.Fatal(err)
	}
	g, err := FindGroups(ds, DefaultDupRule)
	if err != nil {
		t.Fatal(err)
	}
	groupsN := map[string]int{}
	for _, name := range g.Of {
		groupsN[name]++
	}
	t.Logf("BUSI: %d samples in %d groups; %d matched pairs; %d samples share a group", len(ds.Samples), len(groupsN), g.NumPairs, g.Merged)
	for _, p := range g.Pairs[:min(5, len(g.Pairs))] {
		t.Logf("  %s ~ %s (hash distance %d, correlation %.3f)", p.A, p.B, p.HashDist, p.Corr)
	}
	if g.Merged == 0 {
		t.Error("BUSI has known near-duplicates; none found")
	}
	sp, err := MakeWithGroups(ds, g.Of, DefaultOptions)
	if err != nil {
		t.Fatal(err)
	}
	if err := sp.consistent(); err != nil {
		t.Fatal(err)
	}
	checkNoStraddle(t, sp, g.Of)
	labels := labelsOf(ds)
	for _, part := range []struct {
		name string
		ids  []string
	}{{"train", sp.Train}, {"val", sp.Val}, {"test", sp.Test}} {
		c := map[dataset.Label]int{}
		for _, id := range part.ids {
			c[labels[id]]++
		}
		t.Logf("  %-5s %3d: normal %d, benign %d, malignant %d", part.name, len(part.ids), c[dataset.Normal], c[dataset.Benign], c[dataset.Malignant])
	}
}

func TestLoadOrMake(t *testing.T) {
	dir := t.TempDir()
	var rows []string
	for i := uint64(0); i < 6; i++ {
		savePNG(t, filepath.Join(dir, fmt.Sprintf("i%d.png", i)), texture(i+100, 40, 30))
		rows = append(rows, fmt.Sprintf("i%d.png,,normal,", i))
	}
	csv := filepath.Join(dir, "m.csv")
	os.WriteFile(csv, []byte("image,mask,label,group\n"+strings.Join(rows, "\n")+"\n"), 0o644)
	ds, err := dataset.Load(csv)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "split.json")
	a, err := LoadOrMake(path, ds, DefaultOptions)
	if err != nil {
		t.Fatal(err)
	}
	st1, _ := os.Stat(path)
	b, err := LoadOrMake(path, ds, DefaultOptions)
	if err != nil || !reflect.DeepEqual(a, b) {
		t.Fatalf("second call: %v, equal %v", err, reflect.DeepEqual(a, b))
	}
	if st2, _ := os.Stat(path); !st2.ModTime().Equal(st1.ModTime()) {
		t.Error("an up-to-date split file was rewritten")
	}
	o := DefaultOptions
	o.Seed = 99
	c, err := LoadOrMake(path, ds, o)
	if err != nil || c.Options.Seed != 99 {
		t.Fatalf("new options: %v %+v", err, c.Options)
	}
	if back, _ := Load(path); back.Options.Seed != 99 {
		t.Error("the split made for new options was not saved")
	}
}

// twoSources is fakeDataset with a second dataset of lesion images only
// (BUS-BRA-like: no normals) appended.
func twoSources() (*dataset.Dataset, map[string]string) {
	ds, groups := fakeDataset(300)
	for i := range ds.Samples {
		ds.Samples[i].Source = "A"
	}
	rng := rand.New(rand.NewPCG(7, 0))
	for i := 0; i < 400; {
		size := 1 + rng.IntN(3)
		label := dataset.Label(1 + rng.IntN(2))
		gname := fmt.Sprintf("patient %d", i)
		for k := 0; k < size && i < 400; k++ {
			id := fmt.Sprintf("t%04d", i)
			ds.Samples = append(ds.Samples, dataset.Sample{ID: id, Label: label, W: 10, H: 10, Source: "B"})
			groups[id] = gname
			i++
		}
	}
	return ds, groups
}

// Each dataset's classes are split in the held-out proportion, and the
// cross-validation folds cover the training part exactly, per stratum.
func TestPerSourceStrataAndCVFolds(t *testing.T) {
	ds, groups := twoSources()
	o := Options{Seed: 3, TestFrac: 0.2, ValFrac: 0.15, CVFolds: 5}
	sp, err := MakeWithGroups(ds, groups, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := sp.consistent(); err != nil {
		t.Fatal(err)
	}
	type key struct {
		src string
		l   dataset.Label
	}
	total, test := map[key]int{}, map[key]int{}
	bySample := map[string]dataset.Sample{}
	for _, s := range ds.Samples {
		total[key{s.Source, s.Label}]++
		bySample[s.ID] = s
	}
	for _, id := range sp.Test {
		s := bySample[id]
		test[key{s.Source, s.Label}]++
	}
	for k, n := range total {
		frac := float64(test[k]) / float64(n)
		if math.Abs(frac-0.2) > 0.06 {
			t.Errorf("%v: %d of %d in test (%.2f), want about 0.2", k, test[k], n, frac)
		}
	}
	// folds: every training-part sample has one, groups stay in one fold,
	// each fold holds about a fifth of each dataset.
	foldOfGroup := map[string]int{}
	perFold := map[string][]int{"A": make([]int, 5), "B": make([]int, 5)}
	for _, id := range append(append([]string(nil), sp.Train...), sp.Val...) {
		f, ok := sp.CVFold[id]
		if !ok {
			t.Fatalf("%s has no fold", id)
		}
		g := sp.Groups[id]
		if prev, seen := foldOfGroup[g]; seen && prev != f {
			t.Errorf("group %s in folds %d and %d", g, prev, f)
		}
		foldOfGroup[g] = f
		perFold[bySample[id].Source][f]++
	}
	for src, counts := range perFold {
		lo, hi := counts[0], counts[0]
		for _, c := range counts {
			lo, hi = min(lo, c), max(hi, c)
		}
		if hi-lo > 2*maxGroupSize(groups) {
			t.Errorf("dataset %s: fold sizes %v are uneven", src, counts)
		}
	}
	for _, id := range sp.Test {
		if _, ok := sp.CVFold[id]; ok {
			t.Errorf("test sample %s has a cross-validation fold", id)
		}
	}
	tr, va, err := sp.CVParts(2)
	if err != nil {
		t.Fatal(err)
	}
	if len(tr)+len(va) != len(sp.Train)+len(sp.Val) || len(va) == 0 {
		t.Errorf("CVParts(2): %d + %d, training part %d", len(tr), len(va), len(sp.Train)+len(sp.Val))
	}
	if _, _, err := sp.CVParts(5); err == nil {
		t.Error("CVParts(5) of 5 folds accepted")
	}
	// A saved split with its folds round-trips; a tampered fold is refused.
	path := filepath.Join(t.TempDir(), "s.json")
	if err := Save(path, sp); err != nil {
		t.Fatal(err)
	}
	back, err := Load(path)
	if err != nil || !reflect.DeepEqual(back.CVFold, sp.CVFold) {
		t.Fatalf("round trip: err %v, folds equal %v", err, reflect.DeepEqual(back.CVFold, sp.CVFold))
	}
	sp.CVFold[sp.Test[0]] = 1
	if err := Save(path, sp); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "not the training part") {
		t.Errorf("tampered fold: err = %v", err)
	}
	if _, err := MakeWithGroups(ds, groups, Options{TestFrac: 0.2, CVFolds: 1}); err == nil {
		t.Error("CVFolds 1 accepted")
	}
}

// Adding a dataset moves no sample of another: each dataset is split as it
// would be alone (so the pooled split's BUSI test part is the BUSI-only one).
func TestAddingADatasetMovesNoOther(t *testing.T) {
	ds, groups := fakeDataset(300)
	alone, err := MakeWithGroups(ds, groups, DefaultOptions)
	if err != nil {
		t.Fatal(err)
	}
	both, bgroups := twoSources()
	pooled, err := MakeWithGroups(both, bgroups, DefaultOptions)
	if err != nil {
		t.Fatal(err)
	}
	onlyA := func(ids []string) []string {
		var out []string
		for _, id := range ids {
			if strings.HasPrefix(id, "s") {
				out = append(out, id)
			}
		}
		return out
	}
	for _, p := range []struct {
		name        string
		alone, pool []string
	}{{"test", alone.Test, pooled.Test}, {"val", alone.Val, pooled.Val}, {"train", alone.Train, pooled.Train}} {
		if got := onlyA(p.pool); !reflect.DeepEqual(got, p.alone) {
			t.Errorf("%s part of dataset A: %d samples pooled vs %d alone, or different ones", p.name, len(got), len(p.alone))
		}
	}
}

// Derived samples (crops) land in their parent's part and fold, and adding
// them moves no original sample.
func TestDerivedFollowParent(t *testing.T) {
	ds, groups := twoSources()
	o := Options{Seed: 5, TestFrac: 0.2, ValFrac: 0.1, CVFolds: 3}
	before, err := MakeWithGroups(ds, groups, o)
	if err != nil {
		t.Fatal(err)
	}
	for i := range ds.Samples {
		ds.Samples[i].Image = "/img/" + ds.Samples[i].ID + ".png"
	}
	n := len(ds.Samples)
	for i := 0; i < n; i += 3 {
		p := ds.Samples[i]
		ds.Samples = append(ds.Samples, dataset.Sample{ID: "crop/" + p.ID, Image: "/crop/" + p.ID + ".png",
			Label: dataset.Normal, Source: p.Source, Parent: p.Image, W: 5, H: 5})
	}
	after, err := MakeWithGroups(ds, groups, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := after.consistent(); err != nil {
		t.Fatal(err)
	}
	partOf := func(sp *Split) map[string]string {
		m := map[string]string{}
		for _, p := range []struct {
			n   string
			ids []string
		}{{"train", sp.Train}, {"val", sp.Val}, {"test", sp.Test}} {
			for _, id := range p.ids {
				m[id] = p.n
			}
		}
		return m
	}
	pb, pa := partOf(before), partOf(after)
	for id, p := range pb {
		if pa[id] != p {
			t.Fatalf("%s moved from %s to %s when crops were added", id, p, pa[id])
		}
	}
	for _, s := range ds.Samples[n:] {
		parent := strings.TrimPrefix(s.ID, "crop/")
		if pa[s.ID] != pa[parent] || after.Groups[s.ID] != after.Groups[parent] {
			t.Errorf("%s: part %s group %s, parent part %s group %s", s.ID, pa[s.ID], after.Groups[s.ID], pa[parent], after.Groups[parent])
		}
		if f, ok := after.CVFold[parent]; ok && after.CVFold[s.ID] != f {
			t.Errorf("%s: fold %d, parent's %d", s.ID, after.CVFold[s.ID], f)
		}
	}
	ds.Samples = append(ds.Samples, dataset.Sample{ID: "orphan", Image: "/o.png", Label: dataset.Normal, Parent: "/nowhere.png"})
	if _, err := MakeWithGroups(ds, groups, o); err == nil || !strings.Contains(err.Error(), "/nowhere.png") {
		t.Errorf("orphan crop: err = %v", err)
	}
}
