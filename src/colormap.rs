//! Perturbation heatmaps: colormaps, how a perturbation becomes a colormap coordinate, and the
//! CPU rendering of a heatmap over its image.
//!
//! This is the reference implementation: `shaders/heatmap.wgsl` repeats the same formulas and
//! constants for the live view, the GPU test checks the two agree to 1/255, and PNG export uses
//! this code so that exported pictures match the screen.

use serde::{Deserialize, Serialize};

/// A colour scale from t = 0 to t = 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Colormap {
    /// Perceptually uniform, dark blue to yellow: for unsigned magnitudes.
    Viridis,
    /// Perceptually uniform, black to pale yellow: for unsigned magnitudes.
    Magma,
    /// Blue through white to red, white at t = 0.5: for signed values.
    Diverging,
}

impl Colormap {
    pub const ALL: [Colormap; 3] = [Colormap::Viridis, Colormap::Magma, Colormap::Diverging];

    pub fn name(self) -> &'static str {
        match self {
            Colormap::Viridis => "viridis",
            Colormap::Magma => "magma",
            Colormap::Diverging => "diverging (RdBu)",
        }
    }
}

/// Which quantity of the per-pixel perturbation δ = (δR, δG, δB) is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum HeatmapMode {
    /// max(|δR|, |δG|, |δB|): the L∞ budget use of each pixel.
    MaxAbs,
    /// ‖δ‖₂ over the three channels.
    L2,
    /// One channel (0 = R, 1 = G, 2 = B; larger values read B), signed.
    Channel(u8),
}

impl HeatmapMode {
    pub const ALL: [HeatmapMode; 5] = [
        HeatmapMode::MaxAbs,
        HeatmapMode::L2,
        HeatmapMode::Channel(0),
        HeatmapMode::Channel(1),
        HeatmapMode::Channel(2),
    ];

    pub fn name(self) -> &'static str {
        match self {
            HeatmapMode::MaxAbs => "max |δ| over channels",
            HeatmapMode::L2 => "L2 of δ per pixel",
            HeatmapMode::Channel(0) => "δ red (signed)",
            HeatmapMode::Channel(1) => "δ green (signed)",
            HeatmapMode::Channel(_) => "δ blue (signed)",
        }
    }

    /// What the colours mean, for the colour bar and tooltips.
    pub fn meaning(self) -> &'static str {
        match self {
            HeatmapMode::MaxAbs => "|δ|, largest over the colour channels",
            HeatmapMode::L2 => "L2 norm of δ per pixel, over its channels",
            HeatmapMode::Channel(0) => {
                "δ of the red channel: below the middle darker, above brighter"
            }
            HeatmapMode::Channel(1) => {
                "δ of the green channel: below the middle darker, above brighter"
            }
            HeatmapMode::Channel(_) => {
                "δ of the blue channel: below the middle darker, above brighter"
            }
        }
    }

    /// Signed modes map δ = 0 to the middle of the colormap, unsigned ones to its start.
    pub fn is_signed(self) -> bool {
        matches!(self, HeatmapMode::Channel(_))
    }
}

/// Everything that decides how a perturbation is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct HeatmapParams {
    pub mode: HeatmapMode,
    pub colormap: Colormap,
    /// Multiplies δ before it is mapped, so that small perturbations become visible.
    pub amplification: f32,
    /// The attack budget in pixel units ([0, 1], e.g. 8/255): |δ| = ε/amplification saturates.
    pub eps: f32,
    /// 0 shows only the image, 1 only the heatmap.
    pub opacity: f32,
}

impl Default for HeatmapParams {
    fn default() -> Self {
        // One channel, signed: an L∞ attack sets almost every pixel to ±ε, so any magnitude
        // map is one flat colour; the signs show where and how the attack pushed.
        Self {
            mode: HeatmapMode::Channel(0),
            colormap: Colormap::Diverging,
            amplification: 1.0,
            eps: 8.0 / 255.0,
            opacity: 0.8,
        }
    }
}

/// Below this ε is treated as this value, so that ε = 0 gives a saturated map rather than NaN.
/// The shader uses the same floor.
pub const MIN_EPS: f32 = 1e-12;

#[allow(
    clippy::excessive_precision,
    reason = "the published constants, verbatim, so they can be compared with heatmap.wgsl"
)]
mod fits {
    /// Matt Zucker's 6th-order fit of matplotlib's viridis (shadertoy WlfXRN, CC0), c0..c6.
    pub const VIRIDIS: [[f32; 3]; 7] = [
        [0.2777273272234177, 0.005407344544966578, 0.3340998053353061],
        [0.1050930431085774, 1.404613529898575, 1.384590162594685],
        [-0.3308618287255563, 0.214847559468213, 0.09509516302823659],
        [-4.634230498983486, -5.799100973351585, -19.33244095627987],
        [6.228269936347081, 14.17993336680509, 56.69055260068105],
        [4.776384997670288, -13.74514537774601, -65.35303263337234],
        [-5.435455855934631, 4.645852612178535, 26.3124352495832],
    ];

