//! The learning rate over a run: multistep (the official recipe) or cosine with warm-up.

use serde::{Deserialize, Serialize};

use super::config::TrainConfig;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "kind")]
pub enum Schedule {
    /// Multiply the rate by `gamma` at each milestone epoch (the official 100/150 of 200).
    Multistep { milestones: Vec<usize>, gamma: f64 },
    /// Cosine decay to zero over all steps, after a linear warm-up.
    Cosine { warmup_epochs: f64 },
}

impl TrainConfig {
    pub(super) fn learning_rate(
        &self,
        epoch: usize,
        step_in_epoch: usize,
        steps_per_epoch: usize,
    ) -> f64 {
        match &self.schedule {
            Schedule::Multistep { milestones, gamma } => {
                let passed = milestones.iter().filter(|&&m| epoch >= m).count();
                self.lr * gamma.powi(passed as i32)
            }
            Schedule::Cosine { warmup_epochs } => {
                let t = epoch as f64 + step_in_epoch as f64 / steps_per_epoch as f64;
                if t < *warmup_epochs {
                    self.lr * t / warmup_epochs
                } else {
                    let span = (self.epochs as f64 - warmup_epochs).max(1e-9);
                    let p = ((t - warmup_epochs) / span).clamp(0.0, 1.0);
                    self.lr * 0.5 * (1.0 + (std::f64::consts::PI * p).cos())
                }
            }
        }
    }
}
