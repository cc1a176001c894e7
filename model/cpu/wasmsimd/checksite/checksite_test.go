//go:build !js

package checksite_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/busam/busam/internal/browsertest"
	"github.com/busam/busam/model/cpu/wasmsimd/checksite"
)

// TestSIMDKernelInChromium runs model/cpu's Gemm and HWC convolutions on the
// WebAssembly SIMD kernel in headless Chromium and compares them with the
// plain-Go kernel, on the same page, over many shapes (transposes, strides,
// edge tiles, alpha/beta, NaN in C with beta = 0, conv bias), and the GELU,
// softmax and depthwise kernels with model/cpu's plain-Go loops; then
// checks that without globalThis.wasm the build falls back to plain Go.
func TestSIMDKernelInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a js/wasm program and starts Chromium")
	}
	dir := t.TempDir()
	if err := checksite.Build(dir); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(checksite.Isolated(http.FileServer(http.Dir(dir))))
	defer srv.Close()
	br := browsertest.Start(t, browsertest.Options{Timeout: 5 * time.Minute})

	rep := load(t, br, srv.URL+"/index.html")
	if !rep.SIMD || !strings.HasPrefix(rep.Kernel, "wasm-simd") {
		t.Fatalf("kernel %q, SIMD %v (%s); want the wasm SIMD kernel", rep.Kernel, rep.SIMD, rep.SIMDError)
	}
	if len(rep.Cases) < 100 {
		t.Fatalf("only %d cases ran", len(rep.Cases))
	}
	exact := 0
	for _, c := range rep.Cases {
		// Both kernels sum each element's products in the same order with
		// plain mul + add: any difference beyond float32 rounding of a few
		// operations is a bug.
		if c.MaxRel > 1e-6 {
			t.Errorf("%s: max relative difference %.3g", c.Name, c.MaxRel)
		}
		// The elementwise kernels replay the Go code's float32 operations
		// lane by lane: anything but the same bits is a bug.
		if !strings.HasPrefix(c.Name, "gemm") && !strings.HasPrefix(c.Name, "conv2d") && !c.Exact {
			t.Errorf("%s: not bit-identical to the plain-Go loop (max relative difference %.3g)", c.Name, c.MaxRel)
		}
		if c.Exact {
			exact++
		}
	}
	t.Logf("%d cases, %d bit-identical to the plain-Go kernel", len(rep.Cases), exact)

	rep = load(t, br, srv.URL+"/index.html?nowasm=1")
	if rep.SIMD || rep.Kernel != "generic-4x4" || !strings.Contains(rep.SIMDError, "globalThis.wasm") {
		t.Fatalf("without globalThis.wasm: kernel %q, SIMD %v, reason %q; want the plain-Go fallback and the reason", rep.Kernel, rep.SIMD, rep.SIMDError)
	}
}

func load(t *testing.T, br *browsertest.Browser, url string) checksite.Report {
	t.Helper()
	if err := br.Navigate(url); err != nil {
		t.Fatal(err)
	}
	if err := br.WaitFor(`globalThis.simdcheck`, 3*time.Minute); err != nil {
		t.Fatalf("%s: %v\nconsole: %s", url, err, strings.Join(br.Console(), "\n"))
	}
	s, err := browsertest.Eval[string](br, `globalThis.simdcheck`)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := checksite.ParseReport(s)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Error != "" {
		t.Fatalf("%s: %s", url, rep.Error)
	}
	return rep
}
