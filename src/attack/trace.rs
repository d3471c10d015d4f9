//! What an attack did, iterate by iterate, for the first image of its batch.

use burn::tensor::Tensor;
use burn::tensor::activation::softmax;
use serde::{Deserialize, Serialize};

use super::pgd::StepEval;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TraceStep {
    pub iteration: usize,
    /// Attack loss at this iterate (mean over paths for EOT).
    pub loss: f32,
    /// Lowest and highest loss over the step's paths (equal to `loss` with one path).
    pub loss_low: f32,
    pub loss_high: f32,
    /// Logit of the true class minus the best other logit (negative: misclassified).
    pub margin: f32,
    pub predicted: usize,
    pub p_true: f32,
    /// Probability of the most likely class other than the true one.
    pub p_top_other: f32,
    pub top_other: usize,
    /// Size of the perturbation, in pixel units (×255 for /255).
    pub linf: f32,
    pub l2: f32,
}

fn row<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_into_vec().expect("f32")
}

/// Builds the trace entry of sample 0 from an evaluation at iterate `x` of an attack on `x0`.
pub fn trace_step(
    iteration: usize,
    x0: &Tensor<4>,
    x: &Tensor<4>,
    eval: &StepEval,
    label: usize,
) -> TraceStep {
    let logits = row(eval.logits.clone().narrow(0, 0, 1));
    let probs = row(softmax(eval.logits.clone().narrow(0, 0, 1), 1));
    let loss = row(eval.loss.clone().narrow(0, 0, 1))[0];
    let (loss_low, loss_high) = match &eval.per_path_loss {
        Some(per_path) => {
            let v = row(per_path.clone().slice([0..per_path.dims()[0], 0..1]));
            (
                v.iter().copied().fold(f32::INFINITY, f32::min),
                v.iter().copied().fold(f32::NEG_INFINITY, f32::max),
            )
        }
        None => (loss, loss),
    };
    let top_other = (0..logits.len())
        .filter(|&c| c != label)
        .max_by(|&a, &b| logits[a].total_cmp(&logits[b]))
        .unwrap_or(label);
    let delta = row(x
        .clone()
        .narrow(0, 0, 1)
        .sub(x0.clone().narrow(0, 0, 1))
        .flatten::<1>(0, 3));
    TraceStep {
        iteration,
        loss,
        loss_low,
        loss_high,
        margin: logits[label] - logits[top_other],
        predicted: crate::ensemble::argmax(&logits),
        p_true: probs[label],
        p_top_other: probs[top_other],
        top_other,
        linf: delta.iter().fold(0.0f32, |m, v| m.max(v.abs())),
        l2: delta.iter().map(|v| v * v).sum::<f32>().sqrt(),
    }
}
