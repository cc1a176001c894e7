package dataset

import (
	"errors"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/busam/busam/internal/testutil"
)

// writePNG writes img to dir/name, creating folders.
func writePNG(t *testing.T, dir, name string, img image.Image) string {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
	return p
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func grey(w, h int) *image.Gray {
	img := image.NewGray(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 37)
	}
	return img
}

// rectMask is a w x h mask with the rectangle r set, in one of the encodings
// BUSI uses: "gray" (8-bit), "bit" (2-colour palette, written as 1-bit),
// "rgb", "rgba".
func rectMask(kind string, w, h int, r image.Rectangle) image.Image {
	full := image.Rect(0, 0, w, h)
	on := func(x, y int) bool { return image.Pt(x, y).In(r) }
	switch kind {
	case "bit":
		m := image.NewPaletted(full, color.Palette{color.Black, color.White})
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				if on(x, y) {
					m.SetColorIndex(x, y, 1)
				}
			}
		}
		return m
	case "rgb", "rgba":
		m := image.NewNRGBA(full)
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				c := color.NRGBA{0, 0, 0, 255}
				if on(x, y) {
					c = color.NRGBA{255, 255, 255, 255}
				}
				m.SetNRGBA(x, y, c)
			}
		}
		return m
	default:
		m := image.NewGray(full)
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				if on(x, y) {
					m.SetGray(x, y, color.Gray{200})
				}
			}
		}
		return m
	}
}

// makeBUSI builds a small folder in the BUSI layout.
func makeBUSI(t *testing.T) string {
	dir := t.TempDir()
	writePNG(t, dir, "benign/benign (1).png", grey(8, 6))
	writePNG(t, dir, "benign/benign (1)_mask.png", rectMask("bit", 8, 6, image.Rect(0, 0, 2, 2)))
	writePNG(t, dir, "benign/benign (1)_mask_1.png", rectMask("rgba", 8, 6, image.Rect(6, 4, 8, 6)))
	writePNG(t, dir, "benign/benign (2).png", grey(5, 5))
	writePNG(t, dir, "benign/benign (2)_mask.png", rectMask("rgb", 5, 5, image.Rect(1, 1, 3, 3)))
	writePNG(t, dir, "malignant/malignant (1).png", grey(4, 7))
	writePNG(t, dir, "malignant/malignant (1)_mask.png", rectMask("gray", 4, 7, image.Rect(0, 0, 4, 1)))
	writePNG(t, dir, "normal/normal (1).png", grey(6, 6))
	writePNG(t, dir, "normal/normal (1)_mask.png", rectMask("bit", 6, 6, image.Rectangle{}))
	writeFile(t, dir, "README.txt", "notes")
	writeFile(t, dir, "benign/.DS_Store", "junk")
	return dir
}

func count(m []uint8) int {
	n := 0
	for _, v := range m {
		n += int(v)
	}
	return n
}

func TestLoadBUSIFolder(t *testing.T) {
	dir := makeBUSI(t)
	ds, err := LoadWith(dir, Options{CheckMasks: true})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range ds.Samples {
		ids = append(ids, s.ID)
	}
	want := []string{"benign/benign (1)", "benign/benign (2)", "malignant/malignant (1)", "normal/normal (1)"}
	if !reflect.DeepEqual(ids, want) {
		t.Fatalf("IDs %q, want %q", ids, want)
	}
	if got := ds.Counts(); got[Benign] != 2 || got[Malignant] != 1 || got[Normal] != 1 {
		t.Errorf("counts %v", got)
	}
	if !reflect.DeepEqual(ds.Classes, AllLabels) {
		t.Errorf("classes %v", ds.Classes)
	}
	if len(ds.Excluded) != 2 {
		t.Errorf("exclusions %+v, want README.txt and .DS_Store", ds.Excluded)
	}
	sum := ds.Summary()
	for _, s := range []string{"4 images", "benign 2", "malignant 1", "normal 1", "README.txt", ".DS_Store"} {
		if !strings.Contains(sum, s) {
			t.Errorf("summary lacks %q:\n%s", s, sum)
		}
	}
	// Masks: union of both files for benign (1), each encoding read right.
	areas := map[string]int{"benign/benign (1)": 4 + 4, "benign/benign (2)": 4, "malignant/malignant (1)": 4, "normal/normal (1)": 0}
	for _, s := range ds.Samples {
		m, err := LoadMask(s, s.W, s.H)
		if err != nil {
			t.Fatal(err)
		}
		if len(m) != s.W*s.H || count(m) != areas[s.ID] {
			t.Errorf("%s: mask len %d area %d, want %d area %d", s.ID, len(m), count(m), s.W*s.H, areas[s.ID])
		}
	}
	b1, _ := ds.ByID("benign/benign (1)")
	m, _ := LoadMask(b1, 8, 6)
	if m[0] != 1 || m[1*8+1] != 1 || m[5*8+7] != 1 || m[3*8+3] != 0 {
		t.Errorf("benign (1) mask pixels wrong: %v", m)
	}
	if _, err := LoadMask(b1, 6, 8); err == nil || !strings.Contains(err.Error(), "want 6x8") {
		t.Errorf("LoadMask with the wrong size: %v", err)
	}
}

