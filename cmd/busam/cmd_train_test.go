package main

import (
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/busam/busam/dataset"
	"github.com/busam/busam/dataset/split"
	"github.com/busam/busam/embed"
	"github.com/busam/busam/model/encoder"
	"github.com/busam/busam/model/heads"
	"github.com/busam/busam/model/tensor"
	"github.com/busam/busam/modelfile"
	"github.com/busam/busam/train"
	"github.com/busam/busam/weights/safetensors"
)

// trainFixture writes a tiny BUSI-layout dataset, a split and an embedding
// cache with 8-channel fake embeddings (both orientations).
func trainFixture(t *testing.T) (data, splitPath, cacheDir, sha string) {
	t.Helper()
	data = t.TempDir()
	for ci, class := range []string{"normal", "benign", "malignant"} {
		for n := 1; n <= 6; n++ {
			img := image.NewGray(image.Rect(0, 0, 32, 16))
			mask := image.NewGray(image.Rect(0, 0, 32, 16))
			for y := range 16 {
				for x := range 32 {
					img.SetGray(x, y, color.Gray{uint8(x*7 + y*3 + n*11 + ci*50)})
					if class != "normal" && x < 10+n {
						mask.SetGray(x, y, color.Gray{255})
					}
				}
			}
			base := filepath.Join(data, class, fmt.Sprintf("%s (%d)", class, n))
			for path, im := range map[string]image.Image{base + ".png": img, base + "_mask.png": mask} {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				f, err := os.Create(path)
				if err != nil {
					t.Fatal(err)
				}
				png.Encode(f, im)
				f.Close()
			}
		}
	}
	ds, err := dataset.Load(data)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := split.MakeWithGroups(ds, nil, split.Options{Seed: 1, TestFrac: 0.2, ValFrac: 0.3})
	if err != nil {
		t.Fatal(err)
	}
	splitPath = filepath.Join(t.TempDir(), "split.json")
	if err := split.Save(splitPath, sp); err != nil {
		t.Fatal(err)
	}
	cacheDir = t.TempDir()
	cache, err := embed.Open(cacheDir)
	if err != nil {
		t.Fatal(err)
	}
	sha = strings.Repeat("ab", 32)
	for i, s := range ds.Samples {
		for _, flip := range []bool{false, true} {
			key, err := embed.KeyFor(s.Image, sha, flip)
			if err != nil {
				t.Fatal(err)
			}
			emb := tensor.New(8, 4, 4)
			for j := range emb.Data {
				emb.Data[j] = float32((i*31+j*7)%13)/13 + float32(s.Label)
			}
			if err := cache.Put(key, emb); err != nil {
				t.Fatal(err)
			}
		}
	}
	return data, splitPath, cacheDir, sha
}

func TestTrainCommand(t *testing.T) {
	data, splitPath, cacheDir, sha := trainFixture(t)
	out := filepath.Join(t.TempDir(), "run")
	args := []string{"--data", data, "--split", splitPath, "--cache", cacheDir, "--model-sha", sha,
		"--kind", "unet", "--out", out, "--epochs", "2", "--batch", "4", "--width", "4,4,4", "--stem", "4,4", "--hidden", "8", "--quiet"}
	if err := runTrain(args); err != nil {
		t.Fatal(err)
	}
	m, err := heads.Load(filepath.Join(out, train.WeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	if m.Config.Kind != "unet" || m.Config.EmbedDim != 8 || m.Config.Classes != 3 || m.Config.Width != [3]int{4, 4, 4} {
		t.Errorf("trained config %+v", m.Config)
	}
	var man train.Manifest
	raw, err := os.ReadFile(filepath.Join(out, train.ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &man); err != nil {
		t.Fatal(err)
	}
	wantSplitSHA, _ := train.FileSHA256(splitPath)
	if man.EncoderSHA256 != sha || man.SplitSHA256 != wantSplitSHA || man.EpochsRun != 2 ||
		strings.Join(man.Command, " ") != "busam train "+strings.Join(args, " ") || man.TrainSamples == 0 || man.ValSamples == 0 {
		t.Errorf("manifest %+v", man)
	}
	var log []train.EpochStats
	raw, _ = os.ReadFile(filepath.Join(out, train.LogFile))
	if err := json.Unmarshal(raw, &log); err != nil || len(log) != 2 {
		t.Errorf("train log: %v, %d epochs", err, len(log))
	}
}

func TestTrainCommandErrors(t *testing.T) {
	data, splitPath, cacheDir, sha := trainFixture(t)
	out := t.TempDir()
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"missing flags", []string{"--data", data}, "required"},
		{"bad kind", []string{"--data", data, "--split", splitPath, "--cache", cacheDir, "--model-sha", sha, "--out", out, "--kind", "vit"}, "kind"},
		{"bad width", []string{"--data", data, "--split", splitPath, "--out", out, "--width", "4,4"}, "--width"},
		{"neck rate without tuning", []string{"--data", data, "--split", splitPath, "--out", out, "--neck-lr", "1e-3"}, "--tune-neck"},
		{"other encoder", []string{"--data", data, "--split", splitPath, "--cache", cacheDir, "--model-sha", strings.Repeat("cd", 32), "--out", out, "--quiet"}, "busam embed"},
	}
	for _, c := range cases {
		err := runTrain(c.args)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one mentioning %q", c.name, err, c.want)
		}
	}
}

