//! The targeted L∞ FAB attack, FAB-T (Croce & Hein, "Minimally distorted adversarial examples
//! with a fast adaptive boundary attack", ICML 2020), as AutoAttack runs it: a white-box attack
//! that minimises the perturbation instead of maximising a loss, so it reaches points PGD-style
//! attacks step over, and whose verdict is judged at ε only at the end.
//!
//! It follows AutoAttack's `FABAttack` (`fab_base.py` at fra31/auto-attack a392200, where
//! `attack_single_run(..., is_targeted=True)` replaced the older `attack_single_run_targeted`
//! with the same body) and `projection_linf` (`fab_projections.py`, lines 7–59):
//! - per iteration, the hyperplane of f_t − f_y linearised at the iterate x₁ (`fab_pt.py`,
//!   `get_diff_logits_grads_batch_targeted`, lines 100–114; `fab_base.py` 167–188: with one
//!   hyperplane the `dist1` argmin always picks it) is projected on from x₁ and from the clean
//!   image x₀, each within the box [0, 1] (191–206);
//! - the step blends the two projections with α = min(max(a₁ / (a₁ + a₂), 0), α_max), a the
//!   L∞ norms of the two displacements floored at 1e−8, each overshot by η, then clipped to
//!   [0, 1] (207–226);
//! - where one fresh pass misclassifies the iterate (any class but the label, 228), it is kept
//!   if closer to x₀ than the best so far, and the iterate is pulled back to x₀ + β(x₁ − x₀)
//!   (230–249);
//! - restart r > 0 starts at x₀ + ε/2 · u / ‖u‖∞, u uniform in [−1, 1)ᴰ, clipped (130–161;
//!   `perturb` passes `use_rand_start=(counter > 0)`, 310), so AutoAttack's single restart
//!   starts at x₀ itself; later restarts attack only the images still robust (306–323);
//! - after each restart one pass judges the result: an image is broken where that pass
//!   misclassifies it and ‖δ‖∞ ≤ ε (312–323); every other image keeps x.
//!
//! The caller chooses the target per image (`fab_base.py` line 113, [`ranked_targets`]) and
//! loops over the ranks 2..=10 itself, as `perturb` does (303).
//!
//! Simplified: one clean pass decides which images to attack (`perturb` and
//! `attack_single_run` each make one, 270 and 98, which agree for a deterministic model); the
//! projection runs in f64 on the host, the iterates stay f32 as in the code.

use burn::tensor::{Device, Tensor};
use rayon::prelude::*;

use super::tensor;
use crate::device::to_host;
use crate::model::predictions;
use crate::rng::SeededRng;

/// Logits `[N, K]` at `x` (`[N, 3, H, W]`) for the images `rows` (indices into the attacked
/// batch).
pub type Logits<'a> = dyn FnMut(&Tensor<4>, &[usize]) -> Tensor<2> + 'a;

/// For images `rows` at `x`: logits `[N, K]` and, per image j, the input gradient of
/// (logit[targets[j]] − logit[label of rows[j]]) `[N, 3, H, W]`. `targets` is aligned with
/// `rows`.
pub type TargetGradient<'a> =
    dyn FnMut(&Tensor<4>, &[usize], &[usize]) -> (Tensor<2>, Tensor<4>) + 'a;

#[derive(Clone, Debug, PartialEq)]
pub struct FabConfig {
    /// L∞ radius of the final check and of the random starts, a fraction of the pixel range.
    pub eps: f64,
    /// Iterations per restart (`n_iter`).
    pub iterations: usize,
    /// Largest weight of the step from the clean image (`alpha_max`).
    pub alpha_max: f64,
    /// Overshoot of each projection (`eta`).
    pub eta: f64,
    /// Pull-back towards the clean image after a success (`beta`).
    pub beta: f64,
    /// `n_restarts`; every restart after the first starts at random.
    pub restarts: usize,
}

impl FabConfig {
    /// Target ranks AutoAttack's standard version runs, 2..=1 + this (`n_target_classes`).
    pub const TARGET_CLASSES: usize = 9;

    /// AutoAttack's standard FAB-T: `n_restarts = 1`, `n_iter = 100`, `alpha_max = 0.1`,
    /// `eta = 1.05`, `beta = 0.9` (`autoattack.py` lines 38, 214, 316–318).
    pub fn autoattack(eps: f64) -> Self {
        Self {
            eps,
            iterations: 100,
            alpha_max: 0.1,
            eta: 1.05,
            beta: 0.9,
            restarts: 1,
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        if !(self.eps.is_finite() && (0.0..=1.0).contains(&self.eps)) {
            return Err(format!(
                "ε must be a finite number in [0, 1] (a fraction of the pixel range), got {}",
                self.eps
            ));
        }
        if !(self.alpha_max.is_finite() && (0.0..=1.0).contains(&self.alpha_max)) {
            return Err(format!(
                "FAB's α_max must be in [0, 1], got {}",
                self.alpha_max
            ));
        }
        if !(self.eta.is_finite() && self.eta > 0.0) {
            return Err(format!("FAB's η must be finite and > 0, got {}", self.eta));
        }
        if !(self.beta.is_finite() && (0.0..=1.0).contains(&self.beta)) {
            return Err(format!("FAB's β must be in [0, 1], got {}", self.beta));
        }
        if self.iterations == 0 || self.restarts == 0 {
            return Err("FAB needs at least one iteration and one restart".into());
        }
        Ok(())
    }
}

pub struct FabResult {
    /// Per image: the smallest adversarial point found where it is within ε and the check
    /// pass misclassified it, else x itself.
    pub x_adv: Tensor<4>,
    /// Per image: misclassified within ε (already misclassified clean images included).
    pub success: Vec<bool>,
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn linf(v: &[f64]) -> f64 {
    v.iter().fold(0.0f64, |m, x| m.max(x.abs()))
}

fn distance(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()))
}

