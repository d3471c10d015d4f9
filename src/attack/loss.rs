//! Per-sample attack losses. Attacks maximize them; a targeted attack minimizes the loss towards
//! its target, which we express as maximizing the negated loss.

use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LossKind {
    /// Cross-entropy of the labels.
    #[default]
    Ce,
    /// Carlini–Wagner margin: best other logit minus the label's logit.
    Cw,
    /// Difference of logits ratio (APGD-DLR); needs at least three classes.
    Dlr,
    /// AutoAttack's targeted DLR (APGD-T), whose one-hot rows hold +1 at the label and −1 at
    /// the target; needs at least four classes. Set by the attack, not chosen by users.
    DlrTargeted,
}

impl std::fmt::Display for LossKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LossKind::Ce => "ce",
            LossKind::Cw => "cw",
            LossKind::Dlr => "dlr",
            LossKind::DlrTargeted => "targeted dlr",
        })
    }
}

impl std::str::FromStr for LossKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "ce" | "cross-entropy" => Ok(Self::Ce),
            "cw" | "margin" => Ok(Self::Cw),
            "dlr" => Ok(Self::Dlr),
            _ => Err(format!("unknown loss '{s}': expected ce, cw or dlr")),
        }
    }
}

/// `[N, K]` one-hot rows for `labels`.
pub fn one_hot(labels: &[usize], classes: usize, device: &Device) -> Tensor<2> {
    let mut v = vec![0.0f32; labels.len() * classes];
    for (i, &l) in labels.iter().enumerate() {
        v[i * classes + l] = 1.0;
    }
    Tensor::from_data(TensorData::new(v, [labels.len(), classes]), device)
}

/// Cross-entropy per sample, `[N]`.
pub fn cross_entropy(logits: Tensor<2>, one_hot: Tensor<2>) -> Tensor<1> {
    let n = logits.dims()[0];
    log_softmax(logits, 1)
        .mul(one_hot)
        .sum_dim(1)
        .neg()
        .reshape([n])
}

/// CW margin per sample, `[N]`: max over other classes minus the label's logit.
/// Positive once the sample is misclassified.
pub fn cw_margin(logits: Tensor<2>, one_hot: Tensor<2>) -> Tensor<1> {
    let n = logits.dims()[0];
    let own = logits.clone().mul(one_hot.clone()).sum_dim(1);
    // Push the label's logit far down so max picks the best *other* class.
    let others = logits.sub(one_hot.mul_scalar(1e4)).max_dim(1);
    others.sub(own).reshape([n])
}

pub fn loss(kind: LossKind, logits: Tensor<2>, one_hot: Tensor<2>) -> Tensor<1> {
    match kind {
        LossKind::Ce => cross_entropy(logits, one_hot),
        LossKind::Cw => cw_margin(logits, one_hot),
        LossKind::Dlr => dlr(logits, one_hot),
        LossKind::DlrTargeted => dlr_targeted(logits, one_hot),
    }
}

/// `[N, K]` rows with +1 at each label and −1 at each target: the one-hot of [`dlr_targeted`].
pub fn label_minus_target(
    labels: &[usize],
    targets: &[usize],
    classes: usize,
    device: &Device,
) -> Tensor<2> {
    one_hot(labels, classes, device).sub(one_hot(targets, classes, device))
}

/// AutoAttack's targeted DLR per sample, `[N]`: −(z_y − z_t) / (z_π1 − (z_π3 + z_π4)/2 + 1e−12),
/// with `signed` from [`label_minus_target`].
pub fn dlr_targeted(logits: Tensor<2>, signed: Tensor<2>) -> Tensor<1> {
    let n = logits.dims()[0];
    let sorted = logits.clone().sort_descending(1);
    let first = sorted.clone().slice([0..n, 0..1]);
    let third = sorted.clone().slice([0..n, 2..3]);
    let fourth = sorted.slice([0..n, 3..4]);
    let margin = logits.mul(signed).sum_dim(1);
    margin
        .neg()
        .div(
            first
                .sub(third.add(fourth).mul_scalar(0.5))
                .add_scalar(1e-12),
        )
        .reshape([n])
}

/// Difference of Logits Ratio (Croce & Hein 2020), per sample `[N]`:
/// −(z_y − max_{i≠y} z_i) / (z_π1 − z_π3 + 1e−12), invariant to shifts and scaling of logits.
pub fn dlr(logits: Tensor<2>, one_hot: Tensor<2>) -> Tensor<1> {
    let n = logits.dims()[0];
    let sorted = logits.clone().sort_descending(1);
    let first = sorted.clone().slice([0..n, 0..1]);
    let third = sorted.slice([0..n, 2..3]);
    let margin = cw_margin(logits, one_hot).reshape([n, 1]);
    margin.div(first.sub(third).add_scalar(1e-12)).reshape([n])
}
