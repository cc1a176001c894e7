package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/busam/busam/server"
)

func init() {
	registerBench("serve", "busam serve under load on loopback: p50/p99 latency and errors at N connections", benchServe)
}

// benchServe starts the server on a loopback port and has -conns clients,
// each on its own keep-alive connection, fetch each path for -duration
// (bounded: at most -max requests per path in all), as a browser would
// (brotli accepted). Loopback only: the target is the server it started.
func benchServe(args []string) error {
	fs := flag.NewFlagSet("bench serve", flag.ContinueOnError)
	web := fs.String("web", "dist/web", "assembled app to serve (./build.sh build)")
	conns := fs.Int("conns", 200, "concurrent connections")
	duration := fs.Duration("duration", 5*time.Second, "time per path")
	maxReq := fs.Int("max", 200000, "at most this many requests per path")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if *conns < 1 || *conns > 1000 || *duration <= 0 || *duration > time.Minute || *maxReq < 1 {
		return fmt.Errorf("bench serve: -conns 1..1000, -duration up to 1m, -max >= 1")
	}
	paths := []string{"/"}
	if m, err := filepath.Glob(filepath.Join(*web, "ui.*.wasm")); err == nil && len(m) == 1 {
		paths = append(paths, "/"+filepath.Base(m[0]))
	}
	h, err := server.New(server.Config{WebDir: *web})
	if err != nil {
		return err
	}
	defer h.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- server.Serve(ctx, ln, h) }()
	base := "http://" + ln.Addr().String()

	fmt.Printf("busam serve on %s, %d connections, %s per path, brotli accepted\n\n", ln.Addr(), *conns, *duration)
	fmt.Println("| path | requests | errors | req/s | p50 ms | p99 ms | max ms |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|")
	for _, p := range paths {
		r := loadPath(base+p, *conns, *duration, *maxReq)
		fmt.Printf("| `%s` | %d | %d | %.0f | %.2f | %.2f | %.2f |\n", p, len(r.lat), r.errors, float64(len(r.lat))/r.elapsed.Seconds(),
			ms(pctile(r.lat, 0.50)), ms(pctile(r.lat, 0.99)), ms(pctile(r.lat, 1)))
	}
	cancel()
	return <-served
}

type loadResult struct {
	lat     []time.Duration
	errors  int
	elapsed time.Duration
}

func loadPath(url string, conns int, d time.Duration, maxReq int) loadResult {
	tr := &http.Transport{MaxConnsPerHost: conns, MaxIdleConnsPerHost: conns, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	var mu sync.Mutex
	var res loadResult
	left := maxReq
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for c := 0; c < conns; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				mu.Lock()
				if left == 0 {
					mu.Unlock()
					return
				}
				left--
				mu.Unlock()
				t0 := time.Now()
				ok := fetch(client, url)
				lat := time.Since(t0)
				mu.Lock()
				if ok {
					res.lat = append(res.lat, lat)
				} else {
					res.errors++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	sort.Slice(res.lat, func(i, j int) bool { return res.lat[i] < res.lat[j] })
	return res
}

func fetch(client *http.Client, url string) bool {
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		return false
	}
	req.Header.Set("Accept-Encoding", "br")
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return err == nil && resp.StatusCode == http.StatusOK
}

// pctile is the q-quantile of sorted durations (q = 1: the maximum).
func pctile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q * float64(len(sorted)-1))
	return sorted[i]
}
