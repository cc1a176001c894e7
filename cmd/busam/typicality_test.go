package main

import (
	"image"
	"image/color"
	"image/draw"
	"path/filepath"
	"testing"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"

	"github.com/busam/busam/imageio"
	"github.com/busam/busam/internal/testutil"
)

// textPage renders lines of text, black on white: what a screenshot of a
// document looks like, the kind of file a user drops by mistake.
func textPage(w, h int) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	d := font.Drawer{Dst: img, Src: image.NewUniform(color.Black), Face: basicfont.Face7x13}
	line := "Patient history and findings: the referral letter, page 2 of 3. Follow-up in six months."
	for y := 30; y < h-10; y += 18 {
		d.Dot = fixed.P(20, y)
		d.DrawString(line)
	}
	return img
}

// The shipped heads' typicality model, end to end through the real
// encoder: a page of text is refused as not breast ultrasound (no outline),
// BUSI images of each class are not.
func TestShippedHeadsRefuseNonUltrasound(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the full encoder four times")
	}
	enc := testutil.Need(t, filepath.Join(testutil.CacheDir(t), "weights", "encoder.safetensors"), "converted encoder")
	headsPath := filepath.Join(testutil.RepoRoot(t), "weights", "heads", "pooled", "heads.safetensors")
	an, err := modelFlags{heads: headsPath, encoder: enc}.open()
	if err != nil {
		t.Fatal(err)
	}
	res, err := an.Analyze("page.png", textPage(800, 600))
	if err != nil {
		t.Fatal(err)
	}
	if !res.NotUltrasound || !res.MaskSuppressed || !(res.Distance > 0) {
		t.Errorf("a page of text: distance %.2f, not ultrasound %v, mask suppressed %v", res.Distance, res.NotUltrasound, res.MaskSuppressed)
	}
	t.Logf("page of text: distance %.2f", res.Distance)
	data := testutil.DataDir(t)
	for _, name := range []string{"normal/normal (1).png", "benign/benign (1).png", "malignant/malignant (1).png"} {
		img, err := imageio.Load(filepath.Join(data, filepath.FromSlash(name)))
		if err != nil {
			t.Skipf("BUSI image: %v", err)
		}
		res, err := an.Analyze(name, img)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: distance %.2f", name, res.Distance)
		if res.NotUltrasound {
			t.Errorf("%s refused as not ultrasound (distance %.2f)", name, res.Distance)
		}
	}
}
