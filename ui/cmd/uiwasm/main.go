//go:build js && wasm

// Command uiwasm is busam's user interface: the vugu app of package
// ui/app, compiled to WebAssembly and started by ui/web/boot.js on the
// page's main thread. The model itself runs in busam.js's Web Worker.
package main

import (
	"log"

	"github.com/vugu/vugu"
	"github.com/vugu/vugu/domrender"

	"github.com/busam/busam/ui/app"
)

func main() {
	renderer, err := domrender.New("#app")
	if err != nil {
		log.Fatalf("busam ui: %v", err)
	}
	defer renderer.Release()
	buildEnv, err := vugu.NewBuildEnv(renderer.EventEnv())
	if err != nil {
		log.Fatalf("busam ui: %v", err)
	}
	root := app.New(renderer.EventEnv())
	root.Start()
	for ok := true; ok; ok = renderer.EventWait() {
		if err := renderer.Render(buildEnv.RunBuild(root)); err != nil {
			log.Fatalf("busam ui: render: %v", err)
		}
		// vugu calls Rendered on the components inside a component's
		// output, not on the root itself.
		root.Rendered()
	}
}
