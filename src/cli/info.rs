use clap::Args;

use super::common::{ModelArgs, untrained_warning};

#[derive(Args)]
pub struct InfoArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(args: InfoArgs) -> anyhow::Result<()> {
    let device = args.model.device()?;
    let mut model = args.model.load(&device)?;
    let params = model.num_parameters();
    let config = model.config().clone();
    let space = model.path_space().clone();
    if args.json {
        let out = serde_json::json!({
            "architecture": config.architecture.name(),
            "config": config,
            "parameters": params,
            "candidates": space.candidates.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "random_layers": space.layers,
            "paths": space.count().map(|n| n.to_string()),
            "paths_log2": space.num_layers() as f64 * (space.num_candidates() as f64).log2(),
            "trained": config.provenance.trained,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    if let Some(w) = untrained_warning(&model) {
        println!("{w}");
    }
    println!("architecture   {}", config.architecture.name());
    println!("parameters     {} ({:.2} M)", params, params as f64 / 1e6);
    println!(
        "classes        {} ({})",
        config.num_classes(),
        config.class_names.join(", ")
    );
    println!(
        "candidates     [{}]  ({})",
        space.candidate_list(),
        space
            .candidates
            .iter()
            .map(|k| k.label())
            .collect::<Vec<_>>()
            .join(" | ")
    );
    println!("random layers  {}", space.num_layers());
    println!("paths          {}", space.describe_count());
    if !config.provenance.summary.is_empty() {
        println!("training       {}", config.provenance.summary);
    }
    println!();
    println!(
        "{:>3}  {:<22} {:>8}  parameter key",
        "#", "layer", "channels"
    );
    for (i, layer) in space.layers.iter().enumerate() {
        println!(
            "{i:>3}  {:<22} {:>8}  {}",
            layer.name, layer.channels, layer.key
        );
    }
    Ok(())
}
