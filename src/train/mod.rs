//! Adversarial training with the official RNA recipe (Madry PGD-AT, loss on adversarial
//! examples only): each step crafts the attack on one random path in train mode, then updates
//! the weights along an independently drawn path.
//!
//! Everything random in step `s` (augmentation, both paths, the attack's start) derives from
//! `(seed, s)`, and the data order of epoch `e` from `(seed, e)`, so a run resumed from a
//! checkpoint at step `s` continues exactly as the uninterrupted run would.
//!
//! Optimizer: SGD with momentum and weight decay in PyTorch's formulation. A candidate that is
//! not on the step's path gets no gradient, and — like PyTorch's SGD when gradients are reset to
//! `None` (its default since 2.0) — no weight decay and no momentum step either. This differs
//! from the official release, which ran on PyTorch 1.x where `zero_grad()` zero-fills: there a
//! candidate used once keeps receiving weight decay and momentum steps while unselected.

mod checkpoint;
mod config;
mod optimizer;
mod schedule;
mod trainer;

pub use checkpoint::{EpochLog, TrainState};
pub use config::TrainConfig;
pub use schedule::Schedule;
pub use trainer::{Progress, Trainer};

/// Why a run cannot start, go on or be saved; each message is one line, as the CLI prints it.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A config, data set or checkpoint that does not fit the run, or a held-out check that
    /// failed.
    #[error("{0}")]
    Refused(String),
    #[error("{path}: {error}")]
    Io { path: String, error: std::io::Error },
    /// A file-system error without a path of its own (creating the run folder).
    #[error(transparent)]
    Fs(#[from] std::io::Error),
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
    #[error(transparent)]
    State(#[from] serde_json::Error),
    /// The held-out check between epochs failed.
    #[error(transparent)]
    Eval(#[from] crate::eval::EvalError),
}

type Result<T> = std::result::Result<T, TrainError>;

/// `Err(Refused(message()))` unless `condition` holds.
fn ensure(condition: bool, message: impl FnOnce() -> String) -> Result<()> {
    if condition {
        Ok(())
    } else {
        Err(TrainError::Refused(message()))
    }
}
