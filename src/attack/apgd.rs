//! Auto-PGD (Croce & Hein 2020, Algorithm 1), L∞: a step size that starts at 2ε and halves at
//! checkpoints where progress stalls, a momentum of 0.75, and restarts from the best point.
//! Checkpoints and conditions follow the reference implementation in AutoAttack.

use burn::tensor::{Tensor, TensorData};

use super::Norm;
use super::pgd::{Objective, StepEval, StepHook, project, uniform_noise};
use crate::device::to_host;
use crate::rng::SeededRng;

const MOMENTUM: f64 = 0.75;
const RHO: f64 = 0.75;

/// Iterations after which APGD checks its progress: the first after 22% of the budget, then
/// intervals shrinking by 3% of the budget down to 6% (the paper's p_j, rounded as AutoAttack).
pub fn checkpoints(iterations: usize) -> Vec<usize> {
    let first = ((0.22 * iterations as f64) as usize).max(1);
    let shrink = ((0.03 * iterations as f64) as usize).max(1);
    let shortest = ((0.06 * iterations as f64) as usize).max(1);
    let mut out = Vec::new();
    let (mut at, mut interval) = (first, first);
    while at < iterations {
        out.push(at);
        interval = interval.saturating_sub(shrink).max(shortest);
        at += interval;
    }
    out
}

pub struct ApgdResult {
    /// Per sample: the last iterate that was adversarial, else the highest-loss iterate
    /// (AutoAttack's `x_best_adv` with the loss maximizer as fallback).
    pub x: Tensor<4>,
    /// Step size per sample after each iteration (for inspection and tests).
    pub step_sizes: Vec<Vec<f32>>,
}

fn per_sample(values: &[f32], device: &burn::tensor::Device) -> Tensor<4> {
    Tensor::from_data(
        TensorData::new(values.to_vec(), [values.len(), 1, 1, 1]),
        device,
    )
}

/// Blends `a` where `mask` is 1 and `b` where it is 0, per sample.
pub(crate) fn choose(mask: &[f32], a: Tensor<4>, b: Tensor<4>) -> Tensor<4> {
    let m = per_sample(mask, &a.device());
    a.mul(m.clone()).add(b.mul(m.neg().add_scalar(1.0)))
}

/// Runs APGD from `x` with `iterations` steps. The loss the objective reports is maximized;
/// `is_adversarial` tells from an iterate's logits which samples the attack has already won.
pub fn run(
    x: &Tensor<4>,
    eps: f64,
    iterations: usize,
    objective: &mut dyn Objective,
    is_adversarial: &dyn Fn(&Tensor<2>) -> Vec<bool>,
    rng: &mut SeededRng,
    hook: &mut StepHook<'_>,
) -> ApgdResult {
    let device = x.device();
    let n = x.dims()[0];
    let mut eta = vec![(2.0 * eps) as f32; n];
    let mut x_k = project(
        x.clone().add(uniform_noise(x.dims(), eps, rng, &device)),
        x,
        eps,
        Norm::Linf,
    );
    let mut eval: StepEval = objective.evaluate(x_k.clone(), 0);
    let mut loss_k = to_host(eval.loss.clone());
    let mut x_best = x_k.clone();
    let mut loss_best = loss_k.clone();
    let mut x_prev = x_k.clone();
    let checks = checkpoints(iterations);
    let mut last_check = 0usize;
    let mut improved_since_check = vec![0usize; n];
    let mut best_at_last_check = loss_best.clone();
    // As in AutoAttack: the first checkpoint may halve only for oscillation.
    let mut reduced_at_last_check = vec![true; n];
    let mut step_sizes = Vec::with_capacity(iterations);
    let mut found = is_adversarial(&eval.logits);
    let mut x_found = x_k.clone();

    for k in 0..iterations {
        if !hook(k, &x_k, &eval) {
            break;
        }
        let step = eval.grad.clone().sign().mul(per_sample(&eta, &device));
        let z = project(x_k.clone().add(step), x, eps, Norm::Linf);
        let x_next = if k == 0 {
            z
        } else {
            let a = MOMENTUM;
            let moved = x_k
                .clone()
                .add(z.sub(x_k.clone()).mul_scalar(a))
                .add(x_k.clone().sub(x_prev.clone()).mul_scalar(1.0 - a));
            project(moved, x, eps, Norm::Linf)
        };
        x_prev = x_k;
        x_k = x_next;
        eval = objective.evaluate(x_k.clone(), k + 1);
        let loss_next = to_host(eval.loss.clone());

        // Track the best point per sample.
        let better: Vec<f32> = loss_next
            .iter()
            .zip(&loss_best)
            .map(|(l, b)| if l > b { 1.0 } else { 0.0 })
            .collect();
        for i in 0..n {
            if loss_next[i] > loss_k[i] {
                improved_since_check[i] += 1;
            }
            if loss_next[i] > loss_best[i] {
                loss_best[i] = loss_next[i];
            }
        }
        x_best = choose(&better, x_k.clone(), x_best);
        let adversarial = is_adversarial(&eval.logits);
        let newly: Vec<f32> = adversarial
            .iter()
            .map(|&a| if a { 1.0 } else { 0.0 })
            .collect();
        x_found = choose(&newly, x_k.clone(), x_found);
        for (f, a) in found.iter_mut().zip(&adversarial) {
            *f |= a;
        }
        loss_k = loss_next;

        if checks.contains(&(k + 1)) {
            let interval = (k + 1 - last_check) as f64;
            let mut restart = vec![0.0f32; n];
            for i in 0..n {
                let oscillating = (improved_since_check[i] as f64) <= RHO * interval;
                let stalled = !reduced_at_last_check[i] && best_at_last_check[i] >= loss_best[i];
                let reduce = oscillating || stalled;
                if reduce {
                    eta[i] /= 2.0;
                    restart[i] = 1.0;
                }
                reduced_at_last_check[i] = reduce;
                improved_since_check[i] = 0;
            }
            best_at_last_check = loss_best.clone();
            last_check = k + 1;
            if restart.contains(&1.0) {
                // Samples whose step size was halved restart from their best point; the
                // momentum term keeps the previous iterate, as in the reference.
                x_k = choose(&restart, x_best.clone(), x_k);
                eval = objective.evaluate(x_k.clone(), k + 1);
                loss_k = to_host(eval.loss.clone());
            }
        }
        step_sizes.push(eta.clone());
    }
    let won: Vec<f32> = found.iter().map(|&f| if f { 1.0 } else { 0.0 }).collect();
    ApgdResult {
        x: choose(&won, x_found, x_best),
        step_sizes,
    }
}
