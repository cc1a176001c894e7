package main

import (
	"errors"
	"flag"
	"fmt"
	"regexp"
	"strings"

	"github.com/busam/busam/quant"
)

func init() {
	register("quantize", "shrink a safetensors model: --in X --out Y --mode int8|fp16 [--keep REGEXP --keep-reason TEXT]", runQuantize)
}

func runQuantize(args []string) error {
	fs := flag.NewFlagSet("quantize", flag.ContinueOnError)
	in := fs.String("in", "", "float32 safetensors input (e.g. .cache/weights/encoder.safetensors)")
	out := fs.String("out", "", "quantized safetensors output; its manifest goes to OUT.manifest.json")
	mode := fs.String("mode", "int8", "int8 (per-output-channel symmetric) or fp16")
	minNumel := fs.Int("min-numel", quant.DefaultMinNumel, "int8: quantize only *.weight tensors of rank >= 2 with at least this many elements")
	keep := fs.String("keep", "", "int8: keep the layers whose tensor names match this regular expression in fp16 (mixed precision; e.g. '^neck\\.' or 'a|b')")
	keepReason := fs.String("keep-reason", "", "with --keep: why, recorded in the manifest (required)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil // usage was printed
		}
		return err
	}
	if *in == "" || *out == "" || fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("need --in and --out, and no other arguments")
	}
	opt := quant.Options{Mode: quant.Mode(*mode), MinNumel: *minNumel, KeepReason: *keepReason}
	if *keep != "" {
		re, err := regexp.Compile(*keep)
		if err != nil {
			return fmt.Errorf("--keep: %v", err)
		}
		opt.Keep = re
	} else if *keepReason != "" {
		return fmt.Errorf("--keep-reason without --keep")
	}
	man, err := quant.QuantizeFile(*in, *out, opt)
	if err != nil {
		return err
	}
	counts := map[string]int{}
	worst, worstName := 0.0, ""
	for _, e := range man.Tensors {
		counts[e.Scheme]++
		if e.MaxAbsErr > worst {
			worst, worstName = e.MaxAbsErr, e.Name
		}
	}
	inRaw, inGz, err := quant.Sizes(*in)
	if err != nil {
		return err
	}
	outRaw, outGz, err := quant.Sizes(*out)
	if err != nil {
		return err
	}
	fmt.Printf("%s: %s, tensors %v\n", *out, man.Scheme, counts)
	fmt.Printf("size: %d B -> %d B raw (%.1f%%), %d B -> %d B gzip (%.1f%%)\n",
		inRaw, outRaw, 100*float64(outRaw)/float64(inRaw), inGz, outGz, 100*float64(outGz)/float64(inGz))
	if man.Kept != nil {
		fmt.Printf("kept in fp16 (%s): %s\n", man.Kept.Reason, strings.Join(man.Kept.Layers, ", "))
	}
	if worstName != "" {
		fmt.Printf("largest max|w - dequant(w)|: %.3g in %s\n", worst, worstName)
	}
	fmt.Printf("manifest: %s\n", quant.ManifestPath(*out))
	return nil
}
