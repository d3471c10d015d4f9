use clap::Args;

use rna_lens::attack::describe_attack;
use rna_lens::attack::transfer::{
    images_right_on_all_paths, paths_by_composition, transfer_matrix, transfer_paths,
};
use rna_lens::rng::SeededRng;

use super::common::{AttackArgs, DataArgs, ModelArgs, untrained_warning};

#[derive(Args)]
pub struct TransferArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    attack: AttackArgs,
    #[command(flatten)]
    data: DataArgs,
    /// Number of sampled paths K (the matrix is K×K); with `--bn-shares`, paths per share.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=rna_lens::limits::arg(rna_lens::limits::MAX_TRANSFER_PATHS)))]
    paths: u32,
    /// Paths by composition instead of uniformly: `--paths` paths for each of these shares of
    /// batch-statistic layers, e.g. `0.1,0.9` (IN-heavy and BN-heavy), placed at random (seed
    /// `--seed`).
    #[arg(long, value_delimiter = ',')]
    bn_shares: Vec<f64>,
    /// Images attacked: a fixed random subset (seed 0) of the split.
    #[arg(long, default_value_t = 64)]
    limit: usize,
    /// Take only images that every path classifies right when clean (the first `--limit` of
    /// them in a fixed random order, seed 0), so every pair is measured on the same images.
    #[arg(long)]
    clean_right_on_all: bool,
    #[arg(long)]
    json: bool,
}

pub fn run(args: TransferArgs) -> anyhow::Result<()> {
    let device = args.model.device()?;
    let model = args.model.load(&device)?;
    let attack = args.attack.config(&model)?;
    let data = args.data.load(&model)?;
    anyhow::ensure!(args.limit > 0, "--limit must be at least 1");
    let paths = if args.bn_shares.is_empty() {
        anyhow::ensure!(args.paths >= 2, "--paths must be at least 2 for a matrix");
        transfer_paths(model.path_space(), args.paths as usize, args.attack.seed)
    } else {
        anyhow::ensure!(
            args.bn_shares.iter().all(|s| (0.0..=1.0).contains(s)),
            "--bn-shares are shares between 0 and 1"
        );
        paths_by_composition(
            model.path_space(),
            &args.bn_shares,
            args.paths as usize,
            args.attack.seed,
        )
        .map_err(anyhow::Error::msg)?
    };
    anyhow::ensure!(paths.len() >= 2, "a transfer matrix needs at least 2 paths");
    let data = if args.clean_right_on_all {
        let mut order: Vec<usize> = (0..data.len()).collect();
        SeededRng::derive(0, "transfer images").shuffle(&mut order);
        let chosen = images_right_on_all_paths(&model, &data, &order, &paths, args.limit);
        anyhow::ensure!(
            !chosen.is_empty(),
            "no image is classified right by all {} paths",
            paths.len()
        );
        if chosen.len() < args.limit {
            eprintln!(
                "only {} of {} images are right on all {} paths",
                chosen.len(),
                data.len(),
                paths.len()
            );
        }
        data.subset(&chosen)
    } else {
        data.sample(args.limit, 0)
    };
    let indices: Vec<usize> = (0..data.len()).collect();
    let x = data.to_tensor(&indices, &device.device);
    let labels: Vec<usize> = indices
        .iter()
        .map(|&i| usize::from(data.labels[i]))
        .collect();
    if let Some(w) = untrained_warning(&model) {
        eprintln!("{w}");
    }
    eprintln!(
        "{} on each of {} paths, {} images",
        describe_attack(&attack).split(';').next().unwrap_or(""),
        paths.len(),
        labels.len()
    );
    let matrix = transfer_matrix(&model, &x, &labels, &paths, &attack, &mut |done, total| {
        eprint!("\rsource path {done}/{total}");
        true
    })?;
    eprintln!();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&matrix)?);
        return Ok(());
    }
    println!(
        "misclassification rate of the column path on attacks crafted on the row path, among the images both paths classify right when clean"
    );
    print!("{:>4} {:>6} ", "", "BN");
    for j in 0..matrix.paths.len() {
        print!("{j:>6}");
    }
    println!();
    print!("{:>11} ", "clean right");
    for right in &matrix.clean_right {
        print!(
            "{:>5.0}%",
            100.0 * *right as f64 / matrix.images.max(1) as f64
        );
    }
    println!();
    for (i, row) in matrix.success.iter().enumerate() {
        print!("{i:>4} {:>5.0}% ", 100.0 * matrix.batch_stat_share[i]);
        for cell in row {
            match cell {
                Some(p) => print!("{:>5.0}%", 100.0 * p.value),
                None => print!("{:>6}", "—"),
            }
        }
        println!();
    }
    println!(
        "(— : the column path classifies none of the images right; each cell has a 95% Wilson interval in --json)"
    );
    println!();
    for (i, p) in matrix.paths.iter().enumerate() {
        println!("{i:>4}  {p}");
    }
    println!();
    println!(
        "by composition (off-diagonal pairs; 95% intervals over images with these paths, and over path pairs):"
    );
    for g in &matrix.groups {
        println!(
            "  {:>11} → {:<11} {:5.1}%  images {:.1}–{:.1}%  pairs {:.1}–{:.1}%  ({} pairs)",
            g.source_bin,
            g.target_bin,
            100.0 * g.success.value,
            100.0 * g.success.low,
            100.0 * g.success.high,
            100.0 * g.over_pairs.low,
            100.0 * g.over_pairs.high,
            g.pairs
        );
    }
    Ok(())
}
