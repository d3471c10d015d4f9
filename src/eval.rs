//! Accuracy under attack, with the path protocol spelled out.
//!
//! As in the official evaluation, each mini-batch is attacked along the path(s) the policy
//! prescribes, and classified by the defender with one path for the whole batch: the attacker's
//! own path under `fixed`, an independently drawn path otherwise.

use serde::{Deserialize, Serialize};

use crate::attack::loss::{LossKind, one_hot};
use crate::attack::pgd::{self, PgdConfig};
use crate::attack::policy::{PathObjective, PathPolicy};
use crate::data::ImageSet;
use crate::model::{Path, RnaModel};
use crate::rng::SeededRng;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalConfig {
    /// `None`: natural accuracy only.
    pub attack: Option<PgdConfig>,
    pub policy: PathPolicy,
    pub loss: LossKind,
    /// For `fixed`: the path to attack and defend with (else one is drawn per batch).
    pub path: Option<String>,
    pub seed: u64,
}

impl EvalConfig {
    /// PGD-k, ε 8/255, α 2/255, random start, official policy: the held-out check in training.
    pub fn official_pgd(steps: usize, seed: u64) -> Self {
        Self {
            attack: Some(PgdConfig::linf(8.0 / 255.0, 2.0 / 255.0, steps)),
            policy: PathPolicy::Official,
            loss: LossKind::Ce,
            path: None,
            seed,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EvalReport {
    pub images: usize,
    pub natural_accuracy: f64,
    pub robust_accuracy: Option<f64>,
    pub protocol: String,
    pub seconds: f64,
}

/// Evaluates on the first `limit` images in batches. `progress(done, total)` may return false
/// to stop early; the report then covers the images done so far.
pub fn evaluate(
    model: &RnaModel,
    data: &ImageSet,
    config: &EvalConfig,
    limit: usize,
    batch_size: usize,
    progress: &mut dyn FnMut(usize, usize) -> bool,
) -> EvalReport {
    let started = std::time::Instant::now();
    let total = data.len().min(limit);
    let space = model.path_space().clone();
    let fixed_path: Option<Path> = config
        .path
        .as_deref()
        .map(|t| space.parse(t).expect("path validated by caller"));
    let mut attacker_rng = SeededRng::derive(config.seed, "attacker");
    let mut defender_rng = SeededRng::derive(config.seed, "defender");
    let mut noise_rng = SeededRng::derive(config.seed, "attack-noise");
    let device = model.device().clone();
    let (mut natural, mut robust, mut done) = (0usize, 0usize, 0usize);
    for start in (0..total).step_by(batch_size.max(1)) {
        let indices: Vec<usize> = (start..(start + batch_size).min(total)).collect();
        let x = data.to_tensor(&indices, &device);
        let labels: Vec<usize> = indices
            .iter()
            .map(|&i| usize::from(data.labels[i]))
            .collect();
        let attack_path = fixed_path
            .clone()
            .unwrap_or_else(|| space.sample(&mut attacker_rng));
        let defender_path = if config.policy.defender_independent() {
            space.sample(&mut defender_rng)
        } else {
            attack_path.clone()
        };
        natural += count_correct(model, x.clone(), &defender_path, &labels);
        if let Some(attack) = &config.attack {
            let targets = one_hot(&labels, model.num_classes(), &device);
            let mut objective = PathObjective::new(
                model,
                config.policy.clone(),
                attack_path,
                targets,
                config.loss,
                false,
                SeededRng::derive(config.seed ^ start as u64, "attack-paths"),
            );
            let x_adv = pgd::run(
                attack,
                &x,
                &mut objective,
                &mut noise_rng,
                &mut |_, _, _| true,
            );
            robust += count_correct(model, x_adv, &defender_path, &labels);
        }
        done += indices.len();
        if !progress(done, total) {
            break;
        }
    }
    let frac = |n: usize| {
        if done == 0 {
            0.0
        } else {
            n as f64 / done as f64
        }
    };
    EvalReport {
        images: done,
        natural_accuracy: frac(natural),
        robust_accuracy: config.attack.as_ref().map(|_| frac(robust)),
        protocol: describe(config),
        seconds: started.elapsed().as_secs_f64(),
    }
}

fn count_correct(
    model: &RnaModel,
    x: burn::tensor::Tensor<4>,
    path: &Path,
    labels: &[usize],
) -> usize {
    let predicted: Vec<i64> = model
        .forward_path(x, path)
        .argmax(1)
        .into_data()
        .convert::<i64>()
        .try_into_vec()
        .expect("ints");
    predicted
        .iter()
        .zip(labels)
        .filter(|(p, l)| **p as usize == **l)
        .count()
}

pub fn describe(config: &EvalConfig) -> String {
    match &config.attack {
        None => format!("natural accuracy; defender: {}", config.policy.describe()),
        Some(a) => format!(
            "{}-step {:?} attack, ε {:.2}/255, α {:.2}/255, {}random start, {:?} loss; {}",
            a.steps,
            a.norm,
            a.eps * 255.0,
            a.alpha * 255.0,
            if a.random_start { "" } else { "no " },
            config.loss,
            config.policy.describe()
        ),
    }
}
