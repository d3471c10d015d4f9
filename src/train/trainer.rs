//! The training loop.

use std::collections::HashMap;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use burn::tensor::{Device, Tensor};

use crate::attack::config::describe_budget;
use crate::attack::loss::{cross_entropy, one_hot};
use crate::attack::pgd::{self, Objective, StepEval};
use crate::data::{ImageSet, augment::random_crop_flip, batch_to_tensor};
use crate::eval::{EvalConfig, evaluate};
use crate::model::file;
use crate::model::{Architecture, ModelConfig, ParamRole, Path, RnaModel, TensorMap};
use crate::rng::SeededRng;

use super::checkpoint::{BEST, CHECKPOINT, EpochLog, TrainState};
use super::config::TrainConfig;
use super::optimizer::Sgd;
use super::schedule::Schedule;
use super::{Result, TrainError, ensure};

/// Train-mode gradients on one path for the attack inside a training step.
struct TrainModeObjective<'m> {
    model: &'m mut RnaModel,
    path: &'m Path,
    one_hot: Tensor<2>,
}

impl Objective for TrainModeObjective<'_> {
    fn evaluate(&mut self, x: Tensor<4>, _step: usize) -> StepEval {
        let x = x.inner().autodiff().require_grad();
        let logits = self.model.forward_train(x.clone(), self.path);
        let loss = cross_entropy(logits.clone(), self.one_hot.clone());
        let grads = loss.clone().sum().backward();
        StepEval {
            loss: loss.inner(),
            grad: x.grad(&grads).expect("input gradient"),
            logits: logits.inner(),
            per_path_loss: None,
        }
    }
}

/// Trainable parameters tracked by autodiff, buffers left plain.
struct Track;
impl TensorMap for Track {
    fn map<const D: usize>(&mut self, _: &str, role: ParamRole, t: Tensor<D>) -> Tensor<D> {
        match role {
            ParamRole::Trainable => t.inner().autodiff().require_grad(),
            ParamRole::Buffer => t,
        }
    }
}

/// What a running training reports after every step.
pub struct Progress<'a> {
    pub epoch: usize,
    pub epochs: usize,
    pub step: usize,
    pub steps_per_epoch: usize,
    pub loss: f64,
    pub accuracy: f64,
    pub state: &'a TrainState,
}

pub struct Trainer {
    pub model: RnaModel,
    pub state: TrainState,
    pub(super) sgd: Sgd,
    pub(super) dir: PathBuf,
    pub(super) train: ImageSet,
    pub(super) holdout: ImageSet,
}

impl Trainer {
    /// A new run in `dir` (created; must not hold a previous run).
    pub fn new(config: TrainConfig, data: ImageSet, dir: &FsPath, device: &Device) -> Result<Self> {
        config.validate().map_err(TrainError::Refused)?;
        if dir.join(CHECKPOINT).exists() {
            return Err(TrainError::Refused(format!(
                "{} already holds a training run; resume it with --resume or choose another --out",
                dir.display()
            )));
        }
        std::fs::create_dir_all(dir)?;
        let mut model_config = ModelConfig::cifar10(Architecture::preset(&config.architecture)?)
            .with_norms(config.norms.clone());
        model_config.class_names = data.class_names.clone();
        model_config.provenance.training_config = Some(serde_json::to_value(&config)?);
        let model = RnaModel::new(model_config, config.seed, device)?;
        let data_images = data.len();
        let (train, holdout) = split(&config, data)?;
        let state = TrainState {
            config: config.clone(),
            epoch: 0,
            step_in_epoch: 0,
            best_epoch: None,
            best_holdout_pgd: -1.0,
            log: Vec::new(),
            seconds: 0.0,
            epoch_loss_sum: 0.0,
            epoch_correct: 0,
            epoch_seen: 0,
            data_images: Some(data_images),
        };
        Ok(Self {
            model,
            state,
            sgd: Sgd {
                momentum: config.momentum,
                weight_decay: config.weight_decay,
                buffers: HashMap::new(),
            },
            dir: dir.to_path_buf(),
            train,
            holdout,
        })
    }

