package main

import (
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEmbedCommandErrors(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "a.png")
	f, _ := os.Create(img)
	png.Encode(f, image.NewGray(image.Rect(0, 0, 4, 4)))
	f.Close()
	csv := filepath.Join(dir, "m.csv")
	os.WriteFile(csv, []byte("image,label\na.png,normal\n"), 0o644)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no data", []string{"--cache", dir}, "--data is required"},
		{"stray argument", []string{"--data", csv, "extra"}, "unexpected arguments"},
		{"bad dataset", []string{"--data", filepath.Join(dir, "nope.csv")}, "nope.csv"},
		{"missing weights", []string{"--data", csv, "--cache", filepath.Join(dir, "c"), "--weights", filepath.Join(dir, "w.safetensors")}, "w.safetensors"},
	}
	for _, tc := range tests {
		err := runEmbed(tc.args)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error saying %q", tc.name, err, tc.want)
		}
	}
}
