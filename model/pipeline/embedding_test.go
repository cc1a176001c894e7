package pipeline

import (
	"errors"
	"image"
	"image/color"
	"slices"
	"strings"
	"testing"

	"github.com/busam/busam/model/encoder"
	"github.com/busam/busam/model/heads"
	"github.com/busam/busam/model/tensor"
)

func gradientImage(w, h int) image.Image {
	img := image.NewGray(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetGray(x, y, color.Gray{uint8((3*x + y*y) % 256)})
		}
	}
	return img
}

// Options.Embedding returns the encoder's output for the image itself
// (not its mirror), and changes nothing else of the result.
func TestAnalyzeWithEmbedding(t *testing.T) {
	img := gradientImage(90, 60)
	m := tinyModel(t, 3)
	enc := &poolEncoder{channels: 8}
	input, _ := encoder.Preprocess(img, 128)
	want, _ := enc.Forward(input)
	for _, flip := range []bool{false, true} {
		plain, err := AnalyzeWith(enc, m, img, Options{Size: 128, Flip: flip})
		if err != nil {
			t.Fatal(err)
		}
		if plain.Embedding != nil {
			t.Errorf("flip=%v: an embedding nobody asked for", flip)
		}
		got, err := AnalyzeWith(enc, m, img, Options{Size: 128, Flip: flip, Embedding: true})
		if err != nil {
			t.Fatal(err)
		}
		if got.Embedding == nil || !slices.Equal(got.Embedding.Shape, want.Shape) || !slices.Equal(got.Embedding.Data, want.Data) {
			t.Errorf("flip=%v: embedding %v, want the image's own %v", flip, got.Embedding, want.Shape)
		}
		if !slices.Equal(got.Mask, plain.Mask) || !slices.Equal(got.Probs, plain.Probs) {
			t.Errorf("flip=%v: asking for the embedding changed the result", flip)
		}
	}
}

// scribblingHeads overwrites the embedding it is given, as heads that own
// it may: the returned embedding must be a copy taken before.
type scribblingHeads struct{ m *heads.Model }

func (s scribblingHeads) Predict(in heads.Input) (heads.Output, error) {
	out, err := s.m.Predict(in)
	for i := range in.Embedding.Data {
		in.Embedding.Data[i] = -1
	}
	return out, err
}

func TestAnalyzeWithEmbeddingIsACopy(t *testing.T) {
	img := gradientImage(40, 30)
	enc := &poolEncoder{channels: 8}
	got, err := AnalyzeWith(enc, scribblingHeads{tinyModel(t, 3)}, img, Options{Size: 64, Embedding: true})
	if err != nil {
		t.Fatal(err)
	}
	input, _ := encoder.Preprocess(img, 64)
	want, _ := enc.Forward(input)
	if !slices.Equal(got.Embedding.Data, want.Data) {
		t.Error("the embedding returned is the one the heads overwrote")
	}
}

// handleStages keeps its embeddings elsewhere (a handle, like a device
// buffer) and records which handles Decode freed.
type handleStages struct {
	m     *heads.Model
	embs  map[int]*tensor.Tensor
	freed []int
}

func (s *handleStages) Encode(input *tensor.Tensor) (int, error) {
	emb, err := (&poolEncoder{channels: 8}).Forward(input)
	if s.embs == nil {
		s.embs = map[int]*tensor.Tensor{}
	}
	id := len(s.embs) + 1
	s.embs[id] = emb
	return id, err
}

func (s *handleStages) Decode(id int, input *tensor.Tensor) (heads.Output, error) {
	s.freed = append(s.freed, id)
	return s.m.Predict(heads.Input{Embedding: s.embs[id], Image: input})
}

// readableStages can read its embeddings back, or fails to with err.
type readableStages struct {
	*handleStages
	err error
}

func (s readableStages) ReadEmbedding(id int) (*tensor.Tensor, error) {
	if s.err != nil {
		return nil, s.err
	}
	return s.embs[id].Clone(), nil
}

// Stages that keep the embedding elsewhere give it only through an
// EmbeddingReader; when reading fails the analysis fails, and the
// embedding is still handed to Decode, which frees it.
func TestAnalyzeStagesEmbeddingReader(t *testing.T) {
	img := gradientImage(50, 40)
	lost := errors.New("device lost")
	for _, tc := range []struct {
		name      string
		stages    func(*handleStages) Stages[int]
		embedding bool
		wantErr   string
	}{
		{"no reader, not asked", func(h *handleStages) Stages[int] { return h }, false, ""},
		{"no reader, asked", func(h *handleStages) Stages[int] { return h }, true, "cannot read their embedding"},
		{"reader, not asked: not called", func(h *handleStages) Stages[int] { return readableStages{h, lost} }, false, ""},
		{"reader", func(h *handleStages) Stages[int] { return readableStages{h, nil} }, true, ""},
		{"reader fails", func(h *handleStages) Stages[int] { return readableStages{h, lost} }, true, "device lost"},
	} {
		h := &handleStages{m: tinyModel(t, 3)}
		res, err := AnalyzeStages(tc.stages(h), img, Options{Size: 64, Embedding: tc.embedding})
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.wantErr)
			}
		} else if err != nil {
			t.Errorf("%s: %v", tc.name, err)
		} else if got := res.Embedding != nil; got != tc.embedding {
			t.Errorf("%s: embedding returned %v, asked %v", tc.name, got, tc.embedding)
		} else if tc.embedding && !slices.Equal(res.Embedding.Data, h.embs[1].Data) {
			t.Errorf("%s: the embedding read back is not the encoder's", tc.name)
		}
		if len(h.embs) != len(h.freed) {
			t.Errorf("%s: %d embeddings made, %d handed to Decode", tc.name, len(h.embs), len(h.freed))
		}
	}
}