    /// Continues the run saved in `dir`, exactly where its last checkpoint left it.
    pub fn steps_per_epoch(&self) -> usize {
        self.train.len() / self.state.config.batch_size
    }

    pub fn is_finished(&self) -> bool {
        self.state.epoch >= self.state.config.epochs
    }

    /// Writes model, optimizer state and log atomically.
    pub fn step(&mut self) -> (f64, f64) {
        // Inside the thread pool, so that its parallel operations do not each hand their work
        // over from outside and wait (see `attack::policy::PathObjective`).
        rayon::scope(|_| self.step_in_pool())
    }

    fn step_in_pool(&mut self) -> (f64, f64) {
        let config = self.state.config.clone();
        let steps_per_epoch = self.steps_per_epoch();
        let (epoch, s) = (self.state.epoch, self.state.step_in_epoch);
        let global = (epoch * steps_per_epoch + s) as u64;
        let mut rng = SeededRng::derive(
            config.seed ^ global.wrapping_mul(0x9e37_79b9_7f4a_7c15),
            "train-step",
        );
        let order = epoch_order(self.train.len(), config.seed, epoch);
        let indices = &order[s * config.batch_size..(s + 1) * config.batch_size];
        let batch = self.batch(indices, &mut rng, config.augment);
        let labels: Vec<usize> = indices
            .iter()
            .map(|&i| usize::from(self.train.labels[i]))
            .collect();
        let device = self.model.device().clone();
        let targets = one_hot(&labels, self.model.num_classes(), &device);

        let space = self.model.path_space().clone();
        let attack_path = space.sample(&mut rng);
        let update_path = space.sample(&mut rng);
        let x_adv = {
            let mut objective = TrainModeObjective {
                model: &mut self.model,
                path: &attack_path,
                one_hot: targets.clone(),
            };
            pgd::run(
                &config.attack,
                &batch,
                &mut objective,
                &mut rng,
                &mut |_, _, _| true,
            )
        };

        let mut tracked = self.model.clone();
        tracked.map_params(&mut Track);
        let logits = tracked.forward_train(x_adv, &update_path);
        let loss = cross_entropy(logits.clone(), targets).mean();
        let grads = loss.backward();
        let lr = config.learning_rate(epoch, s, steps_per_epoch);
        self.sgd.step(&mut self.model, &mut tracked, &grads, lr);

        let loss = loss.inner().into_scalar::<f32>() as f64;
        let correct = crate::model::count_correct(logits, &labels);
        self.state.epoch_loss_sum += loss * labels.len() as f64;
        self.state.epoch_correct += correct;
        self.state.epoch_seen += labels.len();
        self.state.step_in_epoch += 1;
        (loss, correct as f64 / labels.len() as f64)
    }

    fn batch(&self, indices: &[usize], rng: &mut SeededRng, augment: bool) -> Tensor<4> {
        if !augment {
            return self.train.to_tensor(indices, self.model.device());
        }
        let mut pixels = Vec::with_capacity(indices.len() * crate::data::IMAGE_LEN);
        let mut out = vec![0u8; crate::data::IMAGE_LEN];
        for &i in indices {
            random_crop_flip(self.train.image(i), &mut out, 4, rng);
            pixels.extend_from_slice(&out);
        }
        batch_to_tensor(&pixels, self.model.device())
    }

    /// Closes an epoch: held-out evaluation, best-model selection, log row.
    fn finish_epoch(&mut self, started: f64) -> Result<EpochLog> {
        let config = self.state.config.clone();
        let eval = EvalConfig::official_pgd(config.holdout_pgd_steps, config.seed);
        let report = evaluate(
            &self.model,
            &self.holdout,
            &eval,
            config.batch_size,
            None,
            &mut |_, _| true,
        )?;
        let row = EpochLog {
            epoch: self.state.epoch + 1,
            lr: config.learning_rate(
                self.state.epoch,
                self.steps_per_epoch().saturating_sub(1),
                self.steps_per_epoch(),
            ),
            train_loss: self.state.epoch_loss_sum / self.state.epoch_seen.max(1) as f64,
            train_adv_accuracy: self.state.epoch_correct as f64
                / self.state.epoch_seen.max(1) as f64,
            holdout_natural: report.natural.value,
            holdout_pgd: report.robust.map_or(0.0, |p| p.value),
            seconds: self.state.seconds - started,
        };
        self.state.log.push(row.clone());
        self.state.epoch += 1;
        self.state.step_in_epoch = 0;
        self.state.epoch_loss_sum = 0.0;
        self.state.epoch_correct = 0;
        self.state.epoch_seen = 0;
        if row.holdout_pgd > self.state.best_holdout_pgd {
            self.state.best_holdout_pgd = row.holdout_pgd;
            self.state.best_epoch = Some(row.epoch);
            let mut best = self.model.clone();
            best.provenance_mut().trained = true;
            best.provenance_mut().summary = self.summary(row.epoch);
            file::save(&best, &self.dir.join(BEST))?;
        }
        Ok(row)
    }