    /// Matt Zucker's 6th-order fit of matplotlib's magma (shadertoy WlfXRN, CC0), c0..c6.
    pub const MAGMA: [[f32; 3]; 7] = [
        [
            -0.002136485053939582,
            -0.000749655052795221,
            -0.005386127855323933,
        ],
        [0.2516605407371642, 0.6775232436837668, 2.494026599312351],
        [8.353717279216625, -3.577719514958484, 0.3144679030132573],
        [-27.66873308576866, 14.26473078096533, -13.64921318813922],
        [52.17613981234068, -27.94360607168351, 12.94416944238394],
        [-50.76852536473588, 29.04658282127291, 4.23415299384598],
        [18.65570506591883, -11.48977351997711, -5.601961508734096],
    ];
}

/// ColorBrewer RdBu, reversed so that negative values are blue, as 8-bit sRGB.
const RDBU_REVERSED: [[u8; 3]; 9] = [
    [0x21, 0x66, 0xac],
    [0x43, 0x93, 0xc3],
    [0x92, 0xc5, 0xde],
    [0xd1, 0xe5, 0xf0],
    [0xf7, 0xf7, 0xf7],
    [0xfd, 0xdb, 0xc7],
    [0xf4, 0xa5, 0x82],
    [0xd6, 0x60, 0x4d],
    [0xb2, 0x18, 0x2b],
];

/// WGSL's `mix`, written the same way so that endpoints are exact on both sides.
fn mix(a: f32, b: f32, t: f32) -> f32 {
    a * (1.0 - t) + b * t
}

/// The colour at `t` (clamped to [0, 1]) as sRGB-encoded display values in [0, 1].
pub fn colormap_rgb(c: Colormap, t: f32) -> [f32; 3] {
    let t = t.clamp(0.0, 1.0);
    let rgb = match c {
        Colormap::Viridis => horner(&fits::VIRIDIS, t),
        Colormap::Magma => horner(&fits::MAGMA, t),
        Colormap::Diverging => {
            let s = t * 8.0;
            let i = (s.floor() as usize).min(7);
            let f = s - i as f32;
            let (a, b) = (RDBU_REVERSED[i], RDBU_REVERSED[i + 1]);
            std::array::from_fn(|k| mix(f32::from(a[k]) / 255.0, f32::from(b[k]) / 255.0, f))
        }
    };
    rgb.map(|v| v.clamp(0.0, 1.0))
}

fn horner(coefficients: &[[f32; 3]; 7], t: f32) -> [f32; 3] {
    std::array::from_fn(|k| coefficients.iter().rev().fold(0.0, |acc, c| c[k] + t * acc))
}

/// Where a pixel's perturbation `delta` (pixel units) falls on the colormap, in [0, 1].
pub fn heatmap_t(delta: [f32; 3], p: &HeatmapParams) -> f32 {
    let gain = p.amplification / p.eps.max(MIN_EPS);
    let t = match p.mode {
        HeatmapMode::MaxAbs => gain * delta.iter().fold(0.0f32, |m, d| m.max(d.abs())),
        HeatmapMode::L2 => {
            let norm = delta.iter().map(|d| d * d).sum::<f32>().sqrt();
            gain * norm / 3f32.sqrt()
        }
        HeatmapMode::Channel(c) => 0.5 + 0.5 * gain * delta[usize::from(c.min(2))],
    };
    t.clamp(0.0, 1.0)
}

/// The values at the two ends of the colorbar, in /255 units (what the user reads ε in).
pub fn colorbar_range(p: &HeatmapParams) -> (f32, f32) {
    let mut top = 255.0 * p.eps.max(MIN_EPS) / p.amplification;
    if p.mode == HeatmapMode::L2 {
        // The L2 mode reaches the top of the map at ‖δ‖₂ = √3·ε/a (every channel at ε).
        top *= 3f32.sqrt();
    }
    if p.mode.is_signed() {
        (-top, top)
    } else {
        (0.0, top)
    }
}

