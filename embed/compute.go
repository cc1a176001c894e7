package embed

import (
	"context"
	"fmt"
	"image"
	"io"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/busam/busam/imageio"
	"github.com/busam/busam/model/encoder"
	"github.com/busam/busam/model/tensor"
)

// Encoder is what Compute needs from model/encoder.Encoder (an interface
// so tests can use a fake).
type Encoder interface {
	Embed(img image.Image) (*tensor.Tensor, encoder.Geometry, error)
	SHA256() string
}

// RunOptions control Compute.
type RunOptions struct {
	Flip     bool      // also embed each image flipped horizontally
	Progress io.Writer // progress bar destination; nil for none
	Log      io.Writer // notes on corrupt entries; nil to discard
}

// Stats counts what Compute did, per embedding (an image with Flip counts
// twice).
type Stats struct {
	Cached, Computed int
	Corrupt          int // entries found damaged and recomputed
	Images           int // images fully handled
	Elapsed          time.Duration
}

func (s Stats) String() string {
	msg := fmt.Sprintf("%d cached, %d computed", s.Cached, s.Computed)
	if s.Corrupt > 0 {
		msg += fmt.Sprintf(" (%d of them replaced corrupt entries)", s.Corrupt)
	}
	return msg
}

// Compute makes sure the cache holds the embedding of every image (and of
// its mirror image with Flip). Cached entries are verified, not recomputed;
// corrupt ones are reported and recomputed. When ctx is cancelled it
// finishes the current image and returns ctx's error; every entry written
// until then is complete.
func Compute(ctx context.Context, c *Cache, enc Encoder, images []string, opt RunOptions) (Stats, error) {
	start := time.Now()
	var st Stats
	logw := opt.Log
	if logw == nil {
		logw = io.Discard
	}
	var bar *progressbar.ProgressBar
	if opt.Progress != nil {
		bar = progressbar.NewOptions(len(images),
			progressbar.OptionSetWriter(opt.Progress),
			progressbar.OptionSetDescription("embed"),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("img"),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionSetElapsedTime(true),
			progressbar.OptionThrottle(250*time.Millisecond),
			progressbar.OptionSetRenderBlankState(true),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(opt.Progress) }),
		)
	}
	// Look-ups go through Source (damaged entries are reported on Log and
	// recomputed); computing goes through enc, which may be a trunk.
	src := &Source{Cache: c, SHA: enc.SHA256(), Log: logw}
	variants := []bool{false}
	if opt.Flip {
		variants = append(variants, true)
	}
	for _, path := range images {
		if err := ctx.Err(); err != nil {
			st.Elapsed = time.Since(start)
			if bar != nil {
				fmt.Fprintln(opt.Progress)
			}
			return st, err
		}
		var img image.Image // decoded once, only if some variant is missing
		for _, flip := range variants {
			key, got, err := src.Lookup(path, flip)
			if err != nil {
				return st, err
			}
			if got != nil {
				st.Cached++
				continue
			}
			st.Corrupt = src.Corrupt
			if img == nil {
				if img, err = imageio.Load(path); err != nil {
					return st, fmt.Errorf("embed: %w", err)
				}
			}
			in := img
			if flip {
				in = imageio.FlipHorizontal(img)
			}
			emb, _, err := enc.Embed(in)
			if err != nil {
				return st, fmt.Errorf("embed: %s: %w", path, err)
			}
			if err := c.Put(key, emb); err != nil {
				return st, fmt.Errorf("embed: %s: %w", path, err)
			}
			st.Computed++
		}
		st.Images++
		if bar != nil {
			_ = bar.Add(1)
		}
	}
	st.Elapsed = time.Since(start)
	return st, nil
}
