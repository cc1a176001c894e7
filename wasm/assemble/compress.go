package assemble

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/andybalholm/brotli"
)

// compressible extensions: text, wasm and raw float weights. Images in
// PNG/JPEG/WebP are compressed already.
var compressible = map[string]bool{
	".html": true, ".js": true, ".mjs": true, ".css": true, ".json": true, ".svg": true,
	".wasm": true, ".safetensors": true, ".txt": true, ".map": true, ".webmanifest": true,
}

const (
	minCompressSize = 512 // below this the headers cost more than is saved
	// A sibling is kept only if it saves at least this fraction.
	minSaving = 0.05
	// Brotli's best quality is slow on large inputs: 71 s for the 9 MB
	// wasm module here, against 0.9 s at quality 5 for a 20% larger file;
	// for weights (float32, 28 MB) qualities 5 and 9 give the same size.
	// Large files get quality 5 unless Options.BestCompression is set,
	// except wasm modules: every first visit downloads them, and quality
	// 11 makes them 14-16% smaller than quality 5 (11.1 MB model worker:
	// 2.33 -> 1.96 MB, 62 s; 4.2 MB UI: 1.00 -> 0.86 MB, 14 s).
	brotliLargeInput   = 1 << 20
	brotliLargeQuality = 5
)

// bestAlways lists the extensions that get brotli's best quality whatever
// their size.
var bestAlways = map[string]bool{".wasm": true}

// compressTree writes name.gz and name.br beside each compressible file.
// Files are compressed two at a time: brotli at quality 11 is the slow
// step of a build.
func compressTree(root string, best bool, logf func(string, ...any)) error {
	var todo []string
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && compressible[strings.ToLower(filepath.Ext(p))] {
			todo = append(todo, p)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("assemble: %w", err)
	}
	jobs := make(chan string)
	errs := make(chan error, len(todo))
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for p := range jobs {
				errs <- compressFile(p, best, logf)
			}
		})
	}
	for _, p := range todo {
		jobs <- p
	}
	close(jobs)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func compressFile(p string, best bool, logf func(string, ...any)) error {
	data, err := os.ReadFile(p)
	if err != nil {
		return fmt.Errorf("assemble: %w", err)
	}
	if len(data) < minCompressSize {
		return nil
	}
	gz, br, err := Compressed(p, data, best)
	if err != nil {
		return fmt.Errorf("assemble: compress %s: %w", p, err)
	}
	for _, enc := range []struct {
		suffix string
		c      []byte
	}{{".gz", gz}, {".br", br}} {
		c := enc.c
		if float64(len(c)) > (1-minSaving)*float64(len(data)) {
			continue
		}
		if err := os.WriteFile(p+enc.suffix, c, 0o644); err != nil {
			return fmt.Errorf("assemble: %w", err)
		}
		logf("compress %s%s: %d -> %d bytes", filepath.Base(p), enc.suffix, len(data), len(c))
	}
	return nil
}

// Compressed is data (the file name) gzipped and brotli-compressed as the
// assembled app serves it: brotli's quality depends on the size and kind of
// file unless best. Benchmarks use it to size files the app would compress.
func Compressed(name string, data []byte, best bool) (gz, br []byte, err error) {
	if gz, err = gzipBytes(data); err != nil {
		return nil, nil, err
	}
	br, err = brotliBytes(data, best || bestAlways[strings.ToLower(filepath.Ext(name))])
	return gz, br, err
}

// gzipBytes compresses deterministically (no name, no time in the header).
func gzipBytes(data []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(data); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func brotliBytes(data []byte, best bool) ([]byte, error) {
	q := brotli.BestCompression
	if len(data) > brotliLargeInput && !best {
		q = brotliLargeQuality
	}
	var buf bytes.Buffer
	bw := brotli.NewWriterOptions(&buf, brotli.WriterOptions{Quality: q, LGWin: 24})
	if _, err := bw.Write(data); err != nil {
		return nil, err
	}
	if err := bw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
