//! ARC, the Attack on Randomized Classifiers (Dbouk & Shanbhag, "Adversarial Vulnerability of
//! Randomized Ensembles", ICML 2022), L∞, against the equally weighted ensemble of K sampled
//! paths. PGD on the expected loss can stall where a perturbation that fools most members
//! exists; ARC steps towards one member's nearest linearised decision boundary at a time and
//! keeps a step only where the ensemble's expected accuracy does not rise.
//!
//! The rules are those of `attack_ARC_linf` in the authors' `attack.py` (github.com/hsndbk4/ARC,
//! lines 126–227), with η their `step_size` and ρ = 0.05 ε (line 133):
//! - members are visited in `np.flip(np.argsort(alpha))` order (line 129), which for equal
//!   weights is the reverse of their index order;
//! - the boundary is that of the member's *predicted* class ŷ at the current point, not of the
//!   true label: ζ = min over j ≠ ŷ of |f_ŷ − f_j| / (‖∇f_ŷ − ∇f_j‖₁ + 1e−10), the first smallest
//!   j winning (lines 158–185);
//! - the step direction is g = −sign(∇f_ŷ − ∇f_j); β = η for the first member visited, and for
//!   the others, where ζ < η, β = η / (η − ζ) · |ζ − ⟨g₂, δ_local⟩| + ρ with g₂ the L1-normalised
//!   −(∇f_ŷ − ∇f_j) (lines 189–199);
//! - the local candidate δ_local + β g is rescaled to L∞ norm η (line 205), added to δ_min and
//!   clipped to the ε-ball and to [0, 1] (lines 209–211);
//! - a candidate is kept where the expected accuracy is ≤ the best so far, ties included
//!   (lines 213–215); after all members, so is the iteration's point δ_min + δ_local (219–225).
//!
//! As in the authors' published runs (`--rand-init` off), the attack starts at the clean image,
//! and gradients are taken at x + δ_min + δ_local unclipped, as the code takes them.

use burn::tensor::{Tensor, TensorData};
use rayon::prelude::*;

use super::tensor;
use crate::device::to_host;
use crate::model::{Path, RnaModel, predictions};

#[derive(Clone, Debug, PartialEq)]
pub struct ArcConfig {
    /// L∞ radius, a fraction of the pixel range.
    pub eps: f64,
    /// Iterations, each a pass over every member (`attack_iters`).
    pub steps: usize,
    /// ARC's `step_size` (η): the L∞ radius of each local step; the authors' L∞ runs use η = ε.
    pub step_size: f64,
}

impl ArcConfig {
    pub fn validate(&self) -> Result<(), String> {
        if !(self.eps.is_finite() && (0.0..=1.0).contains(&self.eps)) {
            return Err(format!(
                "ε must be a finite number in [0, 1] (a fraction of the pixel range), got {}",
                self.eps
            ));
        }
        if !(self.step_size.is_finite() && self.step_size > 0.0) {
            return Err(format!(
                "the ARC step size must be finite and > 0, got {}",
                self.step_size
            ));
        }
        if self.steps == 0 {
            return Err("ARC needs at least one iteration".into());
        }
        Ok(())
    }
}

pub struct ArcResult {
    pub x_adv: Tensor<4>,
    /// Per image: the ensemble's expected accuracy at the result.
    pub expected_accuracy: Vec<f64>,
}

/// Per image, the nearest linearised boundary of one member: the code's `zeta`, `g` and `g_2`.
struct Boundary {
    distance: Vec<f32>,
    sign: Vec<f32>,
    normal: Vec<f32>,
}

/// torch.sign: 0 stays 0 (`f32::signum` would give 1).
fn sign(v: f32) -> f32 {
    if v > 0.0 {
        1.0
    } else if v < 0.0 {
        -1.0
    } else {
        0.0
    }
}