/// Per row of `clean_logits`, the class ranked `rank` (1 = the top class): `fab_base.py`
/// line 113, `output.sort(dim=-1)[1][:, -target_class]`, ties in index order.
pub fn ranked_targets(clean_logits: Tensor<2>, rank: usize) -> Vec<usize> {
    let [_, classes] = clean_logits.dims();
    assert!(
        (1..=classes).contains(&rank),
        "rank {rank} of {classes} classes"
    );
    to_host(clean_logits)
        .chunks(classes)
        .map(|row| {
            let mut order: Vec<usize> = (0..classes).collect();
            order.sort_by(|&a, &b| row[a].total_cmp(&row[b]));
            order[classes - rank]
        })
        .collect()
}

/// The displacement d of least ‖d‖∞ that takes `point` onto the hyperplane w·z = b within the
/// box [0, 1]ᴰ; where the box cannot reach the hyperplane, every coordinate with w ≠ 0 goes to
/// the corner nearest it. A line-by-line port of `projection_linf` (`fab_projections.py`
/// 7–59) for one point, in f64. Each coordinate moves by min(λ, p_i) towards its corner (p_i
/// its distance to it); λ is found among the sorted p by the code's bisection.
pub fn projection_linf(point: &[f64], w: &[f64], b: f64) -> Vec<f64> {
    let dims = point.len();
    assert_eq!(w.len(), dims, "one weight per coordinate");
    if dims == 0 {
        return Vec::new();
    }
    let t = point;
    // Lines 11–13: orient the hyperplane so that the point is on its non-negative side.
    let sign = if dot(w, t) - b >= 0.0 { 1.0 } else { -1.0 };
    let w: Vec<f64> = w.iter().map(|v| v * sign).collect();
    let b = b * sign;
    // 15–19: the corner that lowers w·z, the displacement to it, and its length p.
    let a: Vec<f64> = w.iter().map(|&v| if v < 0.0 { 1.0 } else { 0.0 }).collect();
    let mut d: Vec<f64> = (0..dims)
        .map(|i| if w[i] != 0.0 { a[i] - t[i] } else { 0.0 })
        .collect();
    let p: Vec<f64> = (0..dims)
        .map(|i| a[i] - t[i] * (2.0 * a[i] - 1.0))
        .collect();
    let mut indp: Vec<usize> = (0..dims).collect();
    indp.sort_by(|&i, &j| p[i].total_cmp(&p[j]));
    // 21–29: sums over the coordinates in decreasing p.
    let b = b - dot(&w, t);
    let b0 = dot(&w, &d);
    let desc: Vec<usize> = indp.iter().rev().copied().collect();
    let mut s = Vec::with_capacity(dims);
    let mut sb = Vec::with_capacity(dims);
    let (mut sum_w, mut sum_b) = (0.0f64, b0);
    for &i in &desc {
        sum_w += w[i].abs();
        sum_b += -w[i] * d[i];
        s.push(sum_w);
        sb.push(sum_b);
    }
    // 31–33: λ below every p (no coordinate reaches its corner), or λ in between (bisection),
    // or the box cannot reach the hyperplane (d stays the corner).
    let last = dims - 1;
    let b2 = sb[last] - s[last] * p[indp[0]];
    let c_l = b - b2 > 0.0;
    let c2 = (b - b0 > 0.0) && !c_l;
    if c_l {
        // 52–54.
        let lambda = ((b - sb[last]) / -s[last]).max(0.0);
        for i in 0..dims {
            d[i] = (2.0 * a[i] - 1.0) * lambda;
        }
    } else if c2 {
        // 34–50: ceil(log2 D) halvings of [0, D − 1].
        let iterations = usize::BITS - last.leading_zeros();
        let (mut lb, mut ub) = (0.0f64, last as f64);
        for _ in 0..iterations {
            let mid = ((lb + ub) / 2.0).floor();
            let k = mid as usize;
            let b2 = sb[k] - s[k] * p[desc[k]];
            if b - b2 > 0.0 {
                lb = mid;
            } else {
                ub = mid;
            }
        }
        let k = lb as usize;
        // 56–57.
        let lambda = ((b - sb[k]) / -s[k]).max(0.0);
        for i in 0..dims {
            d[i] = if a[i] == 1.0 {
                lambda.min(d[i])
            } else {
                (-lambda).max(d[i])
            };
        }
    }
    // 59.
    for i in 0..dims {
        if w[i] == 0.0 {
            d[i] = 0.0;
        }
    }
    d
}

