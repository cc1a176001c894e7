// Layer norm of each row of a strided [rows, cols] view: element j of row
// i is x[i*row_stride + j*col_stride]. Tokens [N,C] use (C, 1); CHW maps
// normalized over channels (LayerNorm2d) use (1, H*W). One invocation per
// row, two passes (mean, then centered variance) like PyTorch.

struct Params {
    rows: u32, cols: u32, row_stride: u32, col_stride: u32,
    eps: f32, flags: u32, _p0: u32, _p1: u32,
}

const AFFINE: u32 = 1u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>) {
    let row = linear_id(wid, nwg, lid.x, 64u);
    if (row >= p.rows) {
        return;
    }
    let o = row * p.row_stride;
    var sum = 0.0;
    for (var j = 0u; j < p.cols; j = j + 1u) {
        sum = sum + x[o + j * p.col_stride];
    }
    let mean = sum / f32(p.cols);
    var sq = 0.0;
    for (var j = 0u; j < p.cols; j = j + 1u) {
        let d = x[o + j * p.col_stride] - mean;
        sq = fma(d, d, sq);
    }
    let inv = inverseSqrt(sq / f32(p.cols) + p.eps);
    for (var j = 0u; j < p.cols; j = j + 1u) {
        let i = o + j * p.col_stride;
        var v = (x[i] - mean) * inv;
        if ((p.flags & AFFINE) != 0u) {
            v = fma(v, gamma[j], beta[j]);
        }
        y[i] = v;
    }
}
