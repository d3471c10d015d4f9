use std::path::Path;

use clap::Args;
use serde::Serialize;

use rna_lens::attack::Pairing;
use rna_lens::bench::{BenchSettings, Measure, Measurement, measure};
use rna_lens::device::{self, DeviceChoice};
use rna_lens::model::norm::parse_norm_list;
use rna_lens::model::{Architecture, ModelConfig, RnaModel, file};

use super::common::typed;

#[derive(Args)]
pub struct BenchArgs {
    /// Models to time, comma-separated: model files, or architectures (resnet20, resnet18,
    /// wrn34-10) freshly initialised with `--norms` (speed does not depend on the weights).
    #[arg(long, default_value = "resnet20,resnet18")]
    models: String,
    /// Candidate list for architectures named in `--models`.
    #[arg(long, default_value = "bn,gnr_1")]
    norms: String,
    /// Measurements to run, comma-separated (default: all).
    #[arg(long, value_delimiter = ',', value_parser = typed::<Measure>)]
    only: Vec<Measure>,
    /// Timed runs per measurement, after one warm-up run; the median is reported.
    #[arg(long, default_value_t = 5)]
    repeats: usize,
    /// Untimed runs before them (more on wgpu, where the first runs compile and autotune).
    #[arg(long, default_value_t = 1)]
    warmup: usize,
    /// Attack steps inside the training step (1: a single-step recipe such as N-FGSM).
    #[arg(long, default_value_t = 2)]
    train_attack_steps: usize,
    /// Path pairing of `pgd20_eval`: image (default) or batch.
    #[arg(long, default_value = "image", value_parser = typed::<Pairing>)]
    pairing: Pairing,
    /// CPU threads (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
    /// Where to compute: auto, cpu, wgpu, wgpu:N.
    #[arg(long, default_value = "auto", value_parser = typed::<DeviceChoice>)]
    device: DeviceChoice,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct ModelReport {
    model: String,
    architecture: String,
    flops_per_image: u64,
    measurements: Vec<Measurement>,
}

#[derive(Serialize)]
struct Report {
    tool: &'static str,
    device: String,
    threads: usize,
    settings: BenchSettings,
    models: Vec<ModelReport>,
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    if let Some(n) = args.threads {
        anyhow::ensure!(n >= 1, "--threads must be at least 1");
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .map_err(|e| anyhow::anyhow!("setting {n} threads: {e}"))?;
    }
    let measures = if args.only.is_empty() {
        Measure::ALL.to_vec()
    } else {
        args.only.clone()
    };
    let settings = BenchSettings {
        repeats: args.repeats,
        warmup: args.warmup,
        train_attack_steps: args.train_attack_steps,
        pairing: args.pairing,
        ..BenchSettings::default()
    };
    settings.validate()?;
    let device = device::select(args.device)?;
    let threads = rayon::current_num_threads();
    if !args.json {
        println!(
            "device {} · {threads} CPU threads · median of {} runs",
            device.description, settings.repeats
        );
    }
    let mut reports = Vec::new();
    for entry in args.models.split(',').map(str::trim) {
        let model = if Path::new(entry).is_file() {
            file::load(Path::new(entry), &device.device)?
        } else {
            let config = ModelConfig::cifar10(Architecture::preset(entry)?)
                .with_norms(parse_norm_list(&args.norms)?);
            RnaModel::new(config, 0, &device.device)?
        };
        let flops = model.flops_per_image();
        if !args.json {
            println!(
                "\n{entry}: {}, {:.1} MFLOP per image forward",
                model.config().architecture.name(),
                flops as f64 / 1e6
            );
        }
        let mut measurements = Vec::new();
        for &what in &measures {
            let m = measure(&model, what, &settings)?;
            if !args.json {
                println!("  {}", line(&m));
            }
            measurements.push(m);
        }
        reports.push(ModelReport {
            model: entry.to_string(),
            architecture: model.config().architecture.name(),
            flops_per_image: flops,
            measurements,
        });
    }
    if args.json {
        let report = Report {
            tool: "rna-lens",
            device: device.description.clone(),
            threads,
            settings,
            models: reports,
        };
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(())
}

fn line(m: &Measurement) -> String {
    let time = if m.seconds >= 1.0 {
        format!("{:8.2} s ", m.seconds)
    } else {
        format!("{:8.1} ms", m.seconds * 1e3)
    };
    let rate = m
        .images_per_s
        .map(|r| format!("  {r:6.1} images/s"))
        .unwrap_or_default();
    let memory = m
        .peak_rss_mib
        .map(|r| format!("  peak {r:6.0} MiB"))
        .unwrap_or_default();
    format!(
        "{:<17} {time}  {:6.1} GFLOP/s{rate}{memory}  {} readbacks",
        m.name, m.gflops_per_s, m.readbacks
    )
}
