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
	"log"
	"os"
	"path/filepath"

	"github.com/busam/busam/wasm/assemble"
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
	sources := assemble.AddModelFlags(fs)
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
	assets, err := assemble.RuntimeAssets(root, wasm)
	if err != nil {
		return err
	}
	page := *ui
	if page == "" {
		page = filepath.Join(root, "wasm", "demo")
	}
	pageAssets, err := assemble.PageFiles(page)
	if err != nil {
		return err
	}
	assets = append(assets, pageAssets...)
	models, err := assemble.ModelFiles(*sources, warn)
	if err != nil {
		return err
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

func warn(format string, args ...any) { log.Printf("warning: "+format, args...) }