/// Renders the heatmap over its image as RGBA8, `(width·scale) × (height·scale)`, each model
/// pixel a `scale × scale` block.
///
/// `delta` (pixel units) and `image` are planar `[3, height, width]`. Each pixel is
/// `mix(image/255, colormap(t), opacity)`, rounded to 8 bits, alpha 255. Panics when a slice's
/// length is not `3·width·height`.
pub fn render_heatmap(
    delta: &[f32],
    image: &[u8],
    width: usize,
    height: usize,
    scale: usize,
    p: &HeatmapParams,
) -> Vec<u8> {
    let plane = width * height;
    assert_eq!(delta.len(), 3 * plane, "delta must be planar [3, H, W]");
    assert_eq!(image.len(), 3 * plane, "image must be planar [3, H, W]");
    let out_width = width * scale;
    let mut out = vec![0u8; out_width * height * scale * 4];
    for y in 0..height {
        for x in 0..width {
            let i = y * width + x;
            let d = [delta[i], delta[plane + i], delta[2 * plane + i]];
            let heat = colormap_rgb(p.colormap, heatmap_t(d, p));
            let mut rgba = [255u8; 4];
            for k in 0..3 {
                let v = mix(f32::from(image[k * plane + i]) / 255.0, heat[k], p.opacity);
                rgba[k] = to_u8(v);
            }
            for row in y * scale..(y + 1) * scale {
                let start = (row * out_width + x * scale) * 4;
                for px in out[start..start + scale * 4].chunks_exact_mut(4) {
                    px.copy_from_slice(&rgba);
                }
            }
        }
    }
    out
}

/// A horizontal colorbar as RGBA8, t = 0 in the leftmost column and t = 1 in the rightmost.
pub fn colorbar(c: Colormap, width: usize, height: usize) -> Vec<u8> {
    let row: Vec<u8> = (0..width)
        .flat_map(|x| {
            let t = x as f32 / width.saturating_sub(1).max(1) as f32;
            let [r, g, b] = colormap_rgb(c, t).map(to_u8);
            [r, g, b, 255]
        })
        .collect();
    row.repeat(height)
}

