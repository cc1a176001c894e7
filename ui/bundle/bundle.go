// Package bundle gathers the files of busam's user interface for the web
// app assembler (package wasm/assemble): the page, styles and scripts in
// ui/web, the UI's WebAssembly module (ui/cmd/uiwasm) and vugu-render.js,
// vugu's DOM renderer helpers as a file.
//
// Why vugu-render.js: vugu's renderer installs those helpers with
// window.eval, which the app's Content-Security-Policy (script-src 'self')
// forbids. The same script, taken from the vugu module this build uses,
// is served as a file instead, and boot.js answers the eval without
// evaluating anything.
package bundle

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"

	"github.com/busam/busam/wasm/assemble"
)

// UIPackage is the Go package of the UI's WebAssembly module.
const UIPackage = "./ui/cmd/uiwasm"

// WebDir is the folder of the UI's static files, relative to the module root.
const WebDir = "ui/web"

// Asset names the page refers to.
const (
	UIWasmName      = "ui.wasm"
	VuguRenderName  = "vugu-render.js"
	vuguModule      = "github.com/vugu/vugu"
	vuguRenderFile  = "domrender/renderer-js-script.go"
	vuguRenderConst = "jsHelperScript"
)

// Assets builds the UI module and extracts vugu's renderer script into tmp,
// and lists them with the static files of root/ui/web.
func Assets(root, tmp string) ([]assemble.Asset, error) {
	wasm := filepath.Join(tmp, UIWasmName)
	if err := assemble.BuildWasm(root, UIPackage, wasm); err != nil {
		return nil, err
	}
	script, err := VuguRenderScript(root)
	if err != nil {
		return nil, err
	}
	render := filepath.Join(tmp, VuguRenderName)
	if err := os.WriteFile(render, script, 0o644); err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	assets := []assemble.Asset{{Name: UIWasmName, Src: wasm}, {Name: VuguRenderName, Src: render}}
	static, err := StaticFiles(filepath.Join(root, WebDir))
	if err != nil {
		return nil, err
	}
	return append(assets, static...), nil
}

// StaticFiles lists the web files of dir (no dotfiles), named relative to it.
func StaticFiles(dir string) ([]assemble.Asset, error) {
	return assemble.PageFiles(dir)
}

// VuguRenderScript returns the JavaScript that vugu's renderer evaluates
// at start-up, read from the vugu module that root's go.mod selects.
func VuguRenderScript(root string) ([]byte, error) {
	dir, err := moduleDir(root, vuguModule)
	if err != nil {
		return nil, err
	}
	return ScriptFromSource(filepath.Join(dir, filepath.FromSlash(vuguRenderFile)))
}

// ScriptFromSource reads the string constant jsHelperScript from a Go file.
func ScriptFromSource(path string) ([]byte, error) {
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	if err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	for _, decl := range f.Decls {
		g, ok := decl.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, spec := range g.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				if name.Name != vuguRenderConst || i >= len(vs.Values) {
					continue
				}
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					return nil, fmt.Errorf("bundle: %s: %s is not a string literal", path, vuguRenderConst)
				}
				s, err := strconv.Unquote(lit.Value)
				if err != nil {
					return nil, fmt.Errorf("bundle: %s: %w", path, err)
				}
				return []byte(s + "\n"), nil
			}
		}
	}
	return nil, fmt.Errorf("bundle: %s has no constant %s (vugu version changed?)", path, vuguRenderConst)
}

// moduleDir asks the go command where a required module's source is.
func moduleDir(root, module string) (string, error) {
	cmd := exec.Command("go", "list", "-m", "-json", module)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("bundle: go list -m %s: %v\n%s", module, err, stderr.String())
	}
	var m struct{ Dir string }
	if err := json.Unmarshal(out, &m); err != nil {
		return "", fmt.Errorf("bundle: go list -m %s: %w", module, err)
	}
	if m.Dir == "" {
		return "", errors.New("bundle: " + module + " is not downloaded (run go mod download)")
	}
	return m.Dir, nil
}
