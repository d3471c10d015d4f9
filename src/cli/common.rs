//! Arguments shared by subcommands: which model, on which device.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;

use rna_lens::device::{self, ComputeDevice, DeviceChoice};
use rna_lens::model::norm::parse_norm_list;
use rna_lens::model::{Architecture, ModelConfig, RnaModel, file};

#[derive(Args, Clone, Debug)]
pub struct ModelArgs {
    /// Model file (rna-lens `.safetensors`).
    #[arg(long, short = 'm', conflicts_with = "arch")]
    pub model: Option<PathBuf>,
    /// Instead of a file: a freshly initialised (untrained) model of this architecture
    /// (resnet20, resnet18, wrn34-10).
    #[arg(long)]
    pub arch: Option<String>,
    /// Candidate list for `--arch`, e.g. `bn,gnr_1` (the released RNA space) or `bn`.
    #[arg(long, default_value = "bn,gnr_1", requires = "arch")]
    pub norms: String,
    /// Initialisation seed for `--arch`.
    #[arg(long, default_value_t = 0, requires = "arch")]
    pub init_seed: u64,
    /// Where to compute: auto (a real GPU if present, else CPU), cpu, wgpu, wgpu:N.
    #[arg(long, default_value = "auto")]
    pub device: String,
}

impl ModelArgs {
    pub fn device(&self) -> anyhow::Result<ComputeDevice> {
        let choice: DeviceChoice = self.device.parse().map_err(anyhow::Error::msg)?;
        device::select(choice).map_err(anyhow::Error::msg)
    }

    pub fn load(&self, device: &ComputeDevice) -> anyhow::Result<RnaModel> {
        match (&self.model, &self.arch) {
            (Some(path), _) => Ok(file::load(path, &device.device)?),
            (None, Some(arch)) => {
                let config = ModelConfig::cifar10(Architecture::preset(arch)?)
                    .with_norms(parse_norm_list(&self.norms)?);
                RnaModel::new(config, self.init_seed, &device.device).context("building the model")
            }
            (None, None) => bail!("name a model file with --model, or an architecture with --arch"),
        }
    }
}

/// A warning line for models whose predictions mean nothing.
pub fn untrained_warning(model: &RnaModel) -> Option<&'static str> {
    (!model.config().provenance.trained)
        .then_some("UNTRAINED: this model has random weights; its predictions mean nothing")
}
