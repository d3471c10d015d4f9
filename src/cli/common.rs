//! Arguments shared by subcommands: which model, on which device.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use anyhow::Context;
use clap::Args;

use rna_lens::assets::ModelSource;
use rna_lens::attack::policy::{Pairing, PathPolicy};
use rna_lens::attack::{AttackConfig, AttackKind, LossKind, parse_budget};
use rna_lens::data::{ImageSet, Split, load_dataset};
use rna_lens::device::{self, ComputeDevice, DeviceChoice};
use rna_lens::model::norm::parse_norm_list;
use rna_lens::model::{Architecture, ModelConfig, RnaModel};

/// A value the engine's own parser refused. Its message already names the value and what is
/// expected, so `main` prints it as it is rather than inside clap's sentence: typed arguments
/// keep the one-line errors they had when they were parsed after clap.
#[derive(Debug)]
pub struct Refused(String);

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

/// The engine's `FromStr` as a clap value parser.
pub fn typed<T: FromStr>(text: &str) -> Result<T, Refused>
where
    T::Err: fmt::Display,
{
    text.parse().map_err(|e: T::Err| Refused(e.to_string()))
}

#[derive(Args, Clone, Debug)]
pub struct ModelArgs {
    /// Model file: rna-lens `.safetensors`, or a PyTorch checkpoint of the official code
    /// (`.pth`/`.pt`). Default: the shipped RNA model, built into the binary.
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
    #[arg(long, default_value = "auto", value_parser = typed::<DeviceChoice>)]
    pub device: DeviceChoice,
}

impl ModelArgs {
    pub fn device(&self) -> anyhow::Result<ComputeDevice> {
        Ok(device::select(self.device)?)
    }

    pub fn load(&self, device: &ComputeDevice) -> anyhow::Result<RnaModel> {
        match (&self.model, &self.arch) {
            (Some(path), _) => Ok(ModelSource::File(path.clone()).open(&device.device)?),
            (None, Some(arch)) => {
                let config = ModelConfig::cifar10(Architecture::preset(arch)?)
                    .with_norms(parse_norm_list(&self.norms)?);
                RnaModel::new(config, self.init_seed, &device.device).context("building the model")
            }
            (None, None) => {
                let source = ModelSource::Shipped(rna_lens::assets::default_model());
                // On stderr, so that `--json` output stays one document.
                eprintln!(
                    "model: {} — the default; name another with --model",
                    source.describe()
                );
                Ok(source.open(&device.device)?)
            }
        }
    }
}

/// A warning line for models whose predictions mean nothing.
pub fn untrained_warning(model: &RnaModel) -> Option<&'static str> {
    (!model.config().provenance.trained)
        .then_some("UNTRAINED: this model has random weights; its predictions mean nothing")
}

/// Attack settings on the command line; unset values take the attack's preset.
#[derive(Args, Clone, Debug)]
pub struct AttackArgs {
    /// Take every attack setting (seed included) from a JSON file: a `report.json` written by
    /// `attack` or by the app (its `attack` object), or such an object on its own. Replays a run.
    #[arg(long, conflicts_with_all = ["eps", "alpha", "steps", "restarts", "random_start",
        "no_random_start", "loss", "target", "policy", "pairing", "path"])]
    pub settings: Option<PathBuf>,
    /// fgsm, pgd, pgd-l2, mifgsm, apgd-ce, apgd-dlr, autoattack-rand or arc.
    #[arg(long, default_value = "pgd", value_parser = typed::<AttackKind>)]
    pub attack: AttackKind,
    /// Budget ε. L∞: a plain number ≥ 1 is in /255 (`8` = 8/255), one below 1 a fraction
    /// (`0.0314`, at most 32/255), or explicit (`8/255`). L2: taken literally (`0.5`; `N/255`
    /// also works). Ambiguous values are refused.
    #[arg(long)]
    pub eps: Option<String>,
    /// Step size α, same units as ε.
    #[arg(long)]
    pub alpha: Option<String>,
    #[arg(long)]
    pub steps: Option<usize>,
    #[arg(long)]
    pub restarts: Option<usize>,
    /// Start from a uniformly random point of the ε-ball.
    #[arg(long, conflicts_with = "no_random_start")]
    pub random_start: bool,
    /// Start from the clean image.
    #[arg(long)]
    pub no_random_start: bool,
    /// ce, cw or dlr.
    #[arg(long, value_parser = typed::<LossKind>)]
    pub loss: Option<LossKind>,
    /// Targeted attack towards this class (name or index).
    #[arg(long)]
    pub target: Option<String>,
    /// fixed, official, resample or eot:K.
    #[arg(long, value_parser = typed::<PathPolicy>)]
    pub policy: Option<PathPolicy>,
    /// image: every image draws its own attacker and defender paths (default); batch: one pair
    /// per batch, as the official evaluation code does.
    #[arg(long, value_parser = typed::<Pairing>)]
    pub pairing: Option<Pairing>,
    /// The attacker's path in text form (see `predict` or `info`); drawn from the seed if absent.
    #[arg(long)]
    pub path: Option<String>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

