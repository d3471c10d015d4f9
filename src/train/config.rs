//! A training run as data: the recipe, its attack, and the checks a config must pass.

use serde::{Deserialize, Serialize};

use crate::attack::pgd::PgdConfig;
use crate::model::{Architecture, norm::NormKind};

use super::schedule::Schedule;

/// The attack that generates training examples. One step with α = 1.25 ε and a random start
/// is "FGSM-RS" (Wong et al. 2020); one step with α = ε from noise of radius 2ε, not projected
/// back to the ε-ball, is N-FGSM (de Jorge et al. 2022), which resists catastrophic
/// overfitting; ten steps with α = ε/4 is the official PGD-10.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainAttack {
    /// In /255.
    pub eps: f64,
    pub alpha: f64,
    pub steps: usize,
    /// Radius of the uniform random start in /255 (absent: ε).
    #[serde(default)]
    pub noise: Option<f64>,
    /// Project iterates back to the ε-ball (N-FGSM: false).
    #[serde(default = "yes")]
    pub project: bool,
}

fn yes() -> bool {
    true
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub architecture: String,
    pub norms: Vec<NormKind>,
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f64,
    pub momentum: f64,
    pub weight_decay: f64,
    pub schedule: Schedule,
    pub attack: TrainAttack,
    /// Training images held out to pick the best epoch by PGD accuracy (never the test set).
    pub holdout: usize,
    /// Steps of the held-out PGD evaluation (official policy).
    pub holdout_pgd_steps: usize,
    /// Random crop (pad 4) and horizontal flip.
    pub augment: bool,
    pub seed: u64,
    /// Also checkpoint every this many steps inside an epoch (0: only at epoch ends).
    pub checkpoint_every: usize,
    /// Use only the first N training images (quick runs and tests).
    #[serde(default)]
    pub limit: Option<usize>,
}

impl TrainConfig {
    /// The official recipe: PGD-10 AT, SGD 0.1, 200 epochs, ×0.1 at 100 and 150.
    pub fn official(architecture: &str) -> Self {
        Self {
            architecture: architecture.into(),
            norms: NormKind::RELEASED.to_vec(),
            epochs: 200,
            batch_size: 128,
            lr: 0.1,
            momentum: 0.9,
            weight_decay: 5e-4,
            schedule: Schedule::Multistep {
                milestones: vec![100, 150],
                gamma: 0.1,
            },
            attack: TrainAttack {
                eps: 8.0,
                alpha: 2.0,
                steps: 10,
                noise: None,
                project: true,
            },
            holdout: 1000,
            holdout_pgd_steps: 10,
            augment: true,
            seed: 0,
            checkpoint_every: 50,
            limit: None,
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        Architecture::preset(&self.architecture).map_err(|e| e.to_string())?;
        if self.norms.is_empty() {
            return Err("the candidate list is empty".into());
        }
        if self.epochs == 0 || self.batch_size < 2 {
            return Err(
                "need at least one epoch and a batch of at least 2 (train-mode BatchNorm)".into(),
            );
        }
        if !(self.lr.is_finite()
            && self.lr > 0.0
            && (0.0..1.0).contains(&self.momentum)
            && self.weight_decay.is_finite()
            && self.weight_decay >= 0.0)
        {
            return Err("lr must be > 0, momentum in [0, 1), weight decay ≥ 0".into());
        }
        if self.holdout == 0 || self.holdout_pgd_steps == 0 {
            return Err(
                "the held-out split and its PGD check need at least one image and one step".into(),
            );
        }
        match &self.schedule {
            Schedule::Multistep { gamma, .. } if !(gamma.is_finite() && *gamma > 0.0) => {
                return Err(format!("the multistep factor must be > 0, got {gamma}"));
            }
            Schedule::Cosine { warmup_epochs }
                if !(warmup_epochs.is_finite()
                    && *warmup_epochs >= 0.0
                    && *warmup_epochs < self.epochs as f64) =>
            {
                return Err(format!(
                    "warm-up must be between 0 and the number of epochs, got {warmup_epochs}"
                ));
            }
            _ => {}
        }
        self.attack_config().validate()
    }

    pub fn attack_config(&self) -> PgdConfig {
        PgdConfig {
            project: self.attack.project,
            start_radius: self.attack.noise.map(|r| r / 255.0),
            ..PgdConfig::linf(
                self.attack.eps / 255.0,
                self.attack.alpha / 255.0,
                self.attack.steps,
            )
        }
    }
}
