// dst[cols, rows] = transpose(src[rows, cols]) + beta * dst: switches
// between CHW maps ([C, H*W]) and token rows ([H*W, C]).

struct Params {
    rows: u32, cols: u32, beta: f32, _p0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

var<workgroup> tile: array<f32, 272>; // 16 x 17: the pad avoids bank conflicts

@compute @workgroup_size(16, 16, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    // Read a 16x16 block of src row-major, write it back transposed so
    // both the reads and the writes walk memory contiguously.
    let r = wid.y * 16u + lid.y;
    let c = wid.x * 16u + lid.x;
    if (r < p.rows && c < p.cols) {
        tile[lid.y * 17u + lid.x] = src[r * p.cols + c];
    }
    workgroupBarrier();
    let orow = wid.x * 16u + lid.y; // a column of src
    let ocol = wid.y * 16u + lid.x; // a row of src
    if (orow < p.cols && ocol < p.rows) {
        let idx = orow * p.rows + ocol;
        var v = tile[lid.x * 17u + lid.y];
        if (p.beta != 0.0) {
            v = v + p.beta * dst[idx];
        }
        dst[idx] = v;
    }
}
