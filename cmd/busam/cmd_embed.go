package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/busam/busam/dataset"
	"github.com/busam/busam/embed"
	"github.com/busam/busam/model/encoder"
	"github.com/busam/busam/modelfile"
)

func init() {
	register("embed", "compute and cache encoder embeddings for a dataset", runEmbed)
}

func runEmbed(args []string) error {
	fs := flag.NewFlagSet("embed", flag.ContinueOnError)
	data := fs.String("data", "", "dataset: a folder in the BUSI layout or a CSV manifest (image,mask,label,group)")
	cacheDir := fs.String("cache", ".cache/embeddings", "embedding cache folder")
	weights := fs.String("weights", ".cache/weights/encoder.safetensors", "encoder weights (safetensors)")
	flip := fs.Bool("flip", false, "also embed each image flipped horizontally (for augmentation)")
	trunk := fs.Bool("trunk", false, "cache the last stage's features (the neck's input) instead of embeddings, for train --tune-neck")
	quiet := fs.Bool("quiet", false, "no progress bar")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *data == "" {
		return fmt.Errorf("--data is required (a BUSI folder or a CSV manifest)")
	}
	ds, err := dataset.Load(*data)
	if err != nil {
		return err
	}
	fmt.Fprint(os.Stderr, ds.Summary())
	cache, err := embed.Open(*cacheDir)
	if err != nil {
		return err
	}
	enc, err := modelfile.LoadEncoder(*weights, nil)
	if err != nil {
		return fmt.Errorf("%w (convert the weights first: busam weights)", err)
	}
	images := make([]string, len(ds.Samples))
	for i, s := range ds.Samples {
		images[i] = s.Image
	}

	// The first Ctrl-C (or SIGTERM) finishes the current image and stops;
	// a second one kills the process at once.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	finished := make(chan struct{})
	defer close(finished) // runs before stop: no stray message at exit
	go func() {
		select {
		case <-ctx.Done():
			stop()
			fmt.Fprintln(os.Stderr, "\nbusam embed: stopping after the current image (Ctrl-C again to abort)")
		case <-finished:
		}
	}()

	opt := embed.RunOptions{Flip: *flip, Log: os.Stderr}
	if !*quiet {
		opt.Progress = os.Stderr
	}
	var src embed.Encoder = enc
	if *trunk {
		src = encoder.Trunk{Encoder: enc}
	}
	st, err := embed.Compute(ctx, cache, src, images, opt)
	rate := 0.0
	if s := st.Elapsed.Seconds(); s > 0 {
		rate = float64(st.Computed) / s
	}
	fmt.Printf("%s in %s (%.2f embeddings/s computed) -> %s\n", st, st.Elapsed.Round(1e7), rate, cache.Dir())
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("interrupted after %d of %d images; rerun to continue", st.Images, len(images))
	}
	return err
}
