use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use rna_lens::attack::describe_attack;
use rna_lens::attack::image::{ReportContext, attack_image};
use rna_lens::budget::{CurveSetup, budget_curve};
use rna_lens::data::preprocess::{load_image, save_png};
use rna_lens::limits::{MAX_EOT_PATHS, MAX_QUERY_PATHS, arg};
use rna_lens::model::file::write_atomically;

use super::common::{AttackArgs, ModelArgs, resolve_class, untrained_warning};

#[derive(Args)]
pub struct AttackCliArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    attack: AttackArgs,
    /// Image to attack (any size; centre-cropped and resized to the model input).
    #[arg(long, short = 'i')]
    image: PathBuf,
    /// True class (name or index); defaults to the majority vote of the paths on the clean image.
    #[arg(long)]
    label: Option<String>,
    /// Paths of the ensemble query on the clean and the adversarial image.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=arg(MAX_QUERY_PATHS)))]
    paths: u32,
    /// Output folder: clean.png, adversarial.png, perturbation.png, report.json.
    #[arg(long)]
    out: PathBuf,
    /// Also write the replay as an animation for slides, one frame per step: `.gif` (256
    /// colours a frame) or `.png` (animated PNG, lossless).
    #[arg(long, value_name = "FILE")]
    replay: Option<PathBuf>,
    /// Also measure the image's robustness against budget (the app's Budget view) and write it
    /// as CSV: PGD-20 at ε = 0, 2, …, 16/255 under official and eot:K, each judged by `--paths`
    /// random paths.
    #[arg(long, value_name = "FILE.csv")]
    budget_curve: Option<PathBuf>,
    /// K of the budget curve's EOT side.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=arg(MAX_EOT_PATHS)))]
    curve_eot: u32,
}

pub fn run(args: AttackCliArgs) -> anyhow::Result<()> {
    if let Some(path) = &args.replay {
        rna_lens::replay::AnimationFormat::of(path).map_err(anyhow::Error::msg)?;
    }
    let device = args.model.device()?;
    let model = args.model.load(&device)?;
    let config = args.attack.config(&model)?;
    let image = load_image(&args.image).with_context(|| args.image.display().to_string())?;
    let label = args
        .label
        .as_deref()
        .map(|l| resolve_class(&model, l))
        .transpose()?;
    let names = &model.config().class_names;

    if let Some(w) = untrained_warning(&model) {
        eprintln!("{w}");
    }
    eprintln!("{}", describe_attack(&config));
    let outcome = attack_image(
        &model,
        &image.input,
        label,
        &config,
        args.paths as usize,
        &mut |step, _, total| {
            eprint!(
                "\riteration {}/{}  loss {:.4}  margin {:+.3}",
                step.iteration + 1,
                total,
                step.loss,
                step.margin
            );
            true
        },
    )?;
    eprintln!();

    let model_name = args
        .model
        .model
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| format!("untrained {}", model.config().architecture.name()));
    let report = outcome.report(
        model.config(),
        model.path_space(),
        &ReportContext {
            image: &args.image.display().to_string(),
            model: &model_name,
            device: &device.description,
        },
    );
    std::fs::create_dir_all(&args.out).with_context(|| args.out.display().to_string())?;
    for (name, bytes) in [
        ("clean.png", &outcome.clean),
        ("adversarial.png", &outcome.adversarial),
        ("perturbation.png", &outcome.perturbation_image()),
    ] {
        let path = args.out.join(name);
        save_png(bytes, &path).with_context(|| path.display().to_string())?;
    }
    write_atomically(
        &args.out.join("report.json"),
        serde_json::to_string_pretty(&report)?.as_bytes(),
    )?;

    if let Some(path) = &args.replay {
        let frames = rna_lens::replay::replay_frames(
            &outcome,
            names,
            &rna_lens::colormap::HeatmapParams::default(),
        );
        rna_lens::replay::write_replay(&frames, path).map_err(anyhow::Error::msg)?;
    }
    let curve = match &args.budget_curve {
        Some(path) => {
            let setup = CurveSetup::official_and_eot(
                args.curve_eot as usize,
                args.paths as usize,
                (outcome.label, outcome.label_given),
                config.seed,
            );
            let total = setup.eps.len() * setup.policies.len();
            let mut done = 0;
            let curve = budget_curve(
                &model,
                &image.input,
                setup,
                &mut |_| {
                    done += 1;
                    eprint!("\rbudget curve {done}/{total}");
                    true
                },
                &|| true,
            )?;
            eprintln!();
            write_atomically(path, curve.csv().as_bytes())
                .with_context(|| path.display().to_string())?;
            Some(curve)
        }
        None => None,
    };
    let space = model.path_space();
    let classes = model.num_classes();
    println!(
        "true label      {} ({})",
        names[outcome.label], report.label_source
    );
    println!(
        "defender path   {}  →  {} on the adversarial image ({}){}",
        space.format(&outcome.defender_path),
        names[outcome.eight_bit_prediction],
        outcome.verdict().describe(),
        if outcome.float_prediction != outcome.eight_bit_prediction {
            format!(
                " ({} before 8-bit rounding)",
                names[outcome.float_prediction]
            )
        } else {
            String::new()
        }
    );
    let pc = |s: rna_lens::ensemble::EnsembleSummary| {
        s.p_correct.map(|p| 100.0 * p.value).unwrap_or(0.0)
    };
    println!(
        "paths correct   clean {:.1}%  →  adversarial {:.1}%  (over {} paths)",
        pc(outcome.clean_summary(classes)),
        pc(outcome.adversarial_summary(classes)),
        args.paths
    );
    if let Some(sentence) = rna_lens::propagation::travel_sentence(&outcome.travel) {
        println!("layers          {sentence}");
    }
    println!("written to      {}", args.out.display());
    if let Some(path) = &args.replay {
        println!("replay          {}", path.display());
    }
    if let (Some(curve), Some(path)) = (&curve, &args.budget_curve) {
        if let Some(sentence) = curve.sentence(&names[outcome.label]) {
            println!("budget          {sentence}");
        }
        println!("                {}", curve.setup.describe());
        println!("budget curve    {}", path.display());
    }
    Ok(())
}
