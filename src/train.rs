//! Adversarial training with the official RNA recipe (Madry PGD-AT, loss on adversarial
//! examples only): each step crafts the attack on one random path in train mode, then updates
//! the weights along an independently drawn path.
//!
//! Everything random in step `s` (augmentation, both paths, the attack's start) derives from
//! `(seed, s)`, and the data order of epoch `e` from `(seed, e)`, so a run resumed from a
//! checkpoint at step `s` continues exactly as the uninterrupted run would.
//!
//! Optimizer: SGD with momentum and weight decay in PyTorch's formulation. A candidate that is
//! not on the step's path gets no gradient, and — like PyTorch's SGD when gradients are reset to
//! `None` (its default since 2.0) — no weight decay and no momentum step either. This differs
//! from the official release, which ran on PyTorch 1.x where `zero_grad()` zero-fills: there a
//! candidate used once keeps receiving weight decay and momentum steps while unselected.

use std::collections::HashMap;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::attack::loss::{cross_entropy, one_hot};
use crate::attack::pgd::{self, Objective, PgdConfig, StepEval};
use crate::data::{ImageSet, augment::random_crop_flip, batch_to_tensor};
use crate::eval::{EvalConfig, evaluate};
use crate::model::file::{self, NamedTensor};
use crate::model::{
    Architecture, ModelConfig, ParamRole, Path, RnaModel, TensorMap, norm::NormKind,
};
use crate::rng::SeededRng;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "kind")]
pub enum Schedule {
    /// Multiply the rate by `gamma` at each milestone epoch (the official 100/150 of 200).
    Multistep { milestones: Vec<usize>, gamma: f64 },
    /// Cosine decay to zero over all steps, after a linear warm-up.
    Cosine { warmup_epochs: f64 },
}

/// The attack that generates training examples. One step with α = 1.25 ε and a random start
/// is "FGSM-RS" (Wong et al. 2020); one step with α = ε from noise of radius 2ε, not projected
/// back to the ε-ball, is N-FGSM (de Jorge et al. 2022), which resists catastrophic
/// overfitting; ten steps with α = ε/4 is the official PGD-10.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainAttack {
    /// In /255.
    pub eps: f64,
    pub alpha: f64,
    pub steps: usize,
    /// Radius of the uniform random start in /255 (absent: ε).
    #[serde(default)]
    pub noise: Option<f64>,
    /// Project iterates back to the ε-ball (N-FGSM: false).
    #[serde(default = "yes")]
    pub project: bool,
}

fn yes() -> bool {
    true
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub architecture: String,
    pub norms: Vec<NormKind>,
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f64,
    pub momentum: f64,
    pub weight_decay: f64,
    pub schedule: Schedule,
    pub attack: TrainAttack,
    /// Training images held out to pick the best epoch by PGD accuracy (never the test set).
    pub holdout: usize,
    /// Steps of the held-out PGD evaluation (official policy).
    pub holdout_pgd_steps: usize,
    /// Random crop (pad 4) and horizontal flip.
    pub augment: bool,
    pub seed: u64,
    /// Also checkpoint every this many steps inside an epoch (0: only at epoch ends).
    pub checkpoint_every: usize,
    /// Use only the first N training images (quick runs and tests).
    #[serde(default)]
    pub limit: Option<usize>,
}

