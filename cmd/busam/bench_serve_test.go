package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The load generator counts what it sends: every request to a served file
// succeeds, every request to a missing one is an error, and -max bounds it.
func TestLoadPath(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "index.html"), []byte("<!doctype html>"), 0o644)
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	defer srv.Close()
	ok := loadPath(srv.URL+"/index.html", 4, time.Minute, 40)
	if len(ok.lat) != 40 || ok.errors != 0 {
		t.Errorf("served file: %d answered, %d errors; want 40, 0", len(ok.lat), ok.errors)
	}
	bad := loadPath(srv.URL+"/missing", 3, time.Minute, 9)
	if len(bad.lat) != 0 || bad.errors != 9 {
		t.Errorf("missing file: %d answered, %d errors; want 0, 9", len(bad.lat), bad.errors)
	}
	if p := pctile(ok.lat, 1); p != ok.lat[len(ok.lat)-1] || pctile(nil, 0.5) != 0 {
		t.Error("pctile")
	}
}
