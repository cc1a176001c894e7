package embed

import (
	"errors"
	"fmt"
	"image"
	"io"
	"io/fs"

	"github.com/busam/busam/imageio"
	"github.com/busam/busam/model/encoder"
	"github.com/busam/busam/model/tensor"
)

// Source is the one path from an image file to the heads' input, the
// embedding [NeckDim,h,w] of the image or of its mirror image (flip): the
// embedding cache, else the neck on trunk features (the trunk cache's,
// or computed by the encoder), else the encoder. Entries are keyed by the
// image file's hash and the flip (KeyFor). A damaged entry counts as a
// miss (noted on Log) and is recomputed when an encoder is at hand; what
// is computed is stored where the Store fields say.
type Source struct {
	Cache *Cache // embeddings keyed by SHA; nil for none
	SHA   string // the embeddings' model hash (the encoder's SHA256, with its overrides)
	Trunk *Cache // trunk features keyed by TrunkSHA; nil for none
	// TrunkSHA keys the trunk features (encoder.Trunk's SHA256); empty:
	// the Encoder's, loaded on first use.
	TrunkSHA string
	// Encoder computes what the caches lack (loaded on first use); nil:
	// a miss is an error wrapping fs.ErrNotExist.
	Encoder func() (*encoder.Encoder, error)
	// Neck turns trunk features into the embedding; nil: the encoder's.
	Neck func(f *tensor.Tensor) (*tensor.Tensor, error)
	// StoreEmbeddings puts computed embeddings into Cache; StoreTrunk
	// puts computed trunk features into Trunk.
	StoreEmbeddings, StoreTrunk bool
	Log                         io.Writer // notes on damaged entries; nil to discard

	// Counts of look-ups, for closing messages.
	Hits, Misses, Corrupt  int
	TrunkHits, TrunkMisses int
}

// Input gives the encoder input of an image: preprocessed
// (encoder.Preprocess), mirrored when flip. Source calls it only when the
// encoder must run.
type Input func(flip bool) (*tensor.Tensor, error)

// FileInput is the Input of the image file at path, decoded once (on
// first use) for both orientations.
func FileInput(path string) Input {
	var img image.Image
	return func(flip bool) (*tensor.Tensor, error) {
		if img == nil {
			var err error
			if img, err = imageio.Load(path); err != nil {
				return nil, fmt.Errorf("embed: %w", err)
			}
		}
		in := img
		if flip {
			in = imageio.FlipHorizontal(img)
		}
		x, _ := encoder.Preprocess(in, encoder.DefaultSize)
		return x, nil
	}
}

// get looks key up in c: the entry, nil for a miss (missing or damaged:
// corrupt says which), or an error.
func (s *Source) get(c *Cache, key Key, imagePath string) (t *tensor.Tensor, corrupt bool, err error) {
	t, err = c.Get(key)
	switch {
	case err == nil:
		return t, false, nil
	case errors.Is(err, ErrCorrupt):
		if s.Log != nil {
			fmt.Fprintf(s.Log, "%s: %v; recomputing\n", imagePath, err)
		}
		return nil, true, nil
	case errors.Is(err, fs.ErrNotExist):
		return nil, false, nil
	}
	return nil, false, err
}

// Lookup returns the key of the embedding of the image at imagePath
// (flip: mirrored) and the cache's entry for it, nil when it is missing or
// damaged (counted in Corrupt); it computes nothing.
func (s *Source) Lookup(imagePath string, flip bool) (Key, *tensor.Tensor, error) {
	key, err := KeyFor(imagePath, s.SHA, flip)
	if err != nil {
		return key, nil, err
	}
	t, corrupt, err := s.get(s.Cache, key, imagePath)
	if corrupt {
		s.Corrupt++
	}
	return key, t, err
}