impl TrainConfig {
    /// The official recipe: PGD-10 AT, SGD 0.1, 200 epochs, ×0.1 at 100 and 150.
    pub fn official(architecture: &str) -> Self {
        Self {
            architecture: architecture.into(),
            norms: NormKind::RELEASED.to_vec(),
            epochs: 200,
            batch_size: 128,
            lr: 0.1,
            momentum: 0.9,
            weight_decay: 5e-4,
            schedule: Schedule::Multistep {
                milestones: vec![100, 150],
                gamma: 0.1,
            },
            attack: TrainAttack {
                eps: 8.0,
                alpha: 2.0,
                steps: 10,
                noise: None,
                project: true,
            },
            holdout: 1000,
            holdout_pgd_steps: 10,
            augment: true,
            seed: 0,
            checkpoint_every: 50,
            limit: None,
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        Architecture::preset(&self.architecture).map_err(|e| e.to_string())?;
        if self.norms.is_empty() {
            return Err("the candidate list is empty".into());
        }
        if self.epochs == 0 || self.batch_size < 2 {
            return Err(
                "need at least one epoch and a batch of at least 2 (train-mode BatchNorm)".into(),
            );
        }
        if !(self.lr.is_finite()
            && self.lr > 0.0
            && (0.0..1.0).contains(&self.momentum)
            && self.weight_decay.is_finite()
            && self.weight_decay >= 0.0)
        {
            return Err("lr must be > 0, momentum in [0, 1), weight decay ≥ 0".into());
        }
        if self.holdout == 0 || self.holdout_pgd_steps == 0 {
            return Err(
                "the held-out split and its PGD check need at least one image and one step".into(),
            );
        }
        match &self.schedule {
            Schedule::Multistep { gamma, .. } if !(gamma.is_finite() && *gamma > 0.0) => {
                return Err(format!("the multistep factor must be > 0, got {gamma}"));
            }
            Schedule::Cosine { warmup_epochs }
                if !(warmup_epochs.is_finite()
                    && *warmup_epochs >= 0.0
                    && *warmup_epochs < self.epochs as f64) =>
            {
                return Err(format!(
                    "warm-up must be between 0 and the number of epochs, got {warmup_epochs}"
                ));
            }
            _ => {}
        }
        self.attack_config().validate()
    }

    pub fn attack_config(&self) -> PgdConfig {
        PgdConfig {
            project: self.attack.project,
            start_radius: self.attack.noise.map(|r| r / 255.0),
            ..PgdConfig::linf(
                self.attack.eps / 255.0,
                self.attack.alpha / 255.0,
                self.attack.steps,
            )
        }
    }

    fn learning_rate(&self, epoch: usize, step_in_epoch: usize, steps_per_epoch: usize) -> f64 {
        match &self.schedule {
            Schedule::Multistep { milestones, gamma } => {
                let passed = milestones.iter().filter(|&&m| epoch >= m).count();
                self.lr * gamma.powi(passed as i32)
            }
            Schedule::Cosine { warmup_epochs } => {
                let t = epoch as f64 + step_in_epoch as f64 / steps_per_epoch as f64;
                if t < *warmup_epochs {
                    self.lr * t / warmup_epochs
                } else {
                    let span = (self.epochs as f64 - warmup_epochs).max(1e-9);
                    let p = ((t - warmup_epochs) / span).clamp(0.0, 1.0);
                    self.lr * 0.5 * (1.0 + (std::f64::consts::PI * p).cos())
                }
            }
        }
    }
}

/// One row of the per-epoch log.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EpochLog {
    pub epoch: usize,
    pub lr: f64,
    pub train_loss: f64,
    /// Accuracy on the adversarial training examples, on the update path.
    pub train_adv_accuracy: f64,
    pub holdout_natural: f64,
    pub holdout_pgd: f64,
    pub seconds: f64,
}

/// Where a run stands; saved with every checkpoint.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrainState {
    pub config: TrainConfig,
    pub epoch: usize,
    pub step_in_epoch: usize,
    pub best_epoch: Option<usize>,
    pub best_holdout_pgd: f64,
    pub log: Vec<EpochLog>,
    /// Wall-clock seconds spent so far, across resumptions.
    pub seconds: f64,
    /// Running sums of the current epoch, so a mid-epoch resume logs the same numbers.
    pub epoch_loss_sum: f64,
    pub epoch_correct: usize,
    pub epoch_seen: usize,
    /// Size of the data the run started on (training plus held-out), checked on resume.
    #[serde(default)]
    pub data_images: Option<usize>,
}

impl TrainState {
    /// Identifies the step a checkpoint was written at.
    fn stamp(&self) -> String {
        format!("{}:{}", self.epoch, self.step_in_epoch)
    }
}

/// SGD with momentum and L2 weight decay, as PyTorch's `torch.optim.SGD` computes them.
struct Sgd {
    momentum: f64,
    weight_decay: f64,
    buffers: HashMap<String, Tensor<1>>,
}

