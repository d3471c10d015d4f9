//! Timings of the work users wait for: the path ensemble of one image, PGD on one image,
//! PGD evaluation and an adversarial-training step. `tools/bench_torch.py` measures the same
//! work in PyTorch under the same names, so `tools/bench_compare.py` can put them side by side.

use std::time::Instant;

use burn::tensor::Tensor;
use serde::Serialize;

use crate::attack::{AttackConfig, AttackKind, Pairing, PathPolicy, run_attack};
use crate::data::{IMAGE_LEN, ImageSet};
use crate::device::{read_back, readbacks};
use crate::ensemble;
use crate::eval::{EvalConfig, evaluate};
use crate::model::RnaModel;
use crate::rng::SeededRng;
use crate::train::{TrainConfig, Trainer};

/// What can be timed; [`Measure::name`] is the name `tools/bench_torch.py` uses too.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Measure {
    /// The ensemble of one image, every path in batched passes.
    EnsembleBatched,
    /// The same ensemble one path at a time.
    EnsembleSingle,
    /// PGD-20 on one image and one path.
    Pgd20Fixed,
    /// PGD-20 on one image, gradients averaged over 10 paths per step.
    Pgd20Eot10,
    /// PGD-20 evaluation of [`EVAL_BATCHES`] batches.
    Pgd20Eval,
    /// One adversarial-training step.
    TrainStep,
}

impl Measure {
    /// Every measurement, in the order they run.
    pub const ALL: [Measure; 6] = [
        Measure::EnsembleBatched,
        Measure::EnsembleSingle,
        Measure::Pgd20Fixed,
        Measure::Pgd20Eot10,
        Measure::Pgd20Eval,
        Measure::TrainStep,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Measure::EnsembleBatched => "ensemble_batched",
            Measure::EnsembleSingle => "ensemble_single",
            Measure::Pgd20Fixed => "pgd20_fixed",
            Measure::Pgd20Eot10 => "pgd20_eot10",
            Measure::Pgd20Eval => "pgd20_eval",
            Measure::TrainStep => "train_step",
        }
    }
}

impl std::str::FromStr for Measure {
    type Err = BenchError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Measure::ALL
            .into_iter()
            .find(|m| m.name() == s.trim())
            .ok_or_else(|| BenchError::UnknownMeasurement(s.trim().to_string()))
    }
}

