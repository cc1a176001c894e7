// Package assemble writes the web app folder (dist/web) that `busam serve`
// serves: it gives every asset a content-hashed name (so the server can let
// browsers cache it forever), rewrites the references between files to
// those names, writes .gz and .br siblings, copies the model files under
// model/ with hashed names and writes model/manifest.json (sizes and
// SHA-256) and assets.json (logical name -> served name).
//
// The output is built in a temporary folder next to the target and swapped
// in at the end, so a failed build never leaves half an app behind.
package assemble

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/busam/busam/wasm/manifest"
)

// Asset is one file of the app: Name is its path in the output (slash
// separated, relative), Src the file it is read from.
type Asset struct {
	Name string
	Src  string
}

// ModelFile is a model file to publish under model/.
type ModelFile struct {
	Role string // manifest role, e.g. manifest.RoleEncoder
	Src  string
}

// Options of one assembly.
type Options struct {
	Out    string
	Assets []Asset
	Models []ModelFile
	// Compress writes .gz and .br siblings (off in quick tests).
	Compress bool
	// BestCompression uses brotli's best quality on large files too
	// (minutes for the wasm module; for release builds).
	BestCompression bool
	// Logf receives progress lines; nil is silent.
	Logf func(format string, args ...any)
}

// Report says what was written.
type Report struct {
	Names map[string]string // logical asset name -> served name
	Model *manifest.Manifest
	Files []string // every file written, relative to Out
}

// AssetsFile maps logical asset names to served names, for pages and tests
// that need the hashed name of busam.js and friends.
const AssetsFile = "assets.json"

// HashLen is the number of hex digits of the content hash put in names.
const HashLen = 16

// Run assembles opts.Out.
func Run(opts Options) (*Report, error) {
	logf := opts.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if opts.Out == "" {
		return nil, errors.New("assemble: no output folder")
	}
	if err := checkReplaceable(opts.Out); err != nil {
		return nil, err
	}
	parent := filepath.Dir(filepath.Clean(opts.Out))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, fmt.Errorf("assemble: %w", err)
	}
	stage, err := os.MkdirTemp(parent, "."+filepath.Base(opts.Out)+".tmp-")
	if err != nil {
		return nil, fmt.Errorf("assemble: %w", err)
	}
	defer os.RemoveAll(stage)
	if err := os.Chmod(stage, 0o755); err != nil {
		return nil, fmt.Errorf("assemble: %w", err)
	}

	rep := &Report{}
	if rep.Names, err = writeAssets(stage, opts.Assets, logf); err != nil {
		return nil, err
	}
	if len(opts.Models) > 0 {
		if rep.Model, err = writeModel(filepath.Join(stage, "model"), opts.Models, logf); err != nil {
			return nil, err
		}
	}
	names, err := json.MarshalIndent(rep.Names, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(stage, AssetsFile), append(names, '\n'), 0o644); err != nil {
		return nil, fmt.Errorf("assemble: %w", err)
	}
	if opts.Compress {
		if err := compressTree(stage, opts.BestCompression, logf); err != nil {
			return nil, err
		}
	}
	if rep.Files, err = listFiles(stage); err != nil {
		return nil, err
	}
	if err := swapIn(stage, opts.Out); err != nil {
		return nil, err
	}
	return rep, nil
}

// checkReplaceable refuses to delete a folder that this package did not
// write (it would hold an assets.json) unless it is empty.
func checkReplaceable(out string) error {
	entries, err := os.ReadDir(out)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("assemble: %w", err)
	}
	if len(entries) == 0 {
		return nil
	}
	if _, err := os.Stat(filepath.Join(out, AssetsFile)); err != nil {
		return fmt.Errorf("assemble: refusing to replace %s: it is not empty and has no %s, so it was not written by assemble", out, AssetsFile)
	}
	return nil
}

func swapIn(stage, out string) error {
	old := stage + ".old"
	if _, err := os.Stat(out); err == nil {
		if err := os.Rename(out, old); err != nil {
			return fmt.Errorf("assemble: %w", err)
		}
	}
	if err := os.Rename(stage, out); err != nil {
		os.Rename(old, out)
		return fmt.Errorf("assemble: %w", err)
	}
	return os.RemoveAll(old)
}

// isHashed reports whether an asset gets a content-hashed name. Pages and
// files whose URL others must know in advance keep their names.
func isHashed(name string) bool {
	base := path.Base(name)
	switch {
	case strings.HasSuffix(base, ".html"), base == "manifest.json", base == "sw.js",
		base == "robots.txt", base == "favicon.ico", strings.HasSuffix(base, ".webmanifest"):
		return false
	}
	return true
}

// isText reports whether references inside an asset are rewritten.
func isText(name string) bool {
	switch strings.ToLower(path.Ext(name)) {
	case ".js", ".mjs", ".css", ".html", ".json", ".svg", ".webmanifest":
		return true
	}
	return false
}

// hashedName inserts the hash before the extension: a/b.js -> a/b.<h>.js.
func hashedName(name string, content []byte) string {
	sum := sha256.Sum256(content)
	ext := path.Ext(name)
	return strings.TrimSuffix(name, ext) + "." + hex.EncodeToString(sum[:])[:HashLen] + ext
}

