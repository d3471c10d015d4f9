use clap::Args;

use rna_lens::attack::transfer::transfer_matrix;
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
    let paths = model
        .path_space()
        .sample_many(args.paths as usize, args.attack.seed);
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
    println!("misclassification rate of the column path on attacks crafted on the row path");
    print!("{:>4} {:>6} ", "", "BN");
    for j in 0..matrix.paths.len() {
        print!("{j:>6}");
    }
    println!();
    for (i, row) in matrix.success.iter().enumerate() {
        print!("{i:>4} {:>5.0}% ", 100.0 * matrix.batch_stat_share[i]);
        for v in row {
            print!("{:>5.0}%", 100.0 * v);
        }
        println!();
    }
    println!();
    for (i, p) in matrix.paths.iter().enumerate() {
        println!("{i:>4}  {p}");
    }
    println!();
    println!("by composition (off-diagonal pairs):");
    for g in &matrix.groups {
        println!(
            "  {:>11} → {:<11} {:5.1}%  ({} pairs)",
            g.source_bin,
            g.target_bin,
            100.0 * g.mean_success,
            g.pairs
        );
    }
    Ok(())
}
