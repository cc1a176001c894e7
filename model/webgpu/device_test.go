package webgpu

import (
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
)

func TestAdapterLimits(t *testing.T) {
	d := testDevice(t)
	t.Logf("adapter: %s, software: %v", d.Description(), d.Software())
	if runtime.GOOS == "js" && d.Backend() != "web-gpu" {
		t.Errorf("backend %q in the browser, want web-gpu", d.Backend())
	}
	if d.Limits().MaxComputeInvocationsPerWorkgroup < 256 {
		t.Errorf("device allows %d invocations per workgroup; the kernels need 256", d.Limits().MaxComputeInvocationsPerWorkgroup)
	}
}

func TestBufferRoundTrip(t *testing.T) {
	d := testDevice(t)
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 3, 4, 5, 1000, 4097} {
		want := randSlice(r, n, 10)
		b := upload(t, d, want)
		got := read(t, d, b)
		if len(got) != n {
			t.Fatalf("n=%d: read %d values", n, len(got))
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("n=%d: value %d is %v, want %v", n, i, got[i], want[i])
			}
		}
		// Write replaces the contents.
		want2 := randSlice(r, n, 1)
		if err := d.Write(b, want2); err != nil {
			t.Fatal(err)
		}
		got = read(t, d, b)
		for i := range want2 {
			if got[i] != want2[i] {
				t.Fatalf("n=%d after Write: value %d is %v, want %v", n, i, got[i], want2[i])
			}
		}
		b.Release()
	}
}

func TestNewBufferIsZeroAndShaped(t *testing.T) {
	d := testDevice(t)
	b := zeros(t, d, 0)
	b.Release()
	b, err := d.NewBuffer(2, 3, 5)
	if err != nil {
		t.Fatal(err)
	}
	tt, err := d.ReadTensor(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(tt.Shape) != 3 || tt.Shape[0] != 2 || tt.Shape[1] != 3 || tt.Shape[2] != 5 || tt.Len() != 30 {
		t.Fatalf("tensor %v with %d values, want [2 3 5] with 30", tt.Shape, tt.Len())
	}
	for i, v := range tt.Data {
		if v != 0 {
			t.Fatalf("value %d of a new buffer is %v", i, v)
		}
	}
}

func TestUploadInt8Packing(t *testing.T) {
	d := testDevice(t)
	q := []int8{1, -1, 127, -128, 5, -7}
	b, err := d.UploadInt8(q)
	if err != nil {
		t.Fatal(err)
	}
	if b.Len() != 2 {
		t.Fatalf("%d int8 values packed into %d words, want 2", len(q), b.Len())
	}
	got := read(t, d, b)
	words := []uint32{math.Float32bits(got[0]), math.Float32bits(got[1])}
	want := []uint32{0x807fff01, 0x0000f905}
	for i := range want {
		if words[i] != want[i] {
			t.Errorf("word %d = %#08x, want %#08x", i, words[i], want[i])
		}
	}
}

func TestPackInt8Rows(t *testing.T) {
	got, err := PackInt8Rows([]int8{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 2, 5)
	if err != nil {
		t.Fatal(err)
	}
	want := []int8{1, 2, 3, 4, 5, 0, 0, 0, 6, 7, 8, 9, 10, 0, 0, 0}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	if _, err := PackInt8Rows(make([]int8, 9), 2, 5); err == nil {
		t.Error("PackInt8Rows accepted 9 values for [2,5]")
	}
}

// TestRecorderSplitsSubmissions chains more dispatches than one submission
// holds, releasing buffers while their work is still recorded.
func TestRecorderSplitsSubmissions(t *testing.T) {
	testDevice(t) // skips or fails when no Vulkan adapter
	d, err := Open(Options{MaxDispatches: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	const n = 37
	one := make([]float32, n)
	for i := range one {
		one[i] = 1
	}
	ones := upload(t, d, one)
	acc := zeros(t, d, n)
	for i := 0; i < 10; i++ {
		next := zeros(t, d, n)
		if err := d.Add(next, acc, ones, n); err != nil {
			t.Fatal(err)
		}
		acc.Release() // still used by the recorded Add
		acc = next
	}
	got := read(t, d, acc)
	for i, v := range got {
		if v != 10 {
			t.Fatalf("value %d after 10 chained adds is %v, want 10", i, v)
		}
	}
	if len(d.kernels) != 1 {
		t.Errorf("pipeline cache holds %d kernels after one kind of op, want 1", len(d.kernels))
	}
}

func TestProfile(t *testing.T) {
	testDevice(t)
	d, err := Open(Options{Profile: true})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	x := upload(t, d, []float32{1, 2, 3})
	y := zeros(t, d, 3)
	for i := 0; i < 3; i++ {
		if err := d.GELU(y, x, 3); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Add(y, x, x, 3); err != nil {
		t.Fatal(err)
	}
	p := d.Profile()
	if p["unary"].Dispatches != 3 || p["binary"].Dispatches != 1 || len(p) != 2 {
		t.Errorf("profile %+v, want 3 unary and 1 binary dispatches", p)
	}
	if p["unary"].Time <= 0 {
		t.Errorf("unary time %v, want > 0", p["unary"].Time)
	}
	if testDevice(t).Profile() != nil {
		t.Error("a device opened without Options.Profile returns a profile")
	}
}
