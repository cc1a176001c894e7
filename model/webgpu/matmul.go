package webgpu

import "fmt"

var (
	matmulSpec   = &kernelSpec{name: "matmul", files: []string{"common.wgsl", "matmul.wgsl", "gemm_tiled.wgsl"}, writes: []bool{false, false, false, true}}
	matmulQ8Spec = &kernelSpec{name: "matmul_q8", files: []string{"common.wgsl", "matmul_q8.wgsl", "gemm_tiled.wgsl"}, writes: []bool{false, false, false, false, true}}
)

// gemm tile sizes (TILE_M, TILE_N in gemm_tiled.wgsl).
const tileM, tileN = 64, 64

// MatMul describes C = alpha*op(A)*op(B), op(A) M x K, op(B) K x N, over
// Batch strided products: product z uses (z / Inner, z % Inner) as (outer,
// inner) indices and starts each operand at Off + outer*Stride[0] +
// inner*Stride[1]. Zero leading dimensions mean dense rows; Alpha 0 means 1.
type MatMul struct {
	M, N, K          int
	TransA, TransB   bool
	LdA, LdB, LdC    int
	OffA, OffB, OffC int
	Alpha            float32
	Batch, Inner     int
	StrideA          [2]int
	StrideB          [2]int
	StrideC          [2]int
	// BiasPerRow adds Epilogue.Bias[row] instead of Bias[col].
	BiasPerRow bool
}

// extent is the number of elements a strided operand reaches.
func extent(off, rows, cols, ld int, strides [2]int, batch, inner int) int {
	if rows == 0 || cols == 0 {
		return 0
	}
	outer := (batch - 1) / inner
	in := min(batch-1, inner-1)
	return off + outer*strides[0] + in*strides[1] + (rows-1)*ld + cols
}

// MatMul records the batched, strided matrix product mm with epilogue ep.
func (d *Device) MatMul(mm MatMul, a, b, c *Buffer, ep Epilogue) error {
	const op = "matmul"
	if mm.M < 0 || mm.N < 0 || mm.K < 0 {
		return fmt.Errorf("webgpu: %s: negative size %dx%dx%d", op, mm.M, mm.N, mm.K)
	}
	if mm.Batch == 0 {
		mm.Batch = 1
	}
	if mm.Inner == 0 {
		mm.Inner = 1
	}
	if mm.Alpha == 0 {
		mm.Alpha = 1
	}
	ar, ac := mm.M, mm.K
	if mm.TransA {
		ar, ac = mm.K, mm.M
	}
	br, bc := mm.K, mm.N
	if mm.TransB {
		br, bc = mm.N, mm.K
	}
	if mm.LdA == 0 {
		mm.LdA = ac
	}
	if mm.LdB == 0 {
		mm.LdB = bc
	}
	if mm.LdC == 0 {
		mm.LdC = mm.N
	}
	if mm.LdA < ac || mm.LdB < bc || mm.LdC < mm.N || mm.Batch < 0 || mm.Inner < 0 || mm.OffA < 0 || mm.OffB < 0 || mm.OffC < 0 {
		return fmt.Errorf("webgpu: %s: bad strides or offsets in %+v", op, mm)
	}
	for _, s := range [][2]int{mm.StrideA, mm.StrideB, mm.StrideC} {
		if s[0] < 0 || s[1] < 0 {
			return fmt.Errorf("webgpu: %s: negative batch stride in %+v", op, mm)
		}
	}
	needA := extent(mm.OffA, ar, ac, mm.LdA, mm.StrideA, mm.Batch, mm.Inner)
	needB := extent(mm.OffB, br, bc, mm.LdB, mm.StrideB, mm.Batch, mm.Inner)
	needC := extent(mm.OffC, mm.M, mm.N, mm.LdC, mm.StrideC, mm.Batch, mm.Inner)
	if mm.K == 0 {
		needA, needB = 0, 0
	}
	for _, n := range []int{needA, needB, needC} {
		if err := fits32(op, n); err != nil {
			return err
		}
	}
	if err := need(op, "A", a, needA); err != nil {
		return err
	}
	if err := need(op, "B", b, needB); err != nil {
		return err
	}
	if err := need(op, "C", c, needC); err != nil {
		return err
	}
	var flags uint32
	if mm.TransA {
		flags |= 1
	}
	if mm.TransB {
		flags |= 2
	}
	if ep.Bias != nil {
		nb := mm.N
		flags |= 4
		if mm.BiasPerRow {
			nb = mm.M
			flags = flags&^4 | 8
		}
		if err := need(op, "bias", ep.Bias, nb); err != nil {
			return err
		}
	}
	params := []uint32{
		uint32(mm.M), uint32(mm.N), uint32(mm.K), flags,
		uint32(mm.LdA), uint32(mm.LdB), uint32(mm.LdC), uint32(mm.Inner),
		uint32(mm.OffA), uint32(mm.OffB), uint32(mm.OffC), f32bits(mm.Alpha),
		uint32(mm.StrideA[0]), uint32(mm.StrideA[1]), uint32(mm.StrideB[0]), uint32(mm.StrideB[1]),
		uint32(mm.StrideC[0]), uint32(mm.StrideC[1]), f32bits(ep.Beta), uint32(ep.Act),
	}
	groups := [3]uint32{uint32(ceilDiv(mm.N, tileN)), uint32(ceilDiv(mm.M, tileM)), uint32(mm.Batch)}
	return d.run(matmulSpec, params, groups, a, b, ep.Bias, c)
}

