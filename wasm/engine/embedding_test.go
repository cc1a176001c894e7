package engine

import (
	"image"
	"io"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/busam/busam/dataset"
	"github.com/busam/busam/imageio"
	"github.com/busam/busam/internal/testutil"
	"github.com/busam/busam/model/pipeline"
	"github.com/busam/busam/model/tensor"
	"github.com/busam/busam/wasm/manifest"
)

// embeddingFake is fakeModel that also returns emb when asked to.
type embeddingFake struct {
	fakeModel
	emb *tensor.Tensor
}

func (m embeddingFake) AnalyzeWith(img image.Image, opt AnalyzeOptions) (pipeline.Result, error) {
	r, err := m.Analyze(img)
	if opt.Embedding {
		r.Embedding = m.emb
	}
	return r, err
}

// AnalyzeOptions.Embedding hands the model's embedding through to the
// result, only when asked; a model that has none, or a malformed one, is an
// error rather than a silently missing embedding.
func TestAnalyzeWithEmbedding(t *testing.T) {
	three := fakeModel{classes: []dataset.Label{dataset.Normal, dataset.Benign, dataset.Malignant}, probs: []float32{0.1, 0.2, 0.7}}
	emb := tensor.New(2, 3, 4)
	for i := range emb.Data {
		emb.Data[i] = float32(i) / 7
	}
	for _, tc := range []struct {
		name      string
		model     Model
		embedding bool
		wantShape []int // nil: no embedding in the result
		wantErr   string
	}{
		{"not asked", embeddingFake{three, emb}, false, nil, ""},
		{"asked", embeddingFake{three, emb}, true, []int{2, 3, 4}, ""},
		{"model without embeddings, not asked", three, false, nil, ""},
		{"model without embeddings, asked", three, true, nil, "cannot return its embedding"},
		{"shape and data disagree", embeddingFake{three, &tensor.Tensor{Shape: []int{2, 3, 5}, Data: emb.Data}}, true, nil, "embedding of shape [2 3 5]"},
		{"not a feature map", embeddingFake{three, tensor.New(24)}, true, nil, "embedding of shape [24]"},
	} {
		r, err := loaded(t, tc.model).AnalyzeWith("scan.png", pngBytes(t, 12, 10), AnalyzeOptions{Embedding: tc.embedding})
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if !slices.Equal(r.EmbeddingShape, tc.wantShape) || tc.wantShape == nil && r.Embedding != nil {
			t.Errorf("%s: embedding shape %v (%d values), want %v", tc.name, r.EmbeddingShape, len(r.Embedding), tc.wantShape)
		}
		if tc.wantShape != nil && !slices.Equal(r.Embedding, emb.Data) {
			t.Errorf("%s: embedding values are not the model's", tc.name)
		}
		if r.Width != 12 || r.Height != 10 || r.Malign != 0.7 {
			t.Errorf("%s: result %dx%d P(malignant) %v", tc.name, r.Width, r.Height, r.Malign)
		}
	}
}

// The embedding the WebGPU model reads back from the device is the CPU
// model's, built from the same bytes: the int8 encoder the app ships (kept
// in int8 on the device, dequantized on the CPU), with and without a tuned
// neck in the heads. The browser test checks the same in Chromium.
func TestWebGPUEmbeddingMatchesCPU(t *testing.T) {
	imgPath := testutil.Need(t, filepath.Join(testutil.DataDir(t), "benign", "benign (1).png"), "BUSI data")
	needVulkan(t)
	img, err := imageio.Load(imgPath)
	if err != nil {
		t.Fatal(err)
	}
	int8Enc, int8Man := int8Encoder(t)
	encFiles := map[string][]byte{manifest.RoleEncoder: int8Enc, manifest.RoleEncoderQuant: int8Man}
	plain := map[string][]byte{manifest.RoleHeads: randomHeads(t)}
	for role, b := range encFiles {
		plain[role] = b
	}
	for name, files := range map[string]map[string][]byte{"int8": plain, "int8, tuned neck": withTunedNeck(t, encFiles)} {
		const size = 128 // lavapipe is a CPU and must keep submissions short
		gpu, err := BuildWebGPUModel(files, size)
		if err != nil {
			t.Fatal(err)
		}
		got, err := gpu.(OptionsModel).AnalyzeWith(img, AnalyzeOptions{Embedding: true})
		gpu.(io.Closer).Close()
		if err != nil {
			t.Fatal(err)
		}
		cpu, err := BuildPipelineModel(files, size)
		if err != nil {
			t.Fatal(err)
		}
		want, err := cpu.(OptionsModel).AnalyzeWith(img, AnalyzeOptions{Embedding: true})
		if err != nil {
			t.Fatal(err)
		}
		if got.Embedding == nil || want.Embedding == nil || !slices.Equal(got.Embedding.Shape, want.Embedding.Shape) {
			t.Fatalf("%s: embeddings %v (webgpu) and %v (cpu)", name, got.Embedding, want.Embedding)
		}
		cos := tensor.Cosine(got.Embedding.Data, want.Embedding.Data)
		var maxDiff float64
		for i, w := range want.Embedding.Data {
			maxDiff = max(maxDiff, math.Abs(float64(got.Embedding.Data[i]-w)))
		}
		t.Logf("%s: embedding %v webgpu vs cpu: cosine %.9f (1 - cosine %.3g), max |diff| %.3g", name, want.Embedding.Shape, cos, 1-cos, maxDiff)
		if !(cos >= 0.999) {
			t.Errorf("%s: embedding cosine %.6f < 0.999", name, cos)
		}
	}
}
