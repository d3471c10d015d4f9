use std::path::PathBuf;

use clap::Args;

use rna_lens::interop::pytorch::{ImportOptions, import};
use rna_lens::model::file;
use rna_lens::model::norm::parse_norm_list;

#[derive(Args)]
pub struct ImportArgs {
    /// PyTorch checkpoint of the official release (`weight.pth` or `model.pth`).
    #[arg(long = "from")]
    from: PathBuf,
    /// Expected architecture (resnet18, wrn34-10, ...); inferred from the weights when absent.
    #[arg(long)]
    arch: Option<String>,
    /// Expected number of classes (10 or 100).
    #[arg(long)]
    classes: Option<usize>,
    /// Candidate list, where the weights cannot tell GroupNorm group counts (default: gnr_1).
    #[arg(long)]
    norms: Option<String>,
    /// The rna-lens model file to write.
    #[arg(long)]
    out: PathBuf,
}

pub fn run(args: ImportArgs) -> anyhow::Result<()> {
    let options = ImportOptions {
        architecture: args.arch.clone(),
        classes: args.classes,
        norms: args.norms.as_deref().map(parse_norm_list).transpose()?,
    };
    let model = import(&args.from, &options, &burn::tensor::Device::flex())?;
    file::save(&model, &args.out)?;
    let space = model.path_space();
    println!(
        "{} with candidates [{}], {} random layers, {} paths → {}",
        model.config().architecture.name(),
        space.candidate_list(),
        space.num_layers(),
        space.describe_count(),
        args.out.display()
    );
    Ok(())
}