// Gemm mirrors cpu.Gemm: C = alpha*op(A)*op(B) + beta*C on row-major
// matrices with row strides lda, ldb, ldc.
func (d *Device) Gemm(transA, transB bool, m, n, k int, alpha float32, a *Buffer, lda int, b *Buffer, ldb int, beta float32, c *Buffer, ldc int) error {
	if alpha == 0 {
		// MatMul reads Alpha 0 as 1; a zero alpha leaves beta*C.
		return d.MatMul(MatMul{M: m, N: n, K: 0, TransA: transA, TransB: transB, LdA: lda, LdB: ldb, LdC: ldc, Alpha: 1}, a, b, c, Epilogue{Beta: beta})
	}
	return d.MatMul(MatMul{M: m, N: n, K: k, TransA: transA, TransB: transB, LdA: lda, LdB: ldb, LdC: ldc, Alpha: alpha}, a, b, c, Epilogue{Beta: beta})
}

// Linear is nn.Linear on token rows: dst[rows,out] = x[rows,in] * w[out,in]^T
// followed by the epilogue (bias [out], activation, residual).
func (d *Device) Linear(dst, x, w *Buffer, rows, in, out int, ep Epilogue) error {
	if err := positive("linear", rows, in, out); err != nil {
		return err
	}
	return d.MatMul(MatMul{M: rows, N: out, K: in, TransB: true}, x, w, dst, ep)
}

// QWeight is an int8 weight matrix [Out, In] with one float scale per
// output row: w[o][i] ~ Scale[o] * Q[o][i]. Rows are packed 4 values per
// word, padded to a whole word.
type QWeight struct {
	Q       *Buffer
	Scale   *Buffer
	Out, In int
}

// UploadQWeight packs and uploads a row-major int8 matrix q [out,in] and
// its per-row scales.
func (d *Device) UploadQWeight(q []int8, scale []float32, out, in int) (*QWeight, error) {
	if len(scale) != out {
		return nil, fmt.Errorf("webgpu: int8 weight: %d scales for %d rows", len(scale), out)
	}
	packed, err := PackInt8Rows(q, out, in)
	if err != nil {
		return nil, err
	}
	qb, err := d.UploadInt8(packed)
	if err != nil {
		return nil, err
	}
	sb, err := d.UploadFloats(scale)
	if err != nil {
		qb.Release()
		return nil, err
	}
	return &QWeight{Q: qb, Scale: sb, Out: out, In: in}, nil
}

// Release frees both buffers.
func (w *QWeight) Release() {
	w.Q.Release()
	w.Scale.Release()
}

// LinearQ8 is Linear with int8 weights dequantized in the shader:
// dst[rows,out] = x[rows,in] * (Scale * Q)^T, then the epilogue.
func (d *Device) LinearQ8(dst, x *Buffer, w *QWeight, rows int, ep Epilogue) error {
	const op = "linear_q8"
	if w == nil {
		return fmt.Errorf("webgpu: %s: nil weight", op)
	}
	if err := positive(op, rows, w.In, w.Out); err != nil {
		return err
	}
	kw := ceilDiv(w.In, 4)
	if err := fits32(op, rows*max(w.In, w.Out)); err != nil {
		return err
	}
	if err := need(op, "x", x, rows*w.In); err != nil {
		return err
	}
	if err := need(op, "weight", w.Q, w.Out*kw); err != nil {
		return err
	}
	if err := need(op, "scale", w.Scale, w.Out); err != nil {
		return err
	}
	if err := need(op, "dst", dst, rows*w.Out); err != nil {
		return err
	}
	var flags uint32
	if ep.Bias != nil {
		flags |= 4
		if err := need(op, "bias", ep.Bias, w.Out); err != nil {
			return err
		}
	}
	params := []uint32{
		uint32(rows), uint32(w.Out), uint32(w.In), flags,
		uint32(w.In), uint32(kw), uint32(w.Out), uint32(ep.Act),
		f32bits(ep.Beta), 0, 0, 0,
	}
	groups := [3]uint32{uint32(ceilDiv(w.Out, tileN)), uint32(ceilDiv(rows, tileM)), 1}
	return d.run(matmulQ8Spec, params, groups, x, w.Q, w.Scale, ep.Bias, dst)
}