/// [0, 1] → 0..=255, rounding to nearest as a GPU's unorm conversion does.
fn to_u8(v: f32) -> u8 {
    (v.clamp(0.0, 1.0) * 255.0).round() as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(rgb: u32) -> [u8; 3] {
        [(rgb >> 16) as u8, (rgb >> 8) as u8, rgb as u8]
    }

    fn assert_close(c: Colormap, t: f32, expected: u32, tolerance: u8) {
        let got = colormap_rgb(c, t).map(to_u8);
        let want = hex(expected);
        for k in 0..3 {
            assert!(
                got[k].abs_diff(want[k]) <= tolerance,
                "{} at {t}: got {got:?}, matplotlib {want:?}",
                c.name()
            );
        }
    }

    /// The fits stray from matplotlib by up to 5/255 (magma's blue at t = 1: 186 for 191);
    /// wrong constants or a wrong evaluation order miss by far more.
    #[test]
    fn fits_match_matplotlib_anchors() {
        for (c, t, rgb) in [
            (Colormap::Viridis, 0.0, 0x440154),
            (Colormap::Viridis, 0.5, 0x21918c),
            (Colormap::Viridis, 1.0, 0xfde725),
            (Colormap::Magma, 0.0, 0x000004),
            (Colormap::Magma, 0.5, 0xb73779),
            (Colormap::Magma, 1.0, 0xfcfdbf),
        ] {
            assert_close(c, t, rgb, 5);
        }
    }

    #[test]
    fn diverging_is_exact_at_ends_and_centre() {
        let exact = |rgb: u32| hex(rgb).map(|v| f32::from(v) / 255.0);
        assert_eq!(colormap_rgb(Colormap::Diverging, 0.0), exact(0x2166ac));
        assert_eq!(colormap_rgb(Colormap::Diverging, 0.5), exact(0xf7f7f7));
        assert_eq!(colormap_rgb(Colormap::Diverging, 1.0), exact(0xb2182b));
        // Out-of-range t clamps; halfway between two stops is their midpoint.
        assert_eq!(colormap_rgb(Colormap::Diverging, -3.0), exact(0x2166ac));
        assert_eq!(colormap_rgb(Colormap::Diverging, 7.0), exact(0xb2182b));
        let mid = colormap_rgb(Colormap::Diverging, 1.0 / 16.0);
        let expected = [
            (0x21 + 0x43) as f32,
            (0x66 + 0x93) as f32,
            (0xac + 0xc3) as f32,
        ];
        for k in 0..3 {
            assert!((mid[k] - expected[k] / 510.0).abs() < 1e-6, "{mid:?}");
        }
    }

    #[test]
    fn heatmap_t_by_hand() {
        let p = |mode, amplification| HeatmapParams {
            mode,
            amplification,
            eps: 0.1,
            ..HeatmapParams::default()
        };
        let delta = [0.05, -0.08, 0.0];
        let close = |got: f32, want: f32| assert!((got - want).abs() < 1e-5, "{got} vs {want}");
        // max |δ| = 0.08 → 0.8; ×4 saturates.
        close(heatmap_t(delta, &p(HeatmapMode::MaxAbs, 1.0)), 0.8);
        close(heatmap_t(delta, &p(HeatmapMode::MaxAbs, 4.0)), 1.0);
        // ‖δ‖₂ = √0.0089 = 0.0943398; / (0.1·√3) = 0.544672.
        close(heatmap_t(delta, &p(HeatmapMode::L2, 1.0)), 0.544_672);
        close(heatmap_t(delta, &p(HeatmapMode::L2, 2.0)), 1.0);
        // Signed: 0.5 + 0.5·δc/ε.
        close(heatmap_t(delta, &p(HeatmapMode::Channel(0), 1.0)), 0.75);
        close(heatmap_t(delta, &p(HeatmapMode::Channel(1), 1.0)), 0.1);
        close(heatmap_t(delta, &p(HeatmapMode::Channel(1), 4.0)), 0.0);
        close(heatmap_t(delta, &p(HeatmapMode::Channel(2), 4.0)), 0.5);
        close(heatmap_t([0.0; 3], &p(HeatmapMode::MaxAbs, 1.0)), 0.0);
    }

    #[test]
    fn colorbar_range_in_255_units() {
        let mut p = HeatmapParams {
            mode: HeatmapMode::MaxAbs,
            amplification: 4.0,
            ..HeatmapParams::default()
        };
        assert_eq!(colorbar_range(&p), (0.0, 2.0));
        p.mode = HeatmapMode::Channel(2);
        assert_eq!(colorbar_range(&p), (-2.0, 2.0));
        // The top of the L2 bar is where heatmap_t reaches 1: every channel at ε/a.
        p.mode = HeatmapMode::L2;
        let (_, top) = colorbar_range(&p);
        let per_channel = top / 255.0 / 3f32.sqrt();
        assert!((heatmap_t([per_channel; 3], &p) - 1.0).abs() < 1e-5);
        assert!(heatmap_t([per_channel * 0.9; 3], &p) < 0.95);
    }

    #[test]
    fn render_heatmap_blocks_and_opacity() {
        // 2×2 image; δ saturates the top-left pixel's red channel and leaves the rest at zero.
        let (w, h) = (2, 2);
        let mut delta = vec![0.0f32; 12];
        delta[0] = 0.2;
        let image: Vec<u8> = vec![
            10, 20, 30, 40, // R plane
            50, 60, 70, 80, // G plane
            90, 100, 110, 120, // B plane
        ];
        let mut p = HeatmapParams {
            mode: HeatmapMode::Channel(0),
            colormap: Colormap::Diverging,
            eps: 0.1,
            amplification: 1.0,
            opacity: 1.0,
        };
        let out = render_heatmap(&delta, &image, w, h, 2, &p);
        assert_eq!(out.len(), 4 * 4 * 4);
        let pixel = |out: &[u8], x: usize, y: usize| -> [u8; 4] {
            out[(y * 4 + x) * 4..][..4].try_into().unwrap()
        };
        // Top-left model pixel: δR/ε = 2 → t = 1 → dark red, in all four output pixels.
        for (x, y) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
            assert_eq!(pixel(&out, x, y), [0xb2, 0x18, 0x2b, 255]);
        }
        // The others: δ = 0 → t = 0.5 → the white centre.
        for (x, y) in [(2, 0), (3, 1), (0, 2), (1, 3), (3, 3)] {
            assert_eq!(pixel(&out, x, y), [0xf7, 0xf7, 0xf7, 255]);
        }

        p.opacity = 0.0;
        let out = render_heatmap(&delta, &image, w, h, 2, &p);
        assert_eq!(pixel(&out, 1, 1), [10, 50, 90, 255]);
        assert_eq!(pixel(&out, 2, 1), [20, 60, 100, 255]);
        assert_eq!(pixel(&out, 1, 2), [30, 70, 110, 255]);
        assert_eq!(pixel(&out, 3, 3), [40, 80, 120, 255]);

        // Opacity 0.25 at the bottom-right: 0.75·image + 0.25·0xf7, rounded.
        p.opacity = 0.25;
        let out = render_heatmap(&delta, &image, w, h, 2, &p);
        let blend = |v: f32| (0.75 * v + 0.25 * 247.0).round() as u8;
        assert_eq!(
            pixel(&out, 2, 2),
            [blend(40.0), blend(80.0), blend(120.0), 255]
        );
    }

    #[test]
    fn colorbar_spans_the_map() {
        let bar = colorbar(Colormap::Diverging, 9, 2);
        assert_eq!(bar.len(), 9 * 2 * 4);
        assert_eq!(bar[..4], [0x21, 0x66, 0xac, 255]);
        assert_eq!(bar[4 * 4..][..4], [0xf7, 0xf7, 0xf7, 255]);
        assert_eq!(bar[8 * 4..][..4], [0xb2, 0x18, 0x2b, 255]);
        assert_eq!(bar[..9 * 4], bar[9 * 4..]);
    }
}
