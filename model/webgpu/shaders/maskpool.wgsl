// Mask-guided pooling of a CHW map f [c, hw] under pixel weights a [hw]:
// y[ch] = sum_i f[ch,i] a[i] and y[c + ch] = mean_i f[ch,i]. One
// workgroup per channel, sums reduced through workgroup memory.

struct Params {
    c: u32, hw: u32, _p0: u32, _p1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> f: array<f32>;
@group(0) @binding(2) var<storage, read> a: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

var<workgroup> weighted: array<f32, 256>;
var<workgroup> plain: array<f32, 256>;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let ch = wid.y * nwg.x + wid.x;
    if (ch >= p.c) {
        return;
    }
    let o = ch * p.hw;
    var s = 0.0;
    var m = 0.0;
    for (var i = li; i < p.hw; i = i + 256u) {
        let v = f[o + i];
        s = fma(v, a[i], s);
        m = m + v;
    }
    weighted[li] = s;
    plain[li] = m;
    workgroupBarrier();
    for (var k = 128u; k > 0u; k = k >> 1u) {
        if (li < k) {
            weighted[li] = weighted[li] + weighted[li + k];
            plain[li] = plain[li] + plain[li + k];
        }
        workgroupBarrier();
    }
    if (li == 0u) {
        y[ch] = weighted[0];
        y[p.c + ch] = plain[0] / f32(p.hw);
    }
}
