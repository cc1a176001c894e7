// In-place softmax over each row of x[rows, cols] of (scale*x + bias), where
// the bias table (when present) repeats every bias_rows rows: attention
// scores of window w, head h, query i sit in row (w*heads + h)*N + i and
// take bias row h*N + i of a [heads, N, N] table.

struct Params {
    rows: u32, cols: u32, scale: f32, bias_rows: u32,
    flags: u32, _p0: u32, _p1: u32, _p2: u32,
}

const HAS_BIAS: u32 = 4u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> bias: array<f32>;
@group(0) @binding(2) var<storage, read_write> x: array<f32>;

fn logit(row: u32, j: u32) -> f32 {
    var v = p.scale * x[row * p.cols + j];
    if ((p.flags & HAS_BIAS) != 0u) {
        v = v + bias[(row % p.bias_rows) * p.cols + j];
    }
    return v;
}

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>) {
    let row = linear_id(wid, nwg, lid.x, 64u);
    if (row >= p.rows) {
        return;
    }
    // (A literal -FLT_MAX start fails in Chrome's compiler: the rounded
    // decimal is out of f32 range. Start from the first logit instead.)
    var mx = logit(row, 0u);
    for (var j = 1u; j < p.cols; j = j + 1u) {
        mx = max(mx, logit(row, j));
    }
    var sum = 0.0;
    for (var j = 0u; j < p.cols; j = j + 1u) {
        sum = sum + exp(logit(row, j) - mx);
    }
    let inv = 1.0 / sum;
    for (var j = 0u; j < p.cols; j = j + 1u) {
        // Every logit is read before this row's first write.
        let e = exp(logit(row, j) - mx) * inv;
        x[row * p.cols + j] = e;
    }
}
