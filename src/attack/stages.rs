//! The sub-attacks of AutoAttack-style sequences, and the black-box and boundary attacks
//! (Square, FAB) that query the model along the paths a policy prescribes rather than follow
//! the policy's averaged gradient.

use burn::tensor::Tensor;

use super::loss::LossKind;
use super::{AttackConfig, AttackKind, PathPolicy, draw_paths, fab, square};
use crate::model::{Path, RnaModel};
use crate::rng::SeededRng;

/// AutoAttack's number of target classes for APGD-T and FAB-T.
const TARGET_CLASSES: usize = 9;
/// AutoAttack's standard Square budget.
const STANDARD_QUERIES: usize = 5000;

/// One sub-attack of a sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// The configured step rule (APGD, or the PGD family) with this loss towards the labels.
    Gradient(LossKind),
    /// APGD with the targeted DLR loss towards the class ranked `rank` (2: the runner-up) by
    /// the clean logits.
    ApgdTargeted(usize),
    /// Targeted FAB towards the class ranked `rank`.
    FabTargeted(usize),
    Square,
}

/// The stages of an attack, in AutoAttack's order.
pub fn stages(config: &AttackConfig, classes: usize) -> Vec<Stage> {
    let ranks = 2..=(TARGET_CLASSES + 1).min(classes);
    match config.kind {
        AttackKind::AutoattackRand => vec![
            Stage::Gradient(LossKind::Ce),
            Stage::Gradient(LossKind::Dlr),
        ],
        AttackKind::ApgdT => ranks.map(Stage::ApgdTargeted).collect(),
        AttackKind::FabT => ranks.map(Stage::FabTargeted).collect(),
        AttackKind::AutoattackStandard => std::iter::once(Stage::Gradient(LossKind::Ce))
            .chain(ranks.clone().map(Stage::ApgdTargeted))
            .chain(ranks.map(Stage::FabTargeted))
            .chain(std::iter::once(Stage::Square))
            .collect(),
        AttackKind::Square => vec![Stage::Square],
        _ => vec![Stage::Gradient(config.loss)],
    }
}

/// Per image, every class from the highest clean logit on its attack path down (AutoAttack
/// takes targets from the clean output's ranking).
pub fn ranked_classes(model: &RnaModel, x: &Tensor<4>, attack_paths: &[Path]) -> Vec<Vec<usize>> {
    let classes = model.num_classes();
    let logits: Vec<f32> = crate::device::to_host(model.forward_paths(x.clone(), attack_paths));
    logits
        .chunks(classes)
        .map(|row| {
            let mut order: Vec<usize> = (0..classes).collect();
            order.sort_by(|&a, &b| row[b].total_cmp(&row[a]));
            order
        })
        .collect()
}

/// The copies of the images `rows` one query runs: each image's attack path (`fixed`,
/// `official`), a fresh path (`resample`), or K fresh paths to average over (`eot:K`).
fn query_copies(
    model: &RnaModel,
    config: &AttackConfig,
    attack_paths: &[Path],
    rows: &[usize],
    fresh: &mut SeededRng,
) -> Vec<Vec<Path>> {
    let draw = |fresh: &mut SeededRng| draw_paths(model, rows.len(), config.pairing, fresh);
    match config.policy {
        PathPolicy::Fixed | PathPolicy::Official => {
            vec![rows.iter().map(|&i| attack_paths[i].clone()).collect()]
        }
        PathPolicy::Resample => vec![draw(fresh)],
        PathPolicy::Eot(k) => (0..k).map(|_| draw(fresh)).collect(),
    }
}

/// Logits `[N, K]` of `xq` averaged over the query's copies.
fn query_logits(model: &RnaModel, xq: &Tensor<4>, copies: &[Vec<Path>]) -> Tensor<2> {
    let [n, classes] = [xq.dims()[0], model.num_classes()];
    let flat: Vec<Path> = copies.iter().flatten().cloned().collect();
    model
        .forward_paths(xq.clone().repeat_dim(0, copies.len()), &flat)
        .reshape([copies.len(), n, classes])
        .mean_dim(0)
        .reshape([n, classes])
}

