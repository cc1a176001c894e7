package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestServeCommand(t *testing.T) {
	web := t.TempDir()
	os.WriteFile(filepath.Join(web, "index.html"), []byte("<!doctype html><title>busam</title>"), 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	addrs := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, []string{"--addr", "127.0.0.1:0", "--web", web}, func(a net.Addr) { addrs <- a })
	}()
	var base string
	select {
	case a := <-addrs:
		base = "http://" + a.String()
	case err := <-done:
		t.Fatalf("serve stopped: %v", err)
	}
	for path, want := range map[string]string{"/": "<title>busam</title>", "/healthz": "ok"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: %d %q", path, resp.StatusCode, body)
		}
		if resp.Header.Get("Content-Security-Policy") == "" {
			t.Errorf("GET %s: no Content-Security-Policy", path)
		}
	}
	cancel() // what SIGINT/SIGTERM do
	if err := <-done; err != nil {
		t.Errorf("serve after shutdown: %v", err)
	}
}

func TestServeCommandRefusesBadFlags(t *testing.T) {
	empty := t.TempDir()
	for _, args := range [][]string{
		{"--web", filepath.Join(empty, "missing")},
		{"--web", empty},
		{"--web", empty, "extra"},
		{"--bogus"},
	} {
		if err := serve(context.Background(), args, nil); err == nil {
			t.Errorf("serve %q succeeded", args)
		}
	}
	web := t.TempDir()
	os.WriteFile(filepath.Join(web, "index.html"), []byte("x"), 0o644)
	if err := serve(context.Background(), []string{"--web", web, "--weights", empty}, nil); err == nil || !strings.Contains(err.Error(), "manifest") {
		t.Errorf("--weights without a manifest: %v", err)
	}
}

func TestAllowedHostsFlag(t *testing.T) {
	for _, c := range []struct {
		flag, addr string
		none       bool
		has        []string
		err        bool
	}{
		{"", "127.0.0.1:8080", true, nil, false},
		{"", "localhost:8080", true, nil, false},
		{"", "[::1]:8080", true, nil, false},
		{"", "0.0.0.0:8080", false, []string{"localhost", "127.0.0.1"}, false},
		{"", ":8080", false, []string{"localhost"}, false},
		{"", "192.0.2.5:8080", false, []string{"192.0.2.5", "localhost"}, false},
		{"*", "0.0.0.0:8080", true, nil, false},
		{"busam.lan, 10.0.0.2", "0.0.0.0:8080", false, []string{"busam.lan", "10.0.0.2"}, false},
		{"a,,b", "0.0.0.0:8080", false, nil, true},
		{"", "no-port", false, nil, true},
	} {
		got, err := allowedHosts(c.flag, c.addr)
		if (err != nil) != c.err {
			t.Errorf("%q %q: err %v", c.flag, c.addr, err)
			continue
		}
		if c.err {
			continue
		}
		if c.none != (len(got) == 0) {
			t.Errorf("%q %q: hosts %v, want none = %v", c.flag, c.addr, got, c.none)
		}
		for _, h := range c.has {
			if !slices.Contains(got, h) {
				t.Errorf("%q %q: hosts %v lack %s", c.flag, c.addr, got, h)
			}
		}
	}
}
