package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/busam/busam/dataset"
)

func init() {
	register("crops", "cut lesion-free crops of lesion images as extra normal examples: busam crops --data D --split S --out DIR", runCrops)
}

func runCrops(args []string) error {
	fs := flag.NewFlagSet("crops", flag.ContinueOnError)
	data := fs.String("data", "", "dataset(s), as for split (required)")
	splitPath := fs.String("split", "", "split JSON; crops are cut from its train part only, so validation and test stay original images (required)")
	out := fs.String("out", "", "folder for the crops and their manifest.csv (required; an existing manifest is refused without --force)")
	force := fs.Bool("force", false, "replace an existing crop folder's manifest")
	rule := dataset.DefaultCropRule
	fs.Float64Var(&rule.Margin, "margin", rule.Margin, "gap between lesion and crop, share of the image's larger side")
	fs.IntVar(&rule.MinSide, "min-side", rule.MinSide, "smallest crop side in pixels")
	fs.Float64Var(&rule.MinShare, "min-share", rule.MinShare, "smallest crop side as a share of the image's side")
	fs.BoolVar(&rule.KeepFrame, "keep-frame", rule.KeepFrame, "keep the crop in place in a black frame of its parent's size (same scale and depth); false writes the bare crop")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if *data == "" || *splitPath == "" || *out == "" {
		return fmt.Errorf("--data, --split and --out are required")
	}
	manifest := *out + string(os.PathSeparator) + "manifest.csv"
	if _, err := os.Stat(manifest); err == nil && !*force {
		return fmt.Errorf("%s exists (use --force to replace it)", manifest)
	}
	ds, err := dataset.Load(*data)
	if err != nil {
		return err
	}
	samples, err := evalSamples(ds, *splitPath, "train") // the split's samples, checked against ds
	if err != nil {
		return err
	}
	path, st, err := dataset.WriteNormalCrops(samples, *out, rule)
	if err != nil {
		return err
	}
	fmt.Printf("%s: %d crops of %d lesion images of the train part (%d left no room)\n", path, st.Written, st.Lesions, st.NoRoom)
	return nil
}