/// Square on the margin of the query logits: `config.steps` queries for `square`, AutoAttack's
/// 5,000 inside `autoattack-standard`.
pub fn square_stage(
    model: &RnaModel,
    x: &Tensor<4>,
    labels: &[usize],
    config: &AttackConfig,
    attack_paths: &[Path],
    rng: &mut SeededRng,
    progress: &mut dyn FnMut(usize, usize) -> bool,
) -> Tensor<4> {
    let mut fresh = SeededRng::derive(rng.next_u64(), "square-paths");
    let queries = match config.kind {
        AttackKind::AutoattackStandard => STANDARD_QUERIES,
        _ => config.steps,
    };
    let mut scores = |xq: &Tensor<4>, rows: &[usize]| -> Tensor<2> {
        let copies = query_copies(model, config, attack_paths, rows, &mut fresh);
        query_logits(model, xq, &copies)
    };
    square::square_linf(
        x,
        labels,
        &square::SquareConfig::new(config.eps, queries),
        &mut scores,
        rng,
        progress,
    )
    .x_adv
}

/// Targeted FAB towards `targets`, with logits and gradients along the query's copies.
#[allow(clippy::too_many_arguments)]
pub fn fab_stage(
    model: &RnaModel,
    x: &Tensor<4>,
    labels: &[usize],
    targets: &[usize],
    config: &AttackConfig,
    attack_paths: &[Path],
    rng: &mut SeededRng,
    progress: &mut dyn FnMut(usize, usize) -> bool,
) -> Tensor<4> {
    let classes = model.num_classes();
    let fresh = std::cell::RefCell::new(SeededRng::derive(rng.next_u64(), "fab-paths"));
    let mut logits = |xq: &Tensor<4>, rows: &[usize]| -> Tensor<2> {
        let copies = query_copies(model, config, attack_paths, rows, &mut fresh.borrow_mut());
        query_logits(model, xq, &copies)
    };
    let mut gradient = |xq: &Tensor<4>, rows: &[usize], goal: &[usize]| -> (Tensor<2>, Tensor<4>) {
        let copies = query_copies(model, config, attack_paths, rows, &mut fresh.borrow_mut());
        let device = xq.device();
        let row_labels: Vec<usize> = rows.iter().map(|&i| labels[i]).collect();
        // +1 at the target, −1 at the label: the gradient of f_target − f_label per image.
        let signed = super::loss::label_minus_target(&row_labels, goal, classes, &device).neg();
        let tracked = xq.clone().inner().autodiff().require_grad();
        let out = query_logits(model, &tracked, &copies);
        let grads = out.clone().mul(signed).sum().backward();
        let grad = tracked.grad(&grads).expect("input gradient");
        (out.inner(), grad)
    };
    fab::fab_targeted(
        x,
        labels,
        targets,
        &fab::FabConfig::autoattack(config.eps),
        &mut logits,
        &mut gradient,
        rng,
        progress,
    )
    .x_adv
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn autoattack_sequences_follow_its_order() {
        let of = |kind| stages(&AttackConfig::preset(kind), 10);
        assert_eq!(
            of(AttackKind::AutoattackRand),
            vec![
                Stage::Gradient(LossKind::Ce),
                Stage::Gradient(LossKind::Dlr)
            ]
        );
        let standard = of(AttackKind::AutoattackStandard);
        assert_eq!(standard.len(), 1 + 9 + 9 + 1);
        assert_eq!(standard[0], Stage::Gradient(LossKind::Ce));
        assert_eq!(standard[1], Stage::ApgdTargeted(2));
        assert_eq!(standard[9], Stage::ApgdTargeted(10));
        assert_eq!(standard[10], Stage::FabTargeted(2));
        assert_eq!(standard[19], Stage::Square);
        // Fewer classes, fewer targets: every class but the top one.
        assert_eq!(stages(&AttackConfig::preset(AttackKind::ApgdT), 5).len(), 4);
        assert_eq!(of(AttackKind::Pgd), vec![Stage::Gradient(LossKind::Ce)]);
    }
}
