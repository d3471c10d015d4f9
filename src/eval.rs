//! Accuracy under attack, with the path protocol spelled out.
//!
//! As in the official evaluation, each mini-batch is attacked along the path(s) its policy
//! prescribes and classified by the defender with one path for the whole batch: the attacker's
//! own path under `fixed`, an independently drawn one otherwise. Every batch draws its paths
//! from the seed and its index, so a run is reproducible and any batch can be replayed alone.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::attack::{AttackConfig, AttackKind, PathPolicy, attack_paths, run_attack};
use crate::data::ImageSet;
use crate::model::{Path, RnaModel};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalConfig {
    /// `None`: natural accuracy only.
    pub attack: Option<AttackConfig>,
    /// Paths of the natural pass when there is no attack: `fixed` with `path`, else random.
    pub path: Option<String>,
    pub seed: u64,
}

impl EvalConfig {
    /// PGD-k, ε 8/255, α 2/255, random start, official policy: the held-out check in training.
    pub fn official_pgd(steps: usize, seed: u64) -> Self {
        let mut attack = AttackConfig::preset(AttackKind::Pgd);
        attack.steps = steps;
        Self {
            attack: Some(attack),
            path: None,
            seed,
        }
    }

    /// The configuration of batch `index`: its own seed, the common path if any.
    fn for_batch(&self, index: usize) -> AttackConfig {
        let seed = crate::rng::SeededRng::derive(self.seed, &format!("batch-{index}")).next_u64();
        let mut config = self.attack.clone().unwrap_or_else(|| {
            let mut natural = AttackConfig::preset(AttackKind::Fgsm);
            natural.policy = if self.path.is_some() {
                PathPolicy::Fixed
            } else {
                PathPolicy::Official
            };
            natural
        });
        config.seed = seed;
        if self.path.is_some() {
            config.path = self.path.clone();
        }
        config
    }

    pub fn describe(&self) -> String {
        match &self.attack {
            None => match &self.path {
                Some(p) => format!("natural accuracy on the fixed path {p}"),
                None => "natural accuracy; each batch classified by a random path".into(),
            },
            Some(a) => describe_attack(a),
        }
    }
}

pub fn describe_attack(a: &AttackConfig) -> String {
    let mut s = format!("{} (", a.kind);
    if a.is_apgd() {
        s += &format!("{} iterations", a.steps);
    } else {
        s += &format!(
            "{} step{}, α {:.2}/255",
            a.steps,
            if a.steps == 1 { "" } else { "s" },
            a.alpha * 255.0
        );
    }
    s += &format!(
        ", ε {}, {}random start, {} restart{}, {} loss{}); {}",
        if a.kind.norm() == crate::attack::Norm::L2 {
            format!("{:.3} (L2)", a.eps)
        } else {
            format!("{:.2}/255", a.eps * 255.0)
        },
        if a.random_start || a.is_apgd() {
            ""
        } else {
            "no "
        },
        a.restarts,
        if a.restarts == 1 { "" } else { "s" },
        a.loss,
        a.target
            .map(|t| format!(", targeted at class {t}"))
            .unwrap_or_default(),
        a.policy.describe()
    );
    s
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EvalReport {
    pub images: usize,
    pub natural_accuracy: f64,
    pub robust_accuracy: Option<f64>,
    pub protocol: String,
    pub seconds: f64,
}

/// Evaluates every image of `data` in batches. `progress(done, total)` may return false to
/// stop early; the report then covers the images done so far.
pub fn evaluate(
    model: &RnaModel,
    data: &ImageSet,
    config: &EvalConfig,
    batch_size: usize,
    progress: &mut dyn FnMut(usize, usize) -> bool,
) -> Result<EvalReport, String> {
    let started = std::time::Instant::now();
    let total = data.len();
    let device = model.device().clone();
    let batch_size = batch_size.max(1);
    let starts: Vec<(usize, usize)> = (0..total).step_by(batch_size).enumerate().collect();
    // As many batches side by side as there are threads: much of a pass is single-threaded
    // work between convolutions. Results do not depend on it (each batch has its own seed).
    let side_by_side = rayon::current_num_threads().max(1);
    let (mut natural, mut robust, mut done) = (0usize, 0usize, 0usize);
    'groups: for group in starts.chunks(side_by_side) {
        let counts: Vec<Result<(usize, usize, usize), String>> = group
            .par_iter()
            .map(|&(index, start)| {
                let indices: Vec<usize> = (start..(start + batch_size).min(total)).collect();
                let x = data.to_tensor(&indices, &device);
                let labels: Vec<usize> = indices
                    .iter()
                    .map(|&i| usize::from(data.labels[i]))
                    .collect();
                let batch = config.for_batch(index);
                let (_, defender) = attack_paths(model, &batch)?;
                let natural = count_correct(model, x.clone(), &defender, &labels);
                let robust = match config.attack {
                    Some(_) => {
                        let result = run_attack(model, &x, &labels, &batch, &mut |_, _, _| true)?;
                        count_correct(model, result.x_adv, &result.defender_path, &labels)
                    }
                    None => 0,
                };
                Ok((natural, robust, indices.len()))
            })
            .collect();
        for count in counts {
            let (n, r, len) = count?;
            natural += n;
            robust += r;
            done += len;
            if !progress(done, total) {
                break 'groups;
            }
        }
    }
    let frac = |n: usize| {
        if done == 0 {
            0.0
        } else {
            n as f64 / done as f64
        }
    };
    Ok(EvalReport {
        images: done,
        natural_accuracy: frac(natural),
        robust_accuracy: config.attack.as_ref().map(|_| frac(robust)),
        protocol: config.describe(),
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// How many of `labels` the model gets right on `path`.
pub fn count_correct(
    model: &RnaModel,
    x: burn::tensor::Tensor<4>,
    path: &Path,
    labels: &[usize],
) -> usize {
    crate::model::count_correct(model.forward_path(x, path), labels)
}
