package embed

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/busam/busam/model/tensor"
)

func testKey(img byte, flip bool) Key {
	return Key{ImageSHA256: strings.Repeat(string("0123456789abcdef"[img%16]), 64),
		ModelSHA256: strings.Repeat("ab", 32), Flip: flip}
}

func ramp(shape ...int) *tensor.Tensor {
	t := tensor.New(shape...)
	for i := range t.Data {
		t.Data[i] = float32(math.Sin(float64(i))) * 3
	}
	return t
}

func TestPutGetRoundTrip(t *testing.T) {
	c, err := Open(filepath.Join(t.TempDir(), "cache"))
	if err != nil {
		t.Fatal(err)
	}
	want := ramp(4, 8, 8)
	k := testKey(1, false)
	if err := c.Put(k, want); err != nil {
		t.Fatal(err)
	}
	got, err := c.Get(k)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Shape) != 3 || got.Shape[0] != 4 || got.Shape[1] != 8 || got.Shape[2] != 8 {
		t.Fatalf("shape %v", got.Shape)
	}
	for i, v := range want.Data {
		// float16 keeps 11 significant bits: relative error <= 2^-11.
		if d := math.Abs(float64(got.Data[i] - v)); d > math.Abs(float64(v))/2048+1e-7 {
			t.Fatalf("value %d: %v, stored %v", i, got.Data[i], v)
		}
	}
	// The flipped entry is a different key, absent so far.
	if _, err := c.Get(testKey(1, true)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("flipped entry: %v, want fs.ErrNotExist", err)
	}
	// Upper-case hashes name the same entry.
	upper := Key{strings.ToUpper(k.ImageSHA256), strings.ToUpper(k.ModelSHA256), false}
	if _, err := c.Get(upper); err != nil {
		t.Errorf("upper-case key: %v", err)
	}
	// Put replaces, and leaves no temporary files behind.
	if err := c.Put(k, ramp(2, 2)); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.Get(k); got == nil || len(got.Data) != 4 {
		t.Errorf("replaced entry: %v", got)
	}
	entries, _ := os.ReadDir(filepath.Dir(c.Path(k)))
	if len(entries) != 1 {
		t.Errorf("cache folder holds %d files, want only the entry", len(entries))
	}
}

func TestCorruptEntries(t *testing.T) {
	k := testKey(2, true)
	other := testKey(3, true)
	tests := []struct {
		name   string
		damage func(t *testing.T, c *Cache)
		want   string
	}{
		{"flipped payload byte", func(t *testing.T, c *Cache) {
			p := c.Path(k)
			data, _ := os.ReadFile(p)
			data[len(data)/2] ^= 0x40
			os.WriteFile(p, data, 0o644)
		}, "checksum"},
		{"truncated", func(t *testing.T, c *Cache) {
			p := c.Path(k)
			data, _ := os.ReadFile(p)
			os.WriteFile(p, data[:len(data)-100], 0o644)
		}, "checksum"},
		{"too short", func(t *testing.T, c *Cache) { os.WriteFile(c.Path(k), []byte("BUSAM"), 0o644) }, "too short"},
		{"empty", func(t *testing.T, c *Cache) { os.WriteFile(c.Path(k), nil, 0o644) }, "too short"},
		{"not an entry", func(t *testing.T, c *Cache) {
			os.WriteFile(c.Path(k), []byte(strings.Repeat("hello world ", 20)), 0o644)
		}, "magic"},
		{"another key's entry", func(t *testing.T, c *Cache) {
			if err := c.Put(other, ramp(3)); err != nil {
				t.Fatal(err)
			}
			data, _ := os.ReadFile(c.Path(other))
			os.WriteFile(c.Path(k), data, 0o644)
		}, "asked for"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := Open(t.TempDir())
			if err := c.Put(k, ramp(16, 4, 4)); err != nil {
				t.Fatal(err)
			}
			tc.damage(t, c)
			_, err := c.Get(k)
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want ErrCorrupt saying %q", err, tc.want)
			}
		})
	}
}

func TestPutRejects(t *testing.T) {
	c, _ := Open(t.TempDir())
	nan := ramp(4)
	nan.Data[2] = float32(math.NaN())
	big := ramp(4)
	big.Data[0] = 70000
	tests := []struct {
		name string
		key  Key
		t    *tensor.Tensor
	}{
		{"short image hash", Key{ImageSHA256: "abc", ModelSHA256: strings.Repeat("0", 64)}, ramp(2)},
		{"path in hash", Key{ImageSHA256: "../" + strings.Repeat("0", 61), ModelSHA256: strings.Repeat("0", 64)}, ramp(2)},
		{"no model hash", Key{ImageSHA256: strings.Repeat("0", 64)}, ramp(2)},
		{"nil tensor", testKey(1, false), nil},
		{"NaN", testKey(1, false), nan},
		{"beyond float16", testKey(1, false), big},
		{"data/shape mismatch", testKey(1, false), &tensor.Tensor{Shape: []int{3}, Data: []float32{1}}},
	}
	for _, tc := range tests {
		if err := c.Put(tc.key, tc.t); err == nil {
			t.Errorf("%s: Put accepted it", tc.name)
		}
	}
	if _, err := c.Get(Key{ImageSHA256: "zz"}); err == nil || errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Get with a bad key: %v, want a key error", err)
	}
}

func TestKeyFor(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.png")
	b := filepath.Join(dir, "b.png")
	os.WriteFile(a, []byte("same bytes"), 0o644)
	os.WriteFile(b, []byte("same bytes"), 0o644)
	model := strings.Repeat("cd", 32)
	ka, err := KeyFor(a, model, false)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := KeyFor(b, model, false)
	if ka != kb {
		t.Error("same content, different keys")
	}
	if sum := sha256.Sum256([]byte("same bytes")); ka.ImageSHA256 != hex.EncodeToString(sum[:]) || ka.ModelSHA256 != model {
		t.Errorf("key %+v is not the file's sha256 and the model hash", ka)
	}
	if kf, _ := KeyFor(a, model, true); kf == ka {
		t.Error("flip does not change the key")
	}
	if _, err := KeyFor(filepath.Join(dir, "missing.png"), model, false); err == nil || !strings.Contains(err.Error(), "missing.png") {
		t.Errorf("missing file: %v", err)
	}
	if _, err := KeyFor(a, "not-a-hash", false); err == nil {
		t.Error("bad model hash accepted")
	}
}