/// One FAB-T step for one image (`fab_base.py` 167–226): x₁ ← clip(((x₁ + η d₁)(1 − α) +
/// (x₀ + η d₂) α), 0, 1), the hyperplane {z : df + w·(z − x₁) = 0}.
fn step(x1: &mut [f32], x0: &[f32], w: &[f32], df: f64, config: &FabConfig) {
    let w: Vec<f64> = w.iter().map(|&v| f64::from(v)).collect();
    let p1: Vec<f64> = x1.iter().map(|&v| f64::from(v)).collect();
    let p0: Vec<f64> = x0.iter().map(|&v| f64::from(v)).collect();
    let b = -df + dot(&w, &p1);
    let d1 = projection_linf(&p1, &w, b);
    let d2 = projection_linf(&p0, &w, b);
    let a1 = linf(&d1).max(1e-8);
    let a2 = linf(&d2).max(1e-8);
    let alpha = (a1 / (a1 + a2)).max(0.0).min(config.alpha_max);
    let eta = config.eta;
    for k in 0..x1.len() {
        let blended = (p1[k] + eta * d1[k]) * (1.0 - alpha) + (p0[k] + eta * d2[k]) * alpha;
        x1[k] = blended.clamp(0.0, 1.0) as f32;
    }
}

/// `attack_single_run` on the images `rows`: per image, the closest misclassified iterate, or
/// None. Also says whether `progress` stopped the attack.
#[allow(clippy::too_many_arguments)]
fn single_run(
    clean: &[f32],
    [c, h, w]: [usize; 3],
    rows: &[usize],
    labels: &[usize],
    targets: &[usize],
    random_start: bool,
    config: &FabConfig,
    logits: &mut Logits<'_>,
    gradient: &mut TargetGradient<'_>,
    rng: &mut SeededRng,
    progress: &mut dyn FnMut() -> bool,
    device: &Device,
) -> (Vec<Option<Vec<f32>>>, bool) {
    let d = c * h * w;
    let bs = rows.len();
    let dims = [bs, c, h, w];
    let x0: Vec<f32> = rows
        .iter()
        .flat_map(|&i| clean[i * d..(i + 1) * d].iter().copied())
        .collect();
    let row_labels: Vec<usize> = rows.iter().map(|&i| labels[i]).collect();
    let row_targets: Vec<usize> = rows.iter().map(|&i| targets[i]).collect();
    let mut x1 = x0.clone();
    if random_start {
        // Lines 131–139 and 161: min(res2, ε) is ε, as res2 starts at 1e10.
        let half = 0.5 * config.eps;
        for (x1, x0) in x1.chunks_mut(d).zip(x0.chunks(d)) {
            let u: Vec<f64> = (0..d).map(|_| 2.0 * rng.next_f64() - 1.0).collect();
            let scale = half / linf(&u).max(f64::MIN_POSITIVE);
            for ((p, &o), &v) in x1.iter_mut().zip(x0).zip(&u) {
                *p = (f64::from(o) + scale * v).clamp(0.0, 1.0) as f32;
            }
        }
    }
    let mut best: Vec<Option<Vec<f32>>> = vec![None; bs];
    let mut res2 = vec![f32::INFINITY; bs];
    let beta = config.beta as f32;
    for _ in 0..config.iterations {
        let (out, grad) = gradient(&tensor(x1.clone(), dims, device), rows, &row_targets);
        let [out_rows, classes] = out.dims();
        assert_eq!(
            out_rows, bs,
            "gradient gave {out_rows} rows for {bs} images"
        );
        let out = to_host(out);
        let grad = to_host(grad);
        assert_eq!(grad.len(), bs * d, "one input gradient per image");
        x1.par_chunks_mut(d)
            .zip(x0.par_chunks(d))
            .zip(grad.par_chunks(d))
            .zip(out.par_chunks(classes))
            .zip(row_labels.par_iter().zip(&row_targets))
            .for_each(|((((x1, x0), g), f), (&y, &t))| {
                let df = f64::from(f[t]) - f64::from(f[y]);
                step(x1, x0, g, df, config);
            });
        let predicted = predictions(logits(&tensor(x1.clone(), dims, device), rows));
        assert_eq!(predicted.len(), bs, "logits gave the wrong number of rows");
        for j in 0..bs {
            if predicted[j] == row_labels[j] {
                continue;
            }
            let span = j * d..(j + 1) * d;
            let t = distance(&x1[span.clone()], &x0[span.clone()]);
            if t < res2[j] {
                res2[j] = t;
                best[j] = Some(x1[span.clone()].to_vec());
            }
            for (p, &o) in x1[span.clone()].iter_mut().zip(&x0[span]) {
                *p = o + (*p - o) * beta;
            }
        }
        if !progress() {
            return (best, true);
        }
    }
    (best, false)
}

