// Tiled GEMM body shared by matmul, matmul_q8 and conv2d (implicit GEMM).
// The including kernel defines gemm_m/n/k(batch), gemm_load_a(batch, row,
// kk), gemm_load_b(batch, kk, col) and gemm_store(batch, row, col, acc).
// A 16x16 workgroup computes a 64x64 block of C; each invocation keeps a
// 4x4 register tile (four vec4 accumulators). K advances in steps of 16
// through workgroup memory. The inner loop is written out with vectors so
// that no compiler has to keep the register tile in indexed memory.

const TILE_M: u32 = 64u;
const TILE_N: u32 = 64u;
const TILE_K: u32 = 16u;

// tile_a[k*16 + r/4][r%4] = A[row0 + r][k0 + k]; tile_b likewise for B's
// columns: each invocation reads its 4 rows and 4 columns as one vec4.
var<workgroup> tile_a: array<vec4<f32>, 256>;
var<workgroup> tile_b: array<vec4<f32>, 256>;

@compute @workgroup_size(16, 16, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let batch = wid.z;
    let m = gemm_m(batch);
    let n = gemm_n(batch);
    let k = gemm_k(batch);
    let row0 = wid.y * TILE_M;
    let col0 = wid.x * TILE_N;

    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    for (var k0 = 0u; k0 < k; k0 = k0 + TILE_K) {
        // Each of the 256 invocations loads 4 values of each tile;
        // consecutive invocations walk k in A and columns in B.
        for (var i = 0u; i < 4u; i = i + 1u) {
            let idx = li + 256u * i;
            let ar = idx / TILE_K;
            let ak = idx % TILE_K;
            var va = 0.0;
            if (row0 + ar < m && k0 + ak < k) {
                va = gemm_load_a(batch, row0 + ar, k0 + ak);
            }
            tile_a[ak * 16u + ar / 4u][ar % 4u] = va;
            let bk = idx / TILE_N;
            let bc = idx % TILE_N;
            var vb = 0.0;
            if (k0 + bk < k && col0 + bc < n) {
                vb = gemm_load_b(batch, k0 + bk, col0 + bc);
            }
            tile_b[bk * 16u + bc / 4u][bc % 4u] = vb;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < TILE_K; kk = kk + 1u) {
            let a = tile_a[kk * 16u + lid.y];
            let b = tile_b[kk * 16u + lid.x];
            acc0 = fma(vec4<f32>(a.x), b, acc0);
            acc1 = fma(vec4<f32>(a.y), b, acc1);
            acc2 = fma(vec4<f32>(a.z), b, acc2);
            acc3 = fma(vec4<f32>(a.w), b, acc3);
        }
        workgroupBarrier();
    }
    let row = row0 + lid.y * 4u;
    let col = col0 + lid.x * 4u;
    store4(batch, row, col, m, n, acc0);
    store4(batch, row + 1u, col, m, n, acc1);
    store4(batch, row + 2u, col, m, n, acc2);
    store4(batch, row + 3u, col, m, n, acc3);
}

fn store4(batch: u32, row: u32, col: u32, m: u32, n: u32, v: vec4<f32>) {
    if (row >= m) {
        return;
    }
    for (var j = 0u; j < 4u; j = j + 1u) {
        if (col + j < n) {
            gemm_store(batch, row, col + j, v[j]);
        }
    }
}
