//! The command-line tool as a user runs it: output, JSON, and one-line errors.

use std::path::PathBuf;
use std::process::{Command, Output};

use rna_lens::model::{Architecture, ModelConfig, RnaModel, file};

mod common;
use common::{adversarial_panel, animation_frames};

fn rna_lens(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rna-lens"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("runs the binary")
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// A failing command prints exactly one line, starting with `error:`, and exits non-zero.
fn one_line_error(out: &Output) -> String {
    assert!(!out.status.success(), "expected failure");
    let err = String::from_utf8(out.stderr.clone()).unwrap();
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "error output: {err}");
    assert!(lines[0].starts_with("error:"), "{err}");
    lines[0].to_string()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rna-lens-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const SAMPLE: &str = "assets/samples/cifar10_00_3.png";
const MODEL: &str = "assets/models/rna-resnet20.safetensors";

/// An untrained ResNet-20 with plain batch norm (no random layers), fixed by its seed.
fn save_bn_resnet20(path: &std::path::Path, seed: u64) {
    let config = ModelConfig::cifar10(Architecture::preset("resnet20").unwrap())
        .with_norms(vec![rna_lens::model::NormKind::Bn]);
    let model = RnaModel::new(config, seed, &burn::tensor::Device::flex()).unwrap();
    file::save(&model, path).unwrap();
}

#[test]
fn info_describes_resnet18_and_says_it_is_untrained() {
    let out = stdout(&rna_lens(&["info", "--arch", "resnet18"]));
    assert!(out.contains("UNTRAINED"), "{out}");
    assert!(out.contains("random layers  20"), "{out}");
    assert!(out.contains("2^20 = 1,048,576"), "{out}");
    assert!(out.contains("[bn,gnr_1]"), "{out}");
    assert!(out.contains("layer2.0.shortcut"), "{out}");
    assert!(out.contains("11183562"), "{out}");
}

#[test]
fn info_json_lists_the_random_layers() {
    let out = stdout(&rna_lens(&["info", "--arch", "wrn34-10", "--json"]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["random_layers"].as_array().unwrap().len(), 30);
    assert_eq!(v["paths"], "1073741824");
    assert_eq!(v["trained"], false);
}

#[test]
fn info_reads_a_model_file() {
    let dir = scratch("info");
    let path = dir.join("plain.safetensors");
    save_bn_resnet20(&path, 1);
    let out = stdout(&rna_lens(&["info", "--model", path.to_str().unwrap()]));
    assert!(out.contains("architecture   resnet20"), "{out}");
    assert!(out.contains("1 (no random layers)"), "{out}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn model_arguments_open_official_pytorch_checkpoints_as_the_app_does() {
    let out = stdout(&rna_lens(&[
        "info",
        "--model",
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/rna_resnet18_w8.pth"
        ),
    ]));
    assert!(out.contains("candidates"), "{out}");
}

#[test]
fn predict_runs_many_paths_in_one_batch_and_verifies_them() {
    let args = [
        "predict", "--arch", "resnet20", "--image", SAMPLE, "--paths", "24", "--seed", "5",
        "--verify", "--label", "cat", "--json", "--device", "cpu",
    ];
    let v: serde_json::Value = serde_json::from_str(&stdout(&rna_lens(&args))).unwrap();
    let paths = v["paths"].as_array().unwrap();
    assert_eq!(paths.len(), 24);
    let histogram: u64 = v["summary"]["histogram"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_u64().unwrap())
        .sum();
    assert_eq!(histogram, 24);
    assert!(
        v["verify_max_abs_logit_diff"].as_f64().unwrap() < 1e-4,
        "{v}"
    );
    assert!(v["summary"]["p_correct"]["low"].as_f64().is_some());
    // Same seed, same paths; another seed, other paths.
    let again: serde_json::Value = serde_json::from_str(&stdout(&rna_lens(&args))).unwrap();
    assert_eq!(again["paths"], v["paths"]);
    let mut other = args.to_vec();
    other[8] = "6";
    let other: serde_json::Value = serde_json::from_str(&stdout(&rna_lens(&other))).unwrap();
    assert_ne!(other["paths"][0]["path"], v["paths"][0]["path"]);
}

#[test]
fn predict_prints_a_readable_summary() {
    let out = stdout(&rna_lens(&[
        "predict", "--arch", "resnet20", "--image", SAMPLE, "--paths", "8", "--device", "cpu",
    ]));
    assert!(out.starts_with("UNTRAINED"), "{out}");
    assert!(
        out.contains("majority") && out.contains("histogram"),
        "{out}"
    );
}

#[test]
fn bad_input_gives_one_line_errors() {
    let dir = scratch("errors");
    let text = dir.join("notes.png");
    std::fs::write(&text, "this is not an image").unwrap();
    let err = one_line_error(&rna_lens(&[
        "predict",
        "--arch",
        "resnet20",
        "--image",
        text.to_str().unwrap(),
    ]));
    assert!(err.to_lowercase().contains("image"), "{err}");

    let err = one_line_error(&rna_lens(&["info", "--model", text.to_str().unwrap()]));
    assert!(err.contains("not an rna-lens model"), "{err}");

    let err = one_line_error(&rna_lens(&[
        "info",
        "--model",
        dir.join("missing.safetensors").to_str().unwrap(),
    ]));
    assert!(err.contains("missing.safetensors"), "{err}");

    let err = one_line_error(&rna_lens(&["info", "--arch", "resnet99"]));
    assert!(err.contains("unknown architecture"), "{err}");

    let err = one_line_error(&rna_lens(&[
        "info", "--arch", "resnet20", "--norms", "bn,xyz",
    ]));
    assert!(err.contains("unknown normalization 'xyz'"), "{err}");

    let err = one_line_error(&rna_lens(&[
        "predict", "--arch", "resnet20", "--image", SAMPLE, "--label", "unicorn",
    ]));
    assert!(err.contains("unknown class 'unicorn'"), "{err}");

    let err = one_line_error(&rna_lens(&[
        "info", "--arch", "resnet20", "--device", "tpu",
    ]));
    assert!(err.contains("unknown device"), "{err}");

    // Usage errors from the argument parser are one line too.
    let err = one_line_error(&rna_lens(&["info", "--arhc", "resnet20"]));
    assert!(err.contains("--arhc"), "{err}");
    let err = one_line_error(&rna_lens(&[
        "attack", "--arch", "resnet20", "--image", SAMPLE, "--steps", "x",
    ]));
    assert!(err.contains("--steps"), "{err}");
    let err = one_line_error(&rna_lens(&["attack", "--arch", "resnet20"]));
    assert!(err.contains("--image"), "{err}");

    // Budgets whose unit cannot be told apart are refused, one line each.
    let budget = |attack: &str, eps: &str| {
        one_line_error(&rna_lens(&[
            "attack", "--arch", "resnet20", "--image", SAMPLE, "--attack", attack, "--eps", eps,
            "--out", "unused",
        ]))
    };
    let err = budget("pgd", "0.5");
    assert!(
        err.contains("--eps") && err.contains("ambiguous") && err.contains("127.5/255"),
        "{err}"
    );
    let err = budget("pgd-l2", "8");
    assert!(err.contains("ambiguous") && err.contains("8/255"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// The command line refuses what lies beyond the maximums the app's sliders share with it.
#[test]
fn requests_beyond_the_shared_limits_are_refused_in_one_line() {
    use rna_lens::limits::{MAX_EOT_PATHS, MAX_QUERY_PATHS, MAX_TRANSFER_PATHS};
    let over = |n: usize| (n + 1).to_string();
    let at = |n: usize| n.to_string();
    let predict = |paths: &str| {
        rna_lens(&[
            "predict", "--arch", "resnet20", "--image", SAMPLE, "--paths", paths, "--device", "cpu",
        ])
    };
    let err = one_line_error(&predict(&over(MAX_QUERY_PATHS)));
    assert!(err.contains(&format!("1..={MAX_QUERY_PATHS}")), "{err}");
    stdout(&predict(&at(MAX_QUERY_PATHS)));
    let err = one_line_error(&rna_lens(&[
        "transfer",
        "--arch",
        "resnet20",
        "--paths",
        &over(MAX_TRANSFER_PATHS),
    ]));
    assert!(err.contains(&format!("1..={MAX_TRANSFER_PATHS}")), "{err}");
    let eot = format!("eot:{}", over(MAX_EOT_PATHS));
    let err = one_line_error(&rna_lens(&[
        "attack", "--arch", "resnet20", "--image", SAMPLE, "--policy", &eot, "--out", "unused",
    ]));
    assert!(err.contains(&format!("1 ≤ K ≤ {MAX_EOT_PATHS}")), "{err}");
}

/// A full disk, imitated with a file-size limit (it works as root, where permissions do not
/// stop writes): the export fails with one line and leaves neither the file nor a temporary.
#[test]
fn a_full_disk_or_a_read_only_folder_fails_the_export_and_writes_nothing() {
    let dir = scratch("disk-full");
    let out = dir.join("model.pth");
    let result = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -f 16 && exec \"$0\" export --model {MODEL} --to {}",
            out.display()
        ))
        .arg(env!("CARGO_BIN_EXE_rna-lens"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let err = one_line_error(&result);
    assert!(
        err.contains("model.pth") && err.contains("too large"),
        "{err}"
    );
    let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    std::fs::remove_dir_all(dir).unwrap();

    // A folder nobody may write to, root included (sysfs): the cause, said once.
    let err = one_line_error(&rna_lens(&[
        "export",
        "--model",
        MODEL,
        "--to",
        "/sys/rna-lens.pth",
    ]));
    assert!(err.contains("/sys/rna-lens.pth"), "{err}");
    assert_eq!(err.matches("os error").count(), 1, "{err}");
}

#[test]
fn bench_times_each_measurement_and_counts_flops() {
    let out = stdout(&rna_lens(&[
        "bench",
        "--models",
        "resnet20",
        "--only",
        "ensemble_batched,pgd20_fixed",
        "--repeats",
        "2",
        "--warmup",
        "0",
        "--threads",
        "1",
        "--json",
    ]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["threads"], 1);
    assert_eq!(v["settings"]["warmup"], 0);
    let model = &v["models"][0];
    // The hand count of src/model/tests.rs.
    assert_eq!(model["flops_per_image"], 81_626_368);
    let measurements = model["measurements"].as_array().unwrap();
    let names: Vec<&str> = measurements
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ensemble_batched", "pgd20_fixed"]);
    for m in measurements {
        let runs: Vec<f64> = m["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_f64().unwrap())
            .collect();
        assert_eq!(runs.len(), 2, "{m}");
        assert!(runs.iter().all(|&r| r > 0.0 && r.is_finite()), "{m}");
        let (lo, hi) = (runs[0].min(runs[1]), runs[0].max(runs[1]));
        let median = m["seconds"].as_f64().unwrap();
        assert!(lo <= median && median <= hi, "{m}");
        let gflops = m["gflops_per_s"].as_f64().unwrap();
        assert!((gflops - m["flops"].as_f64().unwrap() / median / 1e9).abs() < 1e-6 * gflops);
    }
    // 1,024 paths of one forward each.
    assert_eq!(
        measurements[0]["flops"].as_f64().unwrap(),
        1024.0 * 81_626_368.0
    );

    let err = one_line_error(&rna_lens(&["bench", "--only", "everything"]));
    assert!(err.contains("unknown measurement 'everything'"), "{err}");
}

#[test]
fn attack_writes_images_and_a_report() {
    let out = scratch("attack");
    let text = stdout(&rna_lens(&[
        "attack",
        "--arch",
        "resnet20",
        "--device",
        "cpu",
        "--image",
        SAMPLE,
        "--attack",
        "pgd",
        "--steps",
        "3",
        "--policy",
        "eot:2",
        "--paths",
        "16",
        "--label",
        "cat",
        "--seed",
        "3",
        "--out",
        out.to_str().unwrap(),
    ]));
    assert!(text.contains("defender path"), "{text}");
    for f in ["clean.png", "adversarial.png", "perturbation.png"] {
        let img = image::open(out.join(f)).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), (32, 32), "{f}");
    }
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["attack"]["policy"]["eot"], 2);
    assert_eq!(report["true_label"], 3);
    assert_eq!(report["trace"].as_array().unwrap().len(), 4);
    assert_eq!(
        report["ensemble"]["adversarial"]["paths"]
            .as_array()
            .unwrap()
            .len(),
        16
    );
    assert!(report["defender_prediction"]["rounding_changes_outcome"].is_boolean());
    // The adversarial PNG holds the attacked input exactly: within ε = 8/255 of the clean one.
    let clean = image::open(out.join("clean.png")).unwrap().to_rgb8();
    let adv = image::open(out.join("adversarial.png")).unwrap().to_rgb8();
    let max = clean
        .pixels()
        .zip(adv.pixels())
        .flat_map(|(a, b)| (0..3).map(move |c| (a[c] as i32 - b[c] as i32).abs()))
        .max();
    assert!(max.unwrap() <= 8 && max.unwrap() > 0, "{max:?}");

    // The report replays: the same settings (seed included) give the same adversarial image.
    let replay = scratch("attack-replay");
    let report_file = out.join("report.json");
    stdout(&rna_lens(&[
        "attack",
        "--arch",
        "resnet20",
        "--device",
        "cpu",
        "--image",
        SAMPLE,
        "--settings",
        report_file.to_str().unwrap(),
        "--paths",
        "16",
        "--label",
        "cat",
        "--out",
        replay.to_str().unwrap(),
    ]));
    let replayed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(replay.join("report.json")).unwrap())
            .unwrap();
    assert_eq!(replayed["attack"], report["attack"]);
    assert_eq!(
        std::fs::read(replay.join("adversarial.png")).unwrap(),
        std::fs::read(out.join("adversarial.png")).unwrap()
    );
    // Settings and flags do not mix: a replay is the whole configuration.
    let mixed = rna_lens(&[
        "attack",
        "--arch",
        "resnet20",
        "--image",
        SAMPLE,
        "--settings",
        report_file.to_str().unwrap(),
        "--eps",
        "4",
        "--out",
        replay.to_str().unwrap(),
    ]);
    assert!(!mixed.status.success());
    assert!(String::from_utf8_lossy(&mixed.stderr).contains("cannot be used with"));
    std::fs::remove_dir_all(replay).unwrap();
    std::fs::remove_dir_all(out).unwrap();
}

#[test]
fn attack_writes_its_replay_for_slides_and_the_layer_view() {
    let out = scratch("attack-animation");
    let apng = out.join("replay.png");
    let gif = out.join("replay.gif");
    let run = |replay: &PathBuf| {
        stdout(&rna_lens(&[
            "attack",
            "--model",
            MODEL,
            "--device",
            "cpu",
            "--image",
            SAMPLE,
            "--steps",
            "5",
            "--paths",
            "8",
            "--seed",
            "4",
            "--out",
            out.to_str().unwrap(),
            "--replay",
            replay.to_str().unwrap(),
        ]))
    };
    let text = run(&apng);
    assert!(text.contains("At the last random layer"), "{text}");
    run(&gif);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let steps = report["trace"].as_array().unwrap().len();
    assert_eq!(steps, 6, "five steps and the start");
    let adversarial = image::open(out.join("adversarial.png")).unwrap().to_rgb8();
    let clean = image::open(out.join("clean.png")).unwrap().to_rgb8();

    // Lossless: one frame per step, the last one showing exactly the saved adversarial image
    // and the first the clean one (the attack starts from it).
    let frames = animation_frames(&apng);
    assert_eq!(frames.len(), steps);
    assert_eq!(adversarial_panel(frames.last().unwrap()), adversarial);
    assert_ne!(frames[0], frames[steps - 1]);
    // GIF: the same frames in 256 colours each, close to the PNG pixels.
    let frames = animation_frames(&gif);
    assert_eq!(frames.len(), steps);
    let panel = adversarial_panel(frames.last().unwrap());
    let error: f64 = panel
        .as_raw()
        .iter()
        .zip(adversarial.as_raw())
        .map(|(&a, &b)| f64::from((i16::from(a) - i16::from(b)).abs()))
        .sum::<f64>()
        / panel.as_raw().len() as f64;
    assert!(error < 6.0, "mean error {error} levels");
    assert_ne!(adversarial, clean);

    // The layer view: the attacker's and defender's paths, then all-BN and all-IN, one value
    // per random layer, coloured by candidate.
    let layers = report["layers"].as_array().unwrap();
    let names: Vec<&str> = layers.iter().map(|l| l["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "attacker's path",
            "defender's path",
            "all BatchNorm",
            "all InstanceNorm+affine"
        ]
    );
    assert_eq!(layers[0]["path"], report["attack_path"]);
    let random_layers = report["attack_path"]
        .as_str()
        .unwrap()
        .chars()
        .filter(char::is_ascii_digit)
        .count();
    for l in layers {
        let changes = l["relative_change"].as_array().unwrap();
        assert_eq!(changes.len(), random_layers);
        assert!(changes.iter().all(|c| c.as_f64().unwrap() > 0.0));
    }

    let err = one_line_error(&rna_lens(&[
        "attack",
        "--model",
        MODEL,
        "--image",
        SAMPLE,
        "--out",
        out.to_str().unwrap(),
        "--replay",
        "replay.mp4",
    ]));
    assert!(err.contains(".gif") && err.contains("replay.mp4"), "{err}");
    std::fs::remove_dir_all(out).unwrap();
}

/// A small CIFAR-10 binary test split the loaders read like the real one.
/// A folder holding these images as a CIFAR binary test split.
fn test_split(name: &str, pixels: Vec<u8>, labels: Vec<u16>) -> PathBuf {
    let dir = scratch(name);
    let set = rna_lens::data::ImageSet {
        pixels,
        labels,
        class_names: Vec::new(),
    };
    rna_lens::data::cifar::write_cifar_binary(&dir.join("test_batch.bin"), &set).unwrap();
    dir
}

fn tiny_cifar(name: &str) -> PathBuf {
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    for i in 0..20u16 {
        labels.push(i % 10);
        pixels.extend((0..3072).map(|p| ((p * 7 + i as usize * 13) % 256) as u8));
    }
    test_split(name, pixels, labels)
}

/// `rna-lens eval --json` of an untrained ResNet-20 on the CPU, in batches of 8, plus `extra`.
fn eval_json(data: &std::path::Path, extra: &[&str]) -> Output {
    let data = data.to_str().unwrap();
    let mut args = vec![
        "eval", "--arch", "resnet20", "--device", "cpu", "--data", data, "--batch", "8", "--json",
    ];
    args.extend_from_slice(extra);
    rna_lens(&args)
}

#[test]
fn eval_reports_one_number_per_protocol() {
    let data = tiny_cifar("eval");
    let out = stdout(&eval_json(&data, &["--preset", "natural,fgsm"]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    for p in ["natural", "fgsm"] {
        let a = v["accuracy"][p].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&a), "{p}: {a}");
        assert_eq!(v["protocols"][p]["images"], 20);
        assert_eq!(v["protocols"][p]["pairing"], "image");
    }
    // The headline is the AutoAttack convention; the official one is beside it, never above
    // it by a clean-wrong image's worth it should not have.
    let fgsm = &v["protocols"]["fgsm"];
    assert_eq!(v["accuracy"]["fgsm"], fgsm["robust"]["value"]);
    let robust = fgsm["robust"]["value"].as_f64().unwrap();
    let adversarial = fgsm["adversarial"]["value"].as_f64().unwrap();
    let natural = fgsm["natural"]["value"].as_f64().unwrap();
    assert!(robust <= adversarial.min(natural) + 1e-12, "{fgsm}");
    assert!(fgsm["robust"]["low"].as_f64().unwrap() <= robust);
    assert!(fgsm["intervals"].as_str().unwrap().contains("over images"));

    // Batch pairing is labelled, and its interval is over batches.
    let out = stdout(&eval_json(
        &data,
        &["--preset", "fgsm", "--pairing", "batch"],
    ));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let fgsm = &v["protocols"]["fgsm"];
    assert_eq!(fgsm["pairing"], "batch");
    assert!(
        fgsm["protocol"]
            .as_str()
            .unwrap()
            .contains("one path pair per batch")
    );
    assert!(
        fgsm["intervals"].as_str().unwrap().contains("3 batches"),
        "{fgsm}"
    );

    // M defender paths: the single draw and the statistics over paths.
    let out = stdout(&eval_json(
        &data,
        &["--preset", "fgsm", "--defender-paths", "4"],
    ));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let d = &v["protocols"]["fgsm"]["defender"];
    assert_eq!(d["paths"], 4);
    let all = d["all_paths"]["value"].as_f64().unwrap();
    let mean = d["mean"]["value"].as_f64().unwrap();
    assert!(all <= mean + 1e-12, "{d}");
    assert!(
        v["protocols"]["fgsm"]["protocol"]
            .as_str()
            .unwrap()
            .contains("official")
    );
    let err = one_line_error(&rna_lens(&[
        "eval",
        "--arch",
        "resnet20",
        "--data",
        data.to_str().unwrap(),
        "--attack",
        "pgd",
        "--policy",
        "sometimes",
    ]));
    assert!(err.contains("unknown path policy"), "{err}");
    std::fs::remove_dir_all(data).unwrap();
}

/// Typed arguments are refused by the engine's own parsers, before any model loads, with the
/// sentence those parsers write (clap's "invalid value … for …" would repeat the value), and
/// the exit code of every other refused input, 1; clap's own usage errors keep code 2.
#[test]
fn a_refused_typed_argument_is_the_engines_sentence_alone() {
    let out = rna_lens(&[
        "info",
        "--model",
        "/nowhere/missing.safetensors",
        "--device",
        "tpu",
    ]);
    assert_eq!(
        one_line_error(&out),
        "error: unknown device 'tpu': expected auto, cpu, wgpu or wgpu:N"
    );
    assert_eq!(out.status.code(), Some(1));
    let out = rna_lens(&[
        "attack",
        "--arch",
        "resnet20",
        "--image",
        SAMPLE,
        "--policy",
        "sometimes",
        "--out",
        "unused",
    ]);
    assert_eq!(
        one_line_error(&out),
        "error: unknown path policy 'sometimes': expected fixed, official, resample or eot:K"
    );
    assert_eq!(out.status.code(), Some(1));
    let out = rna_lens(&["bench", "--only", "pgd20_fixed,everything"]);
    assert!(
        one_line_error(&out).starts_with("error: unknown measurement 'everything': expected"),
        "{out:?}"
    );
    let out = rna_lens(&["info", "--arch", "resnet20", "--init-seed", "x"]);
    assert!(one_line_error(&out).contains("--init-seed"));
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn eval_goes_on_from_its_checkpoint_and_prints_progress_without_a_terminal() {
    let data = tiny_cifar("eval-checkpoint");
    let checkpoint = scratch("eval-checkpoint-file").join("eval.jsonl");
    let eval = |preset: &str| {
        eval_json(
            &data,
            &[
                "--preset",
                preset,
                "--checkpoint",
                checkpoint.to_str().unwrap(),
            ],
        )
    };
    let first = eval("fgsm");
    let stderr = String::from_utf8_lossy(&first.stderr).to_string();
    assert!(
        stderr.contains("fgsm: ") && stderr.contains("/20 images,") && stderr.contains("ETA"),
        "{stderr}"
    );
    let first: serde_json::Value = serde_json::from_str(&stdout(&first)).unwrap();
    assert_eq!(first["protocols"]["fgsm"]["resumed"], 0);

    // Run again with one more protocol: FGSM comes from the checkpoint, natural is computed.
    let second = eval("fgsm,natural");
    let stderr = String::from_utf8_lossy(&second.stderr).to_string();
    assert!(
        stderr.contains("fgsm: 20 of the 20 images counted from the checkpoint"),
        "{stderr}"
    );
    let second: serde_json::Value = serde_json::from_str(&stdout(&second)).unwrap();
    assert_eq!(second["protocols"]["fgsm"]["resumed"], 20);
    assert_eq!(second["protocols"]["natural"]["resumed"], 0);
    assert_eq!(second["accuracy"]["fgsm"], first["accuracy"]["fgsm"]);

    let other = one_line_error(&rna_lens(&[
        "eval",
        "--arch",
        "resnet18",
        "--data",
        data.to_str().unwrap(),
        "--checkpoint",
        checkpoint.to_str().unwrap(),
    ]));
    assert!(other.contains("written for another model"), "{other}");
    std::fs::remove_dir_all(data).unwrap();
    std::fs::remove_dir_all(checkpoint.parent().unwrap()).unwrap();
}

/// The shipped gallery (real CIFAR-10 test images) as a CIFAR binary test split.
fn gallery_as_cifar(name: &str) -> PathBuf {
    let (mut pixels, mut labels) = (Vec::new(), Vec::new());
    for file in rna_lens::assets::gallery_files().unwrap() {
        let image = rna_lens::data::preprocess::decode_image(&file.bytes).unwrap();
        pixels.extend_from_slice(&image.input);
        labels.push(rna_lens::assets::label_from_name(&file.name).unwrap() as u16);
    }
    test_split(name, pixels, labels)
}

#[test]
fn transfer_by_composition_draws_paths_at_each_share_on_images_all_paths_get_right() {
    let data = gallery_as_cifar("transfer-composition");
    let out = stdout(&rna_lens(&[
        "transfer",
        "--device",
        "cpu",
        "--data",
        data.to_str().unwrap(),
        "--bn-shares",
        "0.1,0.9",
        "--paths",
        "2",
        "--clean-right-on-all",
        "--limit",
        "4",
        "--steps",
        "2",
        "--json",
    ]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    // The shipped ResNet-20 has 21 random layers: 10% rounds to 2 BN layers, 90% to 19.
    let shares: Vec<f64> = v["batch_stat_share"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_f64().unwrap())
        .collect();
    let (low, high) = (2.0 / 21.0, 19.0 / 21.0);
    let expected = [low, low, high, high];
    assert!(
        shares
            .iter()
            .zip(expected)
            .all(|(s, e)| (s - e).abs() < 1e-9),
        "{shares:?}"
    );
    let images = v["images"].as_u64().unwrap();
    assert!((1..=4).contains(&images), "{images}");
    assert!(
        v["clean_right"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r.as_u64() == Some(images)),
        "every path has every image right: {}",
        v["clean_right"]
    );
    for row in v["success"].as_array().unwrap() {
        assert!(
            row.as_array()
                .unwrap()
                .iter()
                .all(|c| c["value"].is_number())
        );
    }
    let groups = v["groups"].as_array().unwrap();
    // Over path pairs the interval is never narrower than over images.
    for g in groups {
        let (images, pairs) = (&g["success"], &g["over_pairs"]);
        assert!(pairs["low"].as_f64() <= images["low"].as_f64(), "{g}");
        assert!(pairs["high"].as_f64() >= images["high"].as_f64(), "{g}");
        assert_eq!(pairs["value"], images["value"]);
    }
    assert!(
        groups
            .iter()
            .any(|g| g["source_bin"] == "0–25% BN" && g["target_bin"] == "75–100% BN"),
        "{groups:?}"
    );
    std::fs::remove_dir_all(data).unwrap();
}

#[test]
fn transfer_prints_a_k_by_k_matrix() {
    let data = tiny_cifar("transfer");
    let out = stdout(&rna_lens(&[
        "transfer",
        "--arch",
        "resnet20",
        "--device",
        "cpu",
        "--data",
        data.to_str().unwrap(),
        "--paths",
        "3",
        "--limit",
        "6",
        "--steps",
        "2",
        "--json",
    ]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let rows = v["success"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|r| r.as_array().unwrap().len() == 3));
    assert_eq!(v["images"], 6);
    // A cell counts only the images both its paths have right when clean.
    let clean_right: Vec<u64> = v["clean_right"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_u64().unwrap())
        .collect();
    for (i, row) in rows.iter().enumerate() {
        for (j, cell) in row.as_array().unwrap().iter().enumerate() {
            if clean_right[i] == 0 || clean_right[j] == 0 {
                assert!(cell.is_null(), "({i}, {j}): {cell}");
            }
        }
        // The diagonal's images are its path's own clean-right images.
        assert_eq!(row[i].is_null(), clean_right[i] == 0, "({i}, {i})");
    }
    std::fs::remove_dir_all(data).unwrap();
}

#[test]
fn eval_crafts_on_a_surrogate_and_says_so() {
    let data = tiny_cifar("eval-surrogate");
    let twin = data.join("twin.safetensors");
    save_bn_resnet20(&twin, 2);
    let out = stdout(&eval_json(
        &data,
        &["--preset", "fgsm", "--surrogate", twin.to_str().unwrap()],
    ));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let protocol = v["protocols"]["fgsm"]["protocol"].as_str().unwrap();
    assert!(
        protocol.contains("crafted on the surrogate model"),
        "{protocol}"
    );
    assert_eq!(v["protocols"]["fgsm"]["images"], 20);
    let err = one_line_error(&eval_json(
        &data,
        &[
            "--preset",
            "fgsm",
            "--surrogate",
            data.join("none.safetensors").to_str().unwrap(),
        ],
    ));
    assert!(
        err.contains("--surrogate") && err.contains("none.safetensors"),
        "{err}"
    );
    std::fs::remove_dir_all(data).unwrap();
}
