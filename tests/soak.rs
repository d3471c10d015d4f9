//! Soak: many consecutive attacks through the app's worker must not grow memory. Slow, so it
//! is ignored by default; run it with `cargo test --release --test soak -- --ignored --nocapture`.
#![cfg(feature = "gui")]

use std::time::{Duration, Instant};

use burn::tensor::Device;

use rna_lens::app::worker::{ModelSource, Task, Worker};
use rna_lens::attack::{AttackConfig, AttackKind};
use rna_lens::model::{Architecture, ModelConfig, RnaModel, file};

/// Resident memory of this process in bytes (Linux).
fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

fn wait<T>(mut task: Task<T>) -> Result<T, String> {
    let start = Instant::now();
    loop {
        if let Some(result) = task.poll() {
            return result;
        }
        assert!(start.elapsed() < Duration::from_secs(300), "no reply");
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
#[ignore]
fn five_hundred_attacks_through_the_worker_keep_memory_flat() {
    let dir = std::env::temp_dir().join(format!("rna-lens-soak-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("model.safetensors");
    let config = ModelConfig::cifar10(Architecture::preset("resnet20").unwrap());
    file::save(&RnaModel::new(config, 1, &Device::flex()).unwrap(), &path).unwrap();

    let worker = Worker::spawn("cpu".parse().unwrap(), || {});
    assert!(wait(worker.load_model(ModelSource::File(path))).is_ok());

    let input: Vec<u8> = (0..3 * 32 * 32).map(|i| (i * 37 % 251) as u8).collect();
    let mut at_50 = 0;
    let start = Instant::now();
    for i in 1..=500u64 {
        let mut attack = AttackConfig::preset(AttackKind::Pgd);
        attack.steps = 5;
        attack.seed = i;
        let task = worker.attack(input.clone(), Some((i % 10) as usize), attack, 32);
        match wait(task) {
            Ok(run) => assert_eq!(run.trace.len(), 6),
            Err(e) => panic!("attack {i} failed: {e}"),
        }
        if i == 50 {
            at_50 = resident_bytes();
        }
    }
    let at_500 = resident_bytes();
    let growth = at_500 as f64 / at_50 as f64 - 1.0;
    eprintln!(
        "soak: 500 attacks in {:.0} s; resident memory {:.1} MiB after 50, {:.1} MiB after 500 ({:+.1}%)",
        start.elapsed().as_secs_f64(),
        at_50 as f64 / 1048576.0,
        at_500 as f64 / 1048576.0,
        100.0 * growth
    );
    assert!(growth < 0.10, "memory grew by {:.1}%", 100.0 * growth);
}
