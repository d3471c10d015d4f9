use clap::Args;

use rna_lens::attack::transfer::{transfer_matrix, transfer_paths};
use rna_lens::eval::describe_attack;

use super::common::{AttackArgs, DataArgs, ModelArgs, untrained_warning};

#[derive(Args)]
pub struct TransferArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    attack: AttackArgs,
    #[command(flatten)]
    data: DataArgs,
    /// Number of sampled paths K (the matrix is K×K).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(2..=64))]
    paths: u32,
    /// Images attacked: a fixed random subset (seed 0) of the split.
    #[arg(long, default_value_t = 64)]
    limit: usize,
    #[arg(long)]
    json: bool,
}

pub fn run(args: TransferArgs) -> anyhow::Result<()> {
    let device = args.model.device()?;
    let model = args.model.load(&device)?;
    let attack = args.attack.config(&model)?;
    let data = args.data.load(&model)?;
    anyhow::ensure!(args.limit > 0, "--limit must be at least 1");
    let data = data.sample(args.limit, 0);
    let indices: Vec<usize> = (0..data.len()).collect();
    let x = data.to_tensor(&indices, &device.device);
    let labels: Vec<usize> = indices
        .iter()
        .map(|&i| usize::from(data.labels[i]))
        .collect();
    let paths = transfer_paths(model.path_space(), args.paths as usize, args.attack.seed);
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
    })
    .map_err(anyhow::Error::msg)?;
    eprintln!();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&matrix)?);
        return Ok(());
    }
    println!(
        "misclassification rate of the column path on attacks crafted on the row path, among the images the column path classifies right when clean"
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
    println!("by composition (off-diagonal pairs, 95% intervals over images):");
    for g in &matrix.groups {
        println!(
            "  {:>11} → {:<11} {:5.1}% ({:.1}–{:.1}%)  ({} pairs)",
            g.source_bin,
            g.target_bin,
            100.0 * g.success.value,
            100.0 * g.success.low,
            100.0 * g.success.high,
            g.pairs
        );
    }
    Ok(())
}
