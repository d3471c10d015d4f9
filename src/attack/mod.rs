//! Adversarial attacks in pixel space [0, 1], and the path policies that make them meaningful
//! against a network that samples its normalization per forward pass.

pub mod loss;
pub mod pgd;
pub mod policy;

pub use loss::LossKind;
pub use pgd::{Norm, Objective, PgdConfig};
pub use policy::{PathObjective, PathPolicy};
