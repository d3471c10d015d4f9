//! Subcommands. Each file parses its arguments, calls the engine and prints.

mod attack;
mod bench;
mod common;
mod eval;
mod export;
#[cfg(feature = "gui")]
mod gui;
mod import;
mod info;
mod predict;
mod train;
mod transfer;

pub use common::Refused;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "rna-lens",
    version,
    about = "See adversarial attacks on Random Normalization Aggregation (RNA) networks"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Log what happens on stderr: -v device choice, model loading, jobs and their timings;
    /// -vv also details and the libraries' own logs. `RUST_LOG` overrides (e.g.
    /// `RUST_LOG=rna_lens=debug,wgpu_core=warn`).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
}

/// Logging is off unless asked for, so output stays exactly what each command prints.
fn start_logging(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let filter = match (std::env::var("RUST_LOG"), verbose) {
        (Ok(spec), _) if !spec.is_empty() => EnvFilter::new(spec),
        (_, 0) => return,
        (_, 1) => EnvFilter::new("rna_lens=info"),
        _ => EnvFilter::new("info,rna_lens=debug"),
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(true)
        .try_init();
}

#[derive(Subcommand)]
enum Command {
    /// Open the desktop app (also what `rna-lens` without a command does).
    #[cfg(feature = "gui")]
    Gui(gui::GuiArgs),
    /// Describe a model: architecture, parameters, candidates, random layers, number of paths.
    Info(info::InfoArgs),
    /// Classify one image with N sampled paths in one batched pass.
    Predict(predict::PredictArgs),
    /// Adversarially train a model with the RNA recipe (resumable).
    Train(train::TrainArgs),
    /// Attack one image and write the clean, adversarial and perturbation images and a report.
    Attack(attack::AttackCliArgs),
    /// Accuracy on a data set, naturally or under attack, with the path protocol spelled out.
    Eval(eval::EvalArgs),
    /// Attacks crafted on each of K paths, tested on all K: the transfer matrix.
    Transfer(transfer::TransferArgs),
    /// Convert a PyTorch checkpoint of the official release into an rna-lens model file.
    Import(import::ImportArgs),
    /// Write an rna-lens model as a PyTorch state dict in the official key layout.
    Export(export::ExportArgs),
    /// Time the ensemble query, PGD, evaluation and a training step (see tools/bench_compare.py).
    Bench(bench::BenchArgs),
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    start_logging(cli.verbose);
    match cli.command {
        #[cfg(feature = "gui")]
        Some(Command::Gui(args)) => gui::run_gui(args),
        Some(Command::Info(args)) => info::run(args),
        Some(Command::Predict(args)) => predict::run(args),
        Some(Command::Train(args)) => train::run(args),
        Some(Command::Attack(args)) => attack::run(args),
        Some(Command::Eval(args)) => eval::run(args),
        Some(Command::Transfer(args)) => transfer::run(args),
        Some(Command::Import(args)) => import::run(args),
        Some(Command::Export(args)) => export::run(args),
        Some(Command::Bench(args)) => bench::run(args),
        #[cfg(feature = "gui")]
        None => gui::run_gui(gui::GuiArgs::default()),
        #[cfg(not(feature = "gui"))]
        None => {
            use clap::CommandFactory;
            Cli::command().print_help()?;
            Ok(())
        }
    }
}
