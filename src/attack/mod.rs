//! Adversarial attacks in pixel space [0, 1], and the path policies that make them meaningful
//! against a network that samples its normalization per forward pass.

pub mod apgd;
pub mod config;
pub mod image;
pub mod loss;
pub mod pgd;
pub mod policy;
pub mod trace;
pub mod transfer;

use burn::tensor::Tensor;

pub use config::{AttackConfig, AttackKind, parse_budget};
pub use loss::LossKind;
pub use pgd::{Norm, Objective, PgdConfig, StepEval};
pub use policy::{PathObjective, PathPolicy};
pub use trace::TraceStep;

use crate::model::{Path, RnaModel};
use crate::rng::SeededRng;

/// The outcome of one attack on a batch.
pub struct AttackResult {
    pub x_adv: Tensor<4>,
    pub attack_path: Path,
    /// The path that classifies the result: the attacker's under `fixed`, else independent.
    pub defender_path: Path,
    /// Iterates of the first image, over all restarts and sub-attacks, ending at the result.
    pub trace: Vec<TraceStep>,
    pub cancelled: bool,
}

/// The paths an attack with this configuration uses, drawn from its seed.
pub fn attack_paths(model: &RnaModel, config: &AttackConfig) -> Result<(Path, Path), String> {
    let space = model.path_space();
    let attack = match &config.path {
        Some(text) => space.parse(text).map_err(|e| e.to_string())?,
        None => space.sample(&mut SeededRng::derive(config.seed, "attacker")),
    };
    let defender = if config.policy.defender_independent() {
        space.sample(&mut SeededRng::derive(config.seed, "defender"))
    } else {
        attack.clone()
    };
    Ok((attack, defender))
}

/// Sees every traced iterate: its trace entry, the iterate itself (`[N, 3, H, W]`) and the total
/// number of iterations. Returning false cancels the attack.
pub type Progress<'a> = dyn FnMut(&TraceStep, &Tensor<4>, usize) -> bool + 'a;

/// Runs `config` against `x` (`[N, 3, H, W]` in [0, 1]) with true `labels`, reporting each
/// iterate to `progress`; a cancelled result holds the best point found so far.
pub fn run_attack(
    model: &RnaModel,
    x: &Tensor<4>,
    labels: &[usize],
    config: &AttackConfig,
    progress: &mut Progress<'_>,
) -> Result<AttackResult, String> {
    config.validate(model.num_classes())?;
    let (attack_path, defender_path) = attack_paths(model, config)?;
    let device = x.device();
    let classes = model.num_classes();
    let goal: Vec<usize> = match config.target {
        Some(t) => vec![t; labels.len()],
        None => labels.to_vec(),
    };
    let targets = loss::one_hot(&goal, classes, &device);
    let label0 = labels[0];
    let stages: Vec<LossKind> = match config.kind {
        AttackKind::AutoattackRand => vec![LossKind::Ce, LossKind::Dlr],
        _ => vec![config.loss],
    };
    let total = config.restarts * stages.len() * config.steps;
    let mut noise = SeededRng::derive(config.seed, "attack-noise");
    let mut trace = Vec::new();
    let mut cancelled = false;
    let targeted = config.target.is_some();
    // Whether the attacker has won each sample, judged on the logits it sees.
    let is_adversarial = |logits: &Tensor<2>| -> Vec<bool> {
        crate::model::predictions(logits.clone())
            .iter()
            .zip(&goal)
            .map(|(&p, &g)| (p == g) == targeted)
            .collect()
    };
    // Across restarts and sub-attacks, keep per sample a won result, else the better objective
    // (the raw loss descends for targeted attacks; losses of different sub-attacks of
    // autoattack-rand are not comparable, so there only success counts).
    let sign = if targeted { -1.0f32 } else { 1.0 };
    let mut best: Option<(Tensor<4>, Vec<f32>, Vec<bool>, LossKind)> = None;

    'runs: for restart in 0..config.restarts {
        for (stage, &stage_loss) in stages.iter().enumerate() {
            let offset = trace.len();
            let mut objective = PathObjective::new(
                model,
                config.policy.clone(),
                attack_path.clone(),
                targets.clone(),
                stage_loss,
                targeted,
                SeededRng::derive(config.seed ^ ((restart * 8 + stage) as u64), "attack-paths"),
            );
            let mut stopped = false;
            let mut hook = |step: usize, xi: &Tensor<4>, eval: &StepEval| {
                let t = trace::trace_step(offset + step, x, xi, eval, label0);
                let go = progress(&t, xi, total);
                trace.push(t);
                stopped |= !go;
                go
            };
            let x_run = if config.is_apgd() {
                apgd::run(
                    x,
                    config.eps,
                    config.steps,
                    &mut objective,
                    &is_adversarial,
                    &mut noise,
                    &mut hook,
                )
                .x
            } else {
                pgd::run(&config.pgd(), x, &mut objective, &mut noise, &mut hook)
            };
            cancelled = stopped;
            let eval = objective.evaluate(x_run.clone(), config.steps);
            let objective_value: Vec<f32> = eval
                .loss
                .clone()
                .into_data()
                .convert::<f32>()
                .try_into_vec::<f32>()
                .expect("f32")
                .into_iter()
                .map(|l| sign * l)
                .collect();
            let success = is_adversarial(&eval.logits);
            best = Some(match best.take() {
                None => (x_run, objective_value, success, stage_loss),
                Some((bx, bv, bs, b_loss)) => {
                    let comparable = b_loss == stage_loss;
                    let take: Vec<bool> = (0..labels.len())
                        .map(|i| {
                            (success[i] && !bs[i])
                                || (comparable && success[i] == bs[i] && objective_value[i] > bv[i])
                        })
                        .collect();
                    let mask: Vec<f32> = take.iter().map(|&t| if t { 1.0 } else { 0.0 }).collect();
                    let m = Tensor::<1>::from_data(
                        burn::tensor::TensorData::new(mask, [labels.len()]),
                        &device,
                    )
                    .reshape([labels.len(), 1, 1, 1]);
                    let merged = x_run.mul(m.clone()).add(bx.mul(m.neg().add_scalar(1.0)));
                    let values = (0..labels.len())
                        .map(|i| if take[i] { objective_value[i] } else { bv[i] })
                        .collect();
                    let won = (0..labels.len()).map(|i| success[i] || bs[i]).collect();
                    (merged, values, won, stage_loss)
                }
            });
            if cancelled {
                break 'runs;
            }
        }
    }
    let (x_adv, _, _, _) = best.expect("at least one run");
    // The last trace entry is the result itself, seen along the attacker's first path.
    let mut last = PathObjective::new(
        model,
        PathPolicy::Fixed,
        attack_path.clone(),
        targets,
        config.loss,
        config.target.is_some(),
        SeededRng::new(0),
    );
    let eval = last.evaluate(x_adv.clone(), 0);
    trace.push(trace::trace_step(trace.len(), x, &x_adv, &eval, label0));
    Ok(AttackResult {
        x_adv,
        attack_path,
        defender_path,
        trace,
        cancelled,
    })
}
