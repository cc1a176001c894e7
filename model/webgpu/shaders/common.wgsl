// Shared helpers, prepended to every kernel's source.

const ACT_NONE: u32 = 0u;
const ACT_GELU: u32 = 1u;
const ACT_SIGMOID: u32 = 2u;
const ACT_RELU: u32 = 3u;
const ACT_GELU_TANH: u32 = 4u;

// erfc with a fractional error below 1.2e-7 over the whole real line
// (Chebyshev fit of erfc(z) = t*exp(-z^2 + P(t)), t = 1/(1+z/2)). WGSL has
// no erf; computing erfc directly keeps GELU's tail accurate for x << 0.
fn erfc_approx(x: f32) -> f32 {
    let z = abs(x);
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
        t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 +
        t * (-0.82215223 + t * 0.17087277))))))));
    let r = t * exp(-z * z + poly);
    return select(2.0 - r, r, x >= 0.0);
}

// GELU, erf form (PyTorch's default): x * Phi(x) = x/2 * erfc(-x/sqrt2).
fn gelu(x: f32) -> f32 {
    return 0.5 * x * erfc_approx(-0.70710678118654752 * x);
}

// GELU, tanh form (PyTorch approximate="tanh"):
// x * sigmoid(2*sqrt(2/pi)*(x + 0.044715x^3)).
fn gelu_tanh(x: f32) -> f32 {
    return x / (1.0 + exp(-1.5957691216057308 * (x + 0.044715 * x * x * x)));
}

fn sigmoid(x: f32) -> f32 {
    return 1.0 / (1.0 + exp(-x));
}

fn activate(x: f32, act: u32) -> f32 {
    switch act {
        case 1u: { return gelu(x); }
        case 2u: { return sigmoid(x); }
        case 3u: { return max(x, 0.0); }
        case 4u: { return gelu_tanh(x); }
        default: { return x; }
    }
}

// linear_id recovers a 1-D invocation index from the 2-D grid that the Go
// side uses when a dimension would exceed 65535 workgroups.
fn linear_id(wid: vec3<u32>, nwg: vec3<u32>, lx: u32, wg: u32) -> u32 {
    return (wid.y * nwg.x + wid.x) * wg + lx;
}
