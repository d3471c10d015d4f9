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

/// Builds the trace entry of sample 0 from an evaluation at iterate `x` of an attack on `x0`,
/// and returns that sample's iterate (planar, in [0, 1]) from the same readback.
pub fn trace_step(
    iteration: usize,
    x0: &Tensor<4>,
    x: &Tensor<4>,
    eval: &StepEval,
    label: usize,
) -> (TraceStep, Vec<f32>) {
    // Everything the entry needs in one readback (on a GPU, one sync per iteration).
    let logits0 = eval.logits.clone().narrow(0, 0, 1);
    let classes = logits0.dims()[1];
    let per_path = eval
        .per_path_loss
        .as_ref()
        .map(|p| p.clone().narrow(1, 0, 1).flatten::<1>(0, 1));
    let paths = per_path.as_ref().map_or(0, |p| p.dims()[0]);
    let first = |t: &Tensor<4>| t.clone().narrow(0, 0, 1).flatten::<1>(0, 3);
    let pixels = first(x).dims()[0];
    let mut parts = vec![
        logits0.clone().flatten::<1>(0, 1),
        softmax(logits0, 1).flatten::<1>(0, 1),
        eval.loss.clone().narrow(0, 0, 1),
        first(x0),
        first(x),
    ];
    parts.extend(per_path);
    let values = crate::device::to_host(Tensor::cat(parts, 0));
    let (logits, rest) = values.split_at(classes);
    let (probs, rest) = rest.split_at(classes);
    let (loss, rest) = (rest[0], &rest[1..]);
    let (start, rest) = rest.split_at(pixels);
    let (image, per_path) = rest.split_at(pixels);
    let delta: Vec<f32> = image.iter().zip(start).map(|(a, b)| a - b).collect();
    let (loss_low, loss_high) = match paths {
        0 => (loss, loss),
        _ => (
            per_path.iter().copied().fold(f32::INFINITY, f32::min),
            per_path.iter().copied().fold(f32::NEG_INFINITY, f32::max),
        ),
    };
    let top_other = (0..logits.len())
        .filter(|&c| c != label)
        .max_by(|&a, &b| logits[a].total_cmp(&logits[b]))
        .unwrap_or(label);
    let step = TraceStep {
        iteration,
        loss,
        loss_low,
        loss_high,
        margin: logits[label] - logits[top_other],
        predicted: crate::ensemble::argmax(logits),
        p_true: probs[label],
        p_top_other: probs[top_other],
        top_other,
        linf: delta.iter().fold(0.0f32, |m, v| m.max(v.abs())),
        l2: delta.iter().map(|v| v * v).sum::<f32>().sqrt(),
    };
    (step, image.to_vec())
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Tensor, TensorData};

    use super::*;
    use crate::attack::{AttackConfig, AttackKind, PathPolicy, run_attack};
    use crate::device::{readbacks, to_host};
    use crate::model::{NormKind, tiny_for_tests};

    fn tensor<const D: usize>(values: Vec<f32>, shape: [usize; D]) -> Tensor<D> {
        Tensor::from_data(TensorData::new(values, shape), &Device::flex())
    }

    #[test]
    fn a_trace_entry_is_one_readback_with_the_first_images_figures() {
        // Two images, three classes, two EOT paths; image 0 is the one traced.
        let logits = tensor(vec![1.0, 3.0, 2.0, 0.0, 0.0, 9.0], [2, 3]);
        let per_path = tensor(vec![0.5, 7.0, 1.5, 8.0], [2, 2]);
        let x0 = tensor(vec![0.5; 2 * 3 * 2 * 2], [2, 3, 2, 2]);
        let mut shifted = vec![0.5; 24];
        shifted[0] = 0.53;
        shifted[5] = 0.46;
        shifted[20] = 0.9; // image 1: not traced
        let x = tensor(shifted, [2, 3, 2, 2]);
        let eval = StepEval {
            loss: tensor(vec![1.0, 7.5], [2]),
            grad: x.zeros_like(),
            logits: logits.clone(),
            per_path_loss: Some(per_path),
        };
        let before = readbacks();
        let (step, image) = trace_step(4, &x0, &x, &eval, 2);
        assert_eq!(readbacks() - before, 1, "one readback for the whole entry");
        assert_eq!(
            image,
            to_host(x.clone().narrow(0, 0, 1)),
            "the first image's iterate"
        );
        // By hand: true class 2 (logit 2), best other class 1 (logit 3).
        let probs = to_host(softmax(logits.narrow(0, 0, 1), 1));
        assert_eq!((step.iteration, step.predicted, step.top_other), (4, 1, 1));
        assert_eq!(step.margin, -1.0);
        assert_eq!((step.p_true, step.p_top_other), (probs[2], probs[1]));
        assert_eq!((step.loss, step.loss_low, step.loss_high), (1.0, 0.5, 1.5));
        assert!((step.linf - 0.04).abs() < 1e-6, "{}", step.linf);
        let l2 = (0.03f32 * 0.03 + 0.04 * 0.04).sqrt();
        assert!((step.l2 - l2).abs() < 1e-6, "{}", step.l2);
    }

    #[test]
    fn pgd_on_one_image_reads_back_once_per_iteration() {
        let model = tiny_for_tests(1, NormKind::RELEASED.to_vec());
        let x = tensor(vec![0.4; 3 * 32 * 32], [1, 3, 32, 32]);
        for policy in [PathPolicy::Fixed, PathPolicy::Eot(3)] {
            let mut config = AttackConfig::preset(AttackKind::Pgd);
            config.steps = 6;
            config.policy = policy.clone();
            let before = readbacks();
            let result = run_attack(&model, &x, &[1], &config, &mut |_, _, _| true).unwrap();
            let used = readbacks() - before;
            assert_eq!(result.trace.len(), 7, "the start and six steps");
            assert!(
                used <= 7 + 2,
                "{policy}: {used} readbacks for 7 traced iterates"
            );
        }
    }
}