/// The nearest boundary of `path`'s prediction at every image of `point`.
fn nearest_boundary(model: &RnaModel, point: &Tensor<4>, path: &Path) -> Boundary {
    let [n, c, h, w] = point.dims();
    let d = c * h * w;
    let classes = model.num_classes();
    let logits = model.forward_path(point.clone(), path);
    let predicted = predictions(logits.clone());
    let logits = to_host(logits);
    // One pass per class j: backward of Σ_i (f_j − f_ŷi)(x_i) gives every image its own
    // gradient, as each term depends only on its own input. A class every image predicts has
    // no boundary to compute.
    let gradients: Vec<Option<Vec<f32>>> = (0..classes)
        .into_par_iter()
        .map(|j| {
            predicted.iter().any(|&p| p != j).then(|| {
                let mut selector = vec![0.0f32; n * classes];
                for (i, &p) in predicted.iter().enumerate() {
                    selector[i * classes + j] += 1.0;
                    selector[i * classes + p] -= 1.0;
                }
                let tracked = point.clone().inner().autodiff().require_grad();
                let out = model.forward_path(tracked.clone(), path);
                let selector = Tensor::<2>::from_data(
                    TensorData::new(selector, [n, classes]),
                    &point.device(),
                );
                let grads = out.mul(selector).sum().backward();
                to_host(tracked.grad(&grads).expect("input gradient"))
            })
        })
        .collect();
    let mut boundary = Boundary {
        distance: vec![f32::INFINITY; n],
        sign: vec![0.0; n * d],
        normal: vec![0.0; n * d],
    };
    for (j, gradient) in gradients.iter().enumerate() {
        let Some(gradient) = gradient else { continue };
        for (i, &p) in predicted.iter().enumerate() {
            if p == j {
                continue;
            }
            // ∇(f_j − f_ŷ) = −w_j in the code's terms.
            let toward = &gradient[i * d..(i + 1) * d];
            let l1 = toward.iter().map(|v| v.abs()).sum::<f32>() + 1e-10;
            let zeta = (logits[i * classes + p] - logits[i * classes + j]).abs() / l1;
            if boundary.distance[i] > zeta {
                boundary.distance[i] = zeta;
                for (k, &v) in toward.iter().enumerate() {
                    boundary.sign[i * d + k] = sign(v);
                    boundary.normal[i * d + k] = v / l1;
                }
            }
        }
    }
    boundary
}

/// δ_min + `step` clipped to the ε-ball, then to keep x + δ in [0, 1] (the code's two clamps).
fn project(clean: &[f32], delta_min: &[f32], step: &[f32], eps: f32) -> Vec<f32> {
    clean
        .iter()
        .zip(delta_min)
        .zip(step)
        .map(|((&x, &a), &s)| (a + s).min(eps).max(-eps).min(1.0 - x).max(-x))
        .collect()
}

/// x + δ; the clamp only absorbs rounding, so that the point is exactly in [0, 1].
fn points(clean: &[f32], delta: &[f32]) -> Vec<f32> {
    clean
        .iter()
        .zip(delta)
        .map(|(&x, &d)| (x + d).clamp(0.0, 1.0))
        .collect()
}

/// Where `found` is no worse than `best` (ties kept, as the code keeps them), takes the
/// candidate's perturbation of that image (`d` values per image).
fn keep_no_worse(best: &mut [f64], kept: &mut [f32], found: &[f64], candidate: &[f32], d: usize) {
    for (((b, k), &f), c) in best
        .iter_mut()
        .zip(kept.chunks_mut(d))
        .zip(found)
        .zip(candidate.chunks(d))
    {
        if f <= *b {
            *b = f;
            k.copy_from_slice(c);
        }
    }
}

