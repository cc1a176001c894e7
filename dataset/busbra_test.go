package dataset

import (
	"errors"
	"image"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/busam/busam/internal/testutil"
)

const busbraHeader = "ID,Case,Histology,Pathology,BIRADS,Device,Width,Height,Side,BBOX\n"

// makeBUSBRA builds a small folder in the BUS-BRA layout: two views of
// patient 1 and one image of patient 2.
func makeBUSBRA(t *testing.T) string {
	dir := t.TempDir()
	writePNG(t, dir, "Images/bus_0001-l.png", grey(8, 6))
	writePNG(t, dir, "Masks/mask_0001-l.png", rectMask("bit", 8, 6, image.Rect(1, 1, 4, 4)))
	writePNG(t, dir, "Images/bus_0001-r.png", grey(7, 6))
	writePNG(t, dir, "Masks/mask_0001-r.png", rectMask("bit", 7, 6, image.Rect(2, 1, 4, 4)))
	writePNG(t, dir, "Images/bus_0002-s.png", grey(5, 9))
	writePNG(t, dir, "Masks/mask_0002-s.png", rectMask("gray", 5, 9, image.Rect(0, 0, 2, 2)))
	writeFile(t, dir, "bus_data.csv", busbraHeader+
		`bus_0001-l,1,fibroadenoma,benign,3,GE Logiq 7,8,6,left,"[1,1,3,3]"`+"\n"+
		`bus_0001-r,1,fibroadenoma,benign,3,GE Logiq 7,7,6,right,"[2,1,2,3]"`+"\n"+
		`bus_0002-s,2,invasive ductal carcinoma,malignant,5,Toshiba Aplio 300,5,9,left,"[0,0,2,2]"`+"\n")
	writeFile(t, dir, "LICENSE.txt", "CC BY 4.0")
	return dir
}

func TestLoadBUSBRA(t *testing.T) {
	dir := makeBUSBRA(t)
	ds, err := LoadWith(dir, Options{CheckMasks: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(ds.Samples) != 3 || len(ds.Excluded) != 0 {
		t.Fatalf("%d samples, excluded %v; want 3 and none", len(ds.Samples), ds.Excluded)
	}
	s := ds.Samples[0]
	if s.ID != "Images/bus_0001-l" || s.Label != Benign || s.Group != "patient 1" || s.Source != SourceBUSBRA ||
		s.Device != "GE Logiq 7" || s.BIRADS != "3" || s.W != 8 || s.H != 6 {
		t.Errorf("first sample %+v", s)
	}
	if ds.Samples[1].Group != ds.Samples[0].Group || ds.Samples[2].Group == ds.Samples[0].Group {
		t.Errorf("groups %q %q %q: want one per patient", ds.Samples[0].Group, ds.Samples[1].Group, ds.Samples[2].Group)
	}
	m, err := LoadMask(ds.Samples[2], 5, 9)
	if err != nil || count(m) != 4 {
		t.Errorf("mask of bus_0002-s: %d lesion pixels (err %v), want 4", count(m), err)
	}
	if ds.Samples[2].Label != Malignant || ds.Samples[2].Device != "Toshiba Aplio 300" {
		t.Errorf("third sample %+v", ds.Samples[2])
	}
}

// TestLoadBUSBRAProblems: each kind of bad row is named with its file and
// line, and the whole dataset is refused rather than the row dropped.
func TestLoadBUSBRAProblems(t *testing.T) {
	cases := []struct {
		name  string
		edit  func(t *testing.T, dir string)
		wants []string
	}{
		{"missing mask", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "Masks", "mask_0002-s.png"))
		}, []string{"bus_data.csv:4", "bus_0002-s", "mask_0002-s.png"}},
		{"missing image", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "Images", "bus_0001-r.png"))
		}, []string{"bus_data.csv:3", "bus_0001-r.png"}},
		{"unknown pathology", func(t *testing.T, dir string) {
			replaceIn(t, filepath.Join(dir, "bus_data.csv"), "carcinoma,malignant", "carcinoma,suspicious")
		}, []string{"bus_data.csv:4", "bus_0002-s", `unknown label "suspicious"`}},
		{"normal pathology", func(t *testing.T, dir string) {
			replaceIn(t, filepath.Join(dir, "bus_data.csv"), "carcinoma,malignant", "carcinoma,normal")
		}, []string{"bus_data.csv:4", "every BUS-BRA image shows a lesion"}},
		{"mask of the wrong size", func(t *testing.T, dir string) {
			writePNG(t, dir, "Masks/mask_0001-l.png", rectMask("bit", 9, 6, image.Rect(1, 1, 4, 4)))
		}, []string{"mask_0001-l.png", "9x6", "8x6"}},
		{"missing column", func(t *testing.T, dir string) {
			replaceIn(t, filepath.Join(dir, "bus_data.csv"), "Pathology,", "Diagnosis,")
		}, []string{"bus_data.csv", `"Pathology"`}},
		{"empty case", func(t *testing.T, dir string) {
			replaceIn(t, filepath.Join(dir, "bus_data.csv"), "bus_0002-s,2,", "bus_0002-s,,")
		}, []string{"bus_data.csv:4", "Case"}},
		{"duplicate row", func(t *testing.T, dir string) {
			appendTo(t, filepath.Join(dir, "bus_data.csv"), `bus_0002-s,2,x,malignant,5,Toshiba,5,9,left,"[]"`+"\n")
		}, []string{"bus_data.csv:5", "listed twice"}},
		{"bad id", func(t *testing.T, dir string) {
			appendTo(t, filepath.Join(dir, "bus_data.csv"), `../etc,3,x,benign,5,Toshiba,5,9,left,"[]"`+"\n")
		}, []string{"bus_data.csv:5", "not of the form"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := makeBUSBRA(t)
			c.edit(t, dir)
			_, err := LoadWith(dir, Options{CheckMasks: true})
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("err = %v, want a ValidationError", err)
			}
			for _, w := range c.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// A table size that disagrees with the image file is a note, not an error:
// the file and its mask agree (four real BUS-BRA rows are like that).
func TestLoadBUSBRATableSize(t *testing.T) {
	dir := makeBUSBRA(t)
	replaceIn(t, filepath.Join(dir, "bus_data.csv"), "GE Logiq 7,8,6", "GE Logiq 7,80,60")
	ds, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds.Notes) != 1 || !strings.Contains(ds.Notes[0], "bus_0001-l.png: image is 8x6, its dataset's table says 80x60") ||
		!strings.Contains(ds.Summary(), "note: ") {
		t.Errorf("notes %q", ds.Notes)
	}
}

