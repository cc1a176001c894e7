// Command golden writes the inputs of the encoder's golden test: real BUSI
// images preprocessed by encoder.Preprocess, as raw little-endian float32
// [3,S,S] files, and index.json describing them. tools/ort/golden.mjs then
// runs ONNX Runtime on the same inputs and writes its outputs next to them;
// model/encoder/golden_test.go compares the Go encoder with those.
//
//	go run ./tools/golden -out .cache/golden
package main

import (
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/busam/busam/imageio"
	"github.com/busam/busam/model/encoder"
	"github.com/busam/busam/model/tensor"
)

// Index is the golden set's index.json. Paths are relative to its folder.
type Index struct {
	Entries []Entry `json:"entries"`
}

// Entry is one encoder input and the name ORT's output gets.
type Entry struct {
	Name     string           `json:"name"`
	Image    string           `json:"image"` // relative to the BUSI folder
	Shape    []int            `json:"shape"` // [3,S,S]
	Input    string           `json:"input"`
	Output   string           `json:"output"`
	Geometry encoder.Geometry `json:"geometry"`
}

// goldenImages covers the three classes (8-bit grey PNGs) and one of the
// RGB PNGs with colour annotation marks, at SAM's 1024 and at the small
// size the browser tests use (ORT runs those on a resized graph, see
// tools/ort/resize_onnx.mjs).
var goldenImages = []struct {
	path string
	size int
}{
	{"benign/benign (1).png", 1024},
	{"malignant/malignant (1).png", 1024},
	{"normal/normal (1).png", 1024},
	{"benign/benign (102).png", 1024},
	{"malignant/malignant (1).png", 256},
	{"benign/benign (102).png", 256},
}

func main() {
	out := flag.String("out", ".cache/golden", "output folder")
	data := flag.String("data", defaultDataDir(), "BUSI folder (Dataset_BUSI_with_GT)")
	flag.Parse()
	if err := run(*out, *data); err != nil {
		fmt.Fprintln(os.Stderr, "golden:", err)
		os.Exit(1)
	}
}

func defaultDataDir() string {
	if d := os.Getenv("BUSAM_DATA"); d != "" {
		return d
	}
	return filepath.Join("..", "shared", "data", "Dataset_BUSI_with_GT")
}

func run(out, data string) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	var idx Index
	for _, gi := range goldenImages {
		rel := gi.path
		img, err := imageio.Load(filepath.Join(data, rel))
		if err != nil {
			return err
		}
		x, g := encoder.Preprocess(img, gi.size)
		name := slug(rel)
		if gi.size != encoder.DefaultSize {
			name = fmt.Sprintf("%s-%d", name, gi.size)
		}
		e := Entry{
			Name: name, Image: rel, Shape: x.Shape,
			Input: name + ".input.f32", Output: name + ".ort.f32", Geometry: g,
		}
		if err := writeF32(filepath.Join(out, e.Input), x); err != nil {
			return err
		}
		idx.Entries = append(idx.Entries, e)
	}
	b, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(out, "index.json")
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return err
	}
	fmt.Printf("wrote %d inputs and %s\n", len(idx.Entries), path)
	return nil
}

// slug turns "benign/benign (1).png" into "benign-1".
func slug(rel string) string {
	base := strings.TrimSuffix(filepath.Base(rel), filepath.Ext(rel))
	r := strings.NewReplacer(" (", "-", ")", "", " ", "-")
	return r.Replace(base)
}

func writeF32(path string, t *tensor.Tensor) error {
	buf := make([]byte, 4*len(t.Data))
	for i, v := range t.Data {
		binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(v))
	}
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