/// Why a benchmark cannot run; each message is one line, as the CLI prints it.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("a benchmark needs at least one repeat, one path, a batch of two and one attack step")]
    Settings,
    #[error("unknown measurement '{0}': expected one of {names}", names = Measure::ALL.map(Measure::name).join(", "))]
    UnknownMeasurement(String),
    /// The attack or evaluation being timed failed.
    #[error(transparent)]
    Attack(#[from] crate::attack::AttackError),
    #[error(transparent)]
    Eval(#[from] crate::eval::EvalError),
    #[error(transparent)]
    Train(#[from] crate::train::TrainError),
}

/// Batches of one PGD evaluation run, so that evaluating batches side by side counts.
pub const EVAL_BATCHES: usize = 2;

#[derive(Clone, Debug, Serialize)]
pub struct BenchSettings {
    /// Timed runs per measurement.
    pub repeats: usize,
    /// Untimed runs before them. On wgpu, kernels are compiled and autotuned for each new shape
    /// during the first runs, so one warm-up is not enough there.
    pub warmup: usize,
    /// Paths of the ensemble query.
    pub paths: usize,
    /// Batch of the PGD evaluation and the training step.
    pub batch: usize,
    /// PGD steps of the attack inside a training step (α = ε/2, as the shipped models' recipe).
    pub train_attack_steps: usize,
    /// Path pairing of the PGD evaluation (per-image pairing must stay near batch speed).
    pub pairing: Pairing,
    pub seed: u64,
}

impl Default for BenchSettings {
    fn default() -> Self {
        Self {
            repeats: 5,
            warmup: 1,
            paths: 1024,
            batch: 128,
            train_attack_steps: 2,
            pairing: Pairing::Image,
            seed: 0,
        }
    }
}

impl BenchSettings {
    pub fn validate(&self) -> Result<(), BenchError> {
        let fine =
            self.repeats >= 1 && self.paths >= 1 && self.batch >= 2 && self.train_attack_steps >= 1;
        if fine {
            Ok(())
        } else {
            Err(BenchError::Settings)
        }
    }
}

/// One measurement's timed runs.
#[derive(Clone, Debug, Serialize)]
pub struct Measurement {
    pub name: String,
    /// Median wall time of one run.
    pub seconds: f64,
    pub runs: Vec<f64>,
    /// Nominal FLOPs of one run (forward = F, backward = 2F per image and pass), so that
    /// `gflops_per_s` compares implementations that skip work (shared path prefixes) fairly.
    pub flops: f64,
    pub gflops_per_s: f64,
    /// Images per second, where the measurement is a throughput.
    pub images_per_s: Option<f64>,
    /// Peak resident memory of the process during the measurement, MiB (Linux; else absent).
    pub peak_rss_mib: Option<f64>,
    /// Host readbacks of one run (on a GPU, each is a sync): the fixed cost to cut there,
    /// counted on any device.
    pub readbacks: u64,
}

/// One run of a measurement; the argument numbers the run (0: the warm-up).
type Work<'m> = Box<dyn FnMut(usize) -> Result<(), BenchError> + 'm>;

/// Runs `what` on `model`: `settings.warmup` untimed runs, then `settings.repeats` timed runs.
pub fn measure(
    model: &RnaModel,
    what: Measure,
    settings: &BenchSettings,
) -> Result<Measurement, BenchError> {
    settings.validate()?;
    let f = model.flops_per_image() as f64;
    let pgd20 = 20.0 * 3.0 * f + f;
    let ensemble_flops = settings.paths as f64 * f;
    // Per measurement: one run, images per run (0: not a throughput), nominal FLOPs per run.
    let (work, images, flops): (Work<'_>, f64, f64) = match what {
        Measure::EnsembleBatched => {
            let (image, paths) = ensemble_input(model, settings);
            (
                Box::new(move |_| {
                    read_back(ensemble::path_logits(model, &image, &paths));
                    Ok(())
                }),
                0.0,
                ensemble_flops,
            )
        }
        Measure::EnsembleSingle => {
            let (image, paths) = ensemble_input(model, settings);
            let x = image.unsqueeze_dim::<4>(0);
            (
                Box::new(move |_| {
                    let logits: Vec<_> = paths
                        .iter()
                        .map(|p| model.forward_path(x.clone(), p))
                        .collect();
                    read_back(Tensor::cat(logits, 0));
                    Ok(())
                }),
                0.0,
                ensemble_flops,
            )
        }
        Measure::Pgd20Fixed | Measure::Pgd20Eot10 => {
            let data = synthetic_images(model, 1, settings.seed);
            let x = data.to_tensor(&[0], model.device());
            let labels = [usize::from(data.labels[0])];
            let mut config = AttackConfig::preset(AttackKind::Pgd);
            let (policy, flops) = if what == Measure::Pgd20Fixed {
                (PathPolicy::Fixed, pgd20)
            } else {
                (PathPolicy::Eot(10), 20.0 * 10.0 * 3.0 * f + f)
            };
            config.policy = policy;
            (
                Box::new(move |run| {
                    config.seed = settings.seed + run as u64;
                    read_back(run_attack(model, &x, &labels, &config, &mut |_, _, _| true)?.x_adv);
                    Ok(())
                }),
                0.0,
                flops,
            )
        }
        Measure::Pgd20Eval => {
            let images = EVAL_BATCHES * settings.batch;
            let data = synthetic_images(model, images, settings.seed);
            (
                Box::new(move |run| {
                    let config = EvalConfig {
                        pairing: settings.pairing,
                        ..EvalConfig::official_pgd(20, settings.seed + run as u64)
                    };
                    evaluate(model, &data, &config, settings.batch, None, &mut |_, _| {
                        true
                    })?;
                    Ok(())
                }),
                images as f64,
                // Natural and robust predictions on the defender's path, PGD-20 on the attacker's.
                images as f64 * (pgd20 + f),
            )
        }
        Measure::TrainStep => {
            let holdout = 1;
            let data = synthetic_images(
                model,
                settings.batch * (settings.warmup + settings.repeats) + holdout,
                settings.seed,
            );
            let dir = std::env::temp_dir().join(format!("rna-lens-bench-{}", std::process::id()));
            let mut config = TrainConfig::official(&model.config().architecture.name());
            config.norms = model.config().norms.clone();
            config.batch_size = settings.batch;
            config.holdout = holdout;
            config.attack.steps = settings.train_attack_steps;
            config.attack.alpha = config.attack.eps / 2.0;
            config.seed = settings.seed;
            let trainer = Trainer::new(config, data, &dir, model.device());
            let _ = std::fs::remove_dir_all(&dir);
            let mut trainer = trainer?;
            (
                Box::new(move |_| {
                    trainer.step();
                    Ok(())
                }),
                0.0,
                settings.batch as f64 * (settings.train_attack_steps as f64 + 1.0) * 3.0 * f,
            )
        }
    };
    time(what.name(), work, settings, flops, images)
}

fn time(
    name: &str,
    mut work: Work<'_>,
    settings: &BenchSettings,
    flops: f64,
    images: f64,
) -> Result<Measurement, BenchError> {
    for _ in 0..settings.warmup {
        work(0)?;
    }
    reset_peak_rss();
    let readbacks_before = readbacks();
    let mut runs = Vec::with_capacity(settings.repeats);
    for run in 1..=settings.repeats {
        let started = Instant::now();
        work(run)?;
        runs.push(started.elapsed().as_secs_f64());
    }
    let seconds = median(&runs);
    Ok(Measurement {
        name: name.to_string(),
        seconds,
        runs,
        flops,
        gflops_per_s: flops / seconds / 1e9,
        images_per_s: (images > 0.0).then(|| images / seconds),
        peak_rss_mib: peak_rss_bytes().map(|b| b as f64 / (1024.0 * 1024.0)),
        readbacks: (readbacks() - readbacks_before) / settings.repeats as u64,
    })
}

/// One random image and `settings.paths` paths drawn from the model's space.
fn ensemble_input(
    model: &RnaModel,
    settings: &BenchSettings,
) -> (Tensor<3>, Vec<crate::model::Path>) {
    let image = synthetic_images(model, 1, settings.seed)
        .to_tensor(&[0], model.device())
        .squeeze_dim::<3>(0);
    let mut rng = SeededRng::derive(settings.seed, "bench-paths");
    let space = model.path_space();
    let paths = (0..settings.paths)
        .map(|_| space.sample(&mut rng))
        .collect();
    (image, paths)
}

/// Uniformly random pixels and labels: timings do not depend on image content.
fn synthetic_images(model: &RnaModel, n: usize, seed: u64) -> ImageSet {
    let mut rng = SeededRng::derive(seed, "bench-images");
    let classes = model.num_classes();
    ImageSet {
        pixels: (0..n * IMAGE_LEN)
            .map(|_| (rng.next_u64() >> 56) as u8)
            .collect(),
        labels: (0..n)
            .map(|_| (rng.next_u64() % classes as u64) as u16)
            .collect(),
        class_names: model.config().class_names.clone(),
    }
}

pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

/// Resets the kernel's peak-RSS mark of this process (Linux: `echo 5 > /proc/self/clear_refs`).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Peak resident set size since the last reset (`VmHWM`), where the system reports it.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warm_up_runs_are_run_but_not_timed() {
        let mut calls = Vec::new();
        let settings = BenchSettings {
            repeats: 2,
            warmup: 3,
            ..BenchSettings::default()
        };
        let work: Work<'_> = Box::new(|run| {
            calls.push(run);
            Ok(())
        });
        let m = time("count", work, &settings, 1.0, 0.0).unwrap();
        assert_eq!(m.runs.len(), 2);
        assert_eq!(calls, [0, 0, 0, 1, 2]);
    }

    #[test]
    fn measurements_go_by_the_names_the_pytorch_script_uses() {
        let names: Vec<&str> = Measure::ALL.map(Measure::name).to_vec();
        assert_eq!(
            names,
            [
                "ensemble_batched",
                "ensemble_single",
                "pgd20_fixed",
                "pgd20_eot10",
                "pgd20_eval",
                "train_step"
            ]
        );
        for m in Measure::ALL {
            assert_eq!(m.name().parse::<Measure>().unwrap(), m);
        }
        let err = "train".parse::<Measure>().unwrap_err().to_string();
        assert!(err.starts_with("unknown measurement 'train': expected one of ensemble_batched, "));
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(&[]).is_nan());
    }

    #[test]
    fn peak_rss_grows_with_a_large_allocation() {
        let Some(before) = peak_rss_bytes() else {
            return; // not Linux
        };
        let big = vec![1u8; 256 << 20];
        std::hint::black_box(&big);
        let after = peak_rss_bytes().unwrap();
        assert!(after >= before.max(256 << 20), "{before} → {after}");
    }
}
