package assemble

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/busam/busam/quant"
	"github.com/busam/busam/wasm/manifest"
	"github.com/busam/busam/weights/safetensors"
)

// The model runtime's files, by logical (unhashed) name: every page that
// runs the model serves them, and a service worker that makes the app
// work offline must cache them.
const (
	WasmName     = "busam.wasm"   // the Go module (WasmPackage)
	WasmExecName = "wasm_exec.js" // Go's JavaScript support, from the toolchain
	WorkerName   = "worker.js"    // runs the module in a Web Worker
	ClientName   = "busam.js"     // the page's API, talks to the worker
)

// RuntimeNames lists the model runtime's files (see WasmName and friends).
var RuntimeNames = []string{WasmName, WasmExecName, WorkerName, ClientName}

// RuntimeAssets lists the model runtime's files for Run: the module built
// at wasmPath, wasm_exec.js of the toolchain, and the scripts in root/wasm.
func RuntimeAssets(root, wasmPath string) ([]Asset, error) {
	wasmExec, err := WasmExecJS()
	if err != nil {
		return nil, err
	}
	return []Asset{
		{Name: WasmName, Src: wasmPath},
		{Name: WasmExecName, Src: wasmExec},
		{Name: WorkerName, Src: filepath.Join(root, "wasm", WorkerName)},
		{Name: ClientName, Src: filepath.Join(root, "wasm", ClientName)},
	}, nil
}

// File names inside a weights folder (the cache's weights/).
const (
	EncoderInt8File  = "encoder.int8.safetensors" // busam quantize --mode int8 of EncoderFloatFile
	EncoderFloatFile = "encoder.safetensors"
	HeadsFile        = "heads.safetensors"
)

// ModelSources says where the model files to publish come from: explicit
// files, or the defaults in the Weights folder.
type ModelSources struct {
	Weights string // folder of the defaults
	Encoder string // encoder file; "" = Weights/EncoderInt8File, else Weights/EncoderFloatFile
	Heads   string // heads file; "" = Weights/HeadsFile
}

// AddModelFlags registers --weights, --encoder and --heads on fs (the
// commands that publish a model share them); read the result after
// fs.Parse.
func AddModelFlags(fs *flag.FlagSet) *ModelSources {
	src := &ModelSources{}
	fs.StringVar(&src.Weights, "weights", ".cache/weights", "folder holding the encoder and heads weights")
	fs.StringVar(&src.Encoder, "encoder", "", "encoder weights (default <weights>/"+EncoderInt8File+", else <weights>/"+EncoderFloatFile+")")
	fs.StringVar(&src.Heads, "heads", "", "heads weights (default <weights>/"+HeadsFile+")")
	return src
}

// ModelFiles resolves the model files to publish. An explicit file must
// exist. The default encoder is the int8 one (a quarter of the download)
// when it is there, verified against its quant manifest and made from the
// float file beside it; otherwise the float file, with a warning. A
// quantized encoder travels with its quant manifest (role
// manifest.RoleEncoderQuant). A missing default file is left out with a
// warning: the app then reports that the model is incomplete.
func ModelFiles(src ModelSources, warnf func(format string, args ...any)) ([]ModelFile, error) {
	if warnf == nil {
		warnf = func(string, ...any) {}
	}
	var out []ModelFile
	enc, err := encoderFiles(src, warnf)
	if err != nil {
		return nil, err
	}
	out = append(out, enc...)
	heads := src.Heads
	if heads == "" {
		heads = filepath.Join(src.Weights, HeadsFile)
		if _, err := os.Stat(heads); err != nil {
			warnf("heads weights missing (%v); the app will report that the model is incomplete", err)
			return out, nil
		}
	} else if _, err := os.Stat(heads); err != nil {
		return nil, fmt.Errorf("heads weights: %w", err)
	}
	return append(out, ModelFile{Role: manifest.RoleHeads, Src: heads}), nil
}

