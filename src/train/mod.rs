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
pub use config::{TrainAttack, TrainConfig};
pub use schedule::Schedule;
pub use trainer::{Progress, Trainer};
