//! The L∞ Square Attack (Andriushchenko, Croce, Flammarion & Hein, ECCV 2020): a score-based
//! black-box attack that needs only logits, so it probes a randomized network without any
//! gradient. Initialization, the p schedule, the square size and the acceptance rule follow
//! AutoAttack's `square.py`; squares are drawn per image, as in the authors' reference code.

use burn::tensor::{Device, Tensor, TensorData};

use crate::device::to_host;
use crate::rng::SeededRng;

/// Logits `[N, K]` of a batch `[N, 3, H, W]` in [0, 1]; may be random (a fresh path per call).
pub type Scores<'a> = dyn FnMut(&Tensor<4>, &[usize]) -> Tensor<2> + 'a;

#[derive(Clone, Debug, PartialEq)]
pub struct SquareConfig {
    /// L∞ radius, a fraction of the pixel range.
    pub eps: f64,
    /// Iterations after the initial evaluation; each queries every image not yet broken once.
    pub queries: usize,
    /// Fraction of the pixels the first squares cover.
    pub p_init: f64,
}

impl SquareConfig {
    /// AutoAttack's default.
    pub const DEFAULT_P_INIT: f64 = 0.8;

    pub fn new(eps: f64, queries: usize) -> Self {
        Self {
            eps,
            queries,
            p_init: Self::DEFAULT_P_INIT,
        }
    }
}

pub struct SquareResult {
    pub x_adv: Tensor<4>,
    /// Per image: queries used until success or the budget, the initial evaluation included
    /// (AutoAttack's `n_queries`).
    pub queries_used: Vec<usize>,
    /// Per image: whether the last scores misclassified it (margin ≤ 0, as AutoAttack counts).
    pub success: Vec<bool>,
}

/// AutoAttack's `p_selection` with `resc_schedule`: the fraction of pixels a square covers at
/// iteration `query`, halved at fixed points of a 10 000-query schedule stretched to `queries`.
pub fn p_selection(p_init: f64, query: usize, queries: usize) -> f64 {
    let it = (query as f64 / queries as f64 * 10_000.0) as usize;
    let halvings = match it {
        0..=10 => 0,
        11..=50 => 1,
        51..=200 => 2,
        201..=500 => 3,
        501..=1000 => 4,
        1001..=2000 => 5,
        2001..=4000 => 6,
        4001..=6000 => 7,
        6001..=8000 => 8,
        _ => 9,
    };
    p_init / f64::from(1u32 << halvings)
}

/// Side of a square covering a fraction `p` of each channel, at least 1 and at most the image;
/// rounded half to even like Python's `round`.
fn square_side(p: f64, c: usize, h: usize, w: usize) -> usize {
    let n_features = (c * h * w) as f64;
    let side = (p * n_features / c as f64).sqrt().round_ties_even() as usize;
    side.max(1).min(h.min(w))
}

/// Correct logit minus the largest other, per row: positive while the label still wins.
fn margins(logits: Tensor<2>, labels: &[usize]) -> Vec<f32> {
    let [rows, classes] = logits.dims();
    assert_eq!(
        rows,
        labels.len(),
        "scores gave {rows} rows for {} images",
        labels.len()
    );
    to_host(logits)
        .chunks(classes)
        .zip(labels)
        .map(|(row, &y)| {
            let other = row
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != y)
                .fold(f32::NEG_INFINITY, |m, (_, &v)| m.max(v));
            row[y] - other
        })
        .collect()
}

/// Margins of the images `rows` (indices into the attacked batch), whose pixels are `pixels`.
fn query(
    scores: &mut Scores<'_>,
    pixels: &[f32],
    dims: [usize; 4],
    rows: &[usize],
    labels: &[usize],
    device: &Device,
) -> Vec<f32> {
    let batch = Tensor::<4>::from_data(TensorData::new(pixels.to_vec(), dims), device);
    let labels: Vec<usize> = rows.iter().map(|&i| labels[i]).collect();
    margins(scores(&batch, rows), &labels)
}

