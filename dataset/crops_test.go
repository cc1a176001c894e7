package dataset

import (
	"image"
	"path/filepath"
	"strings"
	"testing"

	"github.com/busam/busam/imageio"
)

func rectMaskSlice(w, h int, r image.Rectangle) []uint8 {
	m := make([]uint8, w*h)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			m[y*w+x] = 1
		}
	}
	return m
}

func TestLesionFreeCrop(t *testing.T) {
	rule := CropRule{Margin: 0.1, MinSide: 10, MinShare: 0.3, MaxAspect: 2}
	cases := []struct {
		name   string
		w, h   int
		lesion image.Rectangle
		want   image.Rectangle
		ok     bool
	}{
		// 100x60 image, lesion at the right: margin 10 px; left band x < 60,
		// full height 60 -> 60x60.
		{"left band", 100, 60, image.Rect(70, 20, 90, 40), image.Rect(0, 0, 60, 60), true},
		// lesion at the top-left corner: the band right of it (x >= 40) is
		// 60x60; the band below (y >= 40) is 100x20, too flat under MinShare.
		{"right band", 100, 60, image.Rect(0, 0, 30, 30), image.Rect(40, 0, 100, 60), true},
		// a wide band is trimmed to 2:1, centred: margin 20 px, so below a
		// lesion ending at y = 10 the band is y 30..100, 200x70 -> 140x70.
		{"aspect", 200, 100, image.Rect(0, 0, 200, 10), image.Rect(30, 30, 170, 100), true},
		// lesion in the middle of a small image: no band is big enough.
		{"no room", 40, 40, image.Rect(10, 10, 30, 30), image.Rectangle{}, false},
		{"no lesion", 40, 40, image.Rectangle{}, image.Rectangle{}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mask := rectMaskSlice(c.w, c.h, c.lesion)
			got, ok := LesionFreeCrop(mask, c.w, c.h, rule)
			if ok != c.ok || got != c.want {
				t.Fatalf("crop %v (%v), want %v (%v)", got, ok, c.want, c.ok)
			}
			if ok {
				if err := checkCrop(mask, c.w, got); err != nil {
					t.Error(err)
				}
			}
		})
	}
	if _, ok := LesionFreeCrop(make([]uint8, 5), 2, 2, rule); ok {
		t.Error("a mask of the wrong length gave a crop")
	}
	if err := checkCrop(rectMaskSlice(10, 10, image.Rect(4, 4, 5, 5)), 10, image.Rect(0, 0, 6, 6)); err == nil {
		t.Error("checkCrop missed a lesion pixel")
	}
}

func TestWriteNormalCrops(t *testing.T) {
	src := makeBUSBRA(t)
	ds, err := Load(src)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	rule := CropRule{Margin: 0, MinSide: 2, MinShare: 0.3, MaxAspect: 3}
	manifest, st, err := WriteNormalCrops(ds.Samples, dir, rule)
	if err != nil {
		t.Fatal(err)
	}
	if st.Lesions != 3 || st.Written+st.NoRoom != 3 || st.Written == 0 {
		t.Fatalf("stats %+v", st)
	}
	crops, err := LoadWith(manifest, Options{CheckMasks: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(crops.Samples) != st.Written {
		t.Fatalf("%d crops listed, %d written", len(crops.Samples), st.Written)
	}
	for _, c := range crops.Samples {
		if c.Label != Normal || len(c.Masks) != 0 || c.Source != SourceBUSBRA || c.Parent == "" ||
			!strings.HasPrefix(c.Parent, src) || c.Device == "" {
			t.Errorf("crop %+v", c)
		}
		parent, ok := ds.ByID(c.ID)
		if !ok || parent.Image != c.Parent {
			t.Errorf("crop %s: parent %s not found as %s", c.ID, c.Parent, parent.Image)
			continue
		}
		if c.W > parent.W || c.H > parent.H {
			t.Errorf("crop %s is %dx%d, bigger than its parent %dx%d", c.ID, c.W, c.H, parent.W, parent.H)
		}
		// the crop's pixels are the parent's
		img, _ := loadImage(t, c.Image)
		pimg, _ := loadImage(t, parent.Image)
		mask, _ := LoadMask(parent, parent.W, parent.H)
		rect, _ := LesionFreeCrop(mask, parent.W, parent.H, rule)
		if img.Bounds().Dx() != rect.Dx() || img.(*image.Gray).GrayAt(0, 0) != pimg.(*image.Gray).GrayAt(rect.Min.X, rect.Min.Y) {
			t.Errorf("crop %s does not hold its parent's pixels at %v", c.ID, rect)
		}
	}
	// Loaded with its parents, every crop points at an image of the pool.
	all, err := Load(src + "," + manifest)
	if err != nil {
		t.Fatal(err)
	}
	if len(all.Samples) != 3+st.Written {
		t.Errorf("%d samples pooled", len(all.Samples))
	}
	// Kept in frame: the parent's size, the crop's pixels in place, black
	// (and so lesion-free) elsewhere.
	framed := rule
	framed.KeepFrame = true
	fm, _, err := WriteNormalCrops(ds.Samples, filepath.Join(dir, "framed"), framed)
	if err != nil {
		t.Fatal(err)
	}
	fcrops, err := LoadWith(fm, Options{CheckMasks: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range fcrops.Samples {
		parent, _ := ds.ByID(c.ID)
		mask, _ := LoadMask(parent, parent.W, parent.H)
		rect, _ := LesionFreeCrop(mask, parent.W, parent.H, framed)
		img, _ := loadImage(t, c.Image)
		pimg, _ := loadImage(t, parent.Image)
		if img.Bounds() != pimg.Bounds() {
			t.Errorf("framed crop %s is %v, parent %v", c.ID, img.Bounds(), pimg.Bounds())
			continue
		}
		g, pg := img.(*image.Gray), pimg.(*image.Gray)
		for y := range parent.H {
			for x := range parent.W {
				want := pg.GrayAt(x, y).Y
				if !image.Pt(x, y).In(rect) {
					want = 0
				}
				if got := g.GrayAt(x, y).Y; got != want {
					t.Fatalf("framed crop %s at (%d,%d) = %d, want %d", c.ID, x, y, got, want)
				}
			}
		}
	}
	if _, _, err := WriteNormalCrops(ds.Samples, filepath.Join(dir, "none"), CropRule{MinSide: 1000}); err == nil {
		t.Error("no crop at all was not an error")
	}
}

func loadImage(t *testing.T, path string) (image.Image, error) {
	t.Helper()
	img, err := imageio.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return img, nil
}
