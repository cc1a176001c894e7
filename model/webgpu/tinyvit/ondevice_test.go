package tinyvit

import (
	"slices"
	"testing"
)

// ForwardOnDevice leaves Forward's embedding and the uploaded input on the
// device, bit for bit, and they outlive the pass.
func TestForwardOnDeviceKeepsEmbeddingAndInput(t *testing.T) {
	d := openDevice(t)
	enc, err := New(d, tiny, randomParams(t, tiny, 21))
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Release()
	x := randomImage(22, 3, 48, 64)
	want, err := enc.Forward(x)
	if err != nil {
		t.Fatal(err)
	}
	emb, in, err := enc.ForwardOnDevice(x)
	if err != nil {
		t.Fatal(err)
	}
	defer emb.Release()
	defer in.Release()
	got, err := d.Read(emb)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want.Data) {
		t.Errorf("embedding on the device differs from Forward's")
	}
	img, err := d.Read(in)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(img, x.Data) {
		t.Errorf("input on the device differs from x")
	}
	if _, _, err := enc.ForwardOnDevice(randomImage(23, 2, 48, 64)); err == nil {
		t.Error("a 2-channel input was accepted")
	}
}
