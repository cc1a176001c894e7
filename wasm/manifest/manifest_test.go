package manifest

import (
	"errors"
	"strings"
	"testing"
)

func valid() *Manifest {
	return &Manifest{Format: Format, Files: []File{
		{Role: RoleEncoder, Path: "encoder.0123456789abcdef.safetensors", Size: 3, SHA256: SHA256Hex([]byte("abc"))},
		{Role: RoleHeads, Path: "heads.fedcba9876543210.safetensors", Size: 2, SHA256: SHA256Hex([]byte("hi"))},
	}}
}

func TestRoundTrip(t *testing.T) {
	b, err := valid().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	m, err := Parse("manifest.json", b)
	if err != nil {
		t.Fatal(err)
	}
	f, ok := m.File(RoleHeads)
	if !ok || f.Path != "heads.fedcba9876543210.safetensors" || f.Size != 2 {
		t.Fatalf("heads entry %+v, %v", f, ok)
	}
	if _, ok := m.File("missing"); ok {
		t.Error("found a role that is not listed")
	}
}

func TestParseRefuses(t *testing.T) {
	good, _ := valid().Marshal()
	tests := []struct {
		name, json, wantErr string
	}{
		{"empty", "", "not a model manifest"},
		{"not json", "<html>", "not a model manifest"},
		{"wrong format", strings.Replace(string(good), Format, "other/9", 1), "format"},
		{"unknown field", strings.Replace(string(good), `"format"`, `"extra": 1, "format"`, 1), "unknown field"},
		{"no files", `{"format":"` + Format + `","files":[]}`, "no files"},
		{"traversal", strings.Replace(string(good), "encoder.0123456789abcdef.safetensors", "../secret", 1), "plain file name"},
		{"sub folder", strings.Replace(string(good), "encoder.0123456789abcdef.safetensors", "a/b", 1), "plain file name"},
		{"hidden", strings.Replace(string(good), "encoder.0123456789abcdef.safetensors", ".env", 1), "plain file name"},
		{"bad hash", strings.Replace(string(good), SHA256Hex([]byte("abc")), "XYZ", 1), "sha256"},
		{"upper hash", strings.Replace(string(good), SHA256Hex([]byte("abc")), strings.ToUpper(SHA256Hex([]byte("abc"))), 1), "sha256"},
		{"zero size", strings.Replace(string(good), `"size": 3`, `"size": 0`, 1), "size"},
		{"dup role", strings.Replace(string(good), `"role": "heads"`, `"role": "encoder"`, 1), "twice"},
		{"too big", strings.Repeat(" ", MaxSize+1), "more than a manifest"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("m.json", []byte(tc.json))
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "m.json") {
				t.Errorf("err = %v, want one naming m.json and saying %q", err, tc.wantErr)
			}
		})
	}
}

func TestVerify(t *testing.T) {
	f, _ := valid().File(RoleEncoder)
	if err := f.Verify([]byte("abc")); err != nil {
		t.Errorf("good data refused: %v", err)
	}
	for _, bad := range [][]byte{[]byte("abd"), []byte("ab"), []byte("abcd"), nil} {
		err := f.Verify(bad)
		if !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), f.Path) {
			t.Errorf("Verify(%q) = %v, want a mismatch naming the file", bad, err)
		}
	}
}
