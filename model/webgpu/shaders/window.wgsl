// Window partition and reverse for windowed attention over tokens [h*w, c].
// Partition (mode 0): dst[nh*nw*ws*ws, c], windows row-major, tokens
// row-major inside a window, zeros where the padded grid runs past the map
// (bottom and right padding). Reverse (mode 1): dst[h*w, c] gathers back
// and crops the padding; dst = window value + beta * dst (fused residual).

struct Params {
    h: u32, w: u32, c: u32, ws: u32,
    nh: u32, nw: u32, mode: u32, beta: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>) {
    let idx = linear_id(wid, nwg, lid.x, 256u);
    let ch = idx % p.c;
    let t = idx / p.c; // token index in dst
    let wt = p.ws * p.ws;
    if (p.mode == 0u) {
        if (t >= p.nh * p.nw * wt) {
            return;
        }
        let win = t / wt;
        let r = t % wt;
        let y = (win / p.nw) * p.ws + r / p.ws;
        let x = (win % p.nw) * p.ws + r % p.ws;
        var v = 0.0;
        if (y < p.h && x < p.w) {
            v = src[(y * p.w + x) * p.c + ch];
        }
        dst[idx] = v;
        return;
    }
    if (t >= p.h * p.w) {
        return;
    }
    let y = t / p.w;
    let x = t % p.w;
    let win = (y / p.ws) * p.nw + x / p.ws;
    let r = (y % p.ws) * p.ws + x % p.ws;
    var v = src[(win * wt + r) * p.c + ch];
    if (p.beta != 0.0) {
        v = v + p.beta * dst[idx];
    }
    dst[idx] = v;
}
