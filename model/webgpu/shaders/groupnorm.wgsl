// GroupNorm of a CHW map: group g is channels [g*cg, (g+1)*cg) over all
// pixels, a contiguous run of cg*hw values. One 256-invocation workgroup
// per group: mean, then centered variance (two passes, like PyTorch), each
// reduced through workgroup memory; then y = xhat * gamma[c] + beta[c].

struct Params {
    groups: u32, cg: u32, hw: u32, eps: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

var<workgroup> partial: array<f32, 256>;

// reduce sums v over the workgroup; every invocation gets the total.
fn reduce(li: u32, v: f32) -> f32 {
    partial[li] = v;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s = s >> 1u) {
        if (li < s) {
            partial[li] = partial[li] + partial[li + s];
        }
        workgroupBarrier();
    }
    let total = partial[0];
    workgroupBarrier();
    return total;
}

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let g = wid.x;
    let n = p.cg * p.hw;
    let o = g * n;
    var s = 0.0;
    for (var i = li; i < n; i = i + 256u) {
        s = s + x[o + i];
    }
    let mean = reduce(li, s) / f32(n);
    var q = 0.0;
    for (var i = li; i < n; i = i + 256u) {
        let d = x[o + i] - mean;
        q = fma(d, d, q);
    }
    let inv = inverseSqrt(reduce(li, q) / f32(n) + p.eps);
    for (var i = li; i < n; i = i + 256u) {
        let c = g * p.cg + i / p.hw;
        y[o + i] = fma((x[o + i] - mean) * inv, gamma[c], beta[c]);
    }
}