// Embedding returns the embedding of the image at imagePath, mirrored
// when flip; input (nil: FileInput) gives the encoder's input on a miss.
func (s *Source) Embedding(imagePath string, flip bool, input Input) (*tensor.Tensor, error) {
	var key Key
	if s.Cache != nil {
		var t *tensor.Tensor
		var err error
		if key, t, err = s.Lookup(imagePath, flip); err != nil {
			return nil, err
		}
		if t != nil {
			s.Hits++
			return t, nil
		}
		s.Misses++
	}
	var emb *tensor.Tensor
	if s.Trunk != nil {
		f, err := s.TrunkFeatures(imagePath, flip, input)
		if err != nil {
			return nil, err
		}
		if emb, err = s.neck(f); err != nil {
			return nil, err
		}
	} else {
		var err error
		if emb, err = s.run(imagePath, key, input, flip, (*encoder.Encoder).Forward); err != nil {
			return nil, err
		}
	}
	if s.StoreEmbeddings && s.Cache != nil {
		if err := s.Cache.Put(key, emb); err != nil {
			return nil, fmt.Errorf("embed: %s: %w", imagePath, err)
		}
	}
	return emb, nil
}

// TrunkFeatures returns the trunk features of the image at imagePath
// (mirrored when flip): the trunk cache's, as stored (float16), else
// computed by the encoder (and stored with StoreTrunk), in float32, so a
// miss gives exactly the encoder's embedding after the neck.
func (s *Source) TrunkFeatures(imagePath string, flip bool, input Input) (*tensor.Tensor, error) {
	if s.Trunk == nil {
		return nil, fmt.Errorf("embed: no trunk cache for %s: %w", imagePath, fs.ErrNotExist)
	}
	if s.TrunkSHA == "" && s.Encoder != nil {
		enc, err := s.Encoder()
		if err != nil {
			return nil, err
		}
		s.TrunkSHA = encoder.Trunk{Encoder: enc}.SHA256()
	}
	key, err := KeyFor(imagePath, s.TrunkSHA, flip)
	if err != nil {
		return nil, err
	}
	f, corrupt, err := s.get(s.Trunk, key, imagePath)
	switch {
	case err != nil:
		return nil, err
	case f != nil:
		s.TrunkHits++
		return f, nil
	case corrupt:
		s.Corrupt++
	}
	s.TrunkMisses++
	if f, err = s.run(imagePath, key, input, flip, (*encoder.Encoder).ForwardTrunk); err != nil {
		return nil, err
	}
	if s.StoreTrunk {
		if err := s.Trunk.Put(key, f); err != nil {
			return nil, fmt.Errorf("embed: trunk cache: %w", err)
		}
	}
	return f, nil
}

// run computes a cache miss: the encoder's forward (Forward or
// ForwardTrunk) on the image's encoder input.
func (s *Source) run(imagePath string, key Key, input Input, flip bool, forward func(*encoder.Encoder, *tensor.Tensor) (*tensor.Tensor, error)) (*tensor.Tensor, error) {
	enc, err := s.encoder(imagePath, key)
	if err != nil {
		return nil, err
	}
	x, err := s.input(imagePath, input, flip)
	if err != nil {
		return nil, err
	}
	out, err := forward(enc, x)
	if err != nil {
		return nil, fmt.Errorf("embed: %s: %w", imagePath, err)
	}
	return out, nil
}

func (s *Source) encoder(imagePath string, key Key) (*encoder.Encoder, error) {
	if s.Encoder == nil {
		return nil, fmt.Errorf("embed: %s (%s) is not cached: %w", imagePath, key, fs.ErrNotExist)
	}
	return s.Encoder()
}

func (s *Source) input(imagePath string, input Input, flip bool) (*tensor.Tensor, error) {
	if input == nil {
		input = FileInput(imagePath)
	}
	return input(flip)
}

func (s *Source) neck(f *tensor.Tensor) (*tensor.Tensor, error) {
	if s.Neck != nil {
		return s.Neck(f)
	}
	if s.Encoder == nil {
		return nil, fmt.Errorf("embed: no neck for the trunk features: set Source.Neck or Source.Encoder")
	}
	enc, err := s.Encoder()
	if err != nil {
		return nil, err
	}
	return enc.Neck(f)
}
