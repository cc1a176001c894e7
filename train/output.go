package train

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/busam/busam/internal/atomicfile"
)

// Manifest records how a run was made, so its numbers can be reproduced.
type Manifest struct {
	Command       []string `json:"command"` // the exact command line
	Data          string   `json:"data"`
	SplitFile     string   `json:"split_file"`
	SplitSHA256   string   `json:"split_sha256"`
	EncoderSHA256 string   `json:"encoder_sha256"`
	// Features says what the heads were trained on: "embeddings", or
	// "trunk features, frozen neck" / "trunk features, tuned neck"; a tuned
	// neck ships in the heads file as encoder overrides.
	Features       string     `json:"features,omitempty"`
	Seed           uint64     `json:"seed"`
	Options        Options    `json:"config"`
	TrainSamples   int        `json:"train_samples"`
	ValSamples     int        `json:"val_samples"`
	NoFlipSamples  int        `json:"no_flip_samples"` // flipped embedding not cached
	SkippedSamples int        `json:"skipped_samples"` // no embedding cached (--skip-missing)
	Params         int        `json:"params"`
	FLOPsPerSample int64      `json:"flops_per_sample"` // inference, heads only
	BestEpoch      int        `json:"best_epoch"`
	Val            EpochStats `json:"val"` // metrics of the best epoch
	EpochsRun      int        `json:"epochs_run"`
}

// File names inside a run directory.
const (
	WeightsFile  = "heads.safetensors"
	LogFile      = "train_log.json"
	ManifestFile = "manifest.json"
)

// WriteRun writes the best weights, the epoch log and the manifest into
// dir, each atomically; the weights carry the manifest in their metadata.
func WriteRun(dir string, res *Result, man Manifest) error {
	return writeRun(dir, res, man, true)
}

// WriteProgress is WriteRun without the weights: the log and manifest of a
// run in progress whose best weights are already on disk.
func WriteProgress(dir string, res *Result, man Manifest) error {
	return writeRun(dir, res, man, false)
}

func writeRun(dir string, res *Result, man Manifest, weights bool) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	man.BestEpoch, man.Val, man.EpochsRun = res.BestEpoch, res.Best, len(res.Log)
	manJSON, err := json.MarshalIndent(man, "", "  ")
	if err != nil {
		return fmt.Errorf("train: encoding manifest: %v", err)
	}
	if weights {
		meta := map[string]string{"training": string(manJSON), "encoder_sha256": man.EncoderSHA256}
		if err := res.Model.SaveWithMetadata(filepath.Join(dir, WeightsFile), meta); err != nil {
			return err
		}
	}
	logJSON, err := json.MarshalIndent(res.Log, "", "  ")
	if err != nil {
		return fmt.Errorf("train: encoding log: %v", err)
	}
	if err := writeAtomic(filepath.Join(dir, LogFile), append(logJSON, '\n')); err != nil {
		return err
	}
	return writeAtomic(filepath.Join(dir, ManifestFile), append(manJSON, '\n'))
}

func writeAtomic(path string, data []byte) error {
	if err := atomicfile.WriteFile(path, data); err != nil {
		return fmt.Errorf("train: writing %s: %w", path, err)
	}
	return nil
}

// FileSHA256 is the hex SHA-256 of a file's bytes.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("train: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("train: hashing %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
