// Class evidence (heads.ClassEvidence): for features f [c, hw], pooling
// weights a [hw] (the first hw values of the attention buffer) and host
// weights w [classes, 2c], y[k*hw + i] = a[i] * sum_ch f[ch,i] w[k,ch] +
// sum_ch f[ch,i] w[k,c+ch]. One invocation per (cell, class); reads of f
// are coalesced across neighbouring cells.

struct Params {
    c: u32, hw: u32, classes: u32, _p0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> f: array<f32>;
@group(0) @binding(2) var<storage, read> a: array<f32>;
@group(0) @binding(3) var<storage, read> w: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>) {
    let idx = linear_id(wid, nwg, lid.x, 256u);
    if (idx >= p.hw * p.classes) {
        return;
    }
    let k = idx / p.hw;
    let i = idx % p.hw;
    let o = k * 2u * p.c;
    var pooled = 0.0;
    var plain = 0.0;
    for (var ch = 0u; ch < p.c; ch = ch + 1u) {
        let v = f[ch * p.hw + i];
        pooled = fma(v, w[o + ch], pooled);
        plain = fma(v, w[o + p.c + ch], plain);
    }
    y[idx] = a[i] * pooled + plain;
}