/// One candidate for one image (`clean`, `best`: `[C, H, W]`): a random s×s window set to
/// x ± ε per channel, the signs re-drawn until the window differs from the current best (as
/// the authors' code does), so that no query is spent on an unchanged image.
fn propose(
    clean: &[f32],
    best: &[f32],
    [c, h, w]: [usize; 3],
    s: usize,
    eps: f32,
    rng: &mut SeededRng,
) -> Vec<f32> {
    // AutoAttack's `random_int(0, h - s)`: the upper end is never drawn.
    let vh = if h > s {
        rng.below((h - s) as u64) as usize
    } else {
        0
    };
    let vw = if w > s {
        rng.below((w - s) as u64) as usize
    } else {
        0
    };
    let window = move |ch: usize| {
        (vh..vh + s).flat_map(move |i| (vw..vw + s).map(move |j| (ch * h + i) * w + j))
    };
    let shifted = |k: usize, plus: bool| {
        let v = if plus { clean[k] + eps } else { clean[k] - eps };
        v.clamp(0.0, 1.0)
    };
    // With ε = 0 (or below f32 resolution) no sign changes the window: take it as it is.
    let movable = (0..c)
        .any(|ch| window(ch).any(|k| shifted(k, true) != best[k] || shifted(k, false) != best[k]));
    let mut candidate = best.to_vec();
    loop {
        let mut changed = false;
        for ch in 0..c {
            let plus = rng.bernoulli(0.5);
            for k in window(ch) {
                candidate[k] = shifted(k, plus);
                changed |= candidate[k] != best[k];
            }
        }
        if changed || !movable {
            return candidate;
        }
    }
}

