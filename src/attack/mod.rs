//! Adversarial attacks in pixel space [0, 1], and the path policies that make them meaningful
//! against a network that samples its normalization per forward pass.

pub mod apgd;
pub mod arc;
pub mod config;
pub mod image;
pub mod loss;
pub mod pgd;
pub mod policy;
pub mod square;
pub mod trace;
pub mod transfer;

use burn::tensor::Tensor;

pub use config::{AttackConfig, AttackKind, parse_budget};
pub use loss::LossKind;
pub use pgd::{Norm, Objective, PgdConfig, StepEval};
pub use policy::{Pairing, PathObjective, PathPolicy, draw_paths};
pub use trace::TraceStep;

use crate::model::{Path, RnaModel};
use crate::rng::SeededRng;

/// The outcome of one attack on a batch.
pub struct AttackResult {
    pub x_adv: Tensor<4>,
    /// Per image, the attacker's (first) path.
    pub attack_paths: Vec<Path>,
    /// Per image, the path that classifies the result: the attacker's under `fixed`, else
    /// independent.
    pub defender_paths: Vec<Path>,
    /// AutoAttack's own verdict, for `autoattack-rand` only: per image, its clean pass and every
    /// stage's fresh random pass classified it right (a point broken once stays broken).
    pub robust_by_stages: Option<Vec<bool>>,
    /// Iterates of the first image, over all restarts and sub-attacks, ending at the result.
    pub trace: Vec<TraceStep>,
    pub cancelled: bool,
}

/// The per-image paths an attack with this configuration uses on `n` images, drawn from its
/// seed (see [`Pairing`]).
pub fn attack_paths(
    model: &RnaModel,
    config: &AttackConfig,
    n: usize,
) -> Result<(Vec<Path>, Vec<Path>), String> {
    let attack = match &config.path {
        Some(text) => vec![model.path_space().parse(text).map_err(|e| e.to_string())?; n],
        None => draw_paths(
            model,
            n,
            config.pairing,
            &mut SeededRng::derive(config.seed, "attacker"),
        ),
    };
    let defender = if config.policy.defender_independent() {
        draw_paths(
            model,
            n,
            config.pairing,
            &mut SeededRng::derive(config.seed, "defender"),
        )
    } else {
        attack.clone()
    };
    Ok((attack, defender))
}

/// Sees every traced iterate: its trace entry, the iterate itself (`[N, 3, H, W]`) and the total
/// number of iterations. Returning false cancels the attack.
pub type Progress<'a> = dyn FnMut(&TraceStep, &Tensor<4>, usize) -> bool + 'a;

/// Per image, `a` where `take` holds, else `b`.
fn select(take: &[bool], a: Tensor<4>, b: Tensor<4>) -> Tensor<4> {
    let mask: Vec<f32> = take.iter().map(|&t| if t { 1.0 } else { 0.0 }).collect();
    let m = Tensor::<1>::from_data(
        burn::tensor::TensorData::new(mask, [take.len()]),
        &a.device(),
    )
    .reshape([take.len(), 1, 1, 1]);
    a.mul(m.clone()).add(b.mul(m.neg().add_scalar(1.0)))
}

/// AutoAttack's accounting (Croce & Hein 2020, `run_standard_evaluation`): a point is robust
/// while its clean pass and the pass after every stage, each a fresh random forward, classify it
/// right; the iterate that first broke it is kept, and never-broken points keep the clean image.
pub struct StageAccount {
    pub robust: Vec<bool>,
    pub x_adv: Tensor<4>,
}

impl StageAccount {
    /// `clean_right`: the clean pass's verdict per image.
    pub fn new(x: &Tensor<4>, clean_right: Vec<bool>) -> Self {
        Self {
            robust: clean_right,
            x_adv: x.clone(),
        }
    }

    /// One stage's result and the verdict of its fresh pass.
    pub fn record(&mut self, x_stage: Tensor<4>, right: &[bool]) {
        let newly_broken: Vec<bool> = self
            .robust
            .iter()
            .zip(right)
            .map(|(&r, &ok)| r && !ok)
            .collect();
        self.x_adv = select(&newly_broken, x_stage, self.x_adv.clone());
        for (r, &ok) in self.robust.iter_mut().zip(right) {
            *r &= ok;
        }
    }
}

