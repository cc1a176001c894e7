package webgpu

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/busam/busam/model/tensor"
	"github.com/cogentcore/webgpu/wgpu"
)

// Buffer is a device storage array of 4-byte words: float32 values, or int8
// values packed four to a little-endian u32 (see UploadInt8).
type Buffer struct {
	d     *Device
	buf   *wgpu.Buffer
	words int
	// Shape is the shape of the tensor the buffer holds; informational,
	// the kernels take their sizes as arguments.
	Shape []int
}

// Len is the number of 4-byte words.
func (b *Buffer) Len() int { return b.words }

// Release frees the buffer. If recorded work still uses it, the release
// waits until that work is submitted.
func (b *Buffer) Release() {
	if b == nil || b.buf == nil {
		return
	}
	if b.d.rec.uses(b) {
		b.d.rec.releases = append(b.d.rec.releases, b.buf)
	} else {
		freeBuffer(b.buf)
	}
	b.buf = nil
}

const storageUsage = wgpu.BufferUsageStorage | wgpu.BufferUsageCopySrc | wgpu.BufferUsageCopyDst

func (d *Device) checkSize(words int) error {
	if words < 0 {
		return fmt.Errorf("webgpu: negative buffer size %d", words)
	}
	if max := d.limits.MaxStorageBufferBindingSize; max > 0 && uint64(words)*4 > max {
		return fmt.Errorf("webgpu: buffer of %d bytes exceeds the device's max storage binding size %d", uint64(words)*4, max)
	}
	return nil
}

// byteSize rounds a word count to a valid, non-empty buffer size.
func byteSize(words int) uint64 { return uint64(max(words, 4)) * 4 }

// NewBuffer allocates a zero-filled float buffer of the given shape.
func (d *Device) NewBuffer(shape ...int) (*Buffer, error) {
	n := tensor.Numel(shape)
	if err := d.checkSize(n); err != nil {
		return nil, err
	}
	buf, err := d.dev.CreateBuffer(&wgpu.BufferDescriptor{Size: byteSize(n), Usage: storageUsage})
	if err != nil {
		return nil, fmt.Errorf("webgpu: create buffer %v: %w", shape, err)
	}
	return &Buffer{d: d, buf: buf, words: n, Shape: append([]int(nil), shape...)}, nil
}

func (d *Device) uploadBytes(raw []byte, words int, shape []int) (*Buffer, error) {
	if err := d.checkSize(words); err != nil {
		return nil, err
	}
	contents := make([]byte, byteSize(words))
	copy(contents, raw)
	buf, err := d.dev.CreateBufferInit(&wgpu.BufferInitDescriptor{Contents: contents, Usage: storageUsage})
	if err != nil {
		return nil, fmt.Errorf("webgpu: upload %v: %w", shape, err)
	}
	return &Buffer{d: d, buf: buf, words: words, Shape: append([]int(nil), shape...)}, nil
}

// UploadFloats copies data to a new device buffer; shape defaults to
// [len(data)] and must match its length otherwise.
func (d *Device) UploadFloats(data []float32, shape ...int) (*Buffer, error) {
	if len(shape) == 0 {
		shape = []int{len(data)}
	}
	if tensor.Numel(shape) != len(data) {
		return nil, fmt.Errorf("webgpu: upload: %d values for shape %v", len(data), shape)
	}
	return d.uploadBytes(floatBytes(data), len(data), shape)
}

// Upload copies a tensor to a new device buffer.
func (d *Device) Upload(t *tensor.Tensor) (*Buffer, error) {
	if t == nil {
		return nil, fmt.Errorf("webgpu: upload: nil tensor")
	}
	return d.UploadFloats(t.Data, t.Shape...)
}

// UploadInt8 packs q four to a u32 word (q[4i] in the low byte) and copies
// it to a new device buffer of ceil(len(q)/4) words. Rows meant for
// MatMulQ8 must each start on a word: pad them with PackInt8Rows first.
func (d *Device) UploadInt8(q []int8) (*Buffer, error) {
	words := (len(q) + 3) / 4
	raw := make([]byte, words*4)
	for i, v := range q {
		raw[i] = byte(v)
	}
	return d.uploadBytes(raw, words, []int{words})
}

// PackInt8Rows copies a row-major [rows, cols] int8 matrix into rows padded
// with zeros to a multiple of 4 values, the layout MatMulQ8 reads.
func PackInt8Rows(q []int8, rows, cols int) ([]int8, error) {
	if rows < 0 || cols < 0 || rows*cols != len(q) {
		return nil, fmt.Errorf("webgpu: pack int8: %d values for [%d,%d]", len(q), rows, cols)
	}
	stride := (cols + 3) / 4 * 4
	out := make([]int8, rows*stride)
	for r := 0; r < rows; r++ {
		copy(out[r*stride:r*stride+cols], q[r*cols:(r+1)*cols])
	}
	return out, nil
}

