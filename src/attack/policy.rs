//! Path policies: which path(s) the attacker differentiates through, and which path the
//! defender classifies with. An RNA network is random, so an attack is only defined together
//! with its policy.

use std::fmt;
use std::str::FromStr;

use burn::tensor::Tensor;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::loss::{LossKind, loss};
use super::pgd::{Objective, StepEval};
use crate::model::{Path, RnaModel};
use crate::rng::SeededRng;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PathPolicy {
    /// One path for the whole attack, and the defender uses the same one (white box on a path).
    Fixed,
    /// Attack one random path; the defender draws an independent one (the paper's protocol).
    Official,
    /// A fresh random path at every step; the defender draws an independent one.
    Resample,
    /// Every step averages the gradient over K random paths (expectation over transformation).
    Eot(usize),
}

impl PathPolicy {
    /// Whether the defender's path is drawn independently of the attacker's.
    pub fn defender_independent(&self) -> bool {
        !matches!(self, PathPolicy::Fixed)
    }

    /// One line for reports: what the attacker knows and what the defender does.
    pub fn describe(&self) -> String {
        match self {
            PathPolicy::Fixed => {
                "fixed: attack and defence on the same path (white box on one path)".into()
            }
            PathPolicy::Official => {
                "official: attack on one random path, defence on an independent random path".into()
            }
            PathPolicy::Resample => {
                "resample: a new random path every step, defence on an independent random path"
                    .into()
            }
            PathPolicy::Eot(k) => format!(
                "eot:{k}: each step averages gradients over {k} random paths, defence on an independent random path"
            ),
        }
    }
}

impl fmt::Display for PathPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathPolicy::Fixed => write!(f, "fixed"),
            PathPolicy::Official => write!(f, "official"),
            PathPolicy::Resample => write!(f, "resample"),
            PathPolicy::Eot(k) => write!(f, "eot:{k}"),
        }
    }
}

impl FromStr for PathPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim().to_ascii_lowercase();
        match s.as_str() {
            "fixed" => Ok(Self::Fixed),
            "official" => Ok(Self::Official),
            "resample" => Ok(Self::Resample),
            _ => {
                let k = s
                    .strip_prefix("eot:")
                    .or_else(|| s.strip_prefix("eot"))
                    .ok_or_else(|| {
                        format!(
                            "unknown path policy '{s}': expected fixed, official, resample or eot:K"
                        )
                    })?;
                let k: usize = k
                    .parse()
                    .map_err(|_| format!("eot needs a number of paths, e.g. eot:10 (got '{s}')"))?;
                let max = crate::limits::MAX_EOT_PATHS;
                if k == 0 || k > max {
                    return Err(format!("eot:K needs 1 ≤ K ≤ {max}, got {k}"));
                }
                Ok(Self::Eot(k))
            }
        }
    }
}

/// How paths are drawn across the images of one attacked batch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pairing {
    /// Every image draws its own attacker path(s) and its own defender path, so the images of a
    /// batch are independent trials and intervals over images are honest.
    #[default]
    Image,
    /// One (attacker, defender) pair for the whole batch, as the official evaluation code does.
    Batch,
}

impl Pairing {
    pub fn describe(self) -> &'static str {
        match self {
            Pairing::Image => "a path pair per image",
            Pairing::Batch => "one path pair per batch (the official code's pairing)",
        }
    }
}

impl fmt::Display for Pairing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Pairing::Image => "image",
            Pairing::Batch => "batch",
        })
    }
}

impl FromStr for Pairing {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "image" => Ok(Self::Image),
            "batch" => Ok(Self::Batch),
            other => Err(format!(
                "unknown pairing '{other}': expected image or batch"
            )),
        }
    }
}

/// `n` paths from `rng`: each its own under `image` pairing, one repeated under `batch`. The
/// first path is the same either way, so a one-image attack does not depend on the pairing.
pub fn draw_paths(model: &RnaModel, n: usize, pairing: Pairing, rng: &mut SeededRng) -> Vec<Path> {
    let space = model.path_space();
    match pairing {
        Pairing::Image => (0..n).map(|_| space.sample(rng)).collect(),
        Pairing::Batch => vec![space.sample(rng); n],
    }
}

/// Gradients of an eval-mode model along the paths a policy prescribes.
pub struct PathObjective<'m> {
    pub model: &'m RnaModel,
    pub policy: PathPolicy,
    pub pairing: Pairing,
    /// Per image, the attacker's path for `fixed` and `official`; the first step's for the others.
    pub attack_paths: Vec<Path>,
    pub one_hot: Tensor<2>,
    pub loss: LossKind,
    /// +1 to raise the loss of the true labels (untargeted), −1 to lower the target's loss.
    pub sign: f64,
    pub rng: SeededRng,
}

