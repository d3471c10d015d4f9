//! Projected gradient descent (Madry et al. 2018) in L∞ or L2, with FGSM and MI-FGSM as
//! settings of the same loop. The gradient comes from an [`Objective`], which hides how paths
//! are chosen (one fixed path, a fresh path per step, an average over paths, train mode).

use burn::tensor::{Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::rng::SeededRng;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Norm {
    #[default]
    Linf,
    L2,
}

/// Attack settings; ε and α are fractions of the pixel range (8/255 = 0.0314).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PgdConfig {
    pub eps: f64,
    pub alpha: f64,
    pub steps: usize,
    pub random_start: bool,
    pub norm: Norm,
    /// MI-FGSM momentum decay μ (Dong et al. 2018); 0 is plain PGD.
    #[serde(default)]
    pub momentum: f64,
    /// Keep iterates within ε of the clean image. N-FGSM (de Jorge et al. 2022) trains on a
    /// step from a start outside the ball and does not project back; attacks always project.
    #[serde(default = "yes")]
    pub project: bool,
    /// Radius of the random start when it is not ε (N-FGSM: 2ε).
    #[serde(default)]
    pub start_radius: Option<f64>,
}

fn yes() -> bool {
    true
}

impl PgdConfig {
    /// PGD-k, ε = 8/255, α = 2/255, random start: the training and evaluation default.
    pub fn linf(eps: f64, alpha: f64, steps: usize) -> Self {
        Self {
            eps,
            alpha,
            steps,
            random_start: true,
            norm: Norm::Linf,
            momentum: 0.0,
            project: true,
            start_radius: None,
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        let finite_nonneg = |v: f64| v.is_finite() && v >= 0.0;
        if !finite_nonneg(self.eps) {
            return Err(format!("ε must be a finite number ≥ 0, got {}", self.eps));
        }
        if !finite_nonneg(self.alpha) || self.alpha == 0.0 {
            return Err(format!(
                "the step size must be finite and > 0, got {}",
                self.alpha
            ));
        }
        if self.norm == Norm::Linf && self.eps > 1.0 {
            return Err(format!(
                "ε = {} exceeds the pixel range [0, 1]; give ε in /255 (e.g. 8) or as a fraction ≤ 1",
                self.eps
            ));
        }
        if self
            .start_radius
            .is_some_and(|r| !(r.is_finite() && (0.0..=1.0).contains(&r)))
        {
            return Err("the random start's radius must be in [0, 1]".into());
        }
        if self.steps == 0 {
            return Err("an attack needs at least one step".into());
        }
        if self.steps > 100_000 {
            return Err(format!(
                "{} steps is beyond any sensible attack (max 100000)",
                self.steps
            ));
        }
        if !(self.momentum.is_finite() && (0.0..=10.0).contains(&self.momentum)) {
            return Err(format!(
                "momentum must be in [0, 10], got {}",
                self.momentum
            ));
        }
        Ok(())
    }
}

/// What the objective measured at one iterate.
pub struct StepEval {
    /// Per-sample loss `[N]` (averaged over paths for EOT).
    pub loss: Tensor<1>,
    /// Its gradient with respect to the input.
    pub grad: Tensor<4>,
    /// Logits `[N, K]` the loss came from (averaged over paths for EOT).
    pub logits: Tensor<2>,
    /// For EOT: per-path losses `[paths, N]`, whose spread the views draw as a band.
    pub per_path_loss: Option<Tensor<2>>,
}

/// Where attack gradients come from.
pub trait Objective {
    /// Loss, gradient and logits at `x`; `step` counts from 0.
    fn evaluate(&mut self, x: Tensor<4>, step: usize) -> StepEval;
}

/// Uniform noise in [−ε, ε] (L∞) from our RNG, so a seed fixes the start on every platform.
pub fn uniform_noise(
    dims: [usize; 4],
    eps: f64,
    rng: &mut SeededRng,
    device: &burn::tensor::Device,
) -> Tensor<4> {
    let n: usize = dims.iter().product();
    let v: Vec<f32> = (0..n)
        .map(|_| ((rng.next_f64() * 2.0 - 1.0) * eps) as f32)
        .collect();
    Tensor::from_data(TensorData::new(v, dims), device)
}

/// A random point of the L2 ball of radius `eps` per sample, as torchattacks' PGDL2 draws it: a
/// Gaussian direction scaled to a radius uniform in [0, ε].
pub fn l2_ball_noise(
    dims: [usize; 4],
    eps: f64,
    rng: &mut SeededRng,
    device: &burn::tensor::Device,
) -> Tensor<4> {
    let per_sample = dims[1] * dims[2] * dims[3];
    let mut v = Vec::with_capacity(dims[0] * per_sample);
    for _ in 0..dims[0] {
        let direction: Vec<f64> = (0..per_sample).map(|_| rng.normal()).collect();
        let norm = direction
            .iter()
            .map(|d| d * d)
            .sum::<f64>()
            .sqrt()
            .max(1e-12);
        let radius = rng.next_f64() * eps;
        v.extend(direction.iter().map(|d| (d / norm * radius) as f32));
    }
    Tensor::from_data(TensorData::new(v, dims), device)
}

/// Per-sample L2 norm as `[N, 1, 1, 1]`, floored to avoid division by zero.
fn l2_norm(t: Tensor<4>) -> Tensor<4> {
    let [n, c, h, w] = t.dims();
    t.powi_scalar(2)
        .reshape([n, c * h * w])
        .sum_dim(1)
        .sqrt()
        .clamp_min(1e-12)
        .reshape([n, 1, 1, 1])
}

/// Projects `x_adv` onto the ε-ball around `x` and onto [0, 1].
pub fn project(x_adv: Tensor<4>, x: &Tensor<4>, eps: f64, norm: Norm) -> Tensor<4> {
    let delta = x_adv.sub(x.clone());
    let delta = match norm {
        Norm::Linf => delta.clamp(-eps, eps),
        Norm::L2 => {
            let factor = l2_norm(delta.clone())
                .recip()
                .mul_scalar(eps)
                .clamp_max(1.0);
            delta.mul(factor)
        }
    };
    x.clone().add(delta).clamp(0.0, 1.0)
}

/// Called at every iterate with the step index, the iterate and the objective's evaluation of
/// it, before the step is taken; return false to stop (cancellation between iterations).
pub type StepHook<'h> = dyn FnMut(usize, &Tensor<4>, &StepEval) -> bool + 'h;

/// Runs the attack from `x` (plain tensor, in [0, 1]) and returns the final iterate.
pub fn run(
    config: &PgdConfig,
    x: &Tensor<4>,
    objective: &mut dyn Objective,
    rng: &mut SeededRng,
    hook: &mut StepHook<'_>,
) -> Tensor<4> {
    let device = x.device();
    let mut x_adv = x.clone();
    let radius = config.start_radius.unwrap_or(config.eps);
    // Within the ball and the pixel range, or the pixel range alone (N-FGSM).
    let constrain = |x_adv: Tensor<4>| {
        if config.project {
            project(x_adv, x, config.eps, config.norm)
        } else {
            x_adv.clamp(0.0, 1.0)
        }
    };
    if config.random_start && radius > 0.0 {
        let noise = match config.norm {
            Norm::Linf => uniform_noise(x.dims(), radius, rng, &device),
            Norm::L2 => l2_ball_noise(x.dims(), radius, rng, &device),
        };
        x_adv = constrain(x_adv.add(noise));
    }
    let mut velocity: Option<Tensor<4>> = None;
    for step in 0..config.steps {
        let eval = objective.evaluate(x_adv.clone(), step);
        if !hook(step, &x_adv, &eval) {
            break;
        }
        let grad = eval.grad;
        let grad = if config.momentum > 0.0 {
            // MI-FGSM: accumulate L1-normalized gradients.
            let [n, c, h, w] = grad.dims();
            let l1 = grad
                .clone()
                .abs()
                .reshape([n, c * h * w])
                .sum_dim(1)
                .clamp_min(1e-12)
                .reshape([n, 1, 1, 1]);
            let g = grad.div(l1);
            let v = match velocity.take() {
                Some(v) => v.mul_scalar(config.momentum).add(g),
                None => g,
            };
            velocity = Some(v.clone());
            v
        } else {
            grad
        };
        let step_dir = match config.norm {
            Norm::Linf => grad.sign(),
            Norm::L2 => grad.clone().div(l2_norm(grad)),
        };
        x_adv = constrain(x_adv.add(step_dir.mul_scalar(config.alpha)));
    }
    x_adv
}
