// Package embed stores encoder embeddings on disk so training never runs
// the frozen encoder twice on the same image. An entry is keyed by the
// image file's content hash, the encoder weights' hash and whether the
// image was flipped; it holds float16 values behind a small header and a
// CRC-32C checksum, and is written atomically, so an interrupted run
// leaves either a whole entry or none, and a damaged one is detected.
// Source is the one path from an image file to the heads' input over
// these caches (embeddings, trunk features) and the encoder.
package embed

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/busam/busam/internal/atomicfile"
	"github.com/busam/busam/model/tensor"
	"github.com/busam/busam/weights/safetensors"
)

// Key identifies one embedding.
type Key struct {
	ImageSHA256 string // hex sha256 of the image file's bytes
	ModelSHA256 string // hex sha256 of the encoder weights (Encoder.SHA256)
	Flip        bool   // the image was flipped horizontally before the encoder
}

// ErrCorrupt marks an entry that exists but fails its checks (truncated,
// bad checksum, wrong key, malformed header); recompute it.
var ErrCorrupt = errors.New("corrupt embedding cache entry")

// KeyFor hashes the image file at imagePath and builds its key.
func KeyFor(imagePath, modelSHA string, flip bool) (Key, error) {
	f, err := os.Open(imagePath)
	if err != nil {
		return Key{}, fmt.Errorf("embed: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return Key{}, fmt.Errorf("embed: hashing %s: %w", imagePath, err)
	}
	k := Key{ImageSHA256: hex.EncodeToString(h.Sum(nil)), ModelSHA256: modelSHA, Flip: flip}
	if err := k.validate(); err != nil {
		return Key{}, err
	}
	return k, nil
}

// normalized lower-cases the hashes so a key has one file name.
func (k Key) normalized() Key {
	k.ImageSHA256, k.ModelSHA256 = strings.ToLower(k.ImageSHA256), strings.ToLower(k.ModelSHA256)
	return k
}

// validate requires both hashes to be 64 hex digits; they become file names.
func (k Key) validate() error {
	for _, s := range []struct{ what, v string }{{"image", k.ImageSHA256}, {"model", k.ModelSHA256}} {
		if b, err := hex.DecodeString(s.v); err != nil || len(b) != sha256.Size {
			return fmt.Errorf("embed: %s hash %q is not 64 hex digits", s.what, s.v)
		}
	}
	return nil
}

func (k Key) String() string {
	flip := ""
	if k.Flip {
		flip = "+flip"
	}
	return fmt.Sprintf("image %.12s model %.12s%s", k.ImageSHA256, k.ModelSHA256, flip)
}

// Cache is a folder of embeddings.
type Cache struct{ dir string }

// Open returns the cache in dir, creating the folder if needed.
func Open(dir string) (*Cache, error) {
	if dir == "" {
		return nil, fmt.Errorf("embed: empty cache directory")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("embed: cache %s: %w", dir, err)
	}
	return &Cache{dir: dir}, nil
}

// Dir is the cache folder.
func (c *Cache) Dir() string { return c.dir }

// Path is where the entry for key lives: one folder per model, then
// 256 buckets by image hash so no folder grows huge.
func (c *Cache) Path(key Key) string {
	key = key.normalized()
	name := key.ImageSHA256
	if key.Flip {
		name += "-flip"
	}
	return filepath.Join(c.dir, key.ModelSHA256[:min(16, len(key.ModelSHA256))],
		key.ImageSHA256[:min(2, len(key.ImageSHA256))], name+".emb")
}

// Get reads an entry. A missing entry gives an error wrapping
// fs.ErrNotExist; a damaged one an error wrapping ErrCorrupt.
func (c *Cache) Get(key Key) (*tensor.Tensor, error) {
	key = key.normalized()
	if err := key.validate(); err != nil {
		return nil, err
	}
	path := c.Path(key)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("embed: %s: %w", key, err)
	}
	t, err := decodeEntry(data, key)
	if err != nil {
		return nil, fmt.Errorf("embed: %s: %w: %v", path, ErrCorrupt, err)
	}
	return t, nil
}

// Put stores t under key, atomically (temp file, fsync, rename), replacing
// any previous entry. Values must fit float16 (|v| <= 65504, not NaN).
func (c *Cache) Put(key Key, t *tensor.Tensor) error {
	key = key.normalized()
	if err := key.validate(); err != nil {
		return err
	}
	data, err := encodeEntry(key, t)
	if err != nil {
		return fmt.Errorf("embed: %s: %w", key, err)
	}
	path := c.Path(key)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("embed: %w", err)
	}
	if err := atomicfile.WriteFile(path, data); err != nil {
		return fmt.Errorf("embed: %w", err)
	}
	return nil
}

