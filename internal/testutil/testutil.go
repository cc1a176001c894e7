// Package testutil finds the files that tests share: the repository root,
// the cache of fetched weights and the BUSI data in ../shared/data.
package testutil

import (
	"os"
	"path/filepath"
	"testing"
)

// RepoRoot returns the directory holding go.mod.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("testutil: go.mod not found above the test directory")
		}
		dir = parent
	}
}

// CacheDir is where fetched and converted weights and other generated test
// inputs live: $BUSAM_CACHE, else <repo>/.cache.
func CacheDir(t testing.TB) string {
	if d := os.Getenv("BUSAM_CACHE"); d != "" {
		return d
	}
	return filepath.Join(RepoRoot(t), ".cache")
}

// DataDir is the BUSI dataset folder: $BUSAM_DATA, else <repo>/../shared/data/Dataset_BUSI_with_GT.
func DataDir(t testing.TB) string {
	if d := os.Getenv("BUSAM_DATA"); d != "" {
		return d
	}
	return filepath.Join(RepoRoot(t), "..", "shared", "data", "Dataset_BUSI_with_GT")
}

// BUSBRADir is the BUS-BRA dataset folder: $BUSAM_BUSBRA, else <repo>/../shared/data/BUS-BRA.
func BUSBRADir(t testing.TB) string {
	if d := os.Getenv("BUSAM_BUSBRA"); d != "" {
		return d
	}
	return filepath.Join(RepoRoot(t), "..", "shared", "data", "BUS-BRA")
}

// Need returns path if it exists. A missing file fails the test under CI
// (the test command always prepares it there) and skips it elsewhere, so a
// developer without the weights can still run the fast tests.
func Need(t testing.TB, path, what string) string {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s missing at %s (the test command prepares it): %v", what, path, err)
		}
		t.Skipf("%s missing at %s; run ./test.sh or `busam weights` first", what, path)
	}
	return path
}