/// Runs ARC on `x` (`[N, 3, H, W]` in [0, 1]) with true `labels` against the ensemble of
/// `paths`, per image independently. `progress(done, steps)` follows every iteration; false
/// stops with the best point so far.
pub fn arc(
    model: &RnaModel,
    x: &Tensor<4>,
    labels: &[usize],
    paths: &[Path],
    config: &ArcConfig,
    progress: &mut dyn FnMut(usize, usize) -> bool,
) -> Result<ArcResult, String> {
    config.validate()?;
    if paths.is_empty() {
        return Err("ARC needs at least one path in the ensemble".into());
    }
    let layers = model.path_space().num_layers();
    if let Some((i, p)) = paths.iter().enumerate().find(|(_, p)| p.len() != layers) {
        return Err(format!(
            "path {i} has {} layers; the model has {layers}",
            p.len()
        ));
    }
    let dims = x.dims();
    let [n, c, h, w] = dims;
    let size = model.config().input_size;
    if [c, h, w] != [3, size, size] {
        return Err(format!(
            "images must be [N, 3, {size}, {size}], got {dims:?}"
        ));
    }
    if n == 0 {
        return Err("ARC needs at least one image".into());
    }
    if labels.len() != n {
        return Err(format!("{} labels for {n} images", labels.len()));
    }
    let classes = model.num_classes();
    if let Some(&l) = labels.iter().find(|&&l| l >= classes) {
        return Err(format!(
            "label {l} is not a class of this model ({classes} classes)"
        ));
    }
    let device = x.device();
    let d = c * h * w;
    let eps = config.eps as f32;
    let eta = config.step_size as f32;
    let rho = 0.05 * eps;
    let clean = to_host(x.clone());
    let accuracy_at = |delta: &[f32]| {
        expected_accuracy(
            model,
            &tensor(points(&clean, delta), dims, &device),
            labels,
            paths,
        )
    };

    let mut delta_min = vec![0.0f32; n * d];
    let mut loss_min = expected_accuracy(model, x, labels, paths);
    for step in 0..config.steps {
        let mut delta_local = vec![0.0f32; n * d];
        let mut loss_min_local = loss_min.clone();
        for (rank, path) in paths.iter().rev().enumerate() {
            let at: Vec<f32> = clean
                .iter()
                .zip(&delta_min)
                .zip(&delta_local)
                .map(|((&p, &a), &l)| p + a + l)
                .collect();
            let boundary = nearest_boundary(model, &tensor(at, dims, &device), path);
            let mut local_hat = delta_local.clone();
            for (((hat, &zeta), sign), normal) in local_hat
                .chunks_mut(d)
                .zip(&boundary.distance)
                .zip(boundary.sign.chunks(d))
                .zip(boundary.normal.chunks(d))
            {
                // `hat` holds δ_local until the step is added.
                let beta = if rank > 0 && zeta < eta {
                    let dot: f32 = normal.iter().zip(hat.iter()).map(|(g, l)| g * l).sum();
                    eta / (eta - zeta + 1e-10) * (zeta - dot).abs() + rho
                } else {
                    eta
                };
                for (slot, &g) in hat.iter_mut().zip(sign) {
                    *slot += beta * g;
                }
                let scale = eta / (hat.iter().fold(0.0f32, |m, v| m.max(v.abs())) + 1e-10);
                hat.iter_mut().for_each(|slot| *slot *= scale);
            }
            let found = accuracy_at(&project(&clean, &delta_min, &local_hat, eps));
            keep_no_worse(&mut loss_min_local, &mut delta_local, &found, &local_hat, d);
        }
        let delta = project(&clean, &delta_min, &delta_local, eps);
        let found = accuracy_at(&delta);
        keep_no_worse(&mut loss_min, &mut delta_min, &found, &delta, d);
        if !progress(step + 1, config.steps) {
            break;
        }
    }
    Ok(ArcResult {
        x_adv: tensor(points(&clean, &delta_min), dims, &device),
        expected_accuracy: loss_min,
    })
}