/// Which images one fresh forward pass classifies right: new random paths per `pairing`, or the
/// attacker's own under `fixed`.
fn fresh_pass_right(
    model: &RnaModel,
    x: &Tensor<4>,
    labels: &[usize],
    config: &AttackConfig,
    attack_paths: &[Path],
    rng: &mut SeededRng,
) -> Vec<bool> {
    let paths = if config.policy.defender_independent() {
        draw_paths(model, labels.len(), config.pairing, rng)
    } else {
        attack_paths.to_vec()
    };
    crate::model::predictions(model.forward_paths(x.clone(), &paths))
        .iter()
        .zip(labels)
        .map(|(p, l)| p == l)
        .collect()
}

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
    let n = labels.len();
    let (attack_paths, defender_paths) = attack_paths(model, config, n)?;
    match config.kind {
        AttackKind::Arc => {
            return run_arc(
                model,
                x,
                labels,
                config,
                attack_paths,
                defender_paths,
                progress,
            );
        }
        AttackKind::Square => {
            return run_square(
                model,
                x,
                labels,
                config,
                attack_paths,
                defender_paths,
                progress,
            );
        }
        _ => {}
    }
    let classes = model.num_classes();
    let goal: Vec<usize> = match config.target {
        Some(t) => vec![t; n],
        None => labels.to_vec(),
    };
    let targets = loss::one_hot(&goal, classes, &x.device());
    let label0 = labels[0];
    let autoattack = config.kind == AttackKind::AutoattackRand;
    let stages: Vec<LossKind> = if autoattack {
        vec![LossKind::Ce, LossKind::Dlr]
    } else {
        vec![config.loss]
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
    let mut judge = SeededRng::derive(config.seed, "autoattack-judge");
    let mut account = autoattack.then(|| {
        let right = fresh_pass_right(model, x, labels, config, &attack_paths, &mut judge);
        StageAccount::new(x, right)
    });
    // Other attacks keep, across restarts, per sample a won result, else the better objective
    // (the raw loss descends for targeted attacks).
    let sign = if targeted { -1.0f32 } else { 1.0 };
    let mut best: Option<(Tensor<4>, Vec<f32>, Vec<bool>)> = None;

    'runs: for restart in 0..config.restarts {
        for (stage, &stage_loss) in stages.iter().enumerate() {
            let offset = trace.len();
            let mut objective = PathObjective::new(
                model,
                config.policy.clone(),
                config.pairing,
                attack_paths.clone(),
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
            match &mut account {
                Some(account) => {
                    let right =
                        fresh_pass_right(model, &x_run, labels, config, &attack_paths, &mut judge);
                    account.record(x_run, &right);
                }
                None => {
                    let eval = objective.evaluate(x_run.clone(), config.steps);
                    let value: Vec<f32> = eval
                        .loss
                        .clone()
                        .into_data()
                        .convert::<f32>()
                        .try_into_vec::<f32>()
                        .expect("f32")
                        .into_iter()
                        .map(|l| sign * l)
                        .collect();
                    let won = is_adversarial(&eval.logits);
                    best = Some(match best.take() {
                        None => (x_run, value, won),
                        Some((bx, bv, bw)) => {
                            let take: Vec<bool> = (0..n)
                                .map(|i| {
                                    (won[i] && !bw[i]) || (won[i] == bw[i] && value[i] > bv[i])
                                })
                                .collect();
                            let values = (0..n)
                                .map(|i| if take[i] { value[i] } else { bv[i] })
                                .collect();
                            let wins = (0..n).map(|i| won[i] || bw[i]).collect();
                            (select(&take, x_run, bx), values, wins)
                        }
                    });
                }
            }
            if cancelled {
                break 'runs;
            }
        }
    }
    let (x_adv, robust_by_stages) = match account {
        Some(account) => (account.x_adv, Some(account.robust)),
        None => (best.expect("at least one run").0, None),
    };
    // The last trace entry is the result itself, seen along the attacker's first path.
    let mut last = PathObjective::new(
        model,
        PathPolicy::Fixed,
        config.pairing,
        attack_paths.clone(),
        targets,
        config.loss,
        targeted,
        SeededRng::new(0),
    );
    let eval = last.evaluate(x_adv.clone(), 0);
    trace.push(trace::trace_step(trace.len(), x, &x_adv, &eval, label0));
    Ok(AttackResult {
        x_adv,
        attack_paths,
        defender_paths,
        robust_by_stages,
        trace,
        cancelled,
    })
}

