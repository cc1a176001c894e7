package bundle

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/busam/busam/internal/testutil"
	"github.com/busam/busam/wasm/assemble"
)

// vuguPrefix is how vugu's helper script starts; boot.js recognises the
// eval it must answer by this prefix.
const vuguPrefix = "(function(){if(window.vuguRender)return;"

func TestVuguRenderScriptMatchesBoot(t *testing.T) {
	root := testutil.RepoRoot(t)
	script, err := VuguRenderScript(root)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(script), vuguPrefix) || !strings.Contains(string(script), "window.vuguRender=function") {
		t.Fatalf("vugu's helper script changed shape (starts %q); boot.js must be updated", string(script[:min(60, len(script))]))
	}
	boot, err := os.ReadFile(filepath.Join(root, WebDir, "boot.js"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(boot), "'"+vuguPrefix+"'") {
		t.Errorf("boot.js does not recognise vugu's eval by the prefix %q", vuguPrefix)
	}
}

func TestScriptFromSource(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, src, want string
		ok              bool
	}{
		{"plain", "package x\nconst jsHelperScript = \"a\\\"b\"\n", "a\"b\n", true},
		{"grouped", "package x\nconst (\n\tother = \"no\"\n\tjsHelperScript = `raw`\n)\n", "raw\n", true},
		{"missing", "package x\nconst other = \"no\"\n", "", false},
		{"not a literal", "package x\nconst jsHelperScript = other\nconst other = \"x\"\n", "", false},
		{"not Go", "this is not go", "", false},
	} {
		p := filepath.Join(dir, tc.name+".go")
		if err := os.WriteFile(p, []byte(tc.src), 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := ScriptFromSource(p)
		if tc.ok != (err == nil) || string(got) != tc.want {
			t.Errorf("%s: got %q, %v; want %q (ok=%v)", tc.name, got, err, tc.want, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error %v does not name the file", tc.name, err)
		}
	}
}

// TestServiceWorkerListsTheShell checks that sw.js caches every file the
// app needs to start offline: the page's files and the model runtime's.
func TestServiceWorkerListsTheShell(t *testing.T) {
	root := testutil.RepoRoot(t)
	static, err := StaticFiles(filepath.Join(root, WebDir))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range static {
		names = append(names, a.Name)
	}
	for _, must := range []string{"index.html", "boot.js", "sw.js", "app.css"} {
		if !slices.Contains(names, must) {
			t.Errorf("static files %v lack %s", names, must)
		}
	}
	sw, err := os.ReadFile(filepath.Join(root, WebDir, "sw.js"))
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, m := range regexp.MustCompile(`'\./([^']*)'`).FindAllStringSubmatch(string(sw), -1) {
		listed[m[1]] = true
	}
	need := append(append([]string{UIWasmName, VuguRenderName}, assemble.RuntimeNames...), names...)
	for _, n := range need {
		if n != "sw.js" && !listed[n] {
			t.Errorf("sw.js does not cache %s", n)
		}
	}
}

func TestStaticFilesNeedsIndex(t *testing.T) {
	dir := t.TempDir()
	if _, err := StaticFiles(dir); err == nil || !strings.Contains(err.Error(), "index.html") {
		t.Errorf("a folder without index.html gave %v", err)
	}
	os.WriteFile(filepath.Join(dir, "index.html"), []byte("<!doctype html>"), 0o644)
	os.WriteFile(filepath.Join(dir, ".hidden.js"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(dir, "notes.md"), []byte("x"), 0o644)
	got, err := StaticFiles(dir)
	if err != nil || len(got) != 1 || got[0].Name != "index.html" {
		t.Errorf("got %+v, %v; want only index.html", got, err)
	}
}

// TestNoInlineScriptOrStyle guards the Content-Security-Policy: the page
// and the vugu template may not carry inline scripts, style attributes or
// <style> blocks (script-src and style-src allow only files from 'self').
func TestNoInlineScriptOrStyle(t *testing.T) {
	root := testutil.RepoRoot(t)
	scriptTag := regexp.MustCompile(`(?is)<script\b([^>]*)>`)
	for _, rel := range []string{filepath.Join(WebDir, "index.html"), filepath.Join("ui", "app", "root.vugu")} {
		b, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		for _, bad := range []string{"<style", " style=", ":style=", " onclick=", " onload=", "javascript:"} {
			if strings.Contains(strings.ToLower(s), bad) {
				t.Errorf("%s contains %q, which the CSP blocks", rel, bad)
			}
		}
		for _, m := range scriptTag.FindAllStringSubmatch(s, -1) {
			if !strings.Contains(m[1], "src=") {
				t.Errorf("%s has a <script%s> without src: inline scripts are blocked", rel, m[1])
			}
		}
	}
}

// TestUIModuleLinksNoDecoders keeps image codecs in the model worker:
// the decoders (DICOM's tag dictionary above all) once made up half of
// the UI module's download, and the worker has them anyway.
func TestUIModuleLinksNoDecoders(t *testing.T) {
	cmd := exec.Command("go", "list", "-deps", UIPackage)
	cmd.Dir = testutil.RepoRoot(t)
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm", "CGO_ENABLED=0")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", UIPackage, err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"github.com/busam/busam/imageio", "github.com/suyashkumar/dicom", "golang.org/x/image", "image/png", "image/jpeg", "image/gif"} {
			if dep == banned || strings.HasPrefix(dep, banned+"/") {
				t.Errorf("the UI module links %s; decode and encode images in the worker (busam.js decode, maskPNG)", dep)
			}
		}
	}
}
