package embed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/busam/busam/model/encoder"
	"github.com/busam/busam/model/tensor"
)

// fakeEncoder "embeds" an image as its column means, [1,1,W], so a flipped
// image gives the reversed vector; it counts calls and can cancel a
// context on a given call, as a SIGINT arriving mid-image would.
type fakeEncoder struct {
	calls    int
	cancelAt int
	cancel   context.CancelFunc
}

func (f *fakeEncoder) SHA256() string { return strings.Repeat("f0", 32) }

func (f *fakeEncoder) Embed(img image.Image) (*tensor.Tensor, encoder.Geometry, error) {
	f.calls++
	if f.cancel != nil && f.calls == f.cancelAt {
		f.cancel()
	}
	b := img.Bounds()
	out := tensor.New(1, 1, b.Dx())
	for x := 0; x < b.Dx(); x++ {
		var s float32
		for y := 0; y < b.Dy(); y++ {
			s += float32(color.GrayModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.Gray).Y)
		}
		out.Data[x] = s / float32(b.Dy())
	}
	return out, encoder.Geometry{OrigW: b.Dx(), OrigH: b.Dy()}, nil
}

// writeImages writes n small distinct PNGs and returns their paths.
func writeImages(t *testing.T, n int) []string {
	dir := t.TempDir()
	var paths []string
	for i := 0; i < n; i++ {
		img := image.NewGray(image.Rect(0, 0, 6, 3))
		for j := range img.Pix {
			img.Pix[j] = uint8(i*31 + j*7)
		}
		var b bytes.Buffer
		if err := png.Encode(&b, img); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, fmt.Sprintf("img%d.png", i))
		if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}

func TestComputeCachesAndFlips(t *testing.T) {
	images := writeImages(t, 4)
	c, _ := Open(t.TempDir())
	enc := &fakeEncoder{}
	var progress, log bytes.Buffer
	st, err := Compute(context.Background(), c, enc, images, RunOptions{Flip: true, Progress: &progress, Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	if st.Computed != 8 || st.Cached != 0 || enc.calls != 8 || st.Images != 4 {
		t.Fatalf("first run: %+v, %d encoder calls; want 8 computed", st, enc.calls)
	}
	if !strings.Contains(progress.String(), "4/4") {
		t.Errorf("progress output lacks the count: %q", progress.String())
	}
	// The flipped entry is the mirror of the plain one.
	k0, _ := KeyFor(images[0], enc.SHA256(), false)
	k1, _ := KeyFor(images[0], enc.SHA256(), true)
	plain, err0 := c.Get(k0)
	flipped, err1 := c.Get(k1)
	if err0 != nil || err1 != nil {
		t.Fatal(err0, err1)
	}
	for x := range plain.Data {
		if plain.Data[x] != flipped.Data[len(plain.Data)-1-x] {
			t.Fatalf("flipped embedding %v is not the mirror of %v", flipped.Data, plain.Data)
		}
	}
	// A rerun computes nothing.
	enc.calls = 0
	st, err = Compute(context.Background(), c, enc, images, RunOptions{Flip: true})
	if err != nil || st.Cached != 8 || st.Computed != 0 || enc.calls != 0 {
		t.Fatalf("rerun: %+v %v, %d calls; want all 8 cached", st, err, enc.calls)
	}
	if st.String() != "8 cached, 0 computed" {
		t.Errorf("summary %q", st.String())
	}
	// A damaged entry is reported and recomputed, never used.
	p := c.Path(k1)
	data, _ := os.ReadFile(p)
	data[len(data)-6] ^= 1
	os.WriteFile(p, data, 0o644)
	st, err = Compute(context.Background(), c, enc, images, RunOptions{Flip: true, Log: &log})
	if err != nil || st.Computed != 1 || st.Corrupt != 1 || enc.calls != 1 {
		t.Fatalf("after damage: %+v %v, %d calls; want 1 recomputed", st, err, enc.calls)
	}
	if !strings.Contains(log.String(), images[0]) || !strings.Contains(log.String(), "checksum") {
		t.Errorf("log does not report the corrupt entry: %q", log.String())
	}
	if again, err := c.Get(k1); err != nil || again.Data[0] != flipped.Data[0] {
		t.Errorf("recomputed entry: %v %v", again, err)
	}
}

func TestComputeStopsCleanlyOnCancel(t *testing.T) {
	images := writeImages(t, 5)
	c, _ := Open(t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	enc := &fakeEncoder{cancelAt: 2, cancel: cancel} // interrupt during image 2
	st, err := Compute(ctx, c, enc, images, RunOptions{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	if st.Computed != 2 || st.Images != 2 {
		t.Fatalf("stats %+v: the current image must finish, no later one start", st)
	}
	// Nothing half-written: the folder holds only complete entries, and a
	// rerun computes exactly the rest.
	var files []string
	filepath.WalkDir(c.Dir(), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	if len(files) != 2 {
		t.Errorf("cache holds %v, want the 2 finished entries only", files)
	}
	enc2 := &fakeEncoder{}
	st, err = Compute(context.Background(), c, enc2, images, RunOptions{})
	if err != nil || st.Cached != 2 || st.Computed != 3 {
		t.Errorf("resume: %+v %v, want 2 cached 3 computed", st, err)
	}
}

func TestComputeBadImage(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.png")
	os.WriteFile(bad, []byte("not an image at all"), 0o644)
	c, _ := Open(t.TempDir())
	_, err := Compute(context.Background(), c, &fakeEncoder{}, []string{bad}, RunOptions{})
	if err == nil || !strings.Contains(err.Error(), "bad.png") {
		t.Errorf("err %v, want one naming bad.png", err)
	}
}
