//! Transfer between paths: attacks crafted on each of K paths, each tested on all K.
//!
//! Entry (i, j) is, among the images both path i and path j classify right when clean, the share
//! path j misclassifies after an attack crafted with full knowledge of path i (policy `fixed` on
//! i): an image either path already gets wrong says nothing about the attack or its transfer. The diagonal is white-box
//! success on one path; off the diagonal is what RNA relies on. Grouping paths by their share of
//! batch-statistic layers shows whether attacks transfer better between paths of similar
//! composition.

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::{AttackConfig, AttackError, PathPolicy, run_attack};
use crate::model::{Path, PathSpace, RnaModel};
use crate::stats::Proportion;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TransferMatrix {
    pub paths: Vec<String>,
    /// Per path: share of its layers that normalize with batch statistics (BN-type).
    pub batch_stat_share: Vec<f64>,
    /// Per path: how many of the images it classifies right when clean (the clean baseline).
    pub clean_right: Vec<usize>,
    /// `success[i][j]`: among the images paths i and j both classify right when clean, the share
    /// path j misclassifies after attacks crafted on path i, with a 95% Wilson interval over
    /// those images; `None` where no image is right on both.
    pub success: Vec<Vec<Option<Proportion>>>,
    pub images: usize,
    pub groups: Vec<GroupCell>,
}

/// Success between paths whose BN-type share falls in the given bins (off-diagonal pairs).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GroupCell {
    pub source_bin: String,
    pub target_bin: String,
    /// Pooled over the group's pairs, with a 95% interval over images, these paths fixed (each
    /// image is one unit: the pairs of a group share it).
    pub success: Proportion,
    /// The same pooled figure with a 95% interval over path pairs (each pair one unit): how much
    /// it would move with other paths of these compositions. Never narrower than the interval
    /// over images (a few pairs that happen to agree say little); the whole range for one pair.
    pub over_pairs: Proportion,
    pub pairs: usize,
}

/// The K source paths of a transfer experiment: one seeding, for the app and the CLI alike.
pub fn transfer_paths(space: &PathSpace, k: usize, seed: u64) -> Vec<Path> {
    space.sample_many(k, seed)
}

/// `per_share` paths for each BN-type share in `shares` (in that order), each with exactly that
/// share of batch-statistic layers at random places: transfer by composition, which uniform
/// sampling cannot reach (it concentrates near the mean share).
pub fn paths_by_composition(
    space: &PathSpace,
    shares: &[f64],
    per_share: usize,
    seed: u64,
) -> Result<Vec<Path>, String> {
    let mut rng = crate::rng::SeededRng::derive(seed, "paths by composition");
    let mut paths = Vec::with_capacity(shares.len() * per_share);
    for &share in shares {
        for _ in 0..per_share {
            paths.push(
                space
                    .sample_with_batch_stat_share(share, &mut rng)
                    .ok_or_else(|| {
                        format!(
                            "no path with {:.0}% batch-statistic layers in the space [{}]",
                            100.0 * share,
                            space.candidate_list()
                        )
                    })?,
            );
        }
    }
    Ok(paths)
}

