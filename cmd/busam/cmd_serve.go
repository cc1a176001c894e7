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
	h, err := server.New(server.Config{WebDir: *web, ModelDir: *weights, Logf: logger.Printf})
	if err != nil {
		return err
	}
	defer h.Close()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	logger.Printf("serving %s on http://%s/ (Ctrl-C to stop)", *web, ln.Addr())
	if ready != nil {
		ready(ln.Addr())
	}
	if err := server.Serve(ctx, ln, h); err != nil {
		return err
	}
	logger.Printf("stopped")
	return nil
}
