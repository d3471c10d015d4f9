use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use rna_lens::data::{Split, load_dataset};
use rna_lens::device::{self, DeviceChoice};
use rna_lens::train::{EpochLog, TrainConfig, Trainer};

use super::common::typed;

#[derive(Args)]
pub struct TrainArgs {
    /// Training configuration (JSON); see assets/models/*.train.json for the shipped recipes.
    #[arg(long, required_unless_present = "resume")]
    config: Option<PathBuf>,
    /// Data set folder: CIFAR-10 binary (cifar-10-batches-bin) or an image-folder tree.
    #[arg(long)]
    data: PathBuf,
    /// Run folder for checkpoints, the log and the best model.
    #[arg(long, required_unless_present = "resume")]
    out: Option<PathBuf>,
    /// Continue the run in this folder exactly where its last checkpoint left it.
    #[arg(long, conflicts_with_all = ["config", "out"])]
    resume: Option<PathBuf>,
    /// Copy the best model here when training finishes.
    #[arg(long)]
    model_out: Option<PathBuf>,
    /// auto, cpu, wgpu or wgpu:N.
    #[arg(long, default_value = "auto", value_parser = typed::<DeviceChoice>)]
    device: DeviceChoice,
}

pub fn run(args: TrainArgs) -> anyhow::Result<()> {
    let device = device::select(args.device)?;
    eprintln!("device: {}", device.description);
    let data = load_dataset(&args.data, Split::Train, None).context("loading training data")?;
    eprintln!(
        "data: {} training images from {}",
        data.len(),
        args.data.display()
    );
    let mut trainer = match &args.resume {
        Some(dir) => Trainer::resume(dir, data, &device.device)?,
        None => {
            let path = args.config.as_ref().expect("clap requires --config");
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let config: TrainConfig = serde_json::from_str(&text)
                .with_context(|| format!("parsing {}", path.display()))?;
            Trainer::new(
                config,
                data,
                args.out.as_ref().expect("clap requires --out"),
                &device.device,
            )?
        }
    };
    eprintln!(
        "configuration:\n{}",
        serde_json::to_string_pretty(&trainer.state.config)?
    );
    if args.resume.is_some() {
        eprintln!(
            "resuming at epoch {}, step {}",
            trainer.state.epoch + 1,
            trainer.state.step_in_epoch
        );
    }

    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("\nstopping after this step and writing a checkpoint (Ctrl-C again to quit now)");
    })?;

    let steps = trainer.steps_per_epoch() as u64;
    let total = steps * trainer.state.config.epochs as u64;
    let bar = ProgressBar::new(total)
        .with_position(steps * trainer.state.epoch as u64 + trainer.state.step_in_epoch as u64);
    bar.set_style(ProgressStyle::with_template(
        "{bar:30} {pos}/{len} steps  {msg}  [{elapsed_precise} elapsed, ETA {eta_precise}]",
    )?);
    bar.reset_eta();
    // Without a terminal (a log file, CI) the bar is hidden: print a plain line now and then.
    let say = |line: String| {
        if bar.is_hidden() {
            eprintln!("{line}")
        } else {
            bar.println(line)
        }
    };
    let mut logged = trainer.state.log.len();
    trainer.run(&stop, &mut |p| {
        let s = p.state;
        if s.log.len() > logged {
            logged = s.log.len();
            let r = s.log.last().unwrap();
            say(epoch_line(r));
        }
        let message = format!(
            "epoch {}/{}  loss {:.3}  adv acc {:.1}%",
            p.epoch + 1,
            p.epochs,
            s.epoch_loss_sum / s.epoch_seen.max(1) as f64,
            100.0 * s.epoch_correct as f64 / s.epoch_seen.max(1) as f64
        );
        bar.set_position(steps * p.epoch as u64 + p.step as u64);
        if bar.is_hidden() && p.step % 25 == 0 {
            eprintln!(
                "step {}/{}  {message}  [{:.0} s]",
                bar.position(),
                total,
                s.seconds
            );
        }
        bar.set_message(message);
    })?;
    bar.finish();
    if let Some(r) = trainer.state.log.get(logged) {
        eprintln!("{}", epoch_line(r));
    }
    if !trainer.is_finished() {
        eprintln!(
            "checkpoint written; continue with: rna-lens train --resume <run folder> --data {}",
            args.data.display()
        );
        return Ok(());
    }
    if let Some(best) = trainer.state.best_epoch {
        eprintln!(
            "best held-out PGD accuracy {:.1}% at epoch {best}",
            100.0 * trainer.state.best_holdout_pgd
        );
    }
    if let Some(out) = &args.model_out {
        std::fs::copy(trainer.best_path(), out)
            .with_context(|| format!("copying the best model to {}", out.display()))?;
        eprintln!("best model written to {}", out.display());
    }
    Ok(())
}

fn epoch_line(r: &EpochLog) -> String {
    format!(
        "epoch {:>3}: lr {:.4}  train loss {:.3}  adv acc {:.1}%  held-out natural {:.1}%  PGD {:.1}%  ({:.0} s)",
        r.epoch,
        r.lr,
        r.train_loss,
        100.0 * r.train_adv_accuracy,
        100.0 * r.holdout_natural,
        100.0 * r.holdout_pgd,
        r.seconds
    )
}