impl AttackArgs {
    pub fn config(&self, model: &RnaModel) -> anyhow::Result<AttackConfig> {
        if let Some(file) = &self.settings {
            return settings_from_file(file, model);
        }
        let kind = self.attack;
        let mut c = AttackConfig::preset(kind);
        let budget = |t: &String, what: &str| {
            parse_budget(t, kind.norm()).map_err(|e| anyhow::anyhow!("{what}: {e}"))
        };
        if let Some(e) = &self.eps {
            c.eps = budget(e, "--eps")?;
        }
        match &self.alpha {
            Some(a) => c.alpha = budget(a, "--alpha")?,
            // FGSM steps by ε, whatever ε is.
            None if kind == AttackKind::Fgsm => c.alpha = c.eps,
            None => {}
        }
        if let Some(s) = self.steps {
            c.steps = s;
        }
        if let Some(r) = self.restarts {
            c.restarts = r;
        }
        if self.random_start || self.no_random_start {
            c.random_start = self.random_start;
        }
        if let Some(l) = self.loss {
            c.loss = l;
        }
        if let Some(p) = &self.policy {
            c.policy = p.clone();
        }
        if let Some(p) = self.pairing {
            c.pairing = p;
        }
        if let Some(t) = &self.target {
            c.target = Some(resolve_class(model, t)?);
        }
        if let Some(p) = &self.path {
            model.path_space().parse(p)?;
            c.path = Some(p.clone());
        }
        c.seed = self.seed;
        c.validate(model.num_classes())
            .map_err(anyhow::Error::msg)?;
        Ok(c)
    }
}

/// Attack settings saved in a report (its `attack` object) or on their own, checked against
/// the model as if they had been typed.
fn settings_from_file(file: &std::path::Path, model: &RnaModel) -> anyhow::Result<AttackConfig> {
    let text = std::fs::read_to_string(file).with_context(|| file.display().to_string())?;
    /// A report (the CLI's or the app's) holds its settings under `attack`; a settings file is
    /// the settings alone.
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum SettingsFile {
        Report { attack: AttackConfig },
        Settings(AttackConfig),
    }
    let json: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{}: not JSON", file.display()))?;
    let config = match serde_json::from_value(json)
        .with_context(|| format!("{}: no attack settings", file.display()))?
    {
        SettingsFile::Report { attack } | SettingsFile::Settings(attack) => attack,
    };
    if let Some(p) = &config.path {
        model.path_space().parse(p)?;
    }
    config
        .validate(model.num_classes())
        .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    Ok(config)
}

/// A class given by name (case-insensitive) or index.
pub fn resolve_class(model: &RnaModel, text: &str) -> anyhow::Result<usize> {
    let names = &model.config().class_names;
    if let Ok(i) = text.parse::<usize>() {
        anyhow::ensure!(
            i < names.len(),
            "class {i} does not exist: the model has {} classes",
            names.len()
        );
        return Ok(i);
    }
    names
        .iter()
        .position(|n| n.eq_ignore_ascii_case(text))
        .with_context(|| {
            format!(
                "unknown class '{text}': expected one of {}",
                names.join(", ")
            )
        })
}

/// A data set split for evaluation commands.
#[derive(Args, Clone, Debug)]
pub struct DataArgs {
    /// Data set folder: CIFAR-10 binary (cifar-10-batches-bin) or an image-folder tree.
    #[arg(long)]
    pub data: PathBuf,
    #[arg(long, default_value = "test", value_parser = typed::<Split>)]
    pub split: Split,
}

impl DataArgs {
    /// Loads the split with the model's class list, so labels index the model's classes.
    pub fn load(&self, model: &RnaModel) -> anyhow::Result<ImageSet> {
        load_dataset(&self.data, self.split, Some(&model.config().class_names))
            .with_context(|| format!("loading {}", self.data.display()))
    }
}
