//! A short training run on generated data: the loss falls, checkpoints are written, and a run
//! interrupted and resumed ends in exactly the state of an uninterrupted one.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use burn::tensor::Device;
use rna_lens::attack::pgd::PgdConfig;
use rna_lens::data::ImageSet;
use rna_lens::rng::SeededRng;
use rna_lens::train::{Schedule, TrainConfig, Trainer};

/// Ten classes, each a colour with a brighter square at a class-specific place, plus noise.
fn generated_data(n: usize) -> ImageSet {
    let mut rng = SeededRng::new(17);
    let mut pixels = Vec::with_capacity(n * 3072);
    let mut labels = Vec::new();
    for i in 0..n {
        let class = i % 10;
        labels.push(class as u16);
        for c in 0..3 {
            for y in 0..32 {
                for x in 0..32 {
                    let base = 40.0 + 60.0 * ((class + c) % 3) as f64;
                    let square = if (x / 8 + 4 * (y / 16)) == class % 8 {
                        120.0
                    } else {
                        0.0
                    };
                    let v = base + square + 30.0 * rng.normal();
                    pixels.push(v.clamp(0.0, 255.0) as u8);
                }
            }
        }
    }
    ImageSet {
        pixels,
        labels,
        class_names: (0..10).map(|c| format!("class{c}")).collect(),
    }
}

fn config() -> TrainConfig {
    TrainConfig {
        architecture: "resnet20".into(),
        epochs: 3,
        batch_size: 16,
        lr: 0.05,
        schedule: Schedule::Cosine { warmup_epochs: 0.0 },
        // N-FGSM: a start outside the ε-ball and no projection, so resumption covers it too.
        attack: PgdConfig {
            start_radius: Some(4.0 / 255.0),
            project: false,
            ..PgdConfig::linf(2.0 / 255.0, 2.0 / 255.0, 1)
        },
        holdout: 16,
        holdout_pgd_steps: 1,
        checkpoint_every: 2,
        ..TrainConfig::official("resnet20")
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rna-lens-train-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn run(dir: &Path, stop_after: Option<usize>) -> Trainer {
    let mut trainer = Trainer::new(config(), generated_data(112), dir, &Device::flex()).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let mut steps = 0;
    trainer
        .run(&stop.clone(), &mut |_| {
            steps += 1;
            if Some(steps) == stop_after {
                stop.store(true, Ordering::SeqCst);
            }
        })
        .unwrap();
    trainer
}

#[test]
fn loss_falls_checkpoints_are_written_and_resume_is_exact() {
    let straight = scratch("straight");
    let trainer = run(&straight, None);
    assert!(trainer.is_finished());
    let log = &trainer.state.log;
    assert_eq!(log.len(), 3);
    assert!(
        log[2].train_loss < log[0].train_loss,
        "training loss did not fall: {:?}",
        log.iter().map(|r| r.train_loss).collect::<Vec<_>>()
    );
    for f in [
        "checkpoint.safetensors",
        "optimizer.safetensors",
        "best.safetensors",
        "log.csv",
    ] {
        assert!(straight.join(f).exists(), "{f} missing");
    }
    // The best model is a loadable, trained model file.
    let best = rna_lens::model::file::load(&trainer.best_path(), &Device::flex()).unwrap();
    assert!(best.config().provenance.trained);

    // Interrupt after 4 steps (mid-epoch), then resume to the end.
    let interrupted = scratch("interrupted");
    let partial = run(&interrupted, Some(4));
    assert!(!partial.is_finished());
    assert_eq!(partial.state.step_in_epoch, 4);
    let mut resumed = Trainer::resume(&interrupted, generated_data(112), &Device::flex()).unwrap();
    resumed
        .run(&Arc::new(AtomicBool::new(false)), &mut |_| {})
        .unwrap();
    assert!(resumed.is_finished());

    let read = |dir: &Path, f: &str| std::fs::read(dir.join(f)).unwrap();
    assert!(
        read(&straight, "checkpoint.safetensors") == read(&interrupted, "checkpoint.safetensors"),
        "resumed weights differ from the uninterrupted run"
    );
    assert!(read(&straight, "best.safetensors") == read(&interrupted, "best.safetensors"));
    let losses = |t: &Trainer| {
        t.state
            .log
            .iter()
            .map(|r| (r.train_loss, r.holdout_pgd))
            .collect::<Vec<_>>()
    };
    assert_eq!(losses(&trainer), losses(&resumed));
    std::fs::remove_dir_all(straight).unwrap();
    std::fs::remove_dir_all(interrupted).unwrap();
}

#[test]
fn a_run_folder_is_never_overwritten() {
    let dir = scratch("twice");
    run(&dir, Some(1));
    let err = Trainer::new(config(), generated_data(112), &dir, &Device::flex())
        .err()
        .unwrap();
    assert!(
        err.to_string().contains("already holds a training run"),
        "{err}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn bad_training_settings_are_refused() {
    let mut c = config();
    c.batch_size = 1;
    assert!(c.validate().is_err());
    let mut c = config();
    c.attack.eps = f64::NAN;
    assert!(c.validate().is_err());
    let mut c = config();
    c.architecture = "vgg".into();
    assert!(c.validate().unwrap_err().contains("unknown architecture"));
}