/// Mean over `paths` of [path predicts labels[i]] for each image i (one batched pass per path).
pub fn expected_accuracy(
    model: &RnaModel,
    x: &Tensor<4>,
    labels: &[usize],
    paths: &[Path],
) -> Vec<f64> {
    let n = x.dims()[0];
    assert_eq!(labels.len(), n, "one label per image");
    assert!(!paths.is_empty(), "an ensemble of at least one path");
    let votes: Vec<Vec<usize>> = paths
        .par_iter()
        .map(|p| predictions(model.forward_path(x.clone(), p)))
        .collect();
    (0..n)
        .map(|i| {
            let right = votes.iter().filter(|v| v[i] == labels[i]).count();
            right as f64 / paths.len() as f64
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{IMAGE_LEN, batch_to_tensor};
    use crate::rng::SeededRng;
    use burn::tensor::Device;

    fn tiny_model(seed: u64) -> RnaModel {
        crate::model::tiny_for_tests(seed, crate::model::NormKind::RELEASED.to_vec())
    }

    fn images(n: usize) -> Tensor<4> {
        let mut rng = SeededRng::new(7);
        let pixels: Vec<u8> = (0..n * IMAGE_LEN).map(|_| rng.below(256) as u8).collect();
        batch_to_tensor(&pixels, &Device::flex())
    }

    /// Labels that `path` gets right where `right[i]`, and wrong elsewhere.
    fn labels_for(model: &RnaModel, x: &Tensor<4>, path: &Path, right: &[bool]) -> Vec<usize> {
        let classes = model.num_classes();
        predictions(model.forward_path(x.clone(), path))
            .into_iter()
            .zip(right)
            .map(|(p, &r)| if r { p } else { (p + 1) % classes })
            .collect()
    }

    fn linf(eps: f64, steps: usize, step_size: f64) -> ArcConfig {
        ArcConfig {
            eps,
            steps,
            step_size,
        }
    }

    #[test]
    fn the_expected_accuracy_never_rises_from_one_iteration_to_the_next() {
        let model = tiny_model(3);
        let x = images(4);
        let paths = model.path_space().sample_many(3, 11);
        let labels = labels_for(&model, &x, &paths[0], &[true; 4]);
        let config = linf(8.0 / 255.0, 3, 8.0 / 255.0);
        let mut previous = expected_accuracy(&model, &x, &labels, &paths);
        assert!(
            previous.iter().all(|&a| a >= 1.0 / 3.0),
            "path 0 is right on every clean image"
        );
        // ARC is deterministic: stopping after `stop` iterations gives that prefix of the run.
        let mut prefixes = Vec::new();
        for stop in 1..=3 {
            let mut calls = Vec::new();
            let result = arc(&model, &x, &labels, &paths, &config, &mut |done, steps| {
                calls.push((done, steps));
                done < stop
            })
            .unwrap();
            assert_eq!(calls, (1..=stop).map(|s| (s, 3)).collect::<Vec<_>>());
            let measured = expected_accuracy(&model, &result.x_adv, &labels, &paths);
            assert_eq!(
                result.expected_accuracy, measured,
                "the reported accuracy is the result's"
            );
            for (i, (now, before)) in measured.iter().zip(&previous).enumerate() {
                assert!(
                    now <= before,
                    "image {i}: {before} → {now} at iteration {stop}"
                );
            }
            previous = measured;
            prefixes.push(to_host(result.x_adv));
        }
        let one = arc(
            &model,
            &x,
            &labels,
            &paths,
            &linf(8.0 / 255.0, 1, 8.0 / 255.0),
            &mut |_, _| true,
        )
        .unwrap();
        assert_eq!(
            to_host(one.x_adv),
            prefixes[0],
            "a run stopped after one iteration is a one-iteration run"
        );
    }

    #[test]
    fn the_result_stays_in_the_ball_and_the_pixel_range() {
        let model = tiny_model(4);
        let x = images(4);
        let paths = model.path_space().sample_many(2, 5);
        let labels = labels_for(&model, &x, &paths[0], &[true; 4]);
        // Local steps larger than ε, so that the projection has work to do.
        let eps = 4.0 / 255.0;
        let result = arc(
            &model,
            &x,
            &labels,
            &paths,
            &linf(eps, 2, 8.0 / 255.0),
            &mut |_, _| true,
        )
        .unwrap();
        let (clean, adv) = (to_host(x), to_host(result.x_adv));
        assert_eq!(clean.len(), adv.len());
        for (k, (&c, &a)) in clean.iter().zip(&adv).enumerate() {
            assert!((a - c).abs() as f64 <= eps + 1e-6, "pixel {k}: {c} → {a}");
            assert!((0.0..=1.0).contains(&a), "pixel {k}: {a}");
        }
    }

    #[test]
    fn with_a_zero_budget_the_image_is_unchanged() {
        let model = tiny_model(1);
        let x = images(3);
        let paths = model.path_space().sample_many(2, 1);
        let labels = labels_for(&model, &x, &paths[0], &[true, false, true]);
        let result = arc(
            &model,
            &x,
            &labels,
            &paths,
            &linf(0.0, 2, 8.0 / 255.0),
            &mut |_, _| true,
        )
        .unwrap();
        assert_eq!(to_host(result.x_adv), to_host(x.clone()));
        assert_eq!(
            result.expected_accuracy,
            expected_accuracy(&model, &x, &labels, &paths)
        );
    }

    #[test]
    fn on_one_path_arc_is_a_single_model_attack() {
        let model = tiny_model(5);
        let x = images(6);
        let path = model.path_space().sample_many(1, 2);
        let right = [true, true, true, false, false, false];
        let labels = labels_for(&model, &x, &path[0], &right);
        let result = arc(
            &model,
            &x,
            &labels,
            &path,
            &linf(16.0 / 255.0, 5, 16.0 / 255.0),
            &mut |_, _| true,
        )
        .unwrap();
        let after = predictions(model.forward_path(result.x_adv.clone(), &path[0]));
        for (i, ((&a, &l), &r)) in after.iter().zip(&labels).zip(&right).enumerate() {
            let correct = if a == l { 1.0 } else { 0.0 };
            assert_eq!(result.expected_accuracy[i], correct, "image {i}");
            assert!(
                correct <= if r { 1.0 } else { 0.0 },
                "image {i} was made right"
            );
        }
        assert!(
            result.expected_accuracy[..3].contains(&0.0),
            "a 16/255 budget flips at least one of three images: {:?}",
            result.expected_accuracy
        );
    }

    #[test]
    fn the_expected_accuracy_of_copies_of_one_path_is_that_paths_correctness() {
        let model = tiny_model(2);
        let x = images(6);
        let paths = model.path_space().sample_many(2, 9);
        let labels = labels_for(
            &model,
            &x,
            &paths[0],
            &[true, false, true, false, true, false],
        );
        let correctness = |p: &Path| -> Vec<f64> {
            predictions(model.forward_path(x.clone(), p))
                .iter()
                .zip(&labels)
                .map(|(p, l)| if p == l { 1.0 } else { 0.0 })
                .collect()
        };
        let first = correctness(&paths[0]);
        assert_eq!(first, [1.0, 0.0, 1.0, 0.0, 1.0, 0.0]);
        assert_eq!(
            expected_accuracy(&model, &x, &labels, &vec![paths[0].clone(); 4]),
            first
        );
        let second = correctness(&paths[1]);
        let mean: Vec<f64> = first
            .iter()
            .zip(&second)
            .map(|(a, b)| (a + b) / 2.0)
            .collect();
        assert_eq!(expected_accuracy(&model, &x, &labels, &paths), mean);
    }

    #[test]
    fn bad_inputs_are_refused() {
        let model = tiny_model(1);
        let x = images(2);
        let paths = model.path_space().sample_many(1, 1);
        let ok = linf(8.0 / 255.0, 1, 8.0 / 255.0);
        let refused = |config: &ArcConfig, paths: &[Path], labels: &[usize]| {
            arc(&model, &x, labels, paths, config, &mut |_, _| true)
                .err()
                .expect("refused")
        };
        for eps in [f64::NAN, f64::INFINITY, -0.1, 1.5] {
            assert!(refused(&linf(eps, 1, 0.1), &paths, &[0, 1]).contains("ε"));
        }
        for step_size in [0.0, -1.0, f64::NAN] {
            assert!(refused(&linf(0.1, 1, step_size), &paths, &[0, 1]).contains("step size"));
        }
        assert!(refused(&linf(0.1, 0, 0.1), &paths, &[0, 1]).contains("iteration"));
        assert!(refused(&ok, &[], &[0, 1]).contains("at least one path"));
        assert!(refused(&ok, &[Path::new(Vec::new())], &[0, 1]).contains("layers"));
        assert!(refused(&ok, &paths, &[0]).contains("1 labels for 2 images"));
        assert!(refused(&ok, &paths, &[0, 10]).contains("label 10"));
    }
}
