use std::path::PathBuf;

use clap::Args;

use rna_lens::interop::pytorch::export;
use rna_lens::model::file;

#[derive(Args)]
pub struct ExportArgs {
    /// rna-lens model file.
    #[arg(long, short = 'm')]
    model: PathBuf,
    /// PyTorch file to write (`torch.load` reads it; keys as in the official release).
    #[arg(long)]
    to: PathBuf,
    /// Key prefix; the released `weight.pth` uses DataParallel's `module.`. Give "" for none.
    #[arg(long, default_value = "module.")]
    prefix: String,
}

pub fn run(args: ExportArgs) -> anyhow::Result<()> {
    let model = file::load(&args.model, &burn::tensor::Device::flex())?;
    export(&model, &args.to, &args.prefix)?;
    println!("{} → {}", args.model.display(), args.to.display());
    Ok(())
}
