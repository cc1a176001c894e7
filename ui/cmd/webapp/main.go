// Command webapp assembles busam's web app with its full user interface
// (ui/) into the folder that `busam serve` serves:
//
//	go run ./ui/cmd/webapp --out dist/web --weights "$BUSAM_CACHE/weights"
//
// It builds both WebAssembly modules (the model's, wasm/cmd/busamwasm, run
// by wasm/worker.js; and the UI's, ui/cmd/uiwasm), gathers their scripts,
// the UI's page and service worker, and the model files, and hands them to
// package wasm/assemble (hashed names, .gz/.br, model/manifest.json).
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/busam/busam/ui/bundle"
	"github.com/busam/busam/wasm/assemble"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("webapp: ")
	if err := run(os.Args[1:]); err != nil {
		log.Fatal(err)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("webapp", flag.ContinueOnError)
	out := fs.String("out", "dist/web", "output folder (replaced)")
	sources := assemble.AddModelFlags(fs)
	noCompress := fs.Bool("no-compress", false, "skip the .gz/.br siblings")
	verbose := fs.Bool("v", false, "log every file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	root, err := assemble.ModuleRoot(".")
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "busam-webapp-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	log.Printf("building %s and %s (GOOS=js GOARCH=wasm)", assemble.WasmPackage, bundle.UIPackage)
	modelWasm := filepath.Join(tmp, "busam.wasm")
	if err := assemble.BuildWasm(root, assemble.WasmPackage, modelWasm); err != nil {
		return err
	}
	assets, err := assemble.RuntimeAssets(root, modelWasm)
	if err != nil {
		return err
	}
	ui, err := bundle.Assets(root, tmp)
	if err != nil {
		return err
	}
	assets = append(assets, ui...)
	models, err := assemble.ModelFiles(*sources, warn)
	if err != nil {
		return err
	}
	logf := func(string, ...any) {}
	if *verbose {
		logf = log.Printf
	}
	rep, err := assemble.Run(assemble.Options{Out: *out, Assets: assets, Models: models, Compress: !*noCompress, Logf: logf})
	if err != nil {
		return err
	}
	log.Printf("wrote %d files to %s (page %s)", len(rep.Files), *out, rep.Names["index.html"])
	return nil
}

func warn(format string, args ...any) { log.Printf("warning: "+format, args...) }
