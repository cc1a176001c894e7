// Package modelfile is the one loader of the model's files, shared by the
// CLI, the tests and the wasm engine: an encoder weights file (a float
// safetensors file, F32 or F16, or a quantized one from busam quantize,
// int8 or fp16, verified against its manifest) and a heads file, whose
// encoder overrides (a fine-tuned neck) replace the encoder's tensors of
// the same names. The encoder comes out as float32 tensors for any
// backend, with the int8 ones also kept as stored for backends that run
// them in int8 (model/webgpu/tinyvit.NewInt8), and with the hash that
// keys its embedding caches (encoder.OverriddenSHA256).
package modelfile

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"

	"github.com/busam/busam/model/encoder"
	"github.com/busam/busam/model/heads"
	"github.com/busam/busam/model/tensor"
	"github.com/busam/busam/quant"
)

// Encoder is a loaded encoder weights file.
type Encoder struct {
	// Tensors are all its tensors by name as float32 (int8 and fp16
	// dequantized), with Overrides applied. Backends use them in place.
	Tensors map[string]*tensor.Tensor
	// FileSHA256 is the hex sha256 of the file's bytes.
	FileSHA256 string
	// Overrides are the tensors Override put in place of the file's.
	Overrides map[string]*tensor.Tensor

	name string
	q    *quant.Model // a quantized file; nil for a float one
}

// ParseEncoder reads an in-memory encoder file; name appears in errors.
// With manifestJSON (the quant manifest beside a quantized file) the file
// must be the one it describes (quant.Parse); without it, a float file.
func ParseEncoder(name string, data, manifestJSON []byte) (*Encoder, error) {
	sum := sha256.Sum256(data)
	e := &Encoder{FileSHA256: hex.EncodeToString(sum[:]), name: name}
	var err error
	if manifestJSON != nil {
		if e.q, err = quant.Parse(name, data, manifestJSON); err != nil {
			return nil, err
		}
		e.Tensors, err = e.q.Float32()
	} else {
		e.Tensors, err = quant.ParseAny(name, data, nil)
	}
	if err != nil {
		return nil, err
	}
	return e, nil
}

// ReadEncoder reads the encoder file at path: quantized when its manifest
// (quant.ManifestPath) lies beside it, else a float file.
func ReadEncoder(path string) (*Encoder, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("encoder: %w", err)
	}
	man, err := os.ReadFile(quant.ManifestPath(path))
	if err != nil {
		if !os.IsNotExist(err) {
			return nil, fmt.Errorf("encoder: %w", err)
		}
		man = nil
	}
	e, err := ParseEncoder(path, data, man)
	if err != nil {
		return nil, fmt.Errorf("encoder: %w", err)
	}
	return e, nil
}

// Override puts over (a heads file's EncoderOverrides) in place of the
// tensors of the same names (encoder.ApplyOverrides: every name must exist
// with the same shape). Call it once, before the tensors are used.
func (e *Encoder) Override(over map[string]*tensor.Tensor) error {
	if len(over) == 0 {
		return nil
	}
	if err := encoder.ApplyOverrides(e.Tensors, over); err != nil {
		return err
	}
	e.Overrides = over
	return nil
}

// SHA256 identifies the weights with their overrides: the key of their
// embeddings in a cache (encoder.OverriddenSHA256 of the file's hash).
func (e *Encoder) SHA256() string { return encoder.OverriddenSHA256(e.FileSHA256, e.Overrides) }

// Int8 returns the tensors the file stores in int8 that no override
// replaced, as stored (per-output-channel scales); nil for a file
// without int8 tensors.
func (e *Encoder) Int8() (map[string]*tensor.Int8, error) {
	if e.q == nil {
		return nil, nil
	}
	var out map[string]*tensor.Int8
	for _, t := range e.q.Manifest.Tensors {
		if _, overridden := e.Overrides[t.Name]; t.Scheme != quant.SchemeInt8 || overridden {
			continue
		}
		q, err := e.q.Int8(t.Name)
		if err != nil {
			return nil, err
		}
		if out == nil {
			out = map[string]*tensor.Int8{}
		}
		out[t.Name] = q
	}
	return out, nil
}

// CPU builds the CPU encoder (MobileSAM) on the tensors, identified by
// SHA256 (encoder.NewIdentified).
func (e *Encoder) CPU() (*encoder.Encoder, error) {
	enc, err := encoder.NewIdentified(e.Tensors, e.FileSHA256, e.Overrides)
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, e.name)
	}
	return enc, nil
}

// ReadTensors reads every tensor of an encoder file as float32, by name
// (ReadEncoder's Tensors).
func ReadTensors(path string) (map[string]*tensor.Tensor, error) {
	e, err := ReadEncoder(path)
	if err != nil {
		return nil, err
	}
	return e.Tensors, nil
}

// LoadEncoder reads the encoder file at path, applies over (nil for none)
// and builds the CPU encoder; its SHA256 is the file's hash with them.
func LoadEncoder(path string, over map[string]*tensor.Tensor) (*encoder.Encoder, error) {
	e, err := ReadEncoder(path)
	if err != nil {
		return nil, err
	}
	if err := e.Override(over); err != nil {
		return nil, fmt.Errorf("%w (applying the heads' overrides to %s)", err, path)
	}
	return e.CPU()
}

// Model is an encoder with the heads trained on it, their overrides
// applied to it.
type Model struct {
	Encoder *Encoder
	Heads   *heads.Model
}

// New pairs enc with h, applying h's encoder overrides to enc. A misfit
// blames the heads: their overrides were made for another encoder (or
// tampered with).
func New(enc *Encoder, h *heads.Model, headsName string) (*Model, error) {
	if err := enc.Override(h.EncoderOverrides); err != nil {
		return nil, fmt.Errorf("%s: its encoder overrides do not fit %s: %w", headsName, enc.name, err)
	}
	return &Model{Encoder: enc, Heads: h}, nil
}

// Parse is Load for in-memory files (the browser's): the encoder file with
// its quant manifest (nil for a float file) and the heads file.
func Parse(encName string, encData, encManifest []byte, headsName string, headsData []byte) (*Model, error) {
	enc, err := ParseEncoder(encName, encData, encManifest)
	if err != nil {
		return nil, err
	}
	h, err := heads.Decode(headsName, headsData)
	if err != nil {
		return nil, err
	}
	return New(enc, h, headsName)
}

// Load reads a heads file and the encoder file it pairs with.
func Load(encoderPath, headsPath string) (*Model, error) {
	h, err := heads.Load(headsPath)
	if err != nil {
		return nil, err
	}
	enc, err := ReadEncoder(encoderPath)
	if err != nil {
		return nil, err
	}
	return New(enc, h, headsPath)
}
