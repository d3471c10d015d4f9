use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use rna_lens::data::batch_to_tensor;
use rna_lens::data::preprocess::{decode_image, load_image};
use rna_lens::ensemble::{self, path_logits};

use super::common::{ModelArgs, resolve_class, untrained_warning};

#[derive(Args)]
pub struct PredictArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Image file (PNG, JPEG, WebP, BMP, ...); centre-cropped and resized to 32×32.
    #[arg(long, short = 'i', required_unless_present = "sample")]
    image: Option<PathBuf>,
    /// Instead of a file: a shipped gallery image, by index (0–19) or file name; its true class
    /// comes with it.
    #[arg(long, conflicts_with = "image")]
    sample: Option<String>,
    /// Number of sampled paths, evaluated in batched passes.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=rna_lens::limits::arg(rna_lens::limits::MAX_QUERY_PATHS)))]
    paths: u32,
    /// Seed of the path sampler: the same seed gives the same paths everywhere.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// True class (name or index), to report the share of correct paths.
    #[arg(long)]
    label: Option<String>,
    /// How many per-path rows to print (JSON always has all).
    #[arg(long, default_value_t = 10)]
    show: usize,
    /// Re-run every path alone and report the largest logit difference to the batched pass.
    #[arg(long)]
    verify: bool,
    #[arg(long)]
    json: bool,
}

pub fn run(args: PredictArgs) -> anyhow::Result<()> {
    let (name, image, sample_label) = match (&args.image, &args.sample) {
        (Some(path), _) => {
            let image = load_image(path).with_context(|| path.display().to_string())?;
            (path.display().to_string(), image, None)
        }
        (None, key) => {
            let file = rna_lens::assets::gallery_file(key.as_deref().unwrap_or("0"))
                .map_err(anyhow::Error::msg)?;
            let image = decode_image(&file.bytes).with_context(|| file.name.clone())?;
            let label = rna_lens::assets::label_from_name(&file.name);
            (file.name, image, label)
        }
    };
    let device = args.model.device()?;
    let model = args.model.load(&device)?;
    let truth = match args.label.as_deref() {
        Some(l) => Some(resolve_class(&model, l)?),
        None => sample_label.filter(|&l| l < model.num_classes()),
    };
    let input = batch_to_tensor(&image.input, &device.device).squeeze_dim::<3>(0);
    let paths = model
        .path_space()
        .sample_many(args.paths as usize, args.seed);
    let predictions = ensemble::query(&model, &input, &paths);
    let summary = ensemble::summarize(&predictions, model.num_classes(), truth);

    let verify = args.verify.then(|| {
        let batched = path_logits(&model, &input, &paths);
        paths
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let single = model.forward_path(input.clone().unsqueeze_dim::<4>(0), p);
                let row = batched.clone().narrow(0, i, 1);
                single.sub(row).abs().max().into_scalar::<f32>()
            })
            .fold(0.0f32, f32::max)
    });

    let names = &model.config().class_names;
    if args.json {
        let out = serde_json::json!({
            "image": name,
            "device": device.description,
            "trained": model.config().provenance.trained,
            "seed": args.seed,
            "classes": names,
            "summary": summary,
            "majority_label": names[summary.majority],
            "verify_max_abs_logit_diff": verify,
            "paths": predictions,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    if let Some(w) = untrained_warning(&model) {
        println!("{w}");
    }
    println!("image     {name}");
    println!("device    {}", device.description);
    println!(
        "paths     {} sampled with seed {}",
        summary.paths, args.seed
    );
    println!(
        "majority  {} ({:.1}% of paths agree)",
        names[summary.majority],
        100.0 * summary.agreement
    );
    if let (Some(t), Some(p)) = (truth, summary.p_correct) {
        println!(
            "correct   {:.1}% of paths say {} (95% CI {:.1}–{:.1}%)",
            100.0 * p.value,
            names[t],
            100.0 * p.low,
            100.0 * p.high
        );
    }
    println!("histogram");
    for (c, &n) in summary.histogram.iter().enumerate() {
        if n > 0 {
            println!(
                "  {:<12} {:>6}  {}",
                names[c],
                n,
                "#".repeat((40 * n).div_ceil(summary.paths.max(1)))
            );
        }
    }
    if args.show > 0 {
        println!("per path (first {})", args.show.min(predictions.len()));
        for p in predictions.iter().take(args.show) {
            println!(
                "  {}  {:<12} {:.3}",
                p.path, names[p.label], p.probabilities[p.label]
            );
        }
    }
    if let Some(diff) = verify {
        println!(
            "verify    max |batched − single-path| logit difference over {} paths: {diff:.2e}",
            paths.len()
        );
    }
    Ok(())
}
