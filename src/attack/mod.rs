//! Adversarial attacks in pixel space [0, 1], and the path policies that make them meaningful
//! against a network that samples its normalization per forward pass.

pub mod apgd;
pub mod arc;
pub mod config;
pub mod fab;
pub mod image;
pub mod loss;
pub mod pgd;
pub mod policy;
pub mod square;
mod stages;
pub mod trace;
pub mod transfer;

use burn::tensor::Tensor;

pub use config::{AttackConfig, AttackKind, describe_attack, parse_budget, protocol_pair};
pub use loss::LossKind;
pub use pgd::{Norm, Objective, PgdConfig, StepEval};
pub use policy::{Pairing, PathObjective, PathPolicy, draw_paths};
use stages::Stage;
pub use trace::TraceStep;

use crate::model::{Path, RnaModel};
use crate::rng::SeededRng;

/// Why an attack cannot run; each message is one line, as the CLI prints it.
#[derive(Debug, thiserror::Error)]
pub enum AttackError {
    /// Settings that are meaningless or absurd for this model and these images.
    #[error("{0}")]
    Settings(String),
    /// The attacker's path, given in text form, does not fit the model.
    #[error(transparent)]
    Path(#[from] crate::model::ModelError),
}

impl From<String> for AttackError {
    fn from(message: String) -> Self {
        AttackError::Settings(message)
    }
}

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
) -> Result<(Vec<Path>, Vec<Path>), AttackError> {
    let attack = match &config.path {
        Some(text) => vec![model.path_space().parse(text)?; n],
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

/// Sees every traced iterate: its trace entry, the first image's iterate (planar, in [0, 1],
/// from the same readback as the entry) and the total number of iterations. Returning false
/// cancels the attack.
pub type Progress<'a> = dyn FnMut(&TraceStep, &[f32], usize) -> bool + 'a;

/// Host values back into a `[N, C, H, W]` tensor.
pub(crate) fn tensor(
    values: Vec<f32>,
    dims: [usize; 4],
    device: &burn::tensor::Device,
) -> Tensor<4> {
    Tensor::from_data(burn::tensor::TensorData::new(values, dims), device)
}

/// Per image, `a` where `take` holds, else `b`.
fn select(take: &[bool], a: Tensor<4>, b: Tensor<4>) -> Tensor<4> {
    let mask: Vec<f32> = take.iter().map(|&t| if t { 1.0 } else { 0.0 }).collect();
    apgd::choose(&mask, a, b)
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
) -> Result<AttackResult, AttackError> {
    config.validate(model.num_classes())?;
    let n = labels.len();
    let (attack_paths, defender_paths) = attack_paths(model, config, n)?;
    if config.kind == AttackKind::Arc {
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
    let classes = model.num_classes();
    let goal: Vec<usize> = match config.target {
        Some(t) => vec![t; n],
        None => labels.to_vec(),
    };
    let stages = stages::stages(config, classes);
    let mut run = StageRun {
        model,
        config,
        x,
        total: config.restarts * stages.len() * config.steps,
        label0: labels[0],
        noise: SeededRng::derive(config.seed, "attack-noise"),
        trace: Vec::new(),
        cancelled: false,
        progress,
    };
    let everyone: Vec<usize> = (0..n).collect();
    let (x_adv, robust_by_stages) = if config.autoattack_accounting() {
        // AutoAttack: each stage attacks only the points not yet broken, judged by a fresh pass.
        let mut judge = SeededRng::derive(config.seed, "autoattack-judge");
        let right = fresh_pass_right(model, x, labels, config, &attack_paths, &mut judge);
        let mut account = StageAccount::new(x, right);
        let ranked = stages::ranked_classes(model, x, &attack_paths);
        'sequence: for restart in 0..config.restarts {
            for (index, &stage) in stages.iter().enumerate() {
                let rows: Vec<usize> = everyone
                    .iter()
                    .copied()
                    .filter(|&i| account.robust[i])
                    .collect();
                if rows.is_empty() {
                    break 'sequence;
                }
                let sub = Rows::new(&rows, x, labels, &attack_paths, &ranked);
                let x_stage = run.stage(stage, &sub, restart * 64 + index);
                let x_full = sub.scatter(x_stage, &account.x_adv);
                let right =
                    fresh_pass_right(model, &x_full, labels, config, &attack_paths, &mut judge);
                // Points outside `rows` are broken already and stay so whatever the pass says.
                account.record(x_full, &right);
                if run.cancelled {
                    break 'sequence;
                }
            }
        }
        (account.x_adv, Some(account.robust))
    } else {
        // Across restarts, per sample a won result, else the better objective (the raw loss
        // descends for targeted attacks).
        let sign = if config.target.is_some() {
            -1.0f32
        } else {
            1.0
        };
        let ranked = Vec::new();
        let all = Rows::new(&everyone, x, &goal, &attack_paths, &ranked);
        let mut best: Option<(Tensor<4>, Vec<f32>, Vec<bool>)> = None;
        for restart in 0..config.restarts {
            let x_run = run.stage(stages[0], &all, restart * 64);
            let mut objective = run.objective(stages[0], &all, 0);
            let eval = objective.evaluate(x_run.clone(), config.steps);
            let value: Vec<f32> = crate::device::to_host(eval.loss.clone())
                .into_iter()
                .map(|l| sign * l)
                .collect();
            let won = run.is_adversarial(&eval.logits, &goal);
            best = Some(match best.take() {
                None => (x_run, value, won),
                Some((bx, bv, bw)) => {
                    let take: Vec<bool> = (0..n)
                        .map(|i| (won[i] && !bw[i]) || (won[i] == bw[i] && value[i] > bv[i]))
                        .collect();
                    let values = (0..n)
                        .map(|i| if take[i] { value[i] } else { bv[i] })
                        .collect();
                    let wins = (0..n).map(|i| won[i] || bw[i]).collect();
                    (select(&take, x_run, bx), values, wins)
                }
            });
            if run.cancelled {
                break;
            }
        }
        (best.expect("at least one run").0, None)
    };
    // The last trace entry is the result itself, seen along the attacker's first path (with
    // cross-entropy where the attack's own loss needs a target per stage).
    let shown_loss = match config.loss {
        LossKind::DlrTargeted => LossKind::Ce,
        other => other,
    };
    let mut last = PathObjective::new(
        model,
        PathPolicy::Fixed,
        config.pairing,
        attack_paths.clone(),
        loss::one_hot(&goal, classes, &x.device()),
        shown_loss,
        config.target.is_some(),
        SeededRng::new(0),
    );
    let eval = last.evaluate(x_adv.clone(), 0);
    let StageRun {
        mut trace,
        cancelled,
        ..
    } = run;
    trace.push(trace::trace_step(trace.len(), x, &x_adv, &eval, labels[0]).0);
    Ok(AttackResult {
        x_adv,
        attack_paths,
        defender_paths,
        robust_by_stages,
        trace,
        cancelled,
    })
}

/// The images one stage attacks: a subset of the batch, with everything per image that the
/// stage needs.
struct Rows {
    rows: Vec<usize>,
    x: Tensor<4>,
    /// The goal per row: the label, or the target of a targeted attack.
    goal: Vec<usize>,
    paths: Vec<Path>,
    /// Per row, the classes by clean logits (empty when no stage needs targets).
    ranked: Vec<Vec<usize>>,
}

impl Rows {
    fn new(
        rows: &[usize],
        x: &Tensor<4>,
        goal: &[usize],
        paths: &[Path],
        ranked: &[Vec<usize>],
    ) -> Self {
        let n = x.dims()[0];
        let x = if rows.len() == n {
            x.clone()
        } else {
            let index: Vec<i64> = rows.iter().map(|&i| i as i64).collect();
            x.clone().select(
                0,
                Tensor::<1, burn::tensor::Int>::from_data(
                    burn::tensor::TensorData::new(index, [rows.len()]),
                    &x.device(),
                ),
            )
        };
        Self {
            rows: rows.to_vec(),
            x,
            goal: rows.iter().map(|&i| goal[i]).collect(),
            paths: rows.iter().map(|&i| paths[i].clone()).collect(),
            ranked: rows
                .iter()
                .filter_map(|&i| ranked.get(i).cloned())
                .collect(),
        }
    }

    /// The whole batch: `base` with these rows replaced by `x_rows`.
    fn scatter(&self, x_rows: Tensor<4>, base: &Tensor<4>) -> Tensor<4> {
        let n = base.dims()[0];
        if self.rows.len() == n {
            return x_rows;
        }
        let mut position = vec![None; n];
        for (k, &i) in self.rows.iter().enumerate() {
            position[i] = Some(k);
        }
        let pieces: Vec<Tensor<4>> = (0..n)
            .map(|i| match position[i] {
                Some(k) => x_rows.clone().narrow(0, k, 1),
                None => base.clone().narrow(0, i, 1),
            })
            .collect();
        Tensor::cat(pieces, 0)
    }

    /// The class ranked `rank` (1: the top) per row.
    fn ranked_at(&self, rank: usize) -> Vec<usize> {
        self.ranked.iter().map(|r| r[rank - 1]).collect()
    }
}

/// What the stages of one attack share: the model and settings, the iterate trace and the
/// caller's progress.
struct StageRun<'a, 'p> {
    model: &'a RnaModel,
    config: &'a AttackConfig,
    x: &'a Tensor<4>,
    total: usize,
    label0: usize,
    noise: SeededRng,
    trace: Vec<TraceStep>,
    cancelled: bool,
    progress: &'a mut Progress<'p>,
}

impl<'a> StageRun<'a, '_> {
    /// Whether the attacker has won each row, judged on the logits it sees.
    fn is_adversarial(&self, logits: &Tensor<2>, goal: &[usize]) -> Vec<bool> {
        let targeted = self.config.target.is_some();
        crate::model::predictions(logits.clone())
            .iter()
            .zip(goal)
            .map(|(&p, &g)| (p == g) == targeted)
            .collect()
    }

    /// The objective a stage follows on `rows`: its loss towards the rows' goals, or the
    /// targeted DLR towards their ranked classes.
    fn objective(&self, stage: Stage, rows: &Rows, seed: usize) -> PathObjective<'a> {
        let classes = self.model.num_classes();
        let device = self.x.device();
        let (kind, one_hot) = match stage {
            Stage::ApgdTargeted(rank) | Stage::FabTargeted(rank) => (
                LossKind::DlrTargeted,
                loss::label_minus_target(&rows.goal, &rows.ranked_at(rank), classes, &device),
            ),
            Stage::Gradient(kind) => (kind, loss::one_hot(&rows.goal, classes, &device)),
            Stage::Square => (LossKind::Cw, loss::one_hot(&rows.goal, classes, &device)),
        };
        PathObjective::new(
            self.model,
            self.config.policy.clone(),
            self.config.pairing,
            rows.paths.clone(),
            one_hot,
            kind,
            self.config.target.is_some(),
            SeededRng::derive(self.config.seed ^ seed as u64, "attack-paths"),
        )
    }

    /// Runs one stage on `rows` and returns its result for them. The trace follows the rows'
    /// first image (the batch's first while it is attacked; in the app, the one image).
    fn stage(&mut self, stage: Stage, rows: &Rows, seed: usize) -> Tensor<4> {
        let offset = self.trace.len();
        let mut objective = self.objective(stage, rows, seed);
        let (x, label0, total) = (&rows.x, self.label0, self.total);
        let (trace, progress, cancelled) =
            (&mut self.trace, &mut *self.progress, &mut self.cancelled);
        match stage {
            Stage::Gradient(_) | Stage::ApgdTargeted(_) => {
                let mut hook = |step: usize, xi: &Tensor<4>, eval: &StepEval| {
                    let (t, image) = trace::trace_step(offset + step, x, xi, eval, label0);
                    let go = progress(&t, &image, total);
                    trace.push(t);
                    *cancelled |= !go;
                    go
                };
                let goal = rows.goal.clone();
                let targeted = self.config.target.is_some();
                let is_adversarial = move |logits: &Tensor<2>| -> Vec<bool> {
                    crate::model::predictions(logits.clone())
                        .iter()
                        .zip(&goal)
                        .map(|(&p, &g)| (p == g) == targeted)
                        .collect()
                };
                if self.config.is_apgd() {
                    apgd::run(
                        x,
                        self.config.eps,
                        self.config.steps,
                        &mut objective,
                        &is_adversarial,
                        &mut self.noise,
                        &mut hook,
                    )
                    .x
                } else {
                    pgd::run(
                        &self.config.pgd(),
                        x,
                        &mut objective,
                        &mut self.noise,
                        &mut hook,
                    )
                }
            }
            Stage::FabTargeted(_) | Stage::Square => {
                // Reported with the clean image's entry: these stages take no gradient steps
                // to show.
                let (start, image) =
                    trace::trace_step(offset, x, x, &objective.evaluate(x.clone(), 0), label0);
                let mut go_on = |_: usize, _: usize| {
                    let go = progress(&start, &image, total);
                    *cancelled |= !go;
                    go
                };
                let mut rng = SeededRng::derive(self.config.seed ^ seed as u64, "stage");
                match stage {
                    Stage::FabTargeted(rank) => stages::fab_stage(
                        self.model,
                        x,
                        &rows.goal,
                        &rows.ranked_at(rank),
                        self.config,
                        &rows.paths,
                        &mut rng,
                        &mut go_on,
                    ),
                    _ => stages::square_stage(
                        self.model,
                        x,
                        &rows.goal,
                        self.config,
                        &rows.paths,
                        &mut rng,
                        &mut go_on,
                    ),
                }
            }
        }
    }
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
) -> Result<AttackResult, AttackError> {
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
    let (start, image) = trace::trace_step(0, x, x, &seen.evaluate(x.clone(), 0), label0);
    let mut cancelled = false;
    let result = arc::arc(model, x, labels, &members, &arc_config, &mut |_, total| {
        let go = progress(&start, &image, total);
        cancelled |= !go;
        go
    })?;
    let eval = seen.evaluate(result.x_adv.clone(), 0);
    let trace = vec![
        start,
        trace::trace_step(1, x, &result.x_adv, &eval, label0).0,
    ];
    Ok(AttackResult {
        x_adv: result.x_adv,
        attack_paths,
        defender_paths,
        robust_by_stages: None,
        trace,
        cancelled,
    })
}
