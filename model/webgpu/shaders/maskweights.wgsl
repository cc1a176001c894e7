// Mask-guided attention weights from a soft mask s [n] (one workgroup):
// y[i] = s[i] / (sum(s) + eps), then y[n] = mean(s) and y[n+1] = max(s),
// max taken with 0 as the CPU's does. Sums reduce through workgroup memory.

struct Params {
    n: u32, eps: f32, _p0: u32, _p1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> s: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

var<workgroup> sums: array<f32, 256>;
var<workgroup> peaks: array<f32, 256>;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(local_invocation_index) li: u32) {
    var sum = 0.0;
    var peak = 0.0;
    for (var i = li; i < p.n; i = i + 256u) {
        sum = sum + s[i];
        peak = max(peak, s[i]);
    }
    sums[li] = sum;
    peaks[li] = peak;
    workgroupBarrier();
    for (var k = 128u; k > 0u; k = k >> 1u) {
        if (li < k) {
            sums[li] = sums[li] + sums[li + k];
            peaks[li] = max(peaks[li], peaks[li + k]);
        }
        workgroupBarrier();
    }
    let mass = sums[0];
    let norm = 1.0 / (mass + p.eps);
    for (var i = li; i < p.n; i = i + 256u) {
        y[i] = s[i] * norm;
    }
    if (li == 0u) {
        y[p.n] = mass / f32(p.n);
        y[p.n + 1u] = peaks[0];
    }
}