func encoderFiles(src ModelSources, warnf func(string, ...any)) ([]ModelFile, error) {
	if src.Encoder != "" {
		if _, err := os.Stat(src.Encoder); err != nil {
			return nil, fmt.Errorf("encoder weights: %w", err)
		}
		return encoderWithManifest(src.Encoder)
	}
	float := filepath.Join(src.Weights, EncoderFloatFile)
	int8 := filepath.Join(src.Weights, EncoderInt8File)
	files, err := defaultInt8(int8, float)
	if err == nil {
		return files, nil
	}
	if _, ferr := os.Stat(float); ferr != nil {
		warnf("encoder weights missing (%v; %v); the app will report that the model is incomplete", err, ferr)
		return nil, nil
	}
	warnf("publishing the float32 encoder %s (about 4x the download): %v", float, err)
	return encoderWithManifest(float)
}

// defaultInt8 accepts the int8 encoder only if its quant manifest verifies
// it and, when the float file is there, says it was made from that file
// (else it is left over from other weights).
func defaultInt8(int8, float string) ([]ModelFile, error) {
	if _, err := os.Stat(int8); err != nil {
		return nil, fmt.Errorf("no int8 encoder (busam quantize --mode int8 makes it): %w", err)
	}
	m, err := quant.Open(int8)
	if err != nil {
		return nil, err
	}
	if m.Manifest.Scheme != quant.SchemeInt8 {
		return nil, fmt.Errorf("%s has scheme %s, not %s", int8, m.Manifest.Scheme, quant.SchemeInt8)
	}
	if sum, _, err := hashFile(float); err == nil && sum != m.Manifest.SourceSHA256 {
		return nil, fmt.Errorf("%s was not made from %s (stale: quantize it again)", int8, float)
	}
	return []ModelFile{
		{Role: manifest.RoleEncoder, Src: int8},
		{Role: manifest.RoleEncoderQuant, Src: quant.ManifestPath(int8)},
	}, nil
}

// encoderWithManifest publishes an explicit encoder file: with its quant
// manifest when it has one (checked here, so a stale pair fails the build
// and not the browser), alone when it is a plain float file.
func encoderWithManifest(path string) ([]ModelFile, error) {
	files := []ModelFile{{Role: manifest.RoleEncoder, Src: path}}
	if _, err := os.Stat(quant.ManifestPath(path)); err != nil {
		if err := checkPlainFloat(path); err != nil {
			return nil, err
		}
		return files, nil
	}
	if _, err := quant.Open(path); err != nil {
		return nil, fmt.Errorf("encoder weights: %w", err)
	}
	return append(files, ModelFile{Role: manifest.RoleEncoderQuant, Src: quant.ManifestPath(path)}), nil
}

// checkPlainFloat refuses a file without a quant manifest that holds int8
// tensors: the browser could not use it.
func checkPlainFloat(path string) error {
	f, err := safetensors.ReadFile(path)
	if err != nil {
		return fmt.Errorf("encoder weights: %w", err)
	}
	for _, name := range f.Names() {
		if info, _ := f.Info(name); info.DType == safetensors.I8 {
			return fmt.Errorf("encoder weights %s: int8 tensor %q but no quant manifest %s", path, name, quant.ManifestPath(path))
		}
	}
	return nil
}

// PageFiles lists the web files of a page folder (index.html and what it
// uses: scripts, styles, images, fonts, JSON; no Go sources, docs or
// dotfiles), named relative to the folder.
func PageFiles(dir string) ([]Asset, error) {
	if _, err := os.Stat(filepath.Join(dir, "index.html")); err != nil {
		return nil, fmt.Errorf("assemble: page folder %s has no index.html: %w", dir, err)
	}
	var out []Asset
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), ".") && p != dir {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() || !webExts[strings.ToLower(filepath.Ext(p))] {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		out = append(out, Asset{Name: filepath.ToSlash(rel), Src: p})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("assemble: page folder %s: %w", dir, err)
	}
	return out, nil
}

// webExts are the file types PageFiles publishes.
var webExts = map[string]bool{
	".html": true, ".js": true, ".mjs": true, ".css": true, ".svg": true, ".png": true, ".ico": true,
	".webp": true, ".jpg": true, ".json": true, ".webmanifest": true, ".woff2": true,
}
