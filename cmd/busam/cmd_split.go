package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/busam/busam/dataset"
	"github.com/busam/busam/dataset/split"
)

// busam split: make the leakage-free train/val/test split (near-duplicate
// groups kept together, per-class stratified) and save it for train/eval.
func init() {
	register("split", "make a near-duplicate-aware stratified split: busam split --data D --out split.json", runSplit)
}

func runSplit(args []string) error {
	fs := flag.NewFlagSet("split", flag.ContinueOnError)
	data := fs.String("data", "", "dataset: a BUSI or BUS-BRA folder or a CSV manifest, or several joined by commas (required)")
	out := fs.String("out", "", "split JSON to write (required; an existing file is refused without --force)")
	o := split.DefaultOptions
	fs.Int64Var(&o.Seed, "seed", o.Seed, "seed of the split")
	fs.Float64Var(&o.TestFrac, "test", o.TestFrac, "share of each class held out for test (hold-out mode)")
	fs.Float64Var(&o.ValFrac, "val", o.ValFrac, "share of the rest kept for validation (early stopping)")
	fs.IntVar(&o.Folds, "folds", 0, "k-fold mode: number of folds (0 = hold-out)")
	fs.IntVar(&o.Fold, "fold", 0, "k-fold mode: which fold is the test part")
	fs.IntVar(&o.CVFolds, "cv-folds", 0, "also deal the training part into this many cross-validation folds (0 = none)")
	force := fs.Bool("force", false, "overwrite --out")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if *data == "" || *out == "" {
		return fmt.Errorf("--data and --out are required")
	}
	if _, err := os.Stat(*out); err == nil && !*force {
		return fmt.Errorf("%s exists (use --force to replace it)", *out)
	}
	ds, err := dataset.Load(*data)
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, ds.Summary())
	sp, err := split.Make(ds, o)
	if err != nil {
		return err
	}
	if err := split.Save(*out, sp); err != nil {
		return err
	}
	fmt.Printf("%s: train %d, val %d, test %d\n", *out, len(sp.Train), len(sp.Val), len(sp.Test))
	return nil
}