    fn summary(&self, epoch: usize) -> String {
        let c = &self.state.config;
        let a = &c.attack;
        let start = match a.start_radius {
            Some(r) => format!(", noise {}", describe_budget(r, a.norm)),
            None => String::new(),
        };
        let unprojected = if a.project { "" } else { ", not projected" };
        format!(
            "PGD-AT ({}-step, ε {}, α {}{start}{unprojected}), epoch {epoch} of {}, batch {}, SGD lr {} ({}), best of {} held-out training images by PGD-{} robust accuracy",
            a.steps,
            describe_budget(a.eps, a.norm),
            describe_budget(a.alpha, a.norm),
            c.epochs,
            c.batch_size,
            c.lr,
            match &c.schedule {
                Schedule::Multistep { .. } => "multistep",
                Schedule::Cosine { .. } => "cosine",
            },
            c.holdout,
            c.holdout_pgd_steps
        )
    }

    /// Trains until the configured epochs are done or `stop` is set (checkpointing first).
    pub fn run(
        &mut self,
        stop: &Arc<AtomicBool>,
        report: &mut dyn FnMut(Progress<'_>),
    ) -> Result<()> {
        let steps_per_epoch = self.steps_per_epoch();
        ensure(steps_per_epoch > 0, || {
            "fewer training images than one batch".into()
        })?;
        let mut clock = Instant::now();
        let mut epoch_started = self.state.seconds;
        while !self.is_finished() {
            while self.state.step_in_epoch < steps_per_epoch {
                let (loss, accuracy) = self.step();
                self.state.seconds += clock.elapsed().as_secs_f64();
                clock = Instant::now();
                report(Progress {
                    epoch: self.state.epoch,
                    epochs: self.state.config.epochs,
                    step: self.state.step_in_epoch,
                    steps_per_epoch,
                    loss,
                    accuracy,
                    state: &self.state,
                });
                let every = self.state.config.checkpoint_every;
                if stop.load(Ordering::SeqCst) {
                    self.checkpoint()?;
                    return Ok(());
                }
                if every > 0
                    && self.state.step_in_epoch.is_multiple_of(every)
                    && self.state.step_in_epoch < steps_per_epoch
                {
                    self.checkpoint()?;
                }
            }
            self.finish_epoch(epoch_started)?;
            self.state.seconds += clock.elapsed().as_secs_f64();
            clock = Instant::now();
            epoch_started = self.state.seconds;
            self.checkpoint()?;
            if stop.load(Ordering::SeqCst) {
                return Ok(());
            }
        }
        Ok(())
    }
}

/// The data order of an epoch, a pure function of the seed and the epoch.
fn epoch_order(n: usize, seed: u64, epoch: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    SeededRng::derive(seed, &format!("epoch-{epoch}")).shuffle(&mut order);
    order
}

pub(super) fn split(config: &TrainConfig, data: ImageSet) -> Result<(ImageSet, ImageSet)> {
    // A limit keeps a seeded random subset, so every class stays represented.
    let data = match config.limit {
        Some(n) => data.sample(n, config.seed),
        None => data,
    };
    ensure(config.holdout < data.len(), || {
        format!(
            "the held-out split ({}) must be smaller than the training data ({})",
            config.holdout,
            data.len()
        )
    })?;
    Ok(data.split_holdout(config.holdout, config.seed))
}