impl<'m> PathObjective<'m> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        model: &'m RnaModel,
        policy: PathPolicy,
        pairing: Pairing,
        attack_paths: Vec<Path>,
        one_hot: Tensor<2>,
        loss: LossKind,
        targeted: bool,
        rng: SeededRng,
    ) -> Self {
        Self {
            model,
            policy,
            pairing,
            attack_paths,
            one_hot,
            loss,
            sign: if targeted { -1.0 } else { 1.0 },
            rng,
        }
    }

    /// The copies of the batch this step differentiates through, each with a path per image.
    fn paths_for_step(&mut self, step: usize) -> Vec<Vec<Path>> {
        let n = self.attack_paths.len();
        match self.policy {
            PathPolicy::Fixed | PathPolicy::Official => vec![self.attack_paths.clone()],
            PathPolicy::Resample if step == 0 => vec![self.attack_paths.clone()],
            PathPolicy::Resample => vec![draw_paths(self.model, n, self.pairing, &mut self.rng)],
            PathPolicy::Eot(k) => (0..k)
                .map(|_| draw_paths(self.model, n, self.pairing, &mut self.rng))
                .collect(),
        }
    }
}

impl Objective for PathObjective<'_> {
    fn evaluate(&mut self, x: Tensor<4>, step: usize) -> StepEval {
        let copies = self.paths_for_step(step);
        // One step inside the thread pool: run from outside it (the app's worker, the CLI),
        // every parallel operation of the step would hand its work to the pool and sleep
        // until it is done, which on one image costs more than the work (PGD-20 on one image:
        // 90 ms → 64 ms).
        rayon::scope(|_| eot_evaluate(self.model, x, &copies, &self.one_hot, self.loss, self.sign))
    }
}

/// Most images one thread runs through autodiff in one EOT pass.
const EOT_ROWS: usize = 1024;

/// Mean over `copies` of the per-sample loss, and its gradient: the batch is replicated once per
/// copy and image i of copy c runs `copies[c][i]`, in batched passes, one group of copies per
/// thread (much of a pass is single-threaded work between convolutions). `sign` −1 descends the
/// loss (targeted attacks); the reported loss is the raw loss either way.
pub fn eot_evaluate(
    model: &RnaModel,
    x: Tensor<4>,
    copies: &[Vec<Path>],
    one_hot: &Tensor<2>,
    kind: LossKind,
    sign: f64,
) -> StepEval {
    let n = x.dims()[0];
    let k = copies.len();
    assert!(
        copies.iter().all(|c| c.len() == n),
        "a path per image in every copy"
    );
    let classes = model.num_classes();
    // One group of copies per thread, each at most EOT_ROWS images through autodiff at once
    // (EOT-50 on a batch of 128 would otherwise hold 3,200 images' activations per thread).
    let group = k
        .div_ceil(rayon::current_num_threads().clamp(1, k.max(1)))
        .min((EOT_ROWS / n.max(1)).max(1));
    // Per group of copies: per-copy losses [k_g, N], the group's share of the gradient, logits.
    let parts: Vec<(Tensor<2>, Tensor<4>, Tensor<2>)> = copies
        .par_chunks(group.max(1))
        .map(|copies| {
            let count = copies.len();
            let x_tracked = x.clone().inner().autodiff().require_grad();
            let per_sample: Vec<Path> = copies.iter().flatten().cloned().collect();
            let logits = model.forward_paths(x_tracked.clone().repeat_dim(0, count), &per_sample);
            let per_copy = loss(kind, logits.clone(), one_hot.clone().repeat_dim(0, count))
                .reshape([count, n]);
            let grads = per_copy
                .clone()
                .sum()
                .mul_scalar(sign / k as f64)
                .backward();
            let grad = x_tracked.grad(&grads).expect("input gradient");
            (per_copy.inner(), grad, logits.inner())
        })
        .collect();
    let per_copy = Tensor::cat(parts.iter().map(|(l, _, _)| l.clone()).collect(), 0);
    let grad = parts.iter().map(|(_, g, _)| g.clone()).reduce(Tensor::add);
    let logits = Tensor::cat(parts.into_iter().map(|(_, _, o)| o).collect(), 0);
    StepEval {
        loss: per_copy.clone().mean_dim(0).reshape([n]),
        grad: grad.expect("at least one path"),
        logits: logits
            .reshape([k, n, classes])
            .mean_dim(0)
            .reshape([n, classes]),
        per_path_loss: (k > 1).then_some(per_copy),
    }
}