/// ARC against the members the policy names: K paths drawn for the batch under `eot:K`, the
/// first image's attack path under `official` or `fixed`.
fn run_arc(
    model: &RnaModel,
    x: &Tensor<4>,
    labels: &[usize],
    config: &AttackConfig,
    attack_paths: Vec<Path>,
    defender_paths: Vec<Path>,
    progress: &mut Progress<'_>,
) -> Result<AttackResult, String> {
    let members = match config.policy {
        PathPolicy::Eot(k) => draw_paths(
            model,
            k,
            Pairing::Image,
            &mut SeededRng::derive(config.seed, "arc-members"),
        ),
        _ => vec![attack_paths[0].clone()],
    };
    let arc_config = arc::ArcConfig {
        eps: config.eps,
        steps: config.steps,
        step_size: config.alpha,
    };
    let label0 = labels[0];
    let targets = loss::one_hot(labels, model.num_classes(), &x.device());
    let mut seen = PathObjective::new(
        model,
        PathPolicy::Fixed,
        config.pairing,
        attack_paths.clone(),
        targets,
        config.loss,
        false,
        SeededRng::new(0),
    );
    // ARC's iterations are reported with the clean image's entry: its steps are per member and
    // rejected ones leave no iterate to show.
    let start = trace::trace_step(0, x, x, &seen.evaluate(x.clone(), 0), label0);
    let mut cancelled = false;
    let result = arc::arc(model, x, labels, &members, &arc_config, &mut |_, total| {
        let go = progress(&start, x, total);
        cancelled |= !go;
        go
    })?;
    let eval = seen.evaluate(result.x_adv.clone(), 0);
    let trace = vec![start, trace::trace_step(1, x, &result.x_adv, &eval, label0)];
    Ok(AttackResult {
        x_adv: result.x_adv,
        attack_paths,
        defender_paths,
        robust_by_stages: None,
        trace,
        cancelled,
    })
}

/// Square's queries see the logits of each image's attack path (`fixed`, `official`), of a
/// fresh path per query (`resample`), or their mean over K fresh paths (`eot:K`).
fn run_square(
    model: &RnaModel,
    x: &Tensor<4>,
    labels: &[usize],
    config: &AttackConfig,
    attack_paths: Vec<Path>,
    defender_paths: Vec<Path>,
    progress: &mut Progress<'_>,
) -> Result<AttackResult, String> {
    let mut fresh = SeededRng::derive(config.seed, "square-paths");
    let classes = model.num_classes();
    let mut scores = |xq: &Tensor<4>, rows: &[usize]| -> Tensor<2> {
        let own = || -> Vec<Path> { rows.iter().map(|&i| attack_paths[i].clone()).collect() };
        let copies: Vec<Vec<Path>> = match config.policy {
            PathPolicy::Fixed | PathPolicy::Official => vec![own()],
            PathPolicy::Resample => vec![draw_paths(model, rows.len(), config.pairing, &mut fresh)],
            PathPolicy::Eot(k) => (0..k)
                .map(|_| draw_paths(model, rows.len(), config.pairing, &mut fresh))
                .collect(),
        };
        let n = rows.len();
        let flat: Vec<Path> = copies.iter().flatten().cloned().collect();
        model
            .forward_paths(xq.clone().repeat_dim(0, copies.len()), &flat)
            .reshape([copies.len(), n, classes])
            .mean_dim(0)
            .reshape([n, classes])
    };
    let label0 = labels[0];
    let targets = loss::one_hot(labels, classes, &x.device());
    let mut seen = PathObjective::new(
        model,
        PathPolicy::Fixed,
        config.pairing,
        attack_paths.clone(),
        targets,
        config.loss,
        false,
        SeededRng::new(0),
    );
    // Like ARC, Square reports progress with the clean image's entry: accepted squares are
    // per image and come with no gradient to show.
    let start = trace::trace_step(0, x, x, &seen.evaluate(x.clone(), 0), label0);
    let mut cancelled = false;
    let square_config = square::SquareConfig::new(config.eps, config.steps);
    let result = square::square_linf(
        x,
        labels,
        &square_config,
        &mut scores,
        &mut SeededRng::derive(config.seed, "square"),
        &mut |_, total| {
            let go = progress(&start, x, total);
            cancelled |= !go;
            go
        },
    );
    let eval = seen.evaluate(result.x_adv.clone(), 0);
    let trace = vec![start, trace::trace_step(1, x, &result.x_adv, &eval, label0)];
    Ok(AttackResult {
        x_adv: result.x_adv,
        attack_paths,
        defender_paths,
        robust_by_stages: None,
        trace,
        cancelled,
    })
}
