package train

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/busam/busam/dataset"
	"github.com/busam/busam/model/encoder"
	"github.com/busam/busam/model/tensor"
)

func TestFrameTarget(t *testing.T) {
	// 8x4 image, lesion in its left quarter (columns 0,1), into a 16 frame
	// (resized 16x8) on a 4 grid: each cell is 4x4 frame pixels = 2x2
	// image pixels.
	mask := make([]uint8, 8*4)
	for y := range 4 {
		mask[y*8], mask[y*8+1] = 1, 1
	}
	g := encoder.Geometry{OrigW: 8, OrigH: 4, ResizedW: 16, ResizedH: 8, Size: 16}
	cases := []struct {
		name string
		flip bool
		want []float32
	}{
		{"as is", false, []float32{1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
		{"mirrored", true, []float32{0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0}},
	}
	for _, c := range cases {
		got, err := FrameTarget(mask, 8, 4, g, 4, c.flip)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
	// A partial cell holds the lesion fraction: lesion in column 0 only.
	mask1 := make([]uint8, 8*4)
	for y := range 4 {
		mask1[y*8] = 1
	}
	got, _ := FrameTarget(mask1, 8, 4, g, 4, false)
	if got[0] != 0.5 || got[4] != 0.5 || got[1] != 0 {
		t.Errorf("half-covered cells: %v", got[:8])
	}
	if _, err := FrameTarget(mask, 8, 3, g, 4, false); err == nil {
		t.Errorf("mask of the wrong size accepted")
	}
	if w, h := ValidCells(encoder.Geometry{ResizedW: 1024, ResizedH: 683, Size: 1024}, 256); w != 256 || h != 171 {
		t.Errorf("ValidCells = %d, %d, want 256, 171", w, h)
	}
}

func TestPoolInputFlip(t *testing.T) {
	// 1-channel-like input: the image occupies the 6 leftmost columns of 8.
	in := tensor.New(3, 8, 8)
	for c := range 3 {
		for y := range 8 {
			for x := range 6 {
				in.Data[(c*8+y)*8+x] = float32(x)
			}
		}
	}
	plain := PoolInput(in, 4, 6, false)
	flip := PoolInput(in, 4, 6, true)
	// Row of pooled cells: columns (0,1) (2,3) (4,5) (6,7).
	if want := []float32{0.5, 2.5, 4.5, 0}; !slices.Equal(plain.Data[:4], want) {
		t.Errorf("plain %v, want %v", plain.Data[:4], want)
	}
	if want := []float32{4.5, 2.5, 0.5, 0}; !slices.Equal(flip.Data[:4], want) {
		t.Errorf("flipped %v, want %v", flip.Data[:4], want)
	}
}

func writePNG(t *testing.T, path string, img image.Image) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// fakeBUSI writes a tiny dataset in BUSI layout: per class two 32x16
// images; lesion masks cover the left half.
func fakeBUSI(t *testing.T) string {
	root := t.TempDir()
	for _, class := range []string{"normal", "benign", "malignant"} {
		for n := 1; n <= 2; n++ {
			img := image.NewGray(image.Rect(0, 0, 32, 16))
			mask := image.NewGray(image.Rect(0, 0, 32, 16))
			for y := range 16 {
				for x := range 32 {
					img.SetGray(x, y, color.Gray{uint8(x * 8)})
					if class != "normal" && x < 16 {
						mask.SetGray(x, y, color.Gray{255})
					}
				}
			}
			base := filepath.Join(root, class, fmt.Sprintf("%s (%d)", class, n))
			writePNG(t, base+".png", img)
			writePNG(t, base+"_mask.png", mask)
		}
	}
	return root
}

func TestLoadExamples(t *testing.T) {
	ds, err := dataset.Load(fakeBUSI(t))
	if err != nil {
		t.Fatal(err)
	}
	// Fake cache: 2-channel [2,4,4] embeddings (grid 16, frame 64); the
	// flipped embedding of "benign (2)" is missing.
	src := func(path string, flip bool) (*tensor.Tensor, error) {
		if flip && filepath.Base(path) == "benign (2).png" {
			return nil, fmt.Errorf("no entry for %s: %w", path, fs.ErrNotExist)
		}
		v := float32(0)
		if flip {
			v = 1
		}
		emb := tensor.New(2, 4, 4)
		for i := range emb.Data {
			emb.Data[i] = v
		}
		return emb, nil
	}
	ids := []string{"benign/benign (1)", "benign/benign (2)", "normal/normal (1)", "malignant/malignant (2)"}
	opt := LoadOptions{Kind: "unet", Classes: []dataset.Label{dataset.Normal, dataset.Benign, dataset.Malignant}, Size: 64}
	ex, st, err := LoadExamples(ds, ids, src, opt)
	if err != nil {
		t.Fatal(err)
	}
	if st.Examples != 4 || st.NoFlip != 1 {
		t.Errorf("stats %+v, want 4 examples, 1 without flip", st)
	}
	byID := map[string]*Example{}
	for _, e := range ex {
		byID[e.ID] = e
	}
	b1 := byID["benign/benign (1)"]
	// 32x16 image -> 64x32 in the frame -> 16x8 cells; lesion = left half.
	if b1.ValidW != 16 || b1.ValidH != 8 || b1.Class != 1 || !b1.Lesion {
		t.Fatalf("benign (1): valid %dx%d class %d lesion %v", b1.ValidW, b1.ValidH, b1.Class, b1.Lesion)
	}
	for x := range 16 {
		want := float32(0)
		if x < 8 {
			want = 1
		}
		if b1.Target[0][x] != want || b1.Target[1][x] != 1-want {
			t.Fatalf("benign (1) row 0 cell %d: target %v / flipped %v", x, b1.Target[0][x], b1.Target[1][x])
		}
	}
	if b1.Emb[1].Float32().Data[0] != 1 || b1.Image[0] == nil || !slices.Equal(b1.Image[0].Shape, []int{3, 16, 16}) {
		t.Errorf("benign (1): flipped embedding or pooled image wrong")
	}
	if byID["benign/benign (2)"].Emb[1] != nil {
		t.Errorf("benign (2) has a flipped embedding that is not cached")
	}
	if n := byID["normal/normal (1)"]; n.Lesion || slices.Max(n.Target[0]) != 0 {
		t.Errorf("normal sample has a lesion target")
	}

	// Failures: unknown ID, label outside the classes, missing embedding.
	if _, _, err := LoadExamples(ds, []string{"benign/nope"}, src, opt); err == nil {
		t.Errorf("unknown ID accepted")
	}
	two := opt
	two.Classes = []dataset.Label{dataset.Benign, dataset.Malignant}
	if _, _, err := LoadExamples(ds, []string{"normal/normal (1)"}, src, two); err == nil {
		t.Errorf("normal sample accepted by a two-class model")
	}
	none := func(string, bool) (*tensor.Tensor, error) { return nil, fs.ErrNotExist }
	if _, _, err := LoadExamples(ds, ids[:1], none, opt); err == nil {
		t.Errorf("missing embedding accepted")
	}
	// SkipMissing drops exactly the samples without an embedding.
	some := func(path string, flip bool) (*tensor.Tensor, error) {
		if filepath.Base(path) == "normal (1).png" {
			return nil, fs.ErrNotExist
		}
		return src(path, flip)
	}
	skip := opt
	skip.SkipMissing = true
	got, st, err := LoadExamples(ds, ids, some, skip)
	if err != nil || len(got) != 3 || st.Skipped != 1 {
		t.Errorf("SkipMissing: %d examples, %d skipped, %v; want 3, 1", len(got), st.Skipped, err)
	}
	broken := func(string, bool) (*tensor.Tensor, error) { return nil, errors.New("disk on fire") }
	if _, _, err := LoadExamples(ds, ids, broken, skip); err == nil {
		t.Errorf("SkipMissing hid a real read error")
	}
}
