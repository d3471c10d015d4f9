//! Transfer between paths: attacks crafted on each of K paths, each tested on all K.
//!
//! Entry (i, j) is the share of images that path j misclassifies after an attack crafted with
//! full knowledge of path i (policy `fixed` on i). The diagonal is white-box success on one
//! path; off the diagonal is what RNA relies on. Grouping paths by their share of batch-statistic
//! layers shows whether attacks transfer better between paths of similar composition.

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::{AttackConfig, PathPolicy, run_attack};
use crate::model::{Path, RnaModel};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TransferMatrix {
    pub paths: Vec<String>,
    /// Per path: share of its layers that normalize with batch statistics (BN-type).
    pub batch_stat_share: Vec<f64>,
    /// `success[i][j]`: misclassification rate of path j on attacks crafted on path i.
    pub success: Vec<Vec<f64>>,
    pub images: usize,
    pub groups: Vec<GroupCell>,
}

/// Mean success between paths whose BN-type share falls in the given bins.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GroupCell {
    pub source_bin: String,
    pub target_bin: String,
    pub mean_success: f64,
    pub pairs: usize,
}

const BINS: [(f64, f64, &str); 4] = [
    (0.0, 0.25, "0–25% BN"),
    (0.25, 0.5, "25–50% BN"),
    (0.5, 0.75, "50–75% BN"),
    (0.75, 1.0 + 1e-9, "75–100% BN"),
];

fn bin(share: f64) -> usize {
    BINS.iter()
        .position(|(lo, hi, _)| share >= *lo && share < *hi)
        .unwrap_or(3)
}

/// Runs the K×K experiment on a batch `x` with `labels`. `progress(i, K)` is called with the
/// number of finished rows at every attack iteration and may return false to stop: the matrix
/// then holds the finished rows only.
pub fn transfer_matrix(
    model: &RnaModel,
    x: &Tensor<4>,
    labels: &[usize],
    paths: &[Path],
    attack: &AttackConfig,
    progress: &mut dyn FnMut(usize, usize) -> bool,
) -> Result<TransferMatrix, String> {
    let space = model.path_space();
    let n = labels.len();
    let k = paths.len();
    let mut success = Vec::with_capacity(k);
    for (i, source) in paths.iter().enumerate() {
        let mut config = attack.clone();
        config.policy = PathPolicy::Fixed;
        config.path = Some(source.to_string());
        let result = run_attack(model, x, labels, &config, &mut |_, _, _| progress(i, k))?;
        if result.cancelled {
            break;
        }
        // All K targets in one batched pass: copy j of the batch runs path j.
        let batch = result.x_adv.repeat_dim(0, k);
        let per_sample: Vec<Path> = paths
            .iter()
            .flat_map(|p| std::iter::repeat_n(p.clone(), n))
            .collect();
        let predicted = crate::model::predictions(model.forward_paths(batch, &per_sample));
        let row: Vec<f64> = (0..k)
            .map(|j| {
                let wrong = (0..n)
                    .filter(|&s| predicted[j * n + s] != labels[s])
                    .count();
                wrong as f64 / n as f64
            })
            .collect();
        success.push(row);
        if !progress(i + 1, k) {
            break;
        }
    }
    let shares: Vec<f64> = paths.iter().map(|p| space.batch_stat_share(p)).collect();
    let mut groups = Vec::new();
    for (si, (_, _, sname)) in BINS.iter().enumerate() {
        for (ti, (_, _, tname)) in BINS.iter().enumerate() {
            let cells: Vec<f64> = (0..success.len())
                .flat_map(|i| (0..k).map(move |j| (i, j)))
                .filter(|&(i, j)| i != j && bin(shares[i]) == si && bin(shares[j]) == ti)
                .map(|(i, j)| success[i][j])
                .collect();
            if !cells.is_empty() {
                groups.push(GroupCell {
                    source_bin: sname.to_string(),
                    target_bin: tname.to_string(),
                    mean_success: cells.iter().sum::<f64>() / cells.len() as f64,
                    pairs: cells.len(),
                });
            }
        }
    }
    Ok(TransferMatrix {
        paths: paths.iter().map(|p| space.format(p)).collect(),
        batch_stat_share: shares,
        success,
        images: n,
        groups,
    })
}
