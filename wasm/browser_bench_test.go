//go:build !js

package wasm_test

import (
	"flag"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/busam/busam/internal/browsertest"
	"github.com/busam/busam/internal/testutil"
)

var (
	benchSize    = flag.Int("wasm.size", 1024, "encoder input size for BenchmarkBrowserAnalyze")
	benchBackend = flag.String("wasm.backend", "cpu", "backend for BenchmarkBrowserAnalyze: cpu, webgpu or auto")
)

// BenchmarkBrowserAnalyze times one analysis of a BUSI scan in headless
// Chromium, model already loaded, and reports the encoder's share:
//
//	go test -run '^$' -bench BrowserAnalyze -benchtime 1x ./wasm/ -args -wasm.size=1024 -wasm.backend=cpu
func BenchmarkBrowserAnalyze(b *testing.B) {
	dist := distDir(b)
	imgPath := testutil.Need(b, filepath.Join(testutil.DataDir(b), filepath.FromSlash(testImage)), "BUSI data")
	s := newSite(b, dist, modelDir(b, dist, imgPath))
	br := browsertest.Start(b, browsertest.Options{Timeout: 60 * time.Minute})
	if err := br.Navigate(s.URL + "/test/"); err != nil {
		b.Fatal(err)
	}
	if err := br.WaitFor(`window.busamTest`, 30*time.Second); err != nil {
		b.Fatal(err)
	}
	info, err := browsertest.Eval[loadInfo](br, fmt.Sprintf(`busamTest.load(%d, %q)`, *benchSize, *benchBackend))
	if err != nil {
		b.Fatal(err)
	}
	if err := br.Upload("#file", imgPath); err != nil {
		b.Fatal(err)
	}
	b.Logf("backend %s (%s), input %d", info.Backend, info.BackendReason, info.InputSize)
	var encoder, total float64
	b.ResetTimer()
	for range b.N {
		got, err := browsertest.Eval[summary](br, `busamTest.analyzePicked()`)
		if err != nil {
			b.Fatal(err)
		}
		encoder += got.Timings["encoder"]
		total += got.Timings["total"]
	}
	b.ReportMetric(encoder/float64(b.N), "encoder-ms/op")
	b.ReportMetric(total/float64(b.N), "total-ms/op")
}