/// Runs the untargeted L∞ Square Attack on `x` (`[N, C, H, W]` in [0, 1]) with true `labels`,
/// querying only the images not yet misclassified. `progress(query, total)` sees each iteration;
/// returning false stops and returns the best points so far.
pub fn square_linf(
    x: &Tensor<4>,
    labels: &[usize],
    config: &SquareConfig,
    scores: &mut Scores<'_>,
    rng: &mut SeededRng,
    progress: &mut dyn FnMut(usize, usize) -> bool,
) -> SquareResult {
    let [n, c, h, w] = x.dims();
    assert_eq!(labels.len(), n, "one label per image");
    assert!(config.eps >= 0.0, "ε must be non-negative");
    assert!(config.p_init > 0.0, "p_init must be positive");
    if n == 0 {
        return SquareResult {
            x_adv: x.clone(),
            queries_used: Vec::new(),
            success: Vec::new(),
        };
    }
    let device = x.device();
    let len = c * h * w;
    let eps = config.eps as f32;
    let clean = to_host(x.clone());

    // Vertical stripes of ±ε: one sign per image, channel and column.
    let mut best = vec![0.0f32; n * len];
    for plane in 0..n * c {
        for col in 0..w {
            let sign = if rng.bernoulli(0.5) { eps } else { -eps };
            for row in 0..h {
                let k = (plane * h + row) * w + col;
                best[k] = (clean[k] + sign).clamp(0.0, 1.0);
            }
        }
    }
    let all: Vec<usize> = (0..n).collect();
    let mut margin = query(scores, &best, [n, c, h, w], &all, labels, &device);
    let mut queries_used = vec![1usize; n];

    for it in 0..config.queries {
        let active: Vec<usize> = (0..n).filter(|&i| margin[i] > 0.0).collect();
        if active.is_empty() {
            break;
        }
        let s = square_side(p_selection(config.p_init, it, config.queries), c, h, w);
        let mut batch = Vec::with_capacity(active.len() * len);
        for &i in &active {
            let span = i * len..(i + 1) * len;
            batch.extend(propose(
                &clean[span.clone()],
                &best[span],
                [c, h, w],
                s,
                eps,
                rng,
            ));
        }
        let tried = query(
            scores,
            &batch,
            [active.len(), c, h, w],
            &active,
            labels,
            &device,
        );
        for (a, &i) in active.iter().enumerate() {
            queries_used[i] += 1;
            // With the margin loss, AutoAttack's "or misclassified" is implied: margin[i] > 0.
            if tried[a] < margin[i] {
                margin[i] = tried[a];
                best[i * len..(i + 1) * len].copy_from_slice(&batch[a * len..(a + 1) * len]);
            }
        }
        if !progress(it + 1, config.queries) {
            break;
        }
    }
    SquareResult {
        x_adv: Tensor::from_data(TensorData::new(best, [n, c, h, w]), &device),
        queries_used,
        success: margin.iter().map(|&m| m <= 0.0).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor(values: Vec<f32>, dims: [usize; 4]) -> Tensor<4> {
        Tensor::from_data(TensorData::new(values, dims), &Device::flex())
    }

    fn logits(rows: Vec<[f32; 2]>) -> Tensor<2> {
        let n = rows.len();
        let flat: Vec<f32> = rows.iter().flatten().copied().collect();
        Tensor::from_data(TensorData::new(flat, [n, 2]), &Device::flex())
    }

    /// Class 0 while an image's pixel mean is below 1/2: the label-0 margin is 1 − 2·mean.
    fn mean_model(x: &Tensor<4>) -> Tensor<2> {
        let [_, c, h, w] = x.dims();
        let rows = to_host(x.clone())
            .chunks(c * h * w)
            .map(|img| {
                let m = img.iter().sum::<f32>() / img.len() as f32;
                [0.5 - m, m - 0.5]
            })
            .collect();
        logits(rows)
    }

    /// A fixed linear score with a bias no ε-perturbation can overcome: every lower score is
    /// accepted, but the label never changes.
    fn weighted_model(len: usize) -> impl FnMut(&Tensor<4>, &[usize]) -> Tensor<2> {
        let mut rng = SeededRng::new(3);
        let weights: Vec<f32> = (0..len).map(|_| rng.next_f32() * 2.0 - 1.0).collect();
        move |x: &Tensor<4>, _: &[usize]| {
            let rows = to_host(x.clone())
                .chunks(len)
                .map(|img| {
                    let dot: f32 = img.iter().zip(&weights).map(|(a, b)| a * b).sum();
                    [1000.0 + dot, 0.0]
                })
                .collect();
            logits(rows)
        }
    }

    fn constant_model(x: &Tensor<4>, _: &[usize]) -> Tensor<2> {
        logits(vec![[1.0, 0.0]; x.dims()[0]])
    }

    /// Pixels at 0, at 1 and in between, so that clamping to [0, 1] matters.
    fn edge_images(n: usize, len: usize) -> Vec<f32> {
        let mut rng = SeededRng::new(5);
        (0..n * len)
            .map(|k| match k % 3 {
                0 => 0.0,
                1 => 1.0,
                _ => rng.next_f32(),
            })
            .collect()
    }

    fn keep_going(_: usize, _: usize) -> bool {
        true
    }

    fn assert_in_ball(adv: &[f32], clean: &[f32], eps: f32) {
        for (a, x) in adv.iter().zip(clean) {
            assert!(
                (a - x).abs() <= eps + 1e-6,
                "{a} is more than {eps} from {x}"
            );
            assert!((0.0..=1.0).contains(a), "{a} outside [0, 1]");
        }
    }

    #[test]
    fn margin_is_correct_logit_minus_largest_other() {
        let l = Tensor::<2>::from_data(
            TensorData::new(vec![2.0f32, 5.0, 1.0, 3.0, -1.0, 0.0], [2, 3]),
            &Device::flex(),
        );
        // Row 0, label 0: 2 − 5; row 1, label 0: 3 − 0; row 0, label 1: 5 − 2.
        assert_eq!(margins(l.clone(), &[0, 0]), vec![-3.0, 3.0]);
        assert_eq!(margins(l, &[1, 2]), vec![3.0, -3.0]);
    }

    #[test]
    fn p_selection_follows_autoattack_table() {
        // 10 000 queries: the table as written in square.py (`10 < it <= 50` → p/2, ...).
        let p = 0.8;
        for (it, expected) in [
            (0, p),
            (10, p),
            (11, p / 2.0),
            (50, p / 2.0),
            (51, p / 4.0),
            (300, p / 8.0),
            (1500, p / 32.0),
            (9999, p / 512.0),
        ] {
            assert_eq!(p_selection(p, it, 10_000), expected, "it {it}");
        }
        // 1000 queries: it is stretched to int(it / 1000 · 10 000).
        for (it, expected) in [(1, p), (2, p / 2.0), (100, p / 16.0), (999, p / 512.0)] {
            assert_eq!(p_selection(p, it, 1000), expected, "it {it}");
        }
    }

    #[test]
    fn square_side_rounds_like_autoattack() {
        // sqrt(0.8 · 1024) = 28.6 → 29 on CIFAR; sqrt(0.8/512 · 1024) = 1.26 → 1.
        assert_eq!(square_side(0.8, 3, 32, 32), 29);
        assert_eq!(square_side(0.8 / 512.0, 3, 32, 32), 1);
        assert_eq!(square_side(1e-6, 3, 32, 32), 1);
        // sqrt(2 · 16) = 5.66 → 6, capped to the 4×4 image.
        assert_eq!(square_side(2.0, 3, 4, 4), 4);
        // sqrt(0.390625 · 16) = 2.5 exactly: Python rounds half to even.
        assert_eq!(square_side(0.390625, 3, 4, 4), 2);
    }

    #[test]
    fn proposal_is_one_window_at_x_plus_or_minus_eps_per_channel() {
        let (c, h, w) = (3, 4, 4);
        let clean = vec![0.5f32; c * h * w];
        let mut rng = SeededRng::new(1);
        for _ in 0..50 {
            let cand = propose(&clean, &clean, [c, h, w], 2, 0.1, &mut rng);
            let changed: Vec<usize> = (0..cand.len()).filter(|&k| cand[k] != 0.5).collect();
            // Every window pixel moves off 0.5: 3 channels × 2 × 2.
            assert_eq!(changed.len(), 12);
            for ch in 0..c {
                let vals: Vec<f32> = changed
                    .iter()
                    .filter(|&&k| k / (h * w) == ch)
                    .map(|&k| cand[k])
                    .collect();
                assert_eq!(vals.len(), 4);
                assert!(vals.iter().all(|&v| v == vals[0]));
                assert!((vals[0] - 0.6).abs() < 1e-6 || (vals[0] - 0.4).abs() < 1e-6);
            }
            // The window starts in rows/columns 0..2 (upper end never drawn), so it never
            // reaches the last row or column.
            assert!(changed.iter().all(|&k| (k % (h * w)) / w < 3 && k % w < 3));
        }
    }

    #[test]
    fn proposal_redraws_until_the_window_changes() {
        // One channel, the window is the whole 2×2 image, already at x + ε: only −ε differs.
        let clean = vec![0.5f32; 4];
        let best = vec![0.5f32 + 0.1; 4];
        let mut rng = SeededRng::new(2);
        for _ in 0..20 {
            let cand = propose(&clean, &best, [1, 2, 2], 2, 0.1, &mut rng);
            assert!(cand.iter().all(|&v| (v - 0.4).abs() < 1e-6), "{cand:?}");
        }
        // With ε = 0 nothing can change; the proposal returns rather than loop forever.
        assert_eq!(propose(&clean, &clean, [1, 2, 2], 2, 0.0, &mut rng), clean);
    }

    #[test]
    fn result_stays_in_eps_ball_and_pixel_range() {
        let dims = [2, 3, 6, 6];
        let len = 3 * 6 * 6;
        let clean = edge_images(2, len);
        let x = tensor(clean.clone(), dims);
        let config = SquareConfig::new(8.0 / 255.0, 300);
        let mut model = weighted_model(len);
        let result = square_linf(
            &x,
            &[0, 0],
            &config,
            &mut model,
            &mut SeededRng::new(9),
            &mut keep_going,
        );
        assert_eq!(result.x_adv.dims(), dims);
        assert_in_ball(&to_host(result.x_adv), &clean, 8.0 / 255.0);
    }

    #[test]
    fn finds_the_uniform_shift_on_a_linear_toy() {
        // Mean 0.47 is class 0 (margin 0.06); a shift of +ε = 0.1 everywhere gives mean 0.57,
        // margin −0.14. Success needs more than 65 % of the pixels at +ε.
        let dims = [1, 3, 8, 8];
        let clean = vec![0.47f32; 3 * 8 * 8];
        let x = tensor(clean.clone(), dims);
        let config = SquareConfig::new(0.1, 1000);
        let mut model = |t: &Tensor<4>, _: &[usize]| mean_model(t);
        let result = square_linf(
            &x,
            &[0],
            &config,
            &mut model,
            &mut SeededRng::new(4),
            &mut keep_going,
        );
        assert_eq!(result.success, vec![true]);
        assert!(result.queries_used[0] <= 1001);
        let adv = to_host(result.x_adv);
        assert_in_ball(&adv, &clean, 0.1);
        let mean = adv.iter().sum::<f32>() / adv.len() as f32;
        assert!(1.0 - 2.0 * mean < 0.0, "mean {mean}");
    }

    #[test]
    fn misclassified_images_are_not_queried_again() {
        // Image 0 at 0.8: any point of its ball has mean ≥ 0.7, class 1 already. Image 1 at
        // 0.2: mean ≤ 0.3, class 0 throughout, so it takes every iteration alone.
        let dims = [2, 3, 4, 4];
        let len = 3 * 4 * 4;
        let clean: Vec<f32> = [vec![0.8f32; len], vec![0.2f32; len]].concat();
        let x = tensor(clean.clone(), dims);
        let config = SquareConfig::new(0.1, 5);
        let mut sizes = Vec::new();
        let mut model = |t: &Tensor<4>, _: &[usize]| {
            sizes.push(t.dims()[0]);
            mean_model(t)
        };
        let result = square_linf(
            &x,
            &[0, 0],
            &config,
            &mut model,
            &mut SeededRng::new(6),
            &mut keep_going,
        );
        assert_eq!(sizes, vec![2, 1, 1, 1, 1, 1]);
        assert_eq!(result.queries_used, vec![1, 6]);
        assert_eq!(result.success, vec![true, false]);
        assert_in_ball(&to_host(result.x_adv), &clean, 0.1);

        // Alone, it costs the initial evaluation only, and no iteration runs.
        let mut calls = 0;
        let mut model = |t: &Tensor<4>, _: &[usize]| {
            calls += 1;
            mean_model(t)
        };
        let mut iterations = 0;
        let result = square_linf(
            &tensor(vec![0.8; len], [1, 3, 4, 4]),
            &[0],
            &config,
            &mut model,
            &mut SeededRng::new(6),
            &mut |_: usize, _: usize| {
                iterations += 1;
                true
            },
        );
        assert_eq!((calls, iterations), (1, 0));
        assert_eq!(result.queries_used, vec![1]);
        assert_eq!(result.success, vec![true]);
    }

    #[test]
    fn unfoolable_model_uses_the_whole_budget() {
        // Constant logits: no candidate lowers the margin, so the result is the initial
        // stripes, 0.5 ± 0.1, constant down each column of each channel.
        let (c, h, w) = (3, 4, 4);
        let x = tensor(vec![0.5; c * h * w], [1, c, h, w]);
        let config = SquareConfig::new(0.1, 20);
        let mut seen = Vec::new();
        let result = square_linf(
            &x,
            &[0],
            &config,
            &mut constant_model,
            &mut SeededRng::new(8),
            &mut |q: usize, total: usize| {
                seen.push((q, total));
                true
            },
        );
        assert_eq!(result.success, vec![false]);
        assert_eq!(result.queries_used, vec![21]);
        assert_eq!(seen, (1..=20).map(|q| (q, 20)).collect::<Vec<_>>());
        let adv = to_host(result.x_adv);
        for ch in 0..c {
            for col in 0..w {
                let top = adv[ch * h * w + col];
                assert!(
                    (top - 0.6).abs() < 1e-6 || (top - 0.4).abs() < 1e-6,
                    "{top}"
                );
                for row in 1..h {
                    assert_eq!(adv[(ch * h + row) * w + col], top);
                }
            }
        }
    }

    #[test]
    fn progress_can_stop_early() {
        let x = tensor(vec![0.5; 3 * 4 * 4], [1, 3, 4, 4]);
        let mut calls = 0;
        let result = square_linf(
            &x,
            &[0],
            &SquareConfig::new(0.1, 20),
            &mut constant_model,
            &mut SeededRng::new(8),
            &mut |q: usize, _: usize| {
                calls += 1;
                q < 3
            },
        );
        assert_eq!(calls, 3);
        assert_eq!(result.queries_used, vec![4]);
        assert_eq!(result.success, vec![false]);
    }

    #[test]
    fn same_seed_same_result() {
        let dims = [2, 3, 6, 6];
        let len = 3 * 6 * 6;
        let x = tensor(edge_images(2, len), dims);
        let config = SquareConfig::new(8.0 / 255.0, 100);
        let run = |seed: u64| {
            let mut model = weighted_model(len);
            let r = square_linf(
                &x,
                &[0, 0],
                &config,
                &mut model,
                &mut SeededRng::new(seed),
                &mut keep_going,
            );
            (to_host(r.x_adv), r.queries_used)
        };
        assert_eq!(run(11), run(11));
        assert_ne!(run(11).0, run(12).0);
    }
}