impl Sgd {
    /// Updates `model` from the gradients of `tracked` (the same weights, tracked by autodiff),
    /// and takes over the running statistics `tracked` computed in its forward pass.
    fn step(
        &mut self,
        model: &mut RnaModel,
        tracked: &mut RnaModel,
        grads: &burn::tensor::Gradients,
        lr: f64,
    ) {
        let mut from_tracked: HashMap<String, (Option<Tensor<1>>, Tensor<1>)> = HashMap::new();
        tracked.visit_params(&mut |name, role, p| {
            let grad = (role == ParamRole::Trainable)
                .then(|| p.grad_flat(grads))
                .flatten();
            from_tracked.insert(name.to_string(), (grad, p.flat().inner()));
        });
        model.visit_params(&mut |name, role, mut p| {
            let (grad, value) = from_tracked.remove(name).expect("same parameters");
            match role {
                ParamRole::Buffer => p.set_flat(value),
                ParamRole::Trainable => {
                    let Some(grad) = grad else { return };
                    let w = p.flat();
                    let g = grad.add(w.clone().mul_scalar(self.weight_decay));
                    let buf = match self.buffers.remove(name) {
                        Some(b) => b.mul_scalar(self.momentum).add(g),
                        None => g,
                    };
                    p.set_flat(w.sub(buf.clone().mul_scalar(lr)));
                    self.buffers.insert(name.to_string(), buf);
                }
            }
        });
    }
}

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
    sgd: Sgd,
    dir: PathBuf,
    train: ImageSet,
    holdout: ImageSet,
}

const CHECKPOINT: &str = "checkpoint.safetensors";
const OPTIMIZER: &str = "optimizer.safetensors";
const BEST: &str = "best.safetensors";
const LOG: &str = "log.csv";

