package main

import (
	"flag"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/busam/busam/model/cpu"
	"github.com/busam/busam/model/encoder"
	"github.com/busam/busam/model/tensor"
)

func init() {
	registerBench("backward", "encoder training step (recorded forward + Backward of every parameter): time, GFLOP/s, share of FMA peak", benchBackward)
}

// benchBackward times one training step of MobileSAM's encoder (random
// weights: the speed does not depend on their values) per input size.
// GFLOP/s counts 3x the forward's FLOPs, the usual measure of a training
// step (the forward, and two products per forward one in the backward);
// the backward's recomputation of each module's forward is work on top.
func benchBackward(args []string) error {
	fs := flag.NewFlagSet("bench backward", flag.ContinueOnError)
	sizeList := fs.String("sizes", "256,512", "input sides, comma-separated")
	runs := fs.Int("runs", 3, "timed steps per size (the median is reported)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var sizes []int
	for _, f := range strings.Split(*sizeList, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 16 || n > 1024 {
			return fmt.Errorf("--sizes: %q is not a side in 16..1024", f)
		}
		sizes = append(sizes, n)
	}
	if *runs < 1 {
		return fmt.Errorf("--runs must be at least 1")
	}
	tensors, err := encoder.RandomParams(encoder.MobileSAM, 1)
	if err != nil {
		return err
	}
	enc, err := encoder.NewWithConfig(encoder.MobileSAM, tensors)
	if err != nil {
		return err
	}
	fmt.Printf("kernel %s, GOMAXPROCS %d, %s/%s\n", cpu.KernelName(), runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH)
	// As bench gemm: the peak is sampled before each size and the best
	// kept, so that on a shared machine the ratio uses the least disturbed.
	var peak float64
	hasPeak := true
	samplePeak := func() {
		if p, ok := cpu.FMAPeak(250 * time.Millisecond); ok {
			peak = max(peak, p)
		} else {
			hasPeak = false
		}
	}
	type row struct {
		size                      int
		fwd, bwd, step, gf, tapeM float64
	}
	var rows []row
	for _, size := range sizes {
		samplePeak()
		x := tensor.New(3, size, size)
		for i := range x.Data {
			x.Data[i] = float32(i%251)/125 - 1
		}
		var fwd, bwd, total []float64
		r := row{size: size}
		for i := 0; i <= *runs; i++ { // run 0 warms up
			t0 := time.Now()
			y, tape, err := enc.ForwardRecord(x, encoder.Scope{})
			if err != nil {
				return err
			}
			t1 := time.Now()
			if _, _, err := tape.Backward(y); err != nil { // dL/dy = y
				return err
			}
			t2 := time.Now()
			if i > 0 {
				fwd, bwd, total = append(fwd, ms(t1.Sub(t0))), append(bwd, ms(t2.Sub(t1))), append(total, ms(t2.Sub(t0)))
			}
			r.tapeM = float64(tape.Floats()) * 4 / (1 << 20)
		}
		r.fwd, r.bwd, r.step = median(fwd), median(bwd), median(total)
		r.gf = 3 * float64(enc.FLOPs(size, size)) / (r.step / 1e3) / 1e9
		rows = append(rows, r)
	}
	samplePeak()
	fmt.Println("input         fwd-ms   bwd-ms  step-ms  GFLOP/s  of FMA peak  tape-MiB")
	for _, r := range rows {
		share := "n/a"
		if hasPeak {
			share = fmt.Sprintf("%.1f%%", 100*r.gf/peak)
		}
		fmt.Printf("%4d x %-4d  %8.0f %8.0f %8.0f  %7.1f  %11s  %8.0f\n", r.size, r.size, r.fwd, r.bwd, r.step, r.gf, share, r.tapeM)
	}
	if hasPeak {
		fmt.Printf("FMA peak (register-only asm FMA loop on all cores, best of %d samples): %.1f GFLOP/s\n", len(sizes)+1, peak)
	}
	return nil
}
