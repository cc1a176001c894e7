package main

import (
	"bufio"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/busam/busam/imageio"
	"github.com/busam/busam/model/encoder"
	"github.com/busam/busam/model/tensor"
	"github.com/busam/busam/modelfile"
)

func init() {
	registerBench("encoder", "Go image encoder vs ONNX Runtime (node) on BUSI images, per-image latency and GFLOP/s", benchEncoder)
}

func benchEncoder(args []string) error {
	fs := flag.NewFlagSet("bench encoder", flag.ContinueOnError)
	images := fs.Int("images", 3, "number of BUSI images")
	runs := fs.Int("runs", 3, "timed runs per image and runtime (the median is reported)")
	threads := fs.Int("threads", runtime.NumCPU(), "threads for both runtimes (Go: GOMAXPROCS; ORT: intraOpNumThreads)")
	weights := fs.String("weights", filepath.Join(defaultWeightsDir(), "encoder.safetensors"), "encoder weights (safetensors)")
	onnx := fs.String("onnx", filepath.Join(defaultWeightsDir(), "encoder.onnx"), "the same encoder as ONNX, for ONNX Runtime")
	defaultData := os.Getenv("BUSAM_DATA")
	if defaultData == "" {
		defaultData = filepath.Join("..", "shared", "data", "Dataset_BUSI_with_GT")
	}
	data := fs.String("data", defaultData, "BUSI folder ($BUSAM_DATA)")
	noORT := fs.Bool("no-ort", false, "time only the Go encoder")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *images < 1 || *runs < 1 || *threads < 1 {
		return fmt.Errorf("--images, --runs and --threads must be at least 1")
	}
	runtime.GOMAXPROCS(*threads)

	enc, err := modelfile.LoadEncoder(*weights, nil)
	if err != nil {
		return err
	}
	paths, err := benchImages(*data, *images)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "busam-bench-encoder-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	type input struct {
		name, file string
		x          *tensor.Tensor
		prep       time.Duration
	}
	var inputs []input
	for i, p := range paths {
		img, err := imageio.Load(p)
		if err != nil {
			return err
		}
		t0 := time.Now()
		x, _ := encoder.Preprocess(img, encoder.DefaultSize)
		in := input{name: filepath.Base(p), x: x, prep: time.Since(t0), file: filepath.Join(tmp, fmt.Sprintf("%d.f32", i))}
		if err := writeRawF32(in.file, x.Data); err != nil {
			return err
		}
		inputs = append(inputs, in)
	}

	var ort *ortWorker
	if !*noORT {
		if ort, err = startORT(*onnx, *threads); err != nil {
			return err
		}
		defer ort.close()
	}

	flops := float64(enc.FLOPs(encoder.DefaultSize, encoder.DefaultSize))
	fmt.Printf("encoder: MobileSAM TinyViT-5M + neck, %dx%d input, %.2f GFLOP per image (2 per multiply-add)\n",
		encoder.DefaultSize, encoder.DefaultSize, flops/1e9)
	fmt.Printf("threads: %d (GOMAXPROCS for Go, intraOpNumThreads for ORT); median of %d runs after a warm-up run\n", *threads, *runs)
	if ort != nil {
		fmt.Printf("onnxruntime-node: session %.0f ms, warm-up %.0f ms\n", ort.sessionMS, ort.warmMS)
	}
	t0 := time.Now()
	if _, err := enc.Forward(inputs[0].x); err != nil { // warm-up: fills the scratch arena
		return err
	}
	fmt.Printf("busam warm-up: %.0f ms\n\n", ms(time.Since(t0)))

	// Wall time is what a user waits; CPU time (all threads of the process)
	// is reported too because on a shared, loaded machine it is the steadier
	// measure of work, at least with --threads 1 (ORT's idle threads spin,
	// which counts as CPU time).
	fmt.Printf("%-22s %8s %9s %9s %9s %9s %9s %9s %9s\n", "image", "prep ms", "busam ms", "ORT ms", "busam/ORT",
		"busam GF/s", "ORT GF/s", "busam cpu", "ORT cpu")
	var sumGo, sumORT, sumGoCPU, sumORTCPU float64
	for _, in := range inputs {
		var goTimes, ortTimes, goCPU, ortCPU []float64
		for r := 0; r < *runs; r++ { // interleaved, so machine noise hits both alike
			c, t := processCPU(), time.Now()
			if _, err := enc.Forward(in.x); err != nil {
				return err
			}
			goTimes = append(goTimes, ms(time.Since(t)))
			goCPU = append(goCPU, ms(processCPU()-c))
			if ort != nil {
				v, cv, err := ort.run(in.file, in.x.Shape[1], in.x.Shape[2])
				if err != nil {
					return err
				}
				ortTimes = append(ortTimes, v)
				ortCPU = append(ortCPU, cv)
			}
		}
		g, gc := median(goTimes), median(goCPU)
		sumGo += g
		sumGoCPU += gc
		if ort == nil {
			fmt.Printf("%-22s %8.1f %9.1f %9s %9s %9.1f %9s %9.1f %9s\n", in.name, ms(in.prep), g, "-", "-", flops/g/1e6, "-", gc, "-")
			continue
		}
		o, oc := median(ortTimes), median(ortCPU)
		sumORT += o
		sumORTCPU += oc
		fmt.Printf("%-22s %8.1f %9.1f %9.1f %9.2f %9.1f %9.1f %9.1f %9.1f\n", in.name, ms(in.prep), g, o, g/o, flops/g/1e6, flops/o/1e6, gc, oc)
	}
	n := float64(len(inputs))
	fmt.Printf("\nmean wall: busam %.1f ms (%.1f GFLOP/s)", sumGo/n, flops/(sumGo/n)/1e6)
	if ort != nil {
		fmt.Printf(", ORT %.1f ms (%.1f GFLOP/s), busam/ORT %.2f", sumORT/n, flops/(sumORT/n)/1e6, sumGo/sumORT)
	}
	fmt.Printf("\nmean cpu:  busam %.1f ms", sumGoCPU/n)
	if ort != nil {
		fmt.Printf(", ORT %.1f ms, busam/ORT %.2f", sumORTCPU/n, sumGoCPU/sumORTCPU)
	}
	fmt.Println()
	return nil
}