// Entry layout, little-endian:
//
//	magic "BUSAMEMB" | version u32 | dtype u32 (1 = f16) | ndim u32 | dims u32 x ndim
//	image sha256 [32] | model sha256 [32] | flip u8 | pad [3]
//	payload: numel x f16 | crc32c u32 of everything before it
const (
	magic       = "BUSAMEMB"
	version     = 1
	dtypeF16    = 1
	maxDims     = 8
	maxElements = 1 << 28 // 512 MiB of f16: far above any embedding
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func encodeEntry(key Key, t *tensor.Tensor) ([]byte, error) {
	if t == nil || len(t.Shape) == 0 || len(t.Shape) > maxDims {
		return nil, fmt.Errorf("tensor needs 1 to %d dimensions", maxDims)
	}
	n := 1
	for _, d := range t.Shape {
		if d < 1 || d > maxElements {
			return nil, fmt.Errorf("bad shape %v", t.Shape)
		}
		n *= d
		if n > maxElements {
			return nil, fmt.Errorf("shape %v too large", t.Shape)
		}
	}
	if n != len(t.Data) {
		return nil, fmt.Errorf("%d values for shape %v", len(t.Data), t.Shape)
	}
	for i, v := range t.Data {
		if math.IsNaN(float64(v)) || math.Abs(float64(v)) > 65504 {
			return nil, fmt.Errorf("value %v at %d does not fit float16", v, i)
		}
	}
	buf := make([]byte, 0, 8+12+4*len(t.Shape)+68+2*n+4)
	buf = append(buf, magic...)
	buf = binary.LittleEndian.AppendUint32(buf, version)
	buf = binary.LittleEndian.AppendUint32(buf, dtypeF16)
	buf = binary.LittleEndian.AppendUint32(buf, uint32(len(t.Shape)))
	for _, d := range t.Shape {
		buf = binary.LittleEndian.AppendUint32(buf, uint32(d))
	}
	img, _ := hex.DecodeString(key.ImageSHA256)
	model, _ := hex.DecodeString(key.ModelSHA256)
	buf = append(buf, img...)
	buf = append(buf, model...)
	flip := byte(0)
	if key.Flip {
		flip = 1
	}
	buf = append(buf, flip, 0, 0, 0)
	for _, v := range t.Data {
		buf = binary.LittleEndian.AppendUint16(buf, safetensors.Float32ToFloat16(v))
	}
	return binary.LittleEndian.AppendUint32(buf, crc32.Checksum(buf, castagnoli)), nil
}

func decodeEntry(data []byte, want Key) (*tensor.Tensor, error) {
	if len(data) < 8+12+4 {
		return nil, fmt.Errorf("%d bytes, too short for a header", len(data))
	}
	body, sum := data[:len(data)-4], binary.LittleEndian.Uint32(data[len(data)-4:])
	if string(body[:8]) != magic {
		return nil, fmt.Errorf("bad magic %q", body[:8])
	}
	if got := crc32.Checksum(body, castagnoli); got != sum {
		return nil, fmt.Errorf("checksum %08x, stored %08x (truncated or damaged)", got, sum)
	}
	r := body[8:]
	u32 := func() uint32 { v := binary.LittleEndian.Uint32(r); r = r[4:]; return v }
	if v := u32(); v != version {
		return nil, fmt.Errorf("version %d, want %d", v, version)
	}
	if d := u32(); d != dtypeF16 {
		return nil, fmt.Errorf("dtype %d, want %d (f16)", d, dtypeF16)
	}
	ndim := int(u32())
	if ndim < 1 || ndim > maxDims || len(r) < 4*ndim+68 {
		return nil, fmt.Errorf("bad rank %d", ndim)
	}
	shape := make([]int, ndim)
	n := 1
	for i := range shape {
		shape[i] = int(u32())
		n *= shape[i]
		if shape[i] < 1 || n > maxElements {
			return nil, fmt.Errorf("bad shape %v", shape[:i+1])
		}
	}
	var k Key
	k.ImageSHA256 = hex.EncodeToString(r[:32])
	k.ModelSHA256 = hex.EncodeToString(r[32:64])
	k.Flip = r[64] == 1
	r = r[68:]
	if k != want {
		return nil, fmt.Errorf("entry holds %s, asked for %s", k, want)
	}
	if len(r) != 2*n {
		return nil, fmt.Errorf("%d payload bytes for shape %v", len(r), shape)
	}
	t := tensor.New(shape...)
	if err := safetensors.DecodeF16(t.Data, r); err != nil {
		return nil, err
	}
	return t, nil
}