// refPattern matches a reference to base inside JS/CSS/HTML: the name
// preceded by a quote or a slash and followed by a quote, '?' or '#'.
func refPattern(base string) *regexp.Regexp {
	return regexp.MustCompile("([\"'`/(])" + regexp.QuoteMeta(base) + "([\"'`?#)])")
}

type pending struct {
	name    string
	content []byte
	deps    []string // names of other assets it references
}

// writeAssets renames and rewrites the assets in dependency order: a file
// is hashed only after every file it references has its final name, so a
// change anywhere changes the names of all the files that lead to it.
func writeAssets(dir string, assets []Asset, logf func(string, ...any)) (map[string]string, error) {
	byBase := map[string]string{}
	files := map[string]*pending{}
	for _, a := range assets {
		if !fsValid(a.Name) {
			return nil, fmt.Errorf("assemble: asset name %q is not a clean relative path", a.Name)
		}
		if _, dup := files[a.Name]; dup {
			return nil, fmt.Errorf("assemble: asset %s given twice", a.Name)
		}
		base := path.Base(a.Name)
		if other, dup := byBase[base]; dup {
			return nil, fmt.Errorf("assemble: assets %s and %s share the name %s, so references to it are ambiguous", other, a.Name, base)
		}
		byBase[base] = a.Name
		data, err := os.ReadFile(a.Src)
		if err != nil {
			return nil, fmt.Errorf("assemble: asset %s: %w", a.Name, err)
		}
		files[a.Name] = &pending{name: a.Name, content: data}
	}
	patterns := map[string]*regexp.Regexp{}
	for base, name := range byBase {
		patterns[name] = refPattern(base)
	}
	for _, p := range files {
		if !isText(p.name) {
			continue
		}
		for other, re := range patterns {
			if other != p.name && re.Match(p.content) {
				p.deps = append(p.deps, other)
			}
		}
	}

	served := map[string]string{}
	for len(served) < len(files) {
		progress := false
		for _, name := range sortedKeys(files) {
			p := files[name]
			if _, done := served[name]; done || !allIn(p.deps, served) {
				continue
			}
			for _, dep := range p.deps {
				re := patterns[dep]
				repl := "${1}" + path.Base(served[dep]) + "${2}"
				p.content = re.ReplaceAll(p.content, []byte(repl))
			}
			out := name
			if isHashed(name) {
				out = hashedName(name, p.content)
			}
			if err := writeFile(filepath.Join(dir, filepath.FromSlash(out)), p.content); err != nil {
				return nil, err
			}
			served[name] = out
			logf("asset %s -> %s (%d bytes)", name, out, len(p.content))
			progress = true
		}
		if !progress {
			var stuck []string
			for _, name := range sortedKeys(files) {
				if _, done := served[name]; !done {
					stuck = append(stuck, name)
				}
			}
			return nil, fmt.Errorf("assemble: assets reference each other in a cycle: %s", strings.Join(stuck, ", "))
		}
	}
	return served, nil
}

func fsValid(name string) bool {
	return name != "" && name == path.Clean(name) && !path.IsAbs(name) && !strings.HasPrefix(name, "../") &&
		name != ".." && !strings.Contains(name, "\\")
}

func allIn(names []string, m map[string]string) bool {
	for _, n := range names {
		if _, ok := m[n]; !ok {
			return false
		}
	}
	return true
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// writeModel copies the model files under content-hashed names and writes
// the manifest the browser checks them against.
func writeModel(dir string, models []ModelFile, logf func(string, ...any)) (*manifest.Manifest, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("assemble: %w", err)
	}
	m := &manifest.Manifest{Format: manifest.Format}
	for _, mf := range models {
		sum, size, err := hashFile(mf.Src)
		if err != nil {
			return nil, fmt.Errorf("assemble: model file %s: %w", mf.Src, err)
		}
		ext := filepath.Ext(mf.Src)
		name := mf.Role + "." + sum[:HashLen] + ext
		if err := linkOrCopy(mf.Src, filepath.Join(dir, name)); err != nil {
			return nil, fmt.Errorf("assemble: model file %s: %w", mf.Src, err)
		}
		m.Files = append(m.Files, manifest.File{Role: mf.Role, Path: name, Size: size, SHA256: sum})
		logf("model %s: %s -> model/%s (%d bytes)", mf.Role, mf.Src, name, size)
	}
	b, err := m.Marshal()
	if err != nil {
		return nil, fmt.Errorf("assemble: model manifest: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, manifest.FileName), b, 0o644); err != nil {
		return nil, fmt.Errorf("assemble: %w", err)
	}
	return m, nil
}

func hashFile(p string) (string, int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// linkOrCopy hard-links src to dst (weights are tens of MB) and copies
// when the two are on different file systems.
func linkOrCopy(src, dst string) error {
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func writeFile(p string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("assemble: %w", err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		return fmt.Errorf("assemble: %w", err)
	}
	return nil
}

func listFiles(root string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(root, p)
		out = append(out, filepath.ToSlash(rel))
		return err
	})
	sort.Strings(out)
	return out, err
}
