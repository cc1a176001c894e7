// Package manifest describes the model files that the browser downloads:
// model/manifest.json lists each file's role, name, size and SHA-256, so
// the page can show download progress and refuse a tampered or corrupt
// file before using or caching it. The assembler writes it; the wasm
// module checks every file against it.
package manifest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"
)

// Format names this manifest layout; a reader refuses any other.
const Format = "busam-model/1"

// FileName is the manifest's name inside the model folder.
const FileName = "manifest.json"

// Roles the app knows.
const (
	RoleEncoder = "encoder" // SAM image encoder weights (safetensors)
	RoleHeads   = "heads"   // trained decoder + classifier weights (safetensors)
	// RoleEncoderQuant is the quant manifest (JSON, package quant) of an
	// int8 encoder file: its scheme, tensor list and sha256. It is listed
	// only when the encoder is int8, and the engine refuses an int8
	// encoder without it.
	RoleEncoderQuant = "encoder-quant"
)

// File is one downloadable model file.
type File struct {
	Role   string `json:"role"`
	Path   string `json:"path"` // relative to the manifest, content-hashed
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"` // lowercase hex
}

// Manifest is model/manifest.json.
type Manifest struct {
	Format string `json:"format"`
	Files  []File `json:"files"`
}

// MaxSize bounds the manifest itself; real ones are a few hundred bytes.
const MaxSize = 64 << 10

// Parse decodes and validates a manifest; name is used in errors.
func Parse(name string, data []byte) (*Manifest, error) {
	if len(data) > MaxSize {
		return nil, fmt.Errorf("%s: %d bytes, more than a manifest can be", name, len(data))
	}
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%s: not a model manifest: %w", name, err)
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &m, nil
}

// Validate checks the fields a reader relies on.
func (m *Manifest) Validate() error {
	if m.Format != Format {
		return fmt.Errorf("format %q, want %q", m.Format, Format)
	}
	if len(m.Files) == 0 {
		return errors.New("no files listed")
	}
	roles := map[string]bool{}
	paths := map[string]bool{}
	for i, f := range m.Files {
		switch {
		case f.Role == "":
			return fmt.Errorf("file %d has no role", i)
		case roles[f.Role]:
			return fmt.Errorf("role %q listed twice", f.Role)
		case !fs.ValidPath(f.Path) || f.Path == "." || strings.ContainsAny(f.Path, "/\\") || strings.HasPrefix(f.Path, "."):
			return fmt.Errorf("file %q: path must be a plain file name", f.Path)
		case paths[f.Path]:
			return fmt.Errorf("path %q listed twice", f.Path)
		case f.Size <= 0:
			return fmt.Errorf("file %q: size %d", f.Path, f.Size)
		case !isHexSHA256(f.SHA256):
			return fmt.Errorf("file %q: sha256 %q is not 64 lowercase hex digits", f.Path, f.SHA256)
		}
		roles[f.Role], paths[f.Path] = true, true
	}
	return nil
}

func isHexSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// File returns the entry with the given role.
func (m *Manifest) File(role string) (File, bool) {
	for _, f := range m.Files {
		if f.Role == role {
			return f, true
		}
	}
	return File{}, false
}

// ErrMismatch marks data that does not match its manifest entry.
var ErrMismatch = errors.New("does not match the model manifest")

// Verify checks data against the entry: size, then SHA-256.
func (f File) Verify(data []byte) error {
	return f.VerifyDigest(data, SHA256Hex(data))
}

// VerifyDigest is Verify with the SHA-256 of data already computed (the
// browser's crypto.subtle hashes at native speed; Go's wasm build does
// not). digest must be the lowercase hex SHA-256 of data.
func (f File) VerifyDigest(data []byte, digest string) error {
	if int64(len(data)) != f.Size {
		return fmt.Errorf("model file %s: %d bytes, manifest says %d: %w", f.Path, len(data), f.Size, ErrMismatch)
	}
	if digest != f.SHA256 {
		return fmt.Errorf("model file %s: SHA-256 %s, manifest says %s (tampered or corrupt; refused): %w", f.Path, digest, f.SHA256, ErrMismatch)
	}
	return nil
}

// SHA256Hex is the lowercase hex SHA-256 of data.
func SHA256Hex(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// Marshal encodes the manifest, indented, after validating it.
func (m *Manifest) Marshal() ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
