// C = act(alpha * op(A) op(B) + bias) + beta * C, strided and batched.
// Batch z splits into (z / inner, z % inner); each operand's start is
// off + outer*stride_outer + inner*stride_inner, so window attention's
// per-(window, head) products read Q, K, V straight out of the qkv rows.

struct Params {
    m: u32, n: u32, k: u32, flags: u32,
    lda: u32, ldb: u32, ldc: u32, inner: u32,
    off_a: u32, off_b: u32, off_c: u32, alpha: f32,
    sa_outer: u32, sa_inner: u32, sb_outer: u32, sb_inner: u32,
    sc_outer: u32, sc_inner: u32, beta: f32, act: u32,
}

// flags
const TRANS_A: u32 = 1u;
const TRANS_B: u32 = 2u;
const BIAS_COL: u32 = 4u;
const BIAS_ROW: u32 = 8u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> mat_a: array<f32>;
@group(0) @binding(2) var<storage, read> mat_b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> mat_c: array<f32>;

fn gemm_m(batch: u32) -> u32 { return p.m; }
fn gemm_n(batch: u32) -> u32 { return p.n; }
fn gemm_k(batch: u32) -> u32 { return p.k; }

fn base(batch: u32, off: u32, s_outer: u32, s_inner: u32) -> u32 {
    return off + (batch / p.inner) * s_outer + (batch % p.inner) * s_inner;
}

fn gemm_load_a(batch: u32, row: u32, kk: u32) -> f32 {
    let o = base(batch, p.off_a, p.sa_outer, p.sa_inner);
    if ((p.flags & TRANS_A) != 0u) {
        return mat_a[o + kk * p.lda + row];
    }
    return mat_a[o + row * p.lda + kk];
}

fn gemm_load_b(batch: u32, kk: u32, col: u32) -> f32 {
    let o = base(batch, p.off_b, p.sb_outer, p.sb_inner);
    if ((p.flags & TRANS_B) != 0u) {
        return mat_b[o + col * p.ldb + kk];
    }
    return mat_b[o + kk * p.ldb + col];
}

fn gemm_store(batch: u32, row: u32, col: u32, acc: f32) {
    var v = p.alpha * acc;
    if ((p.flags & BIAS_COL) != 0u) {
        v = v + bias[col];
    } else if ((p.flags & BIAS_ROW) != 0u) {
        v = v + bias[row];
    }
    v = activate(v, p.act);
    let idx = base(batch, p.off_c, p.sc_outer, p.sc_inner) + row * p.ldc + col;
    if (p.beta != 0.0) {
        v = v + p.beta * mat_c[idx];
    }
    mat_c[idx] = v;
}
