use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use rna_lens::attack::{AttackConfig, AttackKind, Pairing};
use rna_lens::eval::card::{CardContext, ModelCard};
use rna_lens::eval::{EvalConfig, EvalJournal, EvalReport, Models, evaluate, presets};
use rna_lens::model::file;
use rna_lens::stats::Proportion;

use super::common::{AttackArgs, DataArgs, ModelArgs, untrained_warning};

#[derive(Args)]
pub struct EvalArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    attack: AttackArgs,
    #[command(flatten)]
    data: DataArgs,
    /// Named protocols instead of --attack: natural, fgsm, pgd20, mifgsm, pgd100 (each
    /// official), pgd20-fixed, eot-pgd20 (K = 10), autoattack-rand, arc (K = 10); `paper` = natural, fgsm,
    /// pgd20, mifgsm; `sanity` = the gradient-masking checks (ε curve for official and eot:10,
    /// PGD-100, EOT-50, Square with 1,000 queries); arc, square (5,000 queries).
    /// Comma-separated.
    #[arg(long)]
    preset: Option<String>,
    /// With `--preset sanity`: also write the ε curve here as CSV.
    #[arg(long, value_name = "FILE")]
    csv: Option<std::path::PathBuf>,
    /// Evaluate N images only: a fixed random subset (seed 0) covering every class.
    #[arg(long)]
    limit: Option<usize>,
    #[arg(long, default_value_t = 128)]
    batch: usize,
    /// Score every adversarial image on M independent defender paths and report, beside the
    /// single draw, the mean over paths, the majority vote and the worst case (M ≤ 1,024).
    #[arg(long, default_value_t = 1)]
    defender_paths: usize,
    /// Craft every attack on this model file (e.g. the BN twin) and test it on --model: a
    /// transfer attack.
    #[arg(long, value_name = "MODEL")]
    surrogate: Option<std::path::PathBuf>,
    #[arg(long)]
    json: bool,
    /// Record every finished batch in FILE; the same command run again goes on where it
    /// stopped (an interrupted evaluation loses at most the batches in flight).
    #[arg(long, value_name = "FILE")]
    checkpoint: Option<std::path::PathBuf>,
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
            .map(|n| presets::preset(n.trim()).map_err(anyhow::Error::msg))
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
        None => vec![(
            args.attack.attack.to_string(),
            Some(args.attack.config(&model)?),
        )],
    };
    let surrogate = match &args.surrogate {
        Some(path) => {
            let bytes = std::fs::read(path)
                .map_err(|e| anyhow::anyhow!("--surrogate {}: {e}", path.display()))?;
            let surrogate = rna_lens::interop::open_model(path, &device.device)
                .map_err(|e| anyhow::anyhow!("--surrogate {}: {e}", path.display()))?;
            anyhow::ensure!(
                surrogate.config().class_names == model.config().class_names,
                "--surrogate {}: its classes are not the evaluated model's",
                path.display()
            );
            Some((surrogate, file::checksum(&bytes)))
        }
        None => None,
    };
    let pairing = args.attack.pairing.unwrap_or(Pairing::Image);
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

    let standard = protocols.iter().any(|(_, c)| {
        c.as_ref()
            .is_some_and(|c| c.kind == AttackKind::AutoattackStandard)
    });
    let randomized = standard && rna_lens::eval::forward_passes_disagree(&model, &data);
    if randomized {
        eprintln!(
            "warning: repeated forward passes of this model disagree: it is randomized, so autoattack-standard is applied the official way (a fresh path per pass) and under-estimates an adaptive attack; use autoattack-rand for that"
        );
    }
    let mut results: Vec<(String, EvalReport)> = Vec::new();
    for (name, attack) in protocols {
        let config = EvalConfig {
            attack,
            path: args.attack.path.clone(),
            seed: args.attack.seed,
            pairing,
            defender_paths: args.defender_paths,
            surrogate: surrogate.as_ref().map(|(_, sum)| sum.clone()),
        };
        config.validate().map_err(anyhow::Error::msg)?;
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
        let models = Models {
            target: &model,
            surrogate: surrogate.as_ref().map(|(m, _)| m),
        };
        let report = evaluate(
            models,
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
        )?;
        bar.finish_and_clear();
        if !args.json {
            println!("{}", table_row(&name, &report));
        }
        if report.resumed > 0 {
            eprintln!(
                "{name}: {} of the {} images counted from the checkpoint",
                report.resumed, report.images
            );
        }
        results.push((name, report));
    }
    let sanity_asked = args
        .preset
        .as_deref()
        .is_some_and(|list| list.split(',').any(|n| n.trim() == "sanity"));
    let sanity = match sanity_asked {
        true => Some(presets::sanity(&results).map_err(anyhow::Error::msg)?),
        false => None,
    };
    if let Some(sanity) = &sanity {
        if let Some(path) = &args.csv {
            std::fs::write(path, sanity.csv())
                .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
        }
        if !args.json {
            print!("{}", sanity_table(sanity));
        }
    }
    if args.json {
        let context = CardContext {
            model: args.model.model.clone(),
            data: args.data.data.clone(),
            split: args.data.split.to_string(),
            seed: args.attack.seed,
            pairing,
            randomized,
        };
        let card = ModelCard::new(&results, context, sanity);
        println!("{}", serde_json::to_string_pretty(&card)?);
    }
    Ok(())
}

/// The ε curves side by side, then each check with its verdict.
fn sanity_table(sanity: &presets::SanityReport) -> String {
    let mut s = String::from("\nrobust accuracy (AutoAttack convention) against ε\n");
    s += &format!("{:>8}", "ε/255");
    for curve in &sanity.curves {
        s += &format!("{:>10}", curve.policy);
    }
    s += "\n";
    for (row, eps) in presets::SANITY_EPS.iter().enumerate() {
        s += &format!("{eps:>8}");
        for curve in &sanity.curves {
            s += &format!("{:>9.1}%", 100.0 * curve.points[row][1]);
        }
        s += "\n";
    }
    for c in &sanity.checks {
        s += &format!(
            "{} {} — {}\n",
            if c.passed { "pass" } else { "FAIL" },
            c.check,
            c.detail
        );
    }
    s += &format!("{}\n", sanity.verdict());
    s
}

/// One protocol's figures for the terminal: both conventions, named, each with its interval.
fn table_row(name: &str, r: &EvalReport) -> String {
    let p = |x: &Proportion| {
        format!(
            "{:5.1}% ({:.1}–{:.1}%)",
            100.0 * x.value,
            100.0 * x.low,
            100.0 * x.high
        )
    };
    let mut line = match (&r.robust, &r.adversarial) {
        (Some(robust), Some(adversarial)) => format!(
            "{name:>16}  robust {}  adversarial accuracy {}  natural {}",
            p(robust),
            p(adversarial),
            p(&r.natural)
        ),
        _ => format!("{name:>16}  natural {}", p(&r.natural)),
    };
    line += &format!(" on {} images, seed {} — {}", r.images, r.seed, r.protocol);
    if r.skipped > 0 {
        line += &format!(" ({} images of the target class skipped)", r.skipped);
    }
    if let Some(d) = &r.defender {
        line += &format!(
            "\n{:>16}  over {} defender paths: mean {}  majority vote {}  all paths {}  (natural mean {})",
            "",
            d.paths,
            p(&d.mean),
            p(&d.vote),
            p(&d.all_paths),
            p(&d.natural_mean)
        );
    }
    line += &format!("\n{:>16}  intervals: {}", "", r.intervals);
    line
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
