package heads

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/busam/busam/model/tensor"

	"github.com/busam/busam/weights/safetensors"
)

// formatTag marks a safetensors file as busam heads.
const formatTag = "busam-heads/1"

// Save writes the model's weights to path (atomically) as safetensors,
// with the config, kind and class count in the metadata.
func (m *Model) Save(path string) error {
	return m.SaveWithMetadata(path, nil)
}

// SaveWithMetadata is Save with extra metadata entries (for example the
// training provenance); the model's own keys win over extra ones.
func (m *Model) SaveWithMetadata(path string, extra map[string]string) error {
	cfg, err := json.Marshal(m.Config)
	if err != nil {
		return fmt.Errorf("heads: encoding config for %s: %v", path, err)
	}
	meta := map[string]string{}
	for k, v := range extra {
		meta[k] = v
	}
	meta["format"] = formatTag
	meta["kind"] = m.Config.Kind
	meta["classes"] = strconv.Itoa(m.Config.Classes)
	meta["config"] = string(cfg)
	delete(meta, calibrationKey)
	if !m.Calib.IsZero() {
		if err := m.Calib.validate(); err != nil {
			return fmt.Errorf("heads: saving %s: %w", path, err)
		}
		if meta[calibrationKey], err = encodeCalibration(m.Calib); err != nil {
			return fmt.Errorf("heads: saving %s: %w", path, err)
		}
	}
	entries := make([]safetensors.Entry, len(m.params), len(m.params)+len(m.EncoderOverrides)+3)
	for i, p := range m.params {
		entries[i] = safetensors.F32Entry(p.Name, p.Value)
	}
	delete(meta, typicalityKey)
	if !m.Typical.IsZero() {
		if err := m.Typical.validate(m.Config.poolFeatures()); err != nil {
			return fmt.Errorf("heads: saving %s: %w", path, err)
		}
		te, tm, err := typicalityEntries(m.Typical)
		if err != nil {
			return fmt.Errorf("heads: saving %s: %w", path, err)
		}
		entries, meta[typicalityKey] = append(entries, te...), tm
	}
	for _, name := range slices.Sorted(maps.Keys(m.EncoderOverrides)) {
		entries = append(entries, safetensors.F32Entry(EncoderPrefix+name, m.EncoderOverrides[name]))
	}
	if err := safetensors.WriteFile(path, entries, meta); err != nil {
		return fmt.Errorf("heads: saving %s: %w", path, err)
	}
	return nil
}

// EncoderPrefix marks the tensors of a heads file that override encoder
// tensors of the same name without the prefix (see Model.EncoderOverrides).
const EncoderPrefix = "encoder."

// Load reads a model saved by Save.
func Load(path string) (*Model, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("heads: %w", err)
	}
	return Decode(path, data)
}

// Decode builds a model from the bytes of a heads safetensors file; name
// is only used in error messages (the browser has no file path).
func Decode(name string, data []byte) (*Model, error) {
	f, err := safetensors.Read(name, data)
	if err != nil {
		return nil, fmt.Errorf("heads: %w", err)
	}
	meta := f.Metadata()
	if meta["format"] != formatTag {
		return nil, fmt.Errorf("heads: %s: not a busam heads file (format %q, want %q)", name, meta["format"], formatTag)
	}
	var cfg Config
	if err := json.Unmarshal([]byte(meta["config"]), &cfg); err != nil {
		return nil, fmt.Errorf("heads: %s: bad config metadata: %v", name, err)
	}
	m, err := New(cfg)
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, name)
	}
	if s, ok := meta[calibrationKey]; ok {
		if m.Calib, err = decodeCalibration(s); err != nil {
			return nil, fmt.Errorf("heads: %s: bad calibration metadata: %v", name, err)
		}
	}
	typical := 0 // tensors of the typicality model
	if s, ok := meta[typicalityKey]; ok {
		if m.Typical, typical, err = decodeTypicality(s, f.Tensor, m.Config.poolFeatures()); err != nil {
			return nil, fmt.Errorf("heads: %s: bad typicality model: %v", name, err)
		}
	}
	names := f.Names()
	for _, p := range m.params {
		t, err := f.Tensor(p.Name)
		if err != nil {
			return nil, fmt.Errorf("heads: %s: %w", name, err)
		}
		if !slices.Equal(t.Shape, p.Value.Shape) {
			return nil, fmt.Errorf("heads: %s: tensor %s has shape %v, the config needs %v", name, p.Name, t.Shape, p.Value.Shape)
		}
		copy(p.Value.Data, t.Data)
	}
	for _, n := range names {
		enc, ok := strings.CutPrefix(n, EncoderPrefix)
		if !ok {
			continue
		}
		t, err := f.Tensor(n)
		if err != nil {
			return nil, fmt.Errorf("heads: %s: %w", name, err)
		}
		if m.EncoderOverrides == nil {
			m.EncoderOverrides = map[string]*tensor.Tensor{}
		}
		m.EncoderOverrides[enc] = t
	}
	if len(names) != len(m.params)+len(m.EncoderOverrides)+typical {
		return nil, fmt.Errorf("heads: %s: %d tensors, the config has %d parameters (and %d encoder overrides, %d of a typicality model)",
			name, len(names), len(m.params), len(m.EncoderOverrides), typical)
	}
	return m, nil
}

// Metadata returns the metadata of a saved heads file without building the
// model (for provenance display).
func Metadata(path string) (map[string]string, error) {
	f, err := safetensors.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("heads: %w", err)
	}
	return f.Metadata(), nil
}
