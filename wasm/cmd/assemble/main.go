// Command assemble builds the web app folder that `busam serve` serves:
//
//	go run ./wasm/cmd/assemble --out dist/web --weights "$BUSAM_CACHE/weights"
//
// It compiles the wasm module (GOOS=js GOARCH=wasm), gathers wasm_exec.js,
// worker.js, busam.js and the page (the UI folder given by --ui, else the
// small demo in wasm/demo), gives them content-hashed names, writes .gz
// and .br siblings, and publishes the model files under model/ with
// model/manifest.json.
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/busam/busam/wasm/assemble"
	"github.com/busam/busam/wasm/manifest"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("assemble: ")
	if err := run(os.Args[1:]); err != nil {
		log.Fatal(err)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("assemble", flag.ContinueOnError)
	out := fs.String("out", "dist/web", "output folder (replaced)")
	weights := fs.String("weights", ".cache/weights", "folder holding encoder.safetensors and heads.safetensors")
	encoderFile := fs.String("encoder", "", "encoder weights (default <weights>/encoder.safetensors)")
	headsFile := fs.String("heads", "", "heads weights (default <weights>/heads.safetensors)")
	ui := fs.String("ui", "", "folder with the page (index.html and its files); default: the demo in wasm/demo")
	wasmFile := fs.String("wasm", "", "use this prebuilt wasm module instead of building it")
	noCompress := fs.Bool("no-compress", false, "skip the .gz/.br siblings")
	best := fs.Bool("best", false, "brotli at its best quality for large files too (slow)")
	verbose := fs.Bool("v", false, "log every file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	root, err := assemble.ModuleRoot(".")
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "busam-assemble-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	wasm := *wasmFile
	if wasm == "" {
		wasm = filepath.Join(tmp, "busam.wasm")
		log.Printf("building %s (GOOS=js GOARCH=wasm)", assemble.WasmPackage)
		if err := assemble.BuildWasm(root, assemble.WasmPackage, wasm); err != nil {
			return err
		}
	}
	wasmExec, err := assemble.WasmExecJS()
	if err != nil {
		return err
	}
	assets := []assemble.Asset{
		{Name: "busam.wasm", Src: wasm},
		{Name: "wasm_exec.js", Src: wasmExec},
		{Name: "worker.js", Src: filepath.Join(root, "wasm", "worker.js")},
		{Name: "busam.js", Src: filepath.Join(root, "wasm", "busam.js")},
	}
	page := *ui
	if page == "" {
		page = filepath.Join(root, "wasm", "demo")
	}
	pageAssets, err := webFiles(page)
	if err != nil {
		return err
	}
	assets = append(assets, pageAssets...)

	var models []assemble.ModelFile
	for _, m := range []struct{ role, flag, def string }{
		{manifest.RoleEncoder, *encoderFile, "encoder.safetensors"},
		{manifest.RoleHeads, *headsFile, "heads.safetensors"},
	} {
		src := m.flag
		if src == "" {
			src = filepath.Join(*weights, m.def)
		}
		if _, err := os.Stat(src); err != nil {
			if m.flag != "" {
				return fmt.Errorf("%s weights: %w", m.role, err)
			}
			log.Printf("warning: %s weights missing (%v); the app will report that the model is incomplete", m.role, err)
			continue
		}
		models = append(models, assemble.ModelFile{Role: m.role, Src: src})
	}
	logf := func(string, ...any) {}
	if *verbose {
		logf = log.Printf
	}
	rep, err := assemble.Run(assemble.Options{
		Out: *out, Assets: assets, Models: models,
		Compress: !*noCompress, BestCompression: *best, Logf: logf,
	})
	if err != nil {
		return err
	}
	log.Printf("wrote %d files to %s (busam.js -> %s)", len(rep.Files), *out, rep.Names["busam.js"])
	return nil
}

// webFiles lists the files of a page folder that belong on the web (no Go
// sources, docs or dotfiles), named relative to the folder.
func webFiles(dir string) ([]assemble.Asset, error) {
	if _, err := os.Stat(filepath.Join(dir, "index.html")); err != nil {
		return nil, fmt.Errorf("page folder %s has no index.html: %w", dir, err)
	}
	var out []assemble.Asset
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
		if d.IsDir() {
			return nil
		}
		switch strings.ToLower(filepath.Ext(p)) {
		case ".html", ".js", ".mjs", ".css", ".svg", ".png", ".ico", ".webp", ".jpg", ".json", ".webmanifest", ".woff2":
		default:
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		out = append(out, assemble.Asset{Name: filepath.ToSlash(rel), Src: p})
		return nil
	})
	return out, err
}