// Files on disk that the table does not list are excluded with a reason.
func TestLoadBUSBRAUnlisted(t *testing.T) {
	dir := makeBUSBRA(t)
	writePNG(t, dir, "Images/bus_0099-l.png", grey(4, 4))
	writeFile(t, dir, "Masks/notes.txt", "x")
	ds, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds.Excluded) != 2 || !strings.HasSuffix(ds.Excluded[0].Path, "bus_0099-l.png") ||
		!strings.Contains(ds.Excluded[0].Reason, "not listed") || !strings.HasSuffix(ds.Excluded[1].Path, "notes.txt") {
		t.Errorf("excluded %+v, want bus_0099-l.png and notes.txt, not listed", ds.Excluded)
	}
}

func TestLoadMany(t *testing.T) {
	parent := t.TempDir()
	busi, busbra := filepath.Join(parent, "busi"), filepath.Join(parent, "bra")
	if err := os.Rename(makeBUSI(t), busi); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(makeBUSBRA(t), busbra); err != nil {
		t.Fatal(err)
	}
	ds, err := Load(busi + "," + busbra)
	if err != nil {
		t.Fatal(err)
	}
	if ds.Root != parent || len(ds.Samples) != 7 {
		t.Fatalf("root %s, %d samples; want %s, 7", ds.Root, len(ds.Samples), parent)
	}
	if got := ds.Sources(); len(got) != 2 || got[0] != SourceBUSBRA || got[1] != SourceBUSI {
		t.Errorf("sources %v", got)
	}
	s, ok := ds.ByID("bra/Images/bus_0001-r")
	if !ok || s.Group != "BUS-BRA: patient 1" || s.Source != SourceBUSBRA {
		t.Errorf("bra/Images/bus_0001-r: %+v (found %v)", s, ok)
	}
	if _, ok := ds.ByID("busi/benign/benign (2)"); !ok {
		t.Error("busi/benign/benign (2) missing")
	}
	if len(ds.Classes) != 3 {
		t.Errorf("classes %v", ds.Classes)
	}
	// A bad part names itself.
	os.Remove(filepath.Join(busbra, "Masks", "mask_0002-s.png"))
	if _, err := Load(busi + "," + busbra); err == nil || !strings.Contains(err.Error(), "mask_0002-s.png") {
		t.Errorf("err = %v, want it to name the missing mask", err)
	}
	if _, err := Load(busi + ","); err == nil {
		t.Error("an empty path in the list was accepted")
	}
}

func TestRealBUSBRA(t *testing.T) {
	dir := testutil.Need(t, testutil.BUSBRADir(t), "BUS-BRA dataset")
	ds, err := LoadWith(dir, Options{CheckMasks: !testing.Short()})
	if err != nil {
		t.Fatal(err)
	}
	c := ds.Counts()
	if c[Benign] != 1268 || c[Malignant] != 607 || c[Normal] != 0 {
		t.Errorf("counts %v, want benign 1268, malignant 607", c)
	}
	patients, devices := map[string]bool{}, map[string]int{}
	for _, s := range ds.Samples {
		patients[s.Group] = true
		devices[s.Device]++
	}
	if len(patients) != 1064 {
		t.Errorf("%d patients, want 1064", len(patients))
	}
	if len(devices) != 4 {
		t.Errorf("devices %v, want the four scanners", devices)
	}
	if len(ds.Excluded) != 0 {
		t.Errorf("unexpected exclusions: %+v", ds.Excluded)
	}
	if len(ds.Notes) != 4 { // bus_0856-l, 0857-r, 0912-l, 0990-l: the table's height differs from the file's
		t.Errorf("notes %q, want the 4 known table-size mismatches", ds.Notes)
	}
}

func replaceIn(t *testing.T, path, old, new string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s lacks %q", path, old)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(b), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

func appendTo(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}
