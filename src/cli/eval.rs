use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use rna_lens::attack::{AttackConfig, AttackKind, PathPolicy};
use rna_lens::eval::{EvalConfig, EvalReport, evaluate};

use super::common::{AttackArgs, DataArgs, ModelArgs, untrained_warning};

#[derive(Args)]
pub struct EvalArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    attack: AttackArgs,
    #[command(flatten)]
    data: DataArgs,
    /// Named protocols instead of --attack: natural, fgsm, pgd20, mifgsm (each official),
    /// pgd20-fixed, eot-pgd20 (K = 10), autoattack-rand; `paper` = natural, fgsm, pgd20, mifgsm.
    /// Comma-separated.
    #[arg(long)]
    preset: Option<String>,
    /// Evaluate N images only: a fixed random subset (seed 0) covering every class.
    #[arg(long)]
    limit: Option<usize>,
    #[arg(long, default_value_t = 128)]
    batch: usize,
    #[arg(long)]
    json: bool,
}

/// The protocols of the paper's table and of the adaptive view.
fn preset(name: &str) -> anyhow::Result<Vec<(String, Option<AttackConfig>)>> {
    let with = |kind: AttackKind, policy: PathPolicy| {
        let mut c = AttackConfig::preset(kind);
        c.policy = policy;
        Some(c)
    };
    Ok(match name {
        "natural" => vec![("natural".into(), None)],
        "fgsm" => vec![("fgsm".into(), with(AttackKind::Fgsm, PathPolicy::Official))],
        "pgd20" => vec![("pgd20".into(), with(AttackKind::Pgd, PathPolicy::Official))],
        "mifgsm" => vec![(
            "mifgsm".into(),
            with(AttackKind::Mifgsm, PathPolicy::Official),
        )],
        "pgd20-fixed" => vec![(
            "pgd20-fixed".into(),
            with(AttackKind::Pgd, PathPolicy::Fixed),
        )],
        "eot-pgd20" => vec![(
            "eot-pgd20".into(),
            with(AttackKind::Pgd, PathPolicy::Eot(10)),
        )],
        "autoattack-rand" => vec![(
            "autoattack-rand".into(),
            with(AttackKind::AutoattackRand, PathPolicy::Eot(20)),
        )],
        "paper" => ["natural", "fgsm", "pgd20", "mifgsm"]
            .iter()
            .map(|n| preset(n).map(|mut v| v.remove(0)))
            .collect::<anyhow::Result<_>>()?,
        other => anyhow::bail!(
            "unknown preset '{other}': expected natural, fgsm, pgd20, mifgsm, pgd20-fixed, eot-pgd20, autoattack-rand or paper"
        ),
    })
}

pub fn run(args: EvalArgs) -> anyhow::Result<()> {
    let device = args.model.device()?;
    let model = args.model.load(&device)?;
    anyhow::ensure!(
        args.batch > 0 && args.batch <= 4096,
        "--batch must be between 1 and 4096"
    );
    let protocols: Vec<(String, Option<AttackConfig>)> = match &args.preset {
        Some(list) => list
            .split(',')
            .map(|n| preset(n.trim()))
            .collect::<anyhow::Result<Vec<_>>>()?
            .into_iter()
            .flatten()
            .map(|(name, c)| {
                (
                    name,
                    c.map(|mut c| {
                        c.seed = args.attack.seed;
                        c
                    }),
                )
            })
            .collect(),
        None if args.attack.attack == "none" => vec![("natural".into(), None)],
        None => vec![(
            args.attack.attack.clone(),
            Some(args.attack.config(&model)?),
        )],
    };
    let data = args.data.load(&model)?;
    let data = match args.limit {
        Some(n) => data.sample(n, 0),
        None => data,
    };
    if let Some(w) = untrained_warning(&model) {
        eprintln!("{w}");
    }
    eprintln!("device: {}", device.description);

    let mut results: Vec<(String, EvalReport)> = Vec::new();
    for (name, attack) in protocols {
        let config = EvalConfig {
            attack,
            path: args.attack.path.clone(),
            seed: args.attack.seed,
        };
        let total = data.len() as u64;
        let bar = ProgressBar::new(total);
        bar.set_style(ProgressStyle::with_template(
            "{msg:>16} {bar:30} {pos}/{len} images [{elapsed_precise}, ETA {eta_precise}]",
        )?);
        bar.set_message(name.clone());
        let report = evaluate(&model, &data, &config, args.batch, &mut |done, _| {
            bar.set_position(done as u64);
            true
        })
        .map_err(anyhow::Error::msg)?;
        bar.finish_and_clear();
        if !args.json {
            match report.robust_accuracy {
                Some(r) => println!(
                    "{name:>16}  {:6.2}%  robust  (natural {:.2}%)  on {} images — {}",
                    100.0 * r,
                    100.0 * report.natural_accuracy,
                    report.images,
                    report.protocol
                ),
                None => println!(
                    "{name:>16}  {:6.2}%  natural on {} images — {}",
                    100.0 * report.natural_accuracy,
                    report.images,
                    report.protocol
                ),
            }
        }
        results.push((name, report));
    }
    if args.json {
        let mut out = serde_json::Map::new();
        for (name, r) in &results {
            out.insert(name.clone(), serde_json::to_value(r)?);
        }
        let doc = serde_json::json!({
            "model": args.model.model,
            "data": args.data.data,
            "split": args.data.split,
            "seed": args.attack.seed,
            "accuracy": results.iter().map(|(n, r)| (n.clone(), serde_json::Value::from(r.robust_accuracy.unwrap_or(r.natural_accuracy)))).collect::<serde_json::Map<_, _>>(),
            "protocols": out,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    }
    Ok(())
}
