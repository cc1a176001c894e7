package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/busam/busam/server"
)

func init() {
	register("serve", "serve the web app (dist/web) and its model files", func(args []string) error {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return serve(ctx, args, nil)
	})
}

// serve runs `busam serve` until ctx ends (SIGINT/SIGTERM), then shuts down
// gracefully. ready, if set, gets the listening address.
func serve(ctx context.Context, args []string, ready func(net.Addr)) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8080", "listen address (host:port)")
	web := fs.String("web", "dist/web", "app folder written by the assembler (./build.sh build)")
	weights := fs.String("weights", "", "folder served at /model/ (default: <web>/model); must hold manifest.json")
	hostsFlag := fs.String("allowed-hosts", "", "comma-separated Host names the server answers to; '*' for any. Default: any on a loopback address; "+
		"on any other address this machine's names and addresses only (against DNS rebinding)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if _, err := os.Stat(filepath.Join(*web, "index.html")); err != nil {
		return fmt.Errorf("no app in %s (build it with ./build.sh build): %w", *web, err)
	}
	if *weights != "" {
		if _, err := os.Stat(filepath.Join(*weights, "manifest.json")); err != nil {
			return fmt.Errorf("--weights %s has no model manifest (assemble it with go run ./wasm/cmd/assemble): %w", *weights, err)
		}
	}
	logger := log.New(os.Stderr, "busam serve: ", log.LstdFlags)
	hosts, err := allowedHosts(*hostsFlag, *addr)
	if err != nil {
		return err
	}
	h, err := server.New(server.Config{WebDir: *web, ModelDir: *weights, Logf: logger.Printf, AllowedHosts: hosts})
	if err != nil {
		return err
	}
	defer h.Close()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	logger.Printf("serving %s on http://%s/ (Ctrl-C to stop)", *web, ln.Addr())
	if len(hosts) > 0 {
		logger.Printf("answering only to the hosts %s (--allowed-hosts)", strings.Join(hosts, ", "))
	}
	if ready != nil {
		ready(ln.Addr())
	}
	if err := server.Serve(ctx, ln, h); err != nil {
		return err
	}
	logger.Printf("stopped")
	return nil
}

// allowedHosts is the Host allow-list for --allowed-hosts flag and the
// listen address addr: the flag's names; none ('*', or by default on a
// loopback address); by default on any other address, this machine's
// names and interface addresses.
func allowedHosts(flag, addr string) ([]string, error) {
	switch strings.TrimSpace(flag) {
	case "*":
		return nil, nil
	case "":
	default:
		var out []string
		for _, h := range strings.Split(flag, ",") {
			if h = strings.TrimSpace(h); h == "" {
				return nil, fmt.Errorf("--allowed-hosts %q has an empty name", flag)
			}
			out = append(out, h)
		}
		return out, nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("--addr %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host == "localhost" || ip != nil && ip.IsLoopback() {
		return nil, nil
	}
	out := []string{"localhost", "127.0.0.1", "::1"}
	if name, err := os.Hostname(); err == nil && name != "" {
		out = append(out, name)
	}
	if host != "" && !net.ParseIP(host).IsUnspecified() {
		out = append(out, host)
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("listing this machine's addresses for --allowed-hosts: %w (pass the names yourself)", err)
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok {
			out = append(out, ipn.IP.String())
		}
	}
	return out, nil
}