impl Trainer {
    /// A new run in `dir` (created; must not hold a previous run).
    pub fn new(
        config: TrainConfig,
        data: ImageSet,
        dir: &FsPath,
        device: &Device,
    ) -> anyhow::Result<Self> {
        config.validate().map_err(anyhow::Error::msg)?;
        if dir.join(CHECKPOINT).exists() {
            anyhow::bail!(
                "{} already holds a training run; resume it with --resume or choose another --out",
                dir.display()
            );
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
    pub fn resume(dir: &FsPath, data: ImageSet, device: &Device) -> anyhow::Result<Self> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read(&path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
        };
        let (meta, tensors) = file::decode(&read(OPTIMIZER)?)?;
        let state: TrainState = serde_json::from_str(
            meta.get("train_state")
                .and_then(|v| v.as_str())
                .ok_or_else(|| anyhow::anyhow!("optimizer file has no training state"))?,
        )?;
        let model_bytes = read(CHECKPOINT)?;
        let (model_meta, _) = file::decode(&model_bytes)?;
        // Weights and optimizer state are two files; a stamp shows they belong together.
        if let Some(stamp) = model_meta.get("train_step").and_then(|v| v.as_str()) {
            anyhow::ensure!(
                stamp == state.stamp(),
                "{}: the weights are from step {stamp} but the optimizer state from step {} (interrupted while checkpointing); restart the run",
                dir.display(),
                state.stamp()
            );
        }
        let mut model = file::from_bytes(&model_bytes, device)?;
        anyhow::ensure!(
            model.config().class_names == data.class_names,
            "the data's classes ({}) are not the run's ({})",
            data.class_names.join(", "),
            model.config().class_names.join(", ")
        );
        if let Some(n) = state.data_images {
            anyhow::ensure!(
                n == data.len(),
                "the run started on {n} images, this data has {}: resume with the same --data",
                data.len()
            );
        }
        let mut sizes = HashMap::new();
        model.visit_params(&mut |name, role, p| {
            if role == ParamRole::Trainable {
                sizes.insert(name.to_string(), p.num_elements());
            }
        });
        let mut buffers = HashMap::new();
        for t in tensors.into_values() {
            anyhow::ensure!(
                sizes.get(&t.name) == Some(&t.values.len()),
                "optimizer state for '{}' does not fit the model",
                t.name
            );
            let n = t.values.len();
            buffers.insert(
                t.name,
                Tensor::from_data(burn::tensor::TensorData::new(t.values, [n]), device),
            );
        }
        let (train, holdout) = split(&state.config, data)?;
        Ok(Self {
            model,
            sgd: Sgd {
                momentum: state.config.momentum,
                weight_decay: state.config.weight_decay,
                buffers,
            },
            state,
            dir: dir.to_path_buf(),
            train,
            holdout,
        })
    }

    pub fn steps_per_epoch(&self) -> usize {
        self.train.len() / self.state.config.batch_size
    }

    pub fn is_finished(&self) -> bool {
        self.state.epoch >= self.state.config.epochs
    }

    /// Writes model, optimizer state and log atomically.
    pub fn checkpoint(&self) -> anyhow::Result<()> {
        let mut stamp = serde_json::Map::new();
        stamp.insert("train_step".into(), self.state.stamp().into());
        file::write_atomically(
            &self.dir.join(CHECKPOINT),
            &file::to_bytes_with(&self.model, stamp),
        )?;
        let tensors: Vec<NamedTensor> = self
            .sgd
            .buffers
            .iter()
            .map(|(name, t)| {
                let values: Vec<f32> = t.to_data().convert::<f32>().try_into_vec().expect("f32");
                NamedTensor {
                    name: name.clone(),
                    shape: vec![values.len()],
                    values,
                }
            })
            .collect();
        let mut meta = serde_json::Map::new();
        meta.insert(
            "train_state".into(),
            serde_json::to_string(&self.state)?.into(),
        );
        file::write_atomically(&self.dir.join(OPTIMIZER), &file::encode(&tensors, meta))?;
        let mut csv = String::from(
            "epoch,lr,train_loss,train_adv_accuracy,holdout_natural,holdout_pgd,seconds\n",
        );
        for r in &self.state.log {
            csv.push_str(&format!(
                "{},{:.6},{:.4},{:.4},{:.4},{:.4},{:.1}\n",
                r.epoch,
                r.lr,
                r.train_loss,
                r.train_adv_accuracy,
                r.holdout_natural,
                r.holdout_pgd,
                r.seconds
            ));
        }
        file::write_atomically(&self.dir.join(LOG), csv.as_bytes())?;
        Ok(())
    }

    /// One training step (attack on one path, update on another). Returns loss and accuracy.
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
                &config.attack_config(),
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
    fn finish_epoch(&mut self, started: f64) -> anyhow::Result<EpochLog> {
        let config = self.state.config.clone();
        let eval = EvalConfig::official_pgd(config.holdout_pgd_steps, config.seed);
        let report = evaluate(
            &self.model,
            &self.holdout,
            &eval,
            config.batch_size,
            None,
            &mut |_, _| true,
        )
        .map_err(anyhow::Error::msg)?;
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
        let start = match c.attack.noise {
            Some(r) => format!(", noise {r}/255"),
            None => String::new(),
        };
        let unprojected = if c.attack.project {
            ""
        } else {
            ", not projected"
        };
        format!(
            "PGD-AT ({}-step, ε {}/255, α {}/255{start}{unprojected}), epoch {epoch} of {}, batch {}, SGD lr {} ({}), best of {} held-out training images by PGD-{} robust accuracy",
            c.attack.steps,
            c.attack.eps,
            c.attack.alpha,
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
    ) -> anyhow::Result<()> {
        let steps_per_epoch = self.steps_per_epoch();
        anyhow::ensure!(steps_per_epoch > 0, "fewer training images than one batch");
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

    pub fn best_path(&self) -> PathBuf {
        self.dir.join(BEST)
    }
}

/// The data order of an epoch, a pure function of the seed and the epoch.
fn epoch_order(n: usize, seed: u64, epoch: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    SeededRng::derive(seed, &format!("epoch-{epoch}")).shuffle(&mut order);
    order
}

fn split(config: &TrainConfig, data: ImageSet) -> anyhow::Result<(ImageSet, ImageSet)> {
    // A limit keeps a seeded random subset, so every class stays represented.
    let data = match config.limit {
        Some(n) => data.sample(n, config.seed),
        None => data,
    };
    anyhow::ensure!(
        config.holdout < data.len(),
        "the held-out split ({}) must be smaller than the training data ({})",
        config.holdout,
        data.len()
    );
    Ok(data.split_holdout(config.holdout, config.seed))
}