// Write overwrites the start of b with data, ordered after the work
// recorded so far. It goes through a mapped staging buffer and a copy
// rather than Queue.WriteBuffer, whose js binding needs a global "wasm".
func (d *Device) Write(b *Buffer, data []float32) error {
	if b == nil || b.buf == nil {
		return fmt.Errorf("webgpu: write into a nil or released buffer")
	}
	if len(data) > b.words {
		return fmt.Errorf("webgpu: write %d values into a buffer of %d", len(data), b.words)
	}
	if len(data) == 0 {
		return nil
	}
	if err := d.Flush(); err != nil {
		return err
	}
	staging, err := d.dev.CreateBufferInit(&wgpu.BufferInitDescriptor{Contents: floatBytes(data), Usage: wgpu.BufferUsageCopySrc})
	if err != nil {
		return fmt.Errorf("webgpu: write: staging buffer: %w", err)
	}
	defer freeBuffer(staging)
	enc, err := d.dev.CreateCommandEncoder(nil)
	if err != nil {
		return fmt.Errorf("webgpu: write: %w", err)
	}
	defer enc.Release()
	if err := enc.CopyBufferToBuffer(staging, 0, b.buf, 0, uint64(4*len(data))); err != nil {
		return fmt.Errorf("webgpu: write: copy: %w", err)
	}
	cmd, err := enc.Finish(nil)
	if err != nil {
		return fmt.Errorf("webgpu: write: %w", err)
	}
	defer cmd.Release()
	d.queue.Submit(cmd)
	return nil
}

// Read runs pending work and copies b back to the host.
func (d *Device) Read(b *Buffer) ([]float32, error) {
	raw, err := d.readBytes(b)
	if err != nil {
		return nil, err
	}
	out := make([]float32, b.words)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return out, nil
}

// ReadTensor is Read wrapped in a tensor of the buffer's shape.
func (d *Device) ReadTensor(b *Buffer) (*tensor.Tensor, error) {
	data, err := d.Read(b)
	if err != nil {
		return nil, err
	}
	shape := b.Shape
	if tensor.Numel(shape) != len(data) {
		shape = []int{len(data)}
	}
	return tensor.From(data, shape...), nil
}

func (d *Device) readBytes(b *Buffer) ([]byte, error) {
	if b == nil || b.buf == nil {
		return nil, fmt.Errorf("webgpu: read of a nil or released buffer")
	}
	if err := d.Flush(); err != nil {
		return nil, err
	}
	size := byteSize(b.words)
	staging, err := d.dev.CreateBuffer(&wgpu.BufferDescriptor{Size: size, Usage: wgpu.BufferUsageMapRead | wgpu.BufferUsageCopyDst})
	if err != nil {
		return nil, fmt.Errorf("webgpu: read: staging buffer: %w", err)
	}
	defer freeBuffer(staging)
	enc, err := d.dev.CreateCommandEncoder(nil)
	if err != nil {
		return nil, fmt.Errorf("webgpu: read: %w", err)
	}
	defer enc.Release()
	if err := enc.CopyBufferToBuffer(b.buf, 0, staging, 0, size); err != nil {
		return nil, fmt.Errorf("webgpu: read: copy: %w", err)
	}
	cmd, err := enc.Finish(nil)
	if err != nil {
		return nil, fmt.Errorf("webgpu: read: %w", err)
	}
	defer cmd.Release()
	d.queue.Submit(cmd)

	status := wgpu.BufferMapAsyncStatusUnknown
	if err := staging.MapAsync(wgpu.MapModeRead, 0, size, func(s wgpu.BufferMapAsyncStatus) { status = s }); err != nil {
		return nil, fmt.Errorf("webgpu: read: map: %w", err)
	}
	d.dev.Poll(true, nil)
	if status != wgpu.BufferMapAsyncStatusSuccess {
		return nil, fmt.Errorf("webgpu: read: map failed: %v", status)
	}
	raw := append([]byte(nil), staging.GetMappedRange(0, uint(size))...)
	if err := staging.Unmap(); err != nil {
		return nil, fmt.Errorf("webgpu: read: unmap: %w", err)
	}
	return raw, nil
}

func floatBytes(data []float32) []byte {
	raw := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	return raw
}