/// FAB-T towards `targets[i]` for image i of `x` (`[N, 3, H, W]` in [0, 1]) with true
/// `labels`; AutoAttack picks the class ranked `target_rank` by the clean logits
/// ([`ranked_targets`]), the caller does that. Images the clean pass misclassifies are returned
/// unchanged and count as successes. `progress(done, total)` follows every iteration over all
/// restarts; false stops, and the points found so far are judged as at the end.
#[allow(clippy::too_many_arguments)]
pub fn fab_targeted(
    x: &Tensor<4>,
    labels: &[usize],
    targets: &[usize],
    config: &FabConfig,
    logits: &mut Logits<'_>,
    gradient: &mut TargetGradient<'_>,
    rng: &mut SeededRng,
    progress: &mut dyn FnMut(usize, usize) -> bool,
) -> FabResult {
    if let Err(e) = config.validate() {
        panic!("{e}");
    }
    let [n, c, h, w] = x.dims();
    assert_eq!(labels.len(), n, "one label per image");
    assert_eq!(targets.len(), n, "one target per image");
    if n == 0 {
        return FabResult {
            x_adv: x.clone(),
            success: Vec::new(),
        };
    }
    let device = x.device();
    let d = c * h * w;
    let clean = to_host(x.clone());
    let all: Vec<usize> = (0..n).collect();
    let clean_logits = logits(x, &all);
    let classes = clean_logits.dims()[1];
    if let Some((&l, &t)) = labels
        .iter()
        .zip(targets)
        .find(|&(&l, &t)| l >= classes || t >= classes)
    {
        panic!("label {l} or target {t} is not one of the {classes} classes");
    }
    let mut success: Vec<bool> = predictions(clean_logits)
        .iter()
        .zip(labels)
        .map(|(p, l)| p != l)
        .collect();
    let mut result = clean.clone();
    let eps = config.eps as f32;
    let total = config.restarts * config.iterations;
    let mut done = 0;
    for restart in 0..config.restarts {
        let rows: Vec<usize> = (0..n).filter(|&i| !success[i]).collect();
        if rows.is_empty() {
            break;
        }
        let (found, stopped) = single_run(
            &clean,
            [c, h, w],
            &rows,
            labels,
            targets,
            restart > 0,
            config,
            logits,
            gradient,
            rng,
            &mut || {
                done += 1;
                progress(done, total)
            },
            &device,
        );
        // `perturb`'s check (312–323); an image without an adversarial iterate is checked at x,
        // as `attack_single_run` returns it.
        let candidate: Vec<f32> = rows
            .iter()
            .zip(&found)
            .flat_map(|(&i, f)| match f {
                Some(p) => p.clone(),
                None => clean[i * d..(i + 1) * d].to_vec(),
            })
            .collect();
        let dims = [rows.len(), c, h, w];
        let predicted = predictions(logits(&tensor(candidate.clone(), dims, &device), &rows));
        for (j, &i) in rows.iter().enumerate() {
            let point = &candidate[j * d..(j + 1) * d];
            let own = &clean[i * d..(i + 1) * d];
            if predicted[j] != labels[i] && distance(point, own) <= eps {
                success[i] = true;
                result[i * d..(i + 1) * d].copy_from_slice(point);
            }
        }
        if stopped {
            break;
        }
    }
    FabResult {
        x_adv: tensor(result, [n, c, h, w], &device),
        success,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    /// One query the attack made of a toy model: the rows it asked about and their pixels.
    type SeenQuery = (Vec<usize>, Vec<f32>);

    fn close(a: &[f64], b: &[f64], tol: f64) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tol)
    }

    #[track_caller]
    fn assert_projection(t: &[f64], w: &[f64], b: f64, expected: &[f64]) {
        let d = projection_linf(t, w, b);
        assert!(close(&d, expected, 1e-12), "{d:?} ≠ {expected:?}");
    }

    #[test]
    fn projection_moves_every_coordinate_equally_when_the_box_is_loose() {
        // z₁ + z₂ = 0.5 from (0.5, 0.5): both down by 0.25.
        assert_projection(&[0.5, 0.5], &[1.0, 1.0], 0.5, &[-0.25, -0.25]);
        // The same hyperplane written with the other sign.
        assert_projection(&[0.5, 0.5], &[-1.0, -1.0], -0.5, &[-0.25, -0.25]);
        // On the hyperplane already: nothing moves.
        assert_projection(&[0.25, 0.75], &[1.0, 1.0], 1.0, &[0.0, 0.0]);
        // From below: z₁ − z₂ = 0.3 from (0.4, 0.5) needs +0.4 of w·z: ±0.2.
        assert_projection(&[0.4, 0.5], &[1.0, -1.0], 0.3, &[0.2, -0.2]);
    }

    #[test]
    fn projection_caps_coordinates_at_the_box() {
        // z₁ − 2 z₂ = 0.6 from (0.2, 0.1): w·t = 0, +0.6 needed. Unbounded, λ = 0.6 / 3 = 0.2,
        // but z₂ can only fall by 0.1 (contributing 0.2); z₁ makes up 0.4 alone.
        assert_projection(&[0.2, 0.1], &[1.0, -2.0], 0.6, &[0.4, -0.1]);
        // 2 z₁ − z₃ = 1.8 from (0.9, 0.3, 0.7), z₂ weightless: w·t = 1.1, +0.7 needed. z₁ rises
        // to 1 (0.2 of it), z₃ falls by 0.5; z₂ never moves.
        assert_projection(&[0.9, 0.3, 0.7], &[2.0, 0.0, -1.0], 1.8, &[0.1, 0.0, -0.5]);
    }

    #[test]
    fn projection_bisects_over_many_coordinates() {
        // Σ z = 0.5 from (0.1, …, 0.5): −1.0 needed. λ = 0.2 gives 0.9, λ = 0.3 gives 1.2, so
        // the first two reach 0 and 0.3 + 3λ = 1, λ = 0.7 / 3.
        let l = 0.7 / 3.0;
        assert_projection(
            &[0.1, 0.2, 0.3, 0.4, 0.5],
            &[1.0; 5],
            0.5,
            &[-0.1, -0.2, -l, -l, -l],
        );
        // Weights −1 from (0.9, …, 0.5), w·t = −3.5, down to −4.2: every coordinate rises,
        // p = (0.1, …, 0.5); 0.1 + 4λ = 0.7, λ = 0.15. Shuffled, so that the sort matters.
        assert_projection(
            &[0.6, 0.9, 0.5, 0.8, 0.7],
            &[-1.0; 5],
            -4.2,
            &[0.15, 0.1, 0.15, 0.15, 0.15],
        );
    }

    #[test]
    fn projection_goes_to_the_corner_when_the_box_cannot_reach() {
        // z₁ + z₂ ≤ 2 in the box, the hyperplane asks 3: the nearest corner (1, 1).
        assert_projection(&[0.5, 0.5], &[1.0, 1.0], 3.0, &[0.5, 0.5]);
        // All weights zero: nothing can move.
        assert_projection(&[0.5, 0.5], &[0.0, 0.0], 1.0, &[0.0, 0.0]);
    }

    #[test]
    fn projection_agrees_with_a_direct_search_for_lambda() {
        // Independently: d_i = dir_i · min(λ, p_i) with Σ |w_i| min(λ, p_i) = |w·t − b|,
        // λ by bisection.
        let mut rng = SeededRng::new(21);
        for case in 0..200 {
            let dims = 1 + case % 37;
            let t: Vec<f64> = (0..dims).map(|_| rng.next_f64()).collect();
            let w: Vec<f64> = (0..dims)
                .map(|_| {
                    if rng.bernoulli(0.2) {
                        0.0
                    } else {
                        rng.normal()
                    }
                })
                .collect();
            let gap = dot(&w, &t);
            let reach: f64 = w.iter().map(|v| v.abs()).sum::<f64>();
            let b = gap + (rng.next_f64() - 0.5) * reach;
            let need = (gap - b).abs();
            let up = gap < b; // w·z must rise
            let dir: Vec<f64> = w
                .iter()
                .map(|&v| if (v > 0.0) == up { 1.0 } else { -1.0 })
                .collect();
            let p: Vec<f64> = (0..dims)
                .map(|i| if dir[i] > 0.0 { 1.0 - t[i] } else { t[i] })
                .collect();
            let moved = |l: f64| -> f64 { (0..dims).map(|i| w[i].abs() * l.min(p[i])).sum() };
            let (mut lo, mut hi) = (0.0f64, 1.0f64);
            for _ in 0..200 {
                let mid = (lo + hi) / 2.0;
                if moved(mid) < need {
                    lo = mid
                } else {
                    hi = mid
                }
            }
            let expected: Vec<f64> = (0..dims)
                .map(|i| {
                    if w[i] == 0.0 {
                        0.0
                    } else {
                        dir[i] * hi.min(p[i])
                    }
                })
                .collect();
            let d = projection_linf(&t, &w, b);
            if moved(1.0) < need {
                assert!(close(&d, &expected, 1e-12), "case {case}: corner");
            } else {
                assert!(
                    close(&d, &expected, 1e-9),
                    "case {case}: {d:?} ≠ {expected:?}"
                );
                let z: Vec<f64> = t.iter().zip(&d).map(|(a, b)| a + b).collect();
                assert!(
                    (dot(&w, &z) - b).abs() < 1e-9,
                    "case {case}: off the hyperplane"
                );
            }
        }
    }

    #[test]
    fn ranked_targets_follow_the_sorted_logits() {
        let l = Tensor::<2>::from_data(
            TensorData::new(vec![0.1f32, 0.5, 0.3, 2.0, -1.0, 0.0], [2, 3]),
            &Device::flex(),
        );
        assert_eq!(ranked_targets(l.clone(), 1), vec![1, 0]);
        assert_eq!(ranked_targets(l.clone(), 2), vec![2, 2]);
        assert_eq!(ranked_targets(l, 3), vec![0, 1]);
    }

    /// logits = W·flatten(x) + bias, with its exact gradients.
    struct Linear {
        weights: Vec<Vec<f32>>,
        bias: Vec<f32>,
        labels: Vec<usize>,
    }

    impl Linear {
        fn scores(&self, x: &Tensor<4>) -> Tensor<2> {
            let n = x.dims()[0];
            let k = self.bias.len();
            let d = self.weights[0].len();
            let pixels = to_host(x.clone());
            let flat: Vec<f32> = pixels
                .chunks(d)
                .flat_map(|img| {
                    (0..k).map(move |c| {
                        img.iter()
                            .zip(&self.weights[c])
                            .map(|(a, b)| a * b)
                            .sum::<f32>()
                            + self.bias[c]
                    })
                })
                .collect();
            Tensor::from_data(TensorData::new(flat, [n, k]), &Device::flex())
        }

        fn gradient(&self, x: &Tensor<4>, rows: &[usize], targets: &[usize]) -> Tensor<4> {
            let flat: Vec<f32> = rows
                .iter()
                .zip(targets)
                .flat_map(|(&i, &t)| {
                    let y = self.labels[i];
                    self.weights[t]
                        .iter()
                        .zip(&self.weights[y])
                        .map(|(a, b)| a - b)
                        .collect::<Vec<f32>>()
                })
                .collect();
            Tensor::from_data(TensorData::new(flat, x.dims()), &Device::flex())
        }

        /// Runs FAB-T; returns the result, the clean pixels and every point the gradient saw.
        fn attack(
            &self,
            pixels: Vec<f32>,
            dims: [usize; 4],
            targets: &[usize],
            config: &FabConfig,
            seed: u64,
            stop_after: usize,
        ) -> (FabResult, Vec<SeenQuery>) {
            let x = Tensor::from_data(TensorData::new(pixels, dims), &Device::flex());
            let mut seen = Vec::new();
            let result = fab_targeted(
                &x,
                &self.labels,
                targets,
                config,
                &mut |x: &Tensor<4>, _: &[usize]| self.scores(x),
                &mut |x: &Tensor<4>, rows: &[usize], t: &[usize]| {
                    seen.push((rows.to_vec(), to_host(x.clone())));
                    (self.scores(x), self.gradient(x, rows, t))
                },
                &mut SeededRng::new(seed),
                &mut |done, _| done < stop_after,
            );
            (result, seen)
        }
    }

    /// Two classes on 12 pixels at 0.5: v = w₁ − w₀ has ‖v‖₁ = 11 and sums to 0, so
    /// f₁ − f₀ = −0.33 at x and the nearest boundary point is x + 0.03 · sign(v) (no pixel
    /// meets the box); pixels 8 and 9 carry no weight.
    const V: [f32; 12] = [
        1.0, -1.0, 2.0, -2.0, 0.5, -0.5, 1.0, -1.0, 0.0, 0.0, 1.0, -1.0,
    ];
    const DIST: f64 = 0.03;

    fn toy() -> Linear {
        Linear {
            weights: vec![vec![0.0; 12], V.to_vec()],
            bias: vec![0.0, -0.33],
            labels: vec![0],
        }
    }

    fn with(eps: f64, iterations: usize, restarts: usize) -> FabConfig {
        FabConfig {
            iterations,
            restarts,
            ..FabConfig::autoattack(eps)
        }
    }

    fn perturbation(result: &FabResult, clean: &[f32]) -> Vec<f64> {
        to_host(result.x_adv.clone())
            .iter()
            .zip(clean)
            .map(|(a, x)| f64::from(a - x))
            .collect()
    }

    #[test]
    fn autoattack_defaults() {
        let c = FabConfig::autoattack(8.0 / 255.0);
        assert_eq!(
            (c.iterations, c.alpha_max, c.eta, c.beta, c.restarts),
            (100, 0.1, 1.05, 0.9, 1)
        );
        assert_eq!(FabConfig::TARGET_CLASSES, 9);
        assert!(c.validate().is_ok());
        assert!(with(8.0 / 255.0, 0, 1).validate().is_err());
        assert!(FabConfig::autoattack(f64::NAN).validate().is_err());
    }

    #[test]
    fn reaches_the_minimal_linear_distance_within_eps() {
        let clean = vec![0.5f32; 12];
        let (result, seen) = toy().attack(
            clean.clone(),
            [1, 3, 2, 2],
            &[1],
            &with(8.0 / 255.0, 100, 1),
            0,
            usize::MAX,
        );
        assert_eq!(result.success, vec![true]);
        assert_eq!(seen.len(), 100);
        // With one restart FAB starts at x itself.
        assert_eq!(seen[0].1, clean);
        let delta = perturbation(&result, &clean);
        let norm = linf(&delta);
        assert!(
            (DIST * (1.0 - 1e-4)..=DIST * 1.05).contains(&norm),
            "‖δ‖∞ = {norm}"
        );
        for (k, (&dk, &vk)) in delta.iter().zip(&V).enumerate() {
            let expected = DIST * f64::from(vk.signum()) * if vk == 0.0 { 0.0 } else { 1.0 };
            assert!((dk - expected).abs() <= DIST * 0.05, "pixel {k}: {dk}");
        }
        // The result is across the boundary.
        let f = to_host(toy().scores(&result.x_adv));
        assert!(f[1] > f[0], "{f:?}");
    }

    #[test]
    fn the_first_two_steps_follow_eta_alpha_and_beta() {
        // Step 1 from x: both projections are d = 0.03 sign(v), x₁ = x + η d, ‖δ‖ = 0.0315 > ε
        // = 8/255 = 0.031373: adversarial but outside the ball. Pulled back to x + 0.945 d.
        // Step 2: d₁ = 0.055 d, d₂ = d, α = 0.055 / 1.055; x₁ = x + (1.00275 + 0.04725 α) d
        // = x + 1.0052133 d, inside the ball.
        let clean = vec![0.5f32; 12];
        let eps = 8.0 / 255.0;
        let (one, _) = toy().attack(
            clean.clone(),
            [1, 3, 2, 2],
            &[1],
            &with(eps, 1, 1),
            0,
            usize::MAX,
        );
        assert_eq!(one.success, vec![false]);
        assert_eq!(to_host(one.x_adv), clean);
        let (two, _) = toy().attack(
            clean.clone(),
            [1, 3, 2, 2],
            &[1],
            &with(eps, 2, 1),
            0,
            usize::MAX,
        );
        assert_eq!(two.success, vec![true]);
        let norm = linf(&perturbation(&two, &clean));
        let alpha = 0.055 / 1.055;
        let expected = (1.00275 + 0.04725 * alpha) * DIST;
        assert!(
            (norm - expected).abs() < 1e-6,
            "‖δ‖∞ = {norm}, expected {expected}"
        );
        // Stopping after two of 100 iterations gives the same point.
        let (stopped, seen) =
            toy().attack(clean.clone(), [1, 3, 2, 2], &[1], &with(eps, 100, 1), 0, 2);
        assert_eq!(seen.len(), 2);
        assert_eq!(to_host(stopped.x_adv), to_host(two.x_adv));
    }

    #[test]
    fn beyond_eps_it_fails_and_returns_x() {
        let clean = vec![0.5f32; 12];
        let (result, seen) = toy().attack(
            clean.clone(),
            [1, 3, 2, 2],
            &[1],
            &with(0.025, 100, 1),
            0,
            usize::MAX,
        );
        assert_eq!(result.success, vec![false]);
        assert_eq!(to_host(result.x_adv), clean);
        assert_eq!(seen.len(), 100);
    }

    #[test]
    fn the_box_can_make_the_boundary_farther_than_the_linear_distance() {
        // v = (−1, 1, 0) at x = (0, 0.5, 0.7), f₁ − f₀ = 0.5 − 0.6 = −0.1: |f| / ‖v‖₁ = 0.05,
        // but pixel 0 cannot fall below 0, so only pixel 1 moves, by 0.1.
        let model = Linear {
            weights: vec![vec![0.0; 3], vec![-1.0, 1.0, 0.0]],
            bias: vec![0.0, -0.6],
            labels: vec![0],
        };
        let clean = vec![0.0f32, 0.5, 0.7];
        let (short, _) = model.attack(
            clean.clone(),
            [1, 3, 1, 1],
            &[1],
            &with(0.08, 100, 1),
            0,
            usize::MAX,
        );
        assert_eq!(short.success, vec![false]);
        assert_eq!(to_host(short.x_adv), clean);
        let (long, _) = model.attack(
            clean.clone(),
            [1, 3, 1, 1],
            &[1],
            &with(0.12, 100, 1),
            0,
            usize::MAX,
        );
        assert_eq!(long.success, vec![true]);
        let delta = perturbation(&long, &clean);
        assert_eq!((delta[0], delta[2]), (0.0, 0.0));
        assert!(
            delta[1] >= 0.1 * (1.0 - 1e-4) && delta[1] <= 0.105,
            "{delta:?}"
        );
    }

    #[test]
    fn results_stay_in_the_box_and_the_ball() {
        // Five classes on 3×4×4 images with pixels at 0, at 1 and in between, random weights,
        // every target rank; the model is deterministic, so success is its verdict.
        let (n, d, k) = (6, 48, 5);
        let mut rng = SeededRng::new(13);
        let weights: Vec<Vec<f32>> = (0..k)
            .map(|_| (0..d).map(|_| rng.normal() as f32).collect())
            .collect();
        let bias: Vec<f32> = (0..k).map(|_| rng.normal() as f32).collect();
        let clean: Vec<f32> = (0..n * d)
            .map(|i| match i % 3 {
                0 => 0.0,
                1 => 1.0,
                _ => rng.next_f32(),
            })
            .collect();
        let x = Tensor::<4>::from_data(
            TensorData::new(clean.clone(), [n, 3, 4, 4]),
            &Device::flex(),
        );
        let probe = Linear {
            weights: weights.clone(),
            bias: bias.clone(),
            labels: vec![0; n],
        };
        let labels = predictions(probe.scores(&x));
        let model = Linear {
            weights,
            bias,
            labels: labels.clone(),
        };
        let mut successes = 0;
        for eps in [0.01, 0.05, 0.2] {
            for rank in 2..=k {
                let targets = ranked_targets(model.scores(&x), rank);
                let (result, _) = model.attack(
                    clean.clone(),
                    [n, 3, 4, 4],
                    &targets,
                    &with(eps, 30, 2),
                    1,
                    usize::MAX,
                );
                let adv = to_host(result.x_adv.clone());
                let predicted = predictions(model.scores(&result.x_adv));
                for i in 0..n {
                    let (a, c) = (&adv[i * d..(i + 1) * d], &clean[i * d..(i + 1) * d]);
                    assert!(a.iter().all(|v| (0.0..=1.0).contains(v)));
                    assert!(f64::from(distance(a, c)) <= eps + 1e-6);
                    assert_eq!(result.success[i], predicted[i] != labels[i]);
                    if !result.success[i] {
                        assert_eq!(a, c);
                    }
                    successes += usize::from(result.success[i]);
                }
            }
        }
        assert!(
            successes > 0 && successes < 3 * 4 * n,
            "{successes} successes"
        );
    }

    #[test]
    fn misclassified_images_are_left_alone_and_count_as_broken() {
        // Image 0 at 0.8 in pixel 0 (f₁ − f₀ = 0.8 − 0.5 > 0) is class 1 already; image 1 at
        // 0.45 is 0.05 from the boundary.
        let model = Linear {
            weights: vec![vec![0.0; 3], vec![1.0, 0.0, 0.0]],
            bias: vec![0.0, -0.5],
            labels: vec![0, 0],
        };
        let clean = vec![0.8f32, 0.3, 0.3, 0.45, 0.3, 0.3];
        let (result, seen) = model.attack(
            clean.clone(),
            [2, 3, 1, 1],
            &[1, 1],
            &with(0.1, 10, 1),
            0,
            usize::MAX,
        );
        assert_eq!(result.success, vec![true, true]);
        let adv = to_host(result.x_adv);
        assert_eq!(adv[..3], clean[..3]);
        assert!((adv[3] - 0.5).abs() < 0.05 * 0.05, "{adv:?}");
        assert!(seen.iter().all(|(rows, _)| rows == &[1]));
    }

    #[test]
    fn restarts_start_at_random_from_the_second_and_skip_broken_images() {
        // Image 0 is the toy (0.03 from its boundary), image 1 the toy shifted far away
        // (bias −3.3: 0.3 from it). With ε = 0.05 image 0 falls in restart 0; image 1 never.
        let mut model = toy();
        model.weights = vec![vec![0.0; 12], V.to_vec(), V.to_vec()];
        model.bias = vec![0.0, -0.33, -3.3];
        model.labels = vec![0, 0];
        let clean = vec![0.5f32; 24];
        let eps = 0.05;
        let run = |seed: u64| {
            model.attack(
                clean.clone(),
                [2, 3, 2, 2],
                &[1, 2],
                &with(eps, 5, 3),
                seed,
                usize::MAX,
            )
        };
        let (result, seen) = run(7);
        assert_eq!(result.success, vec![true, false]);
        assert_eq!(seen.len(), 15);
        assert!(seen[..5].iter().all(|(rows, _)| rows == &[0, 1]));
        assert!(seen[5..].iter().all(|(rows, _)| rows == &[1]));
        // Restart 0 starts at x; restarts 1 and 2 at x + ε/2 · u / ‖u‖∞, each drawn anew.
        assert_eq!(seen[0].1, clean);
        for start in [&seen[5].1, &seen[10].1] {
            let off = f64::from(distance(start, &clean[12..]));
            assert!((off - eps / 2.0).abs() < 1e-6, "{off}");
        }
        assert_ne!(seen[5].1, seen[10].1);
        // The same seed, the same run; another seed, other starts.
        let (again, seen_again) = run(7);
        assert_eq!(to_host(again.x_adv), to_host(result.x_adv));
        assert_eq!(again.success, result.success);
        assert_eq!(seen_again, seen);
        let (_, other) = run(8);
        assert_eq!(other[..5], seen[..5]);
        assert_ne!(other[5].1, seen[5].1);
    }

    #[test]
    fn progress_counts_every_iteration_of_every_restart() {
        let clean = vec![0.5f32; 12];
        let x = Tensor::from_data(TensorData::new(clean, [1, 3, 2, 2]), &Device::flex());
        let model = toy();
        let mut calls = Vec::new();
        let result = fab_targeted(
            &x,
            &[0],
            &[1],
            &with(0.01, 4, 2),
            &mut |x: &Tensor<4>, _: &[usize]| model.scores(x),
            &mut |x: &Tensor<4>, rows: &[usize], t: &[usize]| {
                (model.scores(x), model.gradient(x, rows, t))
            },
            &mut SeededRng::new(0),
            &mut |done, total| {
                calls.push((done, total));
                true
            },
        );
        assert_eq!(result.success, vec![false]);
        assert_eq!(calls, (1..=8).map(|i| (i, 8)).collect::<Vec<_>>());
    }
}