func TestManifestRoundTrip(t *testing.T) {
	dir := makeBUSI(t)
	ds, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	ds.Samples[0].Group = "patient-7"
	ds.Samples[1].Group = "patient-7"
	csvPath := filepath.Join(dir, "all.csv")
	if err := WriteManifest(csvPath, ds); err != nil {
		t.Fatal(err)
	}
	back, err := LoadWith(csvPath, Options{CheckMasks: true})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Samples, ds.Samples) {
		t.Errorf("round trip differs:\n got %+v\nwant %+v", back.Samples, ds.Samples)
	}
	text, _ := os.ReadFile(csvPath)
	if !strings.Contains(string(text), "benign/benign (1)_mask.png;benign/benign (1)_mask_1.png") {
		t.Errorf("manifest does not join masks with ';' and relative paths:\n%s", text)
	}
}

func TestLoadProblems(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string) string // returns the path to load
		check bool                                  // Options.CheckMasks
		want  string
	}{
		{"missing image", func(t *testing.T, dir string) string {
			return writeFile(t, dir, "m.csv", "image,mask,label,group\nnope.png,,normal,\n")
		}, false, "nope.png"},
		{"missing mask", func(t *testing.T, dir string) string {
			writePNG(t, dir, "a.png", grey(4, 4))
			return writeFile(t, dir, "m.csv", "image,mask,label\na.png,gone.png,benign\n")
		}, false, "gone.png"},
		{"unreadable image", func(t *testing.T, dir string) string {
			writeFile(t, dir, "a.png", "this is text")
			return writeFile(t, dir, "m.csv", "image,label\na.png,normal\n")
		}, false, "not an image"},
		{"mask size", func(t *testing.T, dir string) string {
			writePNG(t, dir, "a.png", grey(4, 4))
			writePNG(t, dir, "a_m.png", rectMask("gray", 4, 5, image.Rect(0, 0, 1, 1)))
			return writeFile(t, dir, "m.csv", "image,mask,label\na.png,a_m.png,benign\n")
		}, false, "mask is 4x5, image"},
		{"unknown label", func(t *testing.T, dir string) string {
			writePNG(t, dir, "a.png", grey(4, 4))
			return writeFile(t, dir, "m.csv", "image,label\na.png,cyst\n")
		}, false, `m.csv:2: unknown label "cyst"`},
		{"lesion without mask", func(t *testing.T, dir string) string {
			writePNG(t, dir, "a.png", grey(4, 4))
			return writeFile(t, dir, "m.csv", "image,mask,label\na.png,,malignant\n")
		}, false, "needs a lesion mask"},
		{"lesion with empty mask", func(t *testing.T, dir string) string {
			writePNG(t, dir, "a.png", grey(4, 4))
			writePNG(t, dir, "a_m.png", rectMask("bit", 4, 4, image.Rectangle{}))
			return writeFile(t, dir, "m.csv", "image,mask,label\na.png,a_m.png,benign\n")
		}, true, "mask is empty"},
		{"normal with lesion", func(t *testing.T, dir string) string {
			writePNG(t, dir, "a.png", grey(4, 4))
			writePNG(t, dir, "a_m.png", rectMask("gray", 4, 4, image.Rect(0, 0, 2, 1)))
			return writeFile(t, dir, "m.csv", "image,mask,label\na.png,a_m.png,normal\n")
		}, true, "marks 2 lesion pixels"},
		{"listed twice", func(t *testing.T, dir string) string {
			writePNG(t, dir, "a.png", grey(4, 4))
			return writeFile(t, dir, "m.csv", "image,label\na.png,normal\n./a.png,normal\n")
		}, false, "listed twice"},
		{"empty manifest", func(t *testing.T, dir string) string {
			return writeFile(t, dir, "m.csv", "")
		}, false, "empty manifest"},
		{"no label column", func(t *testing.T, dir string) string {
			return writeFile(t, dir, "m.csv", "image,mask\na.png,\n")
		}, false, `lacks the "label" column`},
		{"ragged row", func(t *testing.T, dir string) string {
			writePNG(t, dir, "a.png", grey(4, 4))
			return writeFile(t, dir, "m.csv", "image,label\na.png,normal,extra\n")
		}, false, "wrong number of fields"},
		{"orphan mask in folder", func(t *testing.T, dir string) string {
			writePNG(t, dir, "benign/benign (3)_mask.png", grey(4, 4))
			return dir
		}, false, "mask without an image"},
		{"folder without images", func(t *testing.T, dir string) string {
			writeFile(t, dir, "notes.txt", "x")
			return dir
		}, false, "no images found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.setup(t, t.TempDir())
			ds, err := LoadWith(path, Options{CheckMasks: tc.check})
			if err == nil {
				t.Fatalf("loaded %d samples, want an error", len(ds.Samples))
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Errorf("error %T is not a *ValidationError", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

func TestParseLabel(t *testing.T) {
	tests := []struct {
		in   string
		want Label
		ok   bool
	}{
		{"normal", Normal, true}, {" Benign ", Benign, true}, {"MALIGNANT", Malignant, true},
		{"", 0, false}, {"benign2", 0, false}, {"1", 0, false},
	}
	for _, tc := range tests {
		got, err := ParseLabel(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("ParseLabel(%q) = %v, %v", tc.in, got, err)
		}
		if tc.ok && got.String() != strings.ToLower(strings.TrimSpace(tc.in)) {
			t.Errorf("%v.String() = %q", got, got.String())
		}
	}
	if Label(7).Valid() || Label(7).String() != "Label(7)" {
		t.Error("out-of-range label must be invalid and print its number")
	}
}

// TestRealBUSI loads the real dataset and checks the documented counts and
// mask facts (union of _mask*.png, normal masks empty).
func TestRealBUSI(t *testing.T) {
	dir := testutil.Need(t, testutil.DataDir(t), "BUSI dataset")
	ds, err := LoadWith(dir, Options{CheckMasks: !testing.Short()})
	if err != nil {
		t.Fatal(err)
	}
	c := ds.Counts()
	if c[Benign] != 437 || c[Malignant] != 210 || c[Normal] != 133 {
		t.Errorf("counts %v, want benign 437, malignant 210, normal 133", c)
	}
	multi := 0
	for _, s := range ds.Samples {
		if len(s.Masks) > 1 {
			multi++
		}
	}
	if multi != 17 { // 16 benign (one with two extra masks) + 1 malignant
		t.Errorf("%d images with several masks, want 17", multi)
	}
	if len(ds.Excluded) != 0 {
		t.Errorf("unexpected exclusions: %+v", ds.Excluded)
	}
	t.Log(ds.Summary())
}

func BenchmarkLoadBUSI(b *testing.B) {
	dir := testutil.Need(b, testutil.DataDir(b), "BUSI dataset")
	for b.Loop() {
		if _, err := Load(dir); err != nil {
			b.Fatal(err)
		}
	}
}
