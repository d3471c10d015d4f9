// Perturbation heatmap over its image, nearest-neighbour, filling the viewport.
//
// The GPU twin of src/colormap.rs (the reference): same formulas, same constants. The test
// tests/heatmap.rs checks that both give the same bytes to within 1/255.

struct Params {
    // 0: max |δ| over channels, 1: ‖δ‖₂, 2: one channel, signed.
    mode: u32,
    // The channel mode 2 reads (0 = R, 1 = G, 2 = B).
    channel: u32,
    // 0: viridis, 1: magma, 2: diverging.
    colormap: u32,
    // 1 when the target format is sRGB: the hardware then encodes what we write, so we hand it
    // linear values.
    linear_output: u32,
    amplification: f32,
    eps: f32,
    opacity: f32,
    _pad: u32,
};

@group(0) @binding(0) var<uniform> params: Params;
// δ in pixel units in rgb (Rgba32Float), one texel per model pixel.
@group(0) @binding(1) var delta_tex: texture_2d<f32>;
// The image (Rgba8Unorm), same size.
@group(0) @binding(2) var image_tex: texture_2d<f32>;

struct VertexOut {
    @builtin(position) position: vec4<f32>,
    // (0, 0) at the top-left of the viewport, (1, 1) at the bottom-right.
    @location(0) uv: vec2<f32>,
};

// A triangle strip of four vertices covering the viewport; no vertex buffer.
@vertex
fn vs_main(@builtin(vertex_index) index: u32) -> VertexOut {
    let uv = vec2<f32>(f32(index & 1u), f32(index >> 1u));
    var out: VertexOut;
    out.position = vec4<f32>(uv.x * 2.0 - 1.0, 1.0 - uv.y * 2.0, 0.0, 1.0);
    out.uv = uv;
    return out;
}

// Matches colormap::MIN_EPS.
const MIN_EPS: f32 = 1e-12;

fn heatmap_t(delta: vec3<f32>) -> f32 {
    let gain = params.amplification / max(params.eps, MIN_EPS);
    var t: f32;
    switch params.mode {
        case 0u: {
            let a = abs(delta);
            t = gain * max(max(a.r, a.g), a.b);
        }
        case 1u: {
            t = gain * sqrt(dot(delta, delta)) / sqrt(3.0);
        }
        default: {
            t = 0.5 + 0.5 * gain * delta[min(params.channel, 2u)];
        }
    }
    return clamp(t, 0.0, 1.0);
}

// Matt Zucker's 6th-order fit of matplotlib's viridis (shadertoy WlfXRN, CC0).
fn viridis(t: f32) -> vec3<f32> {
    let c0 = vec3<f32>(0.2777273272234177, 0.005407344544966578, 0.3340998053353061);
    let c1 = vec3<f32>(0.1050930431085774, 1.404613529898575, 1.384590162594685);
    let c2 = vec3<f32>(-0.3308618287255563, 0.214847559468213, 0.09509516302823659);
    let c3 = vec3<f32>(-4.634230498983486, -5.799100973351585, -19.33244095627987);
    let c4 = vec3<f32>(6.228269936347081, 14.17993336680509, 56.69055260068105);
    let c5 = vec3<f32>(4.776384997670288, -13.74514537774601, -65.35303263337234);
    let c6 = vec3<f32>(-5.435455855934631, 4.645852612178535, 26.3124352495832);
    return c0 + t * (c1 + t * (c2 + t * (c3 + t * (c4 + t * (c5 + t * c6)))));
}

// Matt Zucker's 6th-order fit of matplotlib's magma (shadertoy WlfXRN, CC0).
fn magma(t: f32) -> vec3<f32> {
    let c0 = vec3<f32>(-0.002136485053939582, -0.000749655052795221, -0.005386127855323933);
    let c1 = vec3<f32>(0.2516605407371642, 0.6775232436837668, 2.494026599312351);
    let c2 = vec3<f32>(8.353717279216625, -3.577719514958484, 0.3144679030132573);
    let c3 = vec3<f32>(-27.66873308576866, 14.26473078096533, -13.64921318813922);
    let c4 = vec3<f32>(52.17613981234068, -27.94360607168351, 12.94416944238394);
    let c5 = vec3<f32>(-50.76852536473588, 29.04658282127291, 4.23415299384598);
    let c6 = vec3<f32>(18.65570506591883, -11.48977351997711, -5.601961508734096);
    return c0 + t * (c1 + t * (c2 + t * (c3 + t * (c4 + t * (c5 + t * c6)))));
}

// ColorBrewer RdBu reversed (blue for negative), piecewise linear, white at t = 0.5.
fn diverging(t: f32) -> vec3<f32> {
    var stops = array<vec3<f32>, 9>(
        vec3<f32>(33.0, 102.0, 172.0),  // #2166ac
        vec3<f32>(67.0, 147.0, 195.0),  // #4393c3
        vec3<f32>(146.0, 197.0, 222.0), // #92c5de
        vec3<f32>(209.0, 229.0, 240.0), // #d1e5f0
        vec3<f32>(247.0, 247.0, 247.0), // #f7f7f7
        vec3<f32>(253.0, 219.0, 199.0), // #fddbc7
        vec3<f32>(244.0, 165.0, 130.0), // #f4a582
        vec3<f32>(214.0, 96.0, 77.0),   // #d6604d
        vec3<f32>(178.0, 24.0, 43.0),   // #b2182b
    );
    let s = t * 8.0;
    let i = min(u32(floor(s)), 7u);
    let f = s - f32(i);
    return mix(stops[i] / 255.0, stops[i + 1u] / 255.0, f);
}

fn colormap(t: f32) -> vec3<f32> {
    var rgb: vec3<f32>;
    switch params.colormap {
        case 0u: {
            rgb = viridis(t);
        }
        case 1u: {
            rgb = magma(t);
        }
        default: {
            rgb = diverging(t);
        }
    }
    return clamp(rgb, vec3<f32>(0.0), vec3<f32>(1.0));
}

fn srgb_to_linear(c: vec3<f32>) -> vec3<f32> {
    let low = c / 12.92;
    let high = pow((c + 0.055) / 1.055, vec3<f32>(2.4));
    return select(high, low, c <= vec3<f32>(0.04045));
}

@fragment
fn fs_main(in: VertexOut) -> @location(0) vec4<f32> {
    let size = textureDimensions(delta_tex);
    // The model pixel under this fragment: each one covers an equal block of the viewport.
    let texel = min(vec2<u32>(max(in.uv, vec2<f32>(0.0)) * vec2<f32>(size)), size - 1u);
    let delta = textureLoad(delta_tex, texel, 0).rgb;
    let image = textureLoad(image_tex, texel, 0).rgb;
    var rgb = mix(image, colormap(heatmap_t(delta)), params.opacity);
    if params.linear_output != 0u {
        rgb = srgb_to_linear(clamp(rgb, vec3<f32>(0.0), vec3<f32>(1.0)));
    }
    return vec4<f32>(rgb, 1.0);
}