// trunkFixture writes a random MobileSAM-shaped encoder and a trunk cache
// ([320,4,4] features, both orientations) for the samples of data, keyed
// as busam embed --trunk keys them.
func trunkFixture(t *testing.T, data string) (encPath, trunkDir string, p map[string]*tensor.Tensor) {
	t.Helper()
	p, err := encoder.RandomParams(encoder.MobileSAM, 3)
	if err != nil {
		t.Fatal(err)
	}
	encPath = filepath.Join(t.TempDir(), "encoder.safetensors")
	var entries []safetensors.Entry
	for name, v := range p {
		entries = append(entries, safetensors.F32Entry(name, v))
	}
	if err := safetensors.WriteFile(encPath, entries, nil); err != nil {
		t.Fatal(err)
	}
	enc, err := modelfile.LoadEncoder(encPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := dataset.Load(data)
	if err != nil {
		t.Fatal(err)
	}
	trunkDir = t.TempDir()
	cache, err := embed.Open(trunkDir)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range ds.Samples {
		for _, flip := range []bool{false, true} {
			key, err := embed.KeyFor(s.Image, encoder.Trunk{Encoder: enc}.SHA256(), flip)
			if err != nil {
				t.Fatal(err)
			}
			f := tensor.New(encoder.MobileSAM.EmbedDims[3], 4, 4)
			for j := range f.Data {
				f.Data[j] = float32((i*31+j*7)%13)/13 + float32(s.Label)*float32(j%3)
			}
			if err := cache.Put(key, f); err != nil {
				t.Fatal(err)
			}
		}
	}
	return encPath, trunkDir, p
}

// --trunk-cache trains through the encoder's neck: frozen, the heads file
// has no overrides; with --tune-neck it carries a changed neck that the
// encoder accepts.
func TestTrainCommandFromTrunk(t *testing.T) {
	data, splitPath, _, _ := trainFixture(t)
	encPath, trunkDir, p := trunkFixture(t, data)
	for _, tune := range []bool{false, true} {
		out := filepath.Join(t.TempDir(), "run")
		args := []string{"--data", data, "--split", splitPath, "--trunk-cache", trunkDir, "--encoder", encPath,
			"--kind", "conv", "--out", out, "--epochs", "2", "--batch", "4", "--width", "4,4,4", "--hidden", "8", "--quiet"}
		if tune {
			args = append(args, "--tune-neck", "--neck-lr", "1e-2")
		}
		if err := runTrain(args); err != nil {
			t.Fatal(err)
		}
		m, err := heads.Load(filepath.Join(out, train.WeightsFile))
		if err != nil {
			t.Fatal(err)
		}
		if m.Config.EmbedDim != encoder.MobileSAM.NeckDim {
			t.Errorf("heads take %d channels, the neck makes %d", m.Config.EmbedDim, encoder.MobileSAM.NeckDim)
		}
		var man train.Manifest
		raw, err := os.ReadFile(filepath.Join(out, train.ManifestFile))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, &man); err != nil {
			t.Fatal(err)
		}
		wantSHA, _ := train.FileSHA256(encPath)
		if man.Options.TuneNeck != tune || man.EncoderSHA256 != wantSHA || !strings.HasPrefix(man.Features, "trunk features") {
			t.Errorf("tune %v: manifest options %+v, features %q, encoder %s", tune, man.Options, man.Features, man.EncoderSHA256)
		}
		if !tune {
			if len(m.EncoderOverrides) != 0 {
				t.Errorf("frozen neck, yet the heads carry overrides %v", m.EncoderOverrides)
			}
			continue
		}
		if len(m.EncoderOverrides) != len(heads.NeckTensorNames) || man.Options.NeckLR != 1e-2 {
			t.Fatalf("tuned neck: %d overrides, manifest neck lr %v", len(m.EncoderOverrides), man.Options.NeckLR)
		}
		changed := false
		for name, v := range m.EncoderOverrides {
			changed = changed || !slices.Equal(v.Data, p[name].Data)
		}
		if !changed {
			t.Error("--tune-neck left the neck as it was")
		}
		if _, err := modelfile.LoadEncoder(encPath, m.EncoderOverrides); err != nil {
			t.Errorf("the encoder refuses the tuned neck: %v", err)
		}
	}
	if err := runTrain([]string{"--data", data, "--split", splitPath, "--out", t.TempDir(), "--tune-neck"}); err == nil || !strings.Contains(err.Error(), "--trunk-cache") {
		t.Errorf("--tune-neck without --trunk-cache: error %v", err)
	}
}
