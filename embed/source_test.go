package embed

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/busam/busam/model/encoder"
	"github.com/busam/busam/model/tensor"
)

// Source serves the embedding cache first, then the neck on trunk
// features (cached, else computed and stored with StoreTrunk), then the
// encoder; without an encoder a miss is fs.ErrNotExist.
func TestSource(t *testing.T) {
	p, err := encoder.RandomParams(encoder.Tiny, 2)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := encoder.NewWithConfig(encoder.Tiny, p)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	img := filepath.Join(dir, "a.png")
	if err := os.WriteFile(img, []byte("image bytes"), 0o644); err != nil {
		t.Fatal(err)
	}
	x := ramp(3, 64, 64)
	input := func(bool) (*tensor.Tensor, error) { return x, nil }
	want, err := enc.Forward(x)
	if err != nil {
		t.Fatal(err)
	}
	loads := 0
	load := func() (*encoder.Encoder, error) { loads++; return enc, nil }

	emb, _ := Open(filepath.Join(dir, "emb"))
	trunk, _ := Open(filepath.Join(dir, "trunk"))
	s := &Source{Cache: emb, SHA: enc.SHA256(), Trunk: trunk, Encoder: load, StoreTrunk: true}
	got, err := s.Embedding(img, false, input)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Data, want.Data) {
		t.Error("computed from the trunk: differs from Forward")
	}
	if s.Misses != 1 || s.TrunkMisses != 1 || s.Hits != 0 {
		t.Errorf("counts %+v", s)
	}
	if _, err := s.Embedding(img, false, input); err != nil || s.TrunkHits != 1 {
		t.Errorf("second look-up: %v, %d trunk hits, want 1", err, s.TrunkHits)
	}
	if key, hit, _ := s.Lookup(img, false); hit != nil {
		t.Errorf("embedding %s stored without StoreEmbeddings", key)
	}

	s = &Source{Cache: emb, SHA: enc.SHA256(), Encoder: load, StoreEmbeddings: true}
	if _, err := s.Embedding(img, true, input); err != nil {
		t.Fatal(err)
	}
	if _, hit, err := s.Lookup(img, true); hit == nil || err != nil {
		t.Errorf("StoreEmbeddings: entry %v, %v", hit, err)
	}
	if _, err := s.Embedding(img, true, nil); err != nil || s.Hits != 1 {
		t.Errorf("cached: %v, %d hits", err, s.Hits)
	}

	cacheOnly := &Source{Cache: emb, SHA: enc.SHA256()}
	if _, err := cacheOnly.Embedding(img, false, nil); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("miss without an encoder: %v, want fs.ErrNotExist", err)
	}
	if _, err := cacheOnly.TrunkFeatures(img, false, nil); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("no trunk cache: %v, want fs.ErrNotExist", err)
	}
}