/// The first `limit` images of `data`, taken in `order`, that every one of `paths` classifies
/// right when clean: a study's image set on which every pair of paths has the same images.
pub fn images_right_on_all_paths(
    model: &RnaModel,
    data: &crate::data::ImageSet,
    order: &[usize],
    paths: &[Path],
    limit: usize,
) -> Vec<usize> {
    const CHUNK: usize = 128;
    let device = model.device();
    let mut chosen = Vec::with_capacity(limit);
    for chunk in order.chunks(CHUNK) {
        if chosen.len() >= limit {
            break;
        }
        let x = data.to_tensor(chunk, device);
        let n = chunk.len();
        let per_sample: Vec<Path> = paths
            .iter()
            .flat_map(|p| std::iter::repeat_n(p.clone(), n))
            .collect();
        let predicted = crate::model::predictions(
            model.forward_paths(x.repeat_dim(0, paths.len()), &per_sample),
        );
        for (s, &index) in chunk.iter().enumerate() {
            let label = usize::from(data.labels[index]);
            if chosen.len() < limit && (0..paths.len()).all(|j| predicted[j * n + s] == label) {
                chosen.push(index);
            }
        }
    }
    chosen
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
) -> Result<TransferMatrix, AttackError> {
    let space = model.path_space();
    let n = labels.len();
    let k = paths.len();
    // wrong[i][j][s]: path j misclassifies image s after the attack crafted on path i.
    let predict_all = |x: Tensor<4>| {
        let batch = x.repeat_dim(0, k);
        let per_sample: Vec<Path> = paths
            .iter()
            .flat_map(|p| std::iter::repeat_n(p.clone(), n))
            .collect();
        crate::model::predictions(model.forward_paths(batch, &per_sample))
    };
    let clean = predict_all(x.clone());
    let clean_ok: Vec<Vec<bool>> = (0..k)
        .map(|j| (0..n).map(|s| clean[j * n + s] == labels[s]).collect())
        .collect();
    let mut wrong: Vec<Vec<Vec<bool>>> = Vec::with_capacity(k);
    for (i, source) in paths.iter().enumerate() {
        let mut config = attack.clone();
        config.policy = PathPolicy::Fixed;
        config.path = Some(source.to_string());
        let result = run_attack(model, x, labels, &config, &mut |_, _, _| progress(i, k))?;
        if result.cancelled {
            break;
        }
        let predicted = predict_all(result.x_adv);
        wrong.push(
            (0..k)
                .map(|j| (0..n).map(|s| predicted[j * n + s] != labels[s]).collect())
                .collect(),
        );
        if !progress(i + 1, k) {
            break;
        }
    }
    // A pair counts the images both its paths had right when clean.
    let both_right = |i: usize, j: usize, s: usize| clean_ok[i][s] && clean_ok[j][s];
    let cell = |i: usize, j: usize| -> (usize, usize) {
        let trials = (0..n).filter(|&s| both_right(i, j, s)).count();
        let hits = (0..n)
            .filter(|&s| both_right(i, j, s) && wrong[i][j][s])
            .count();
        (hits, trials)
    };
    let success: Vec<Vec<Option<Proportion>>> = (0..wrong.len())
        .map(|i| {
            (0..k)
                .map(|j| {
                    let (hits, trials) = cell(i, j);
                    (trials > 0).then(|| Proportion::wilson(hits, trials))
                })
                .collect()
        })
        .collect();
    let shares: Vec<f64> = paths.iter().map(|p| space.batch_stat_share(p)).collect();
    let mut groups = Vec::new();
    for (si, (_, _, sname)) in BINS.iter().enumerate() {
        for (ti, (_, _, tname)) in BINS.iter().enumerate() {
            let pairs: Vec<(usize, usize)> = (0..wrong.len())
                .flat_map(|i| (0..k).map(move |j| (i, j)))
                .filter(|&(i, j)| i != j && bin(shares[i]) == si && bin(shares[j]) == ti)
                .collect();
            // Per image: successes and eligible pairs across the group.
            let per_image: Vec<(f64, f64)> = (0..n)
                .map(|s| {
                    let eligible = pairs.iter().filter(|&&(i, j)| both_right(i, j, s));
                    let (mut hits, mut trials) = (0.0, 0.0);
                    for &(i, j) in eligible {
                        trials += 1.0;
                        hits += f64::from(u8::from(wrong[i][j][s]));
                    }
                    (hits, trials)
                })
                .filter(|&(_, trials)| trials > 0.0)
                .collect();
            let per_pair: Vec<(f64, f64)> = pairs
                .iter()
                .map(|&(i, j)| {
                    let (hits, trials) = cell(i, j);
                    (hits as f64, trials as f64)
                })
                .filter(|&(_, trials)| trials > 0.0)
                .collect();
            if !per_image.is_empty() {
                let success = Proportion::clustered(&per_image);
                let by_pair = Proportion::clustered(&per_pair);
                groups.push(GroupCell {
                    source_bin: sname.to_string(),
                    target_bin: tname.to_string(),
                    success,
                    over_pairs: Proportion {
                        low: by_pair.low.min(success.low),
                        high: by_pair.high.max(success.high),
                        ..success
                    },
                    pairs: pairs.len(),
                });
            }
        }
    }
    Ok(TransferMatrix {
        paths: paths.iter().map(|p| space.format(p)).collect(),
        batch_stat_share: shares,
        clean_right: clean_ok
            .iter()
            .map(|c| c.iter().filter(|&&ok| ok).count())
            .collect(),
        success,
        images: n,
        groups,
    })
}