// benchImages picks n images spread over the three BUSI classes.
func benchImages(dir string, n int) ([]string, error) {
	var perClass [][]string
	for _, class := range []string{"benign", "malignant", "normal"} {
		all, err := filepath.Glob(filepath.Join(dir, class, class+" (*).png"))
		if err != nil {
			return nil, err
		}
		var imgs []string
		for _, p := range all {
			if !strings.Contains(filepath.Base(p), "_mask") {
				imgs = append(imgs, p)
			}
		}
		sort.Strings(imgs)
		perClass = append(perClass, imgs)
	}
	var out []string
	for i := 0; len(out) < n; i++ {
		added := false
		for _, imgs := range perClass {
			if i < len(imgs) && len(out) < n {
				out = append(out, imgs[i])
				added = true
			}
		}
		if !added {
			break
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no BUSI images under %s (set --data)", dir)
	}
	return out, nil
}

func writeRawF32(path string, v []float32) error {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return os.WriteFile(path, b, 0o644)
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// ortWorker is a running tools/ort/bench.mjs.
type ortWorker struct {
	cmd               *exec.Cmd
	stdin             io.WriteCloser
	out               *bufio.Scanner
	sessionMS, warmMS float64
}

func startORT(model string, threads int) (*ortWorker, error) {
	script, err := findRepoFile(filepath.Join("tools", "ort", "bench.mjs"))
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(script), "node_modules", "onnxruntime-node")); err != nil {
		return nil, fmt.Errorf("onnxruntime-node not installed: run `npm ci --ignore-scripts` in %s (or use --no-ort)", filepath.Dir(script))
	}
	cmd := exec.Command("node", script, model, strconv.Itoa(threads))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting node: %w", err)
	}
	w := &ortWorker{cmd: cmd, stdin: stdin, out: bufio.NewScanner(stdout)}
	line, err := w.line()
	if err != nil {
		w.close()
		return nil, err
	}
	if _, err := fmt.Sscanf(line, "ready %g %g", &w.sessionMS, &w.warmMS); err != nil {
		w.close()
		return nil, fmt.Errorf("ORT worker: unexpected %q", line)
	}
	return w, nil
}

func (w *ortWorker) line() (string, error) {
	if !w.out.Scan() {
		if err := w.out.Err(); err != nil {
			return "", fmt.Errorf("ORT worker: %w", err)
		}
		return "", fmt.Errorf("ORT worker exited")
	}
	return w.out.Text(), nil
}

// run times one ORT pass over a raw float32 [3,h,w] file: wall and CPU ms.
func (w *ortWorker) run(file string, h, wd int) (wall, cpu float64, err error) {
	if _, err := fmt.Fprintf(w.stdin, "%s %d %d\n", file, h, wd); err != nil {
		return 0, 0, fmt.Errorf("ORT worker: %w", err)
	}
	line, err := w.line()
	if err != nil {
		return 0, 0, err
	}
	if _, err := fmt.Sscanf(line, "%g %g", &wall, &cpu); err != nil {
		return 0, 0, fmt.Errorf("ORT worker: %s", line)
	}
	return wall, cpu, nil
}

func (w *ortWorker) close() {
	w.stdin.Close()
	w.cmd.Wait()
}

// findRepoFile finds rel under the enclosing repository (the folder with
// go.mod), so the bench runs from any folder inside it.
func findRepoFile(rel string) (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, rel), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("%s: not inside the busam repository", rel)
		}
		dir = parent
	}
}
