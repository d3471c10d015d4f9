use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use rna_lens::attack::{AttackConfig, AttackKind, PathPolicy};
use rna_lens::eval::{EvalConfig, EvalJournal, EvalReport, evaluate};

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
    /// Record every finished batch in FILE; the same command run again goes on where it
    /// stopped (an interrupted evaluation loses at most the batches in flight).
    #[arg(long, value_name = "FILE")]
    checkpoint: Option<std::path::PathBuf>,
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
    let mut journal = match &args.checkpoint {
        Some(path) => {
            let journal =
                EvalJournal::open(path, &model, &data, args.batch).map_err(anyhow::Error::msg)?;
            eprintln!("recording finished batches in {}", path.display());
            Some(journal)
        }
        None => None,
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
        let resumed: u64 = journal.as_ref().map_or(0, |j| {
            j.recorded(&config).values().map(|c| c.images as u64).sum()
        });
        bar.set_position(resumed);
        bar.reset_eta();
        // Without a terminal (a log file, a background run) the bar is hidden: a plain line
        // for each batch that finishes a minute or more after the last line.
        let started = std::time::Instant::now();
        let mut last_line: Option<std::time::Instant> = None;
        let report = evaluate(
            &model,
            &data,
            &config,
            args.batch,
            journal.as_mut(),
            &mut |done, total| {
                bar.set_position(done as u64);
                if bar.is_hidden() && last_line.is_none_or(|t| t.elapsed().as_secs() >= 60) {
                    last_line = Some(std::time::Instant::now());
                    eprintln!(
                        "{}",
                        progress_line(&name, done as u64, resumed, total as u64, started.elapsed())
                    );
                }
                true
            },
        )
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
        if report.resumed > 0 {
            eprintln!(
                "{name}: {} of the {} images counted from the checkpoint",
                report.resumed, report.images
            );
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

/// `name: done/total images, elapsed, ETA`, the ETA from this run's pace (images a checkpoint
/// supplied took none of this run's time).
fn progress_line(
    name: &str,
    done: u64,
    resumed: u64,
    total: u64,
    elapsed: std::time::Duration,
) -> String {
    let minutes = |s: f64| format!("{}m{:02}s", (s / 60.0) as u64, (s % 60.0) as u64);
    let secs = elapsed.as_secs_f64();
    let eta = match done.checked_sub(resumed) {
        Some(ran) if ran > 0 => minutes(secs / ran as f64 * total.saturating_sub(done) as f64),
        _ => "unknown".into(),
    };
    format!(
        "{name}: {done}/{total} images, {} elapsed, ETA {eta}",
        minutes(secs)
    )
}
