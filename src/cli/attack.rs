use std::path::PathBuf;

use anyhow::Context;
use burn::tensor::Tensor;
use clap::Args;
use serde_json::json;

use rna_lens::attack::run_attack;
use rna_lens::data::batch_to_tensor;
use rna_lens::data::preprocess::{load_image, save_png};
use rna_lens::ensemble;
use rna_lens::eval::describe_attack;
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
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=65536))]
    paths: u32,
    /// Output folder: clean.png, adversarial.png, perturbation.png, report.json.
    #[arg(long)]
    out: PathBuf,
}

/// 8-bit pixel values of a `[1, 3, H, W]` tensor in [0, 1], planar.
fn to_bytes(x: &Tensor<4>) -> Vec<u8> {
    let v: Vec<f32> = x.to_data().convert::<f32>().try_into_vec().expect("f32");
    v.iter()
        .map(|p| (p.clamp(0.0, 1.0) * 255.0).round() as u8)
        .collect()
}

pub fn run(args: AttackCliArgs) -> anyhow::Result<()> {
    let device = args.model.device()?;
    let model = args.model.load(&device)?;
    let config = args.attack.config(&model)?;
    let image = load_image(&args.image).with_context(|| args.image.display().to_string())?;
    let x = batch_to_tensor(&image.input, &device.device);
    let space = model.path_space();
    let names = &model.config().class_names;

    let query_paths = space.sample_many(args.paths as usize, args.attack.seed);
    let clean = ensemble::query(&model, &x.clone().squeeze_dim(0), &query_paths);
    let clean_summary = ensemble::summarize(&clean, model.num_classes(), None);
    let label = match &args.label {
        Some(l) => resolve_class(&model, l)?,
        None => clean_summary.majority,
    };

    if let Some(w) = untrained_warning(&model) {
        eprintln!("{w}");
    }
    eprintln!("{}", describe_attack(&config));
    let result = run_attack(&model, &x, &[label], &config, &mut |step, total| {
        eprint!(
            "\riteration {}/{}  loss {:.4}  margin {:+.3}",
            step.iteration + 1,
            total,
            step.loss,
            step.margin
        );
        true
    })
    .map_err(anyhow::Error::msg)?;
    eprintln!();

    let adv_bytes = to_bytes(&result.x_adv);
    let x_adv8 = batch_to_tensor(&adv_bytes, &device.device);
    let defend = |x: Tensor<4>| ensemble::argmax(&logits_of(&model, x, &result.defender_path));
    let float_label = defend(result.x_adv.clone());
    let byte_label = defend(x_adv8.clone());
    let adversarial = ensemble::query(&model, &x_adv8.squeeze_dim(0), &query_paths);
    let truth = Some(label);
    let report = json!({
        "image": args.image,
        "model": args.model.model,
        "trained": model.config().provenance.trained,
        "device": device.description,
        "attack": config,
        "protocol": describe_attack(&config),
        "true_label": label,
        "true_label_name": names[label],
        "label_source": if args.label.is_some() { "given" } else { "majority vote on the clean image" },
        "attack_path": space.format(&result.attack_path),
        "defender_path": space.format(&result.defender_path),
        "defender_prediction": {
            "float": float_label,
            "eight_bit": byte_label,
            "float_name": names[float_label],
            "eight_bit_name": names[byte_label],
            "rounding_changes_outcome": float_label != byte_label,
        },
        "cancelled": result.cancelled,
        "trace": result.trace,
        "ensemble": {
            "paths": args.paths,
            "seed": args.attack.seed,
            "clean": { "summary": ensemble::summarize(&clean, model.num_classes(), truth), "paths": clean },
            "adversarial": { "summary": ensemble::summarize(&adversarial, model.num_classes(), truth), "paths": adversarial },
        },
    });

    std::fs::create_dir_all(&args.out).with_context(|| args.out.display().to_string())?;
    let eps = config.eps.max(1e-12) as f32;
    let x_bytes = image.input.clone();
    // Perturbation shown around mid-grey: −ε → black, +ε → white (per channel).
    let amplified: Vec<u8> = adv_bytes
        .iter()
        .zip(&x_bytes)
        .map(|(&a, &c)| {
            let d = (f32::from(a) - f32::from(c)) / 255.0;
            ((0.5 + 0.5 * d / eps).clamp(0.0, 1.0) * 255.0).round() as u8
        })
        .collect();
    for (name, bytes) in [
        ("clean.png", &x_bytes),
        ("adversarial.png", &adv_bytes),
        ("perturbation.png", &amplified),
    ] {
        let path = args.out.join(name);
        save_png(bytes, &path).with_context(|| path.display().to_string())?;
    }
    write_atomically(
        &args.out.join("report.json"),
        serde_json::to_string_pretty(&report)?.as_bytes(),
    )?;

    let a = ensemble::summarize(&adversarial, model.num_classes(), truth);
    let c = ensemble::summarize(&clean, model.num_classes(), truth);
    println!(
        "true label      {} ({})",
        names[label],
        report["label_source"].as_str().unwrap_or("")
    );
    println!(
        "defender path   {}  →  {} on the adversarial image{}",
        space.format(&result.defender_path),
        names[byte_label],
        if float_label != byte_label {
            format!(" ({} before 8-bit rounding)", names[float_label])
        } else {
            String::new()
        }
    );
    let pc = |s: &ensemble::EnsembleSummary| s.p_correct.map(|p| 100.0 * p.value).unwrap_or(0.0);
    println!(
        "paths correct   clean {:.1}%  →  adversarial {:.1}%  (over {} paths)",
        pc(&c),
        pc(&a),
        args.paths
    );
    println!("written to      {}", args.out.display());
    Ok(())
}

fn logits_of(
    model: &rna_lens::model::RnaModel,
    x: Tensor<4>,
    path: &rna_lens::model::Path,
) -> Vec<f32> {
    model
        .forward_path(x, path)
        .into_data()
        .convert::<f32>()
        .try_into_vec()
        .expect("f32")
}
