//! Subcommands. Each file parses its arguments, calls the engine and prints.

mod common;
mod info;
mod predict;
mod train;

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
}

#[derive(Subcommand)]
enum Command {
    /// Describe a model: architecture, parameters, candidates, random layers, number of paths.
    Info(info::InfoArgs),
    /// Classify one image with N sampled paths in one batched pass.
    Predict(predict::PredictArgs),
    /// Adversarially train a model with the RNA recipe (resumable).
    Train(train::TrainArgs),
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Some(Command::Info(args)) => info::run(args),
        Some(Command::Predict(args)) => predict::run(args),
        Some(Command::Train(args)) => train::run(args),
        None => {
            use clap::CommandFactory;
            Cli::command().print_help()?;
            Ok(())
        }
    }
}
