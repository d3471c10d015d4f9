//! The desktop app driven like a user, through egui_kittest: pick a sample, press Run, read the
//! result, click a path cell, cancel a long attack, and feed it bad files.
#![cfg(feature = "gui")]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use burn::tensor::Device;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};

use rna_lens::app::export::Export;
use rna_lens::app::session::Action;
use rna_lens::app::settings::Tab;
use rna_lens::app::{AppOptions, RnaLensApp};
use rna_lens::model::{Architecture, ModelConfig, RnaModel, file};

mod common;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rna-lens-app-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A small RNA model file (untrained ResNet-20, released candidates), fixed by its seed.
fn model_file(dir: &std::path::Path) -> PathBuf {
    let config = ModelConfig::cifar10(Architecture::preset("resnet20").unwrap());
    let model = RnaModel::new(config, 7, &Device::flex()).unwrap();
    let path = dir.join("model.safetensors");
    file::save(&model, &path).unwrap();
    path
}

fn options(model: PathBuf) -> AppOptions {
    AppOptions {
        model: Some(model),
        device: "cpu".parse().unwrap(),
        fresh_settings: true,
        ..AppOptions::default()
    }
}

fn harness(options: AppOptions) -> Harness<'static, RnaLensApp> {
    Harness::builder()
        .with_size([1360.0, 860.0])
        .build_eframe(move |cc| RnaLensApp::new(cc, options))
}

/// The app on a fresh test model, with the model loaded; also returns the scratch folder.
fn ready(name: &str) -> (PathBuf, Harness<'static, RnaLensApp>) {
    let dir = scratch(name);
    let mut h = harness(options(model_file(&dir)));
    wait_idle(&mut h);
    (dir, h)
}

/// Steps frames until the worker is idle, like a user waiting for a result.
fn wait_idle(h: &mut Harness<'_, RnaLensApp>) {
    let start = Instant::now();
    loop {
        h.step();
        if !h.state().is_busy() {
            h.step();
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the app never became idle"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Whether a rendering test can run: without a wgpu adapter it is skipped, unless CI
/// (`RNA_LENS_REQUIRE_WGPU`) says one must exist, so a missing driver fails there instead of
/// passing silently.
fn wgpu_available() -> bool {
    if rna_lens::device::adapters().is_empty() {
        assert!(
            std::env::var_os("RNA_LENS_REQUIRE_WGPU").is_none(),
            "RNA_LENS_REQUIRE_WGPU is set but no wgpu adapter exists"
        );
        eprintln!("skipped: no wgpu adapter");
        return false;
    }
    true
}

#[test]
fn a_user_attacks_a_gallery_image_and_reads_the_result() {
    let (_, mut h) = ready("attack");
    assert!(
        h.state().session().model.is_some(),
        "{:?}",
        h.state().message()
    );
    h.get_by_label_contains("UNTRAINED");
    h.state_mut().settings_mut().attack.steps = 3;

    h.get_by_label("sample cifar10_04_6.png").click();
    h.step();
    let image = h.state().session().image.as_ref().expect("an image");
    assert_eq!(
        image.label,
        Some(6),
        "gallery labels come from the file name"
    );

    h.get_by_label("Run").click();
    h.step();
    assert!(h.state().is_busy(), "Run starts the attack on the worker");
    wait_idle(&mut h);
    let run = h
        .state()
        .session()
        .attack
        .as_ref()
        .expect("an attack result");
    assert_eq!(run.label, 6);
    assert_eq!(run.trace.len(), 4, "3 iterates and the result");
    assert_eq!(run.iterates.len(), run.trace.len());
    let linf = run
        .adversarial
        .iter()
        .zip(&run.clean)
        .map(|(&a, &c)| (i32::from(a) - i32::from(c)).abs())
        .max()
        .unwrap();
    assert!(
        linf <= 8,
        "the 8-bit result stays within ε = 8/255, got {linf}/255"
    );
    h.get_by_label_contains("defender's path says");
    h.get_by_label_contains("paths correct, adversarial");

    // The report is the CLI's: `rna-lens attack` can replay its settings.
    let report = serde_json::to_value(h.state().report().expect("a report")).unwrap();
    let replay: rna_lens::attack::AttackConfig =
        serde_json::from_value(report["attack"].clone()).unwrap();
    assert_eq!(replay, run.config);
    assert_eq!(report["true_label"], 6);
}

#[test]
fn clicking_a_path_cell_pins_it_and_resampling_keeps_it() {
    let dir = scratch("paths");
    let mut opts = options(model_file(&dir));
    opts.view = Some(Tab::Paths);
    let mut h = harness(opts);
    wait_idle(&mut h);
    let before = h.state().path_view().path.clone().expect("a path");
    h.get_by_label("layer 3: layer1.1.norm1").click();
    h.step();
    assert!(h.state().path_view().pinned[3]);
    assert_eq!(
        h.state().path_view().path.as_ref(),
        Some(&before),
        "pinning keeps the candidate"
    );
    // Many resamples: the pinned layer never changes, the others do.
    let mut changed = false;
    for _ in 0..8 {
        h.get_by_label("Resample").click();
        h.step();
        let now = h.state().path_view().path.clone().unwrap();
        assert_eq!(now.get(3), before.get(3));
        changed |= now != before;
    }
    assert!(
        changed,
        "resampling draws new candidates for unpinned layers"
    );
    // A second click on a pinned cell switches its candidate.
    h.get_by_label("layer 3: layer1.1.norm1").click();
    h.step();
    assert_ne!(
        h.state().path_view().path.as_ref().unwrap().get(3),
        before.get(3)
    );
}

#[test]
fn cancel_stops_a_long_attack_within_an_iteration() {
    let (_, mut h) = ready("cancel");
    h.state_mut().settings_mut().attack.steps = 1000;
    h.get_by_label("Run").click();
    let start = Instant::now();
    while h.state().session().attack.is_none() {
        h.step();
        if start.elapsed() > Duration::from_millis(300) && h.state().is_busy() {
            h.get_by_label("Cancel").click();
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "cancel never took effect"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let run = h.state().session().attack.as_ref().unwrap();
    assert!(run.cancelled);
    assert!(run.trace.len() < 1000);
    assert_eq!(h.state().message(), Some("Attack cancelled"));
}

#[test]
fn absurd_attack_settings_are_refused_with_a_message() {
    use rna_lens::attack::{AttackConfig, AttackKind, PathPolicy};
    let (_, mut h) = ready("absurd");
    type Absurd = (&'static dyn Fn(&mut AttackConfig), &'static str);
    let cases: [Absurd; 5] = [
        (&|c| c.eps = f64::NAN, "finite number"),
        (&|c| c.alpha = -1.0, "must be finite and > 0"),
        (&|c| c.steps = 10_000_000, "beyond"),
        (&|c| c.policy = PathPolicy::Eot(0), "K ≥ 1"),
        (&|c| c.target = Some(99), "does not exist"),
    ];
    for (make_absurd, why) in cases {
        let mut config = AttackConfig::preset(AttackKind::Pgd);
        make_absurd(&mut config);
        // Settings that arrive from outside the widgets (a replayed report, a script): Run
        // refuses them with the reason and starts nothing.
        h.state_mut().settings_mut().attack = config;
        h.state_mut().apply(Action::RunAttack);
        wait_idle(&mut h);
        assert!(h.state().session().attack.is_none(), "{why}");
        let msg = h.state().message().unwrap_or_default().to_string();
        assert!(msg.contains(why), "{why}: {msg}");
        // On screen, the widgets either bring the value back into range, or the panel says
        // why and Run stays disabled.
        h.run();
        let still_absurd = h.state_mut().settings_mut().attack.validate(10).is_err();
        if still_absurd {
            assert!(h.get_all_by_label_contains(why).count() >= 1, "{why}");
        }
        assert_eq!(
            h.get_by_label("Run").accesskit_node().is_disabled(),
            still_absurd,
            "{why}"
        );
    }
}

#[test]
fn bad_files_give_a_message_and_keep_what_was_there() {
    let (dir, mut h) = ready("bad");
    let image_before = h.state().session().image.as_ref().unwrap().input.clone();

    let not_an_image = dir.join("notes.png");
    std::fs::write(&not_an_image, b"this is text").unwrap();
    h.state_mut().apply(Action::LoadImage(not_an_image));
    wait_idle(&mut h);
    let msg = h.state().message().unwrap().to_string();
    assert!(
        msg.contains("notes.png") && msg.contains("current image stays"),
        "{msg}"
    );
    assert_eq!(
        h.state().session().image.as_ref().unwrap().input,
        image_before
    );

    let truncated = dir.join("broken.safetensors");
    let bytes = std::fs::read(dir.join("model.safetensors")).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    h.state_mut()
        .apply(Action::LoadModel(rna_lens::app::worker::ModelSource::File(
            truncated,
        )));
    wait_idle(&mut h);
    let msg = h.state().message().unwrap().to_string();
    assert!(
        msg.starts_with("Cannot load the model") && msg.contains("current model stays"),
        "{msg}"
    );
    assert!(h.state().session().model.is_some());
}

/// The whole window after an attack, rendered by wgpu (the heatmap through our WGSL shader)
/// and compared with the committed snapshot. Needs a wgpu adapter (lavapipe in CI); skipped
/// without one unless `RNA_LENS_REQUIRE_WGPU=1`. Regenerate with `UPDATE_SNAPSHOTS=1`.
#[test]
fn the_attack_view_matches_its_snapshot() {
    if !wgpu_available() {
        return;
    }
    // A fixed folder: the status line shows the model's path.
    let dir = std::env::temp_dir().join("rna-lens-app-snapshot");
    std::fs::create_dir_all(&dir).unwrap();
    let options = options(model_file(&dir));
    let mut h = Harness::builder()
        .with_size([1360.0, 860.0])
        .wgpu()
        .build_eframe(move |cc| RnaLensApp::new(cc, options));
    wait_idle(&mut h);
    h.state_mut().settings_mut().attack.steps = 5;
    h.get_by_label("sample cifar10_04_6.png").click();
    h.step();
    h.get_by_label("Run").click();
    wait_idle(&mut h);
    h.run();
    h.snapshot("attack_view");
}

#[test]
fn the_app_opens_an_official_pytorch_checkpoint() {
    let (_, mut h) = ready("pth");
    let fixture =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rna_resnet18_w8.pth");
    h.state_mut()
        .apply(Action::LoadModel(rna_lens::app::worker::ModelSource::File(
            fixture,
        )));
    wait_idle(&mut h);
    let model = h.state().session().model.as_ref().expect("a model");
    assert!(
        model
            .config
            .architecture
            .name()
            .starts_with("resnet(widths [8, 16, 32, 64]"),
        "{:?} {}",
        h.state().message(),
        model.config.architecture.name()
    );
    assert_eq!(model.space.num_layers(), 20);
    h.get_by_label_contains("2^20 = 1,048,576");
}

#[test]
fn a_result_computed_for_the_previous_image_is_not_shown_for_the_new_one() {
    let (_, mut h) = ready("stale");
    h.state_mut().settings_mut().attack.steps = 30;
    h.get_by_label("Run").click();
    h.step();
    assert!(h.state().is_busy());
    // The user picks another image while the attack on the first one runs.
    h.get_by_label("sample cifar10_05_6.png").click();
    wait_idle(&mut h);
    assert_eq!(
        h.state().session().image.as_ref().unwrap().name,
        "cifar10_05_6.png"
    );
    assert!(
        h.state().session().attack.is_none(),
        "the first image's attack must not appear under the second"
    );
}

#[test]
fn gallery_labels_are_ignored_for_a_model_with_other_classes() {
    let dir = scratch("classes");
    let mut config = ModelConfig::cifar10(Architecture::preset("resnet20").unwrap());
    config.class_names = vec!["a".into(), "b".into(), "c".into()];
    let model = RnaModel::new(config, 3, &Device::flex()).unwrap();
    let path = dir.join("three.safetensors");
    file::save(&model, &path).unwrap();
    let mut h = harness(options(path));
    wait_idle(&mut h);
    h.state_mut().settings_mut().attack.steps = 2;
    h.get_by_label("sample cifar10_01_8.png").click();
    h.step();
    assert_eq!(
        h.state().session().label(),
        None,
        "class 8 means nothing to a 3-class model"
    );
    h.get_by_label("Run").click();
    wait_idle(&mut h);
    let run = h
        .state()
        .session()
        .attack
        .as_ref()
        .expect("the attack runs on the vote");
    assert!(run.label < 3 && !run.label_given);
}

/// A file dropped onto the window, as the windowing layer hands it over.
#[derive(Debug)]
struct Dropped(PathBuf);

impl egui::DroppedFile for Dropped {
    fn path(&self) -> &std::path::Path {
        &self.0
    }
    fn bytes(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.0).map_err(|e| e.to_string())
    }
}

#[test]
fn dropping_a_file_on_the_window_opens_it_and_a_bad_one_is_refused() {
    let (dir, mut h) = ready("drop");
    let sample = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/samples/cifar10_11_9.png");
    h.input_mut()
        .dropped_files
        .push(std::sync::Arc::new(Dropped(sample)));
    wait_idle(&mut h);
    let image = h.state().session().image.as_ref().unwrap();
    assert_eq!(image.name, "cifar10_11_9.png", "{:?}", h.state().message());
    assert_eq!(image.label, None, "a dropped file carries no label");
    let before = image.input.clone();

    let bad = dir.join("empty.png");
    std::fs::write(&bad, b"").unwrap();
    h.input_mut()
        .dropped_files
        .push(std::sync::Arc::new(Dropped(bad)));
    wait_idle(&mut h);
    assert!(h.state().message().unwrap().contains("empty.png"));
    assert_eq!(h.state().session().image.as_ref().unwrap().input, before);
}

/// The command-line tool on the same files, for the app/CLI equivalence tests.
fn cli(args: &[&str]) -> serde_json::Value {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rna-lens"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// As the CLI prints it: JSON text, read back (f32 values print in their shortest form).
fn as_printed<T: serde::Serialize>(value: &T) -> serde_json::Value {
    serde_json::from_str(&serde_json::to_string(value).unwrap()).unwrap()
}

/// PGD-3 with seed 5 in the app, as `--attack pgd --steps 3 --seed 5` on the command line.
fn short_attack(h: &mut Harness<'_, RnaLensApp>) {
    let attack = &mut h.state_mut().settings_mut().attack;
    attack.steps = 3;
    attack.seed = 5;
}

const SAMPLE_0: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/assets/samples/cifar10_00_3.png"
);

#[test]
fn the_app_and_the_cli_write_the_same_attack_report() {
    let (dir, mut h) = ready("same-report");
    short_attack(&mut h);
    h.state_mut()
        .apply(Action::LoadImage(PathBuf::from(SAMPLE_0)));
    wait_idle(&mut h);
    h.state_mut().apply(Action::RunAttack);
    wait_idle(&mut h);
    let mut app = as_printed(&h.state().report().expect("the app has a report"));

    let model = dir.join("model.safetensors");
    let out = dir.join("cli-attack");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_rna-lens"))
        .args(["attack", "--device", "cpu", "--model"])
        .arg(&model)
        .args([
            "--image", SAMPLE_0, "--attack", "pgd", "--steps", "3", "--seed", "5",
        ])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let mut cli: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    // Where it ran and what the files are called may differ; everything computed may not.
    for report in [&mut app, &mut cli] {
        let object = report.as_object_mut().unwrap();
        for key in ["image", "model", "device"] {
            object.remove(key);
        }
    }
    assert_eq!(app, cli);
}

#[test]
fn the_app_and_the_cli_give_the_same_ensemble() {
    let (dir, mut h) = ready("same-ensemble");
    h.state_mut().settings_mut().attack.seed = 5;
    h.state_mut().apply(Action::SelectSample(0));
    h.state_mut().apply(Action::QueryEnsemble { paths: 64 });
    wait_idle(&mut h);
    let model = dir.join("model.safetensors");
    let cli = cli(&[
        "predict",
        "--device",
        "cpu",
        "--model",
        model.to_str().unwrap(),
        "--sample",
        "0",
        "--paths",
        "64",
        "--seed",
        "5",
        "--json",
    ]);
    let cli = cli["paths"].as_array().unwrap();
    let app = &h.state().session().ensemble.as_ref().unwrap().clean;
    assert_eq!(app.len(), cli.len());
    for (a, c) in app.iter().zip(cli) {
        assert_eq!(c["path"], a.path.as_str());
        assert_eq!(c["label"], a.label);
        // `predict --json` prints f32 probabilities widened to f64: narrow them back.
        let probabilities: Vec<f32> = c["probabilities"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_f64().unwrap() as f32)
            .collect();
        assert_eq!(probabilities, a.probabilities, "{}", a.path);
    }
}

#[test]
fn the_app_and_the_cli_give_the_same_transfer_matrix() {
    let (dir, mut h) = ready("same-transfer");
    short_attack(&mut h);
    h.state_mut().apply(Action::SelectSample(0));
    h.state_mut().views_mut().transfer.paths = 4;
    h.state_mut().apply(Action::Run(Tab::Transfer));
    wait_idle(&mut h);
    let app = as_printed(h.state().views().transfer.matrix().unwrap());

    // The same image as a one-image test split, with its gallery label.
    let data = dir.join("one-image");
    std::fs::create_dir_all(&data).unwrap();
    let image = rna_lens::data::preprocess::load_image(std::path::Path::new(SAMPLE_0)).unwrap();
    let set = rna_lens::data::ImageSet {
        pixels: image.input,
        labels: vec![3],
        class_names: Vec::new(),
    };
    rna_lens::data::cifar::write_cifar_binary(&data.join("test_batch.bin"), &set).unwrap();
    let model = dir.join("model.safetensors");
    let cli = cli(&[
        "transfer",
        "--device",
        "cpu",
        "--model",
        model.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--paths",
        "4",
        "--attack",
        "pgd",
        "--steps",
        "3",
        "--seed",
        "5",
        "--json",
    ]);
    assert_eq!(app, cli);
}

/// Starts `job`, picks the next gallery image while it computes, and waits until all is quiet.
fn another_image_while_it_computes(h: &mut Harness<'_, RnaLensApp>, job: Action) {
    h.state_mut().apply(job);
    let start = Instant::now();
    while !h.state().is_busy() {
        h.step();
        assert!(start.elapsed() < Duration::from_secs(30), "never started");
    }
    h.state_mut().apply(Action::SelectSample(1));
    wait_idle(h);
    for _ in 0..10 {
        h.step();
    }
}

#[test]
fn a_result_for_a_cleared_slot_never_arrives() {
    let (_, mut h) = ready("cleared-slot");
    h.state_mut().settings_mut().attack.steps = 1000;
    // Another image clears the results and drops the attack's task: it stops, and its result,
    // computed for the old image, is never shown.
    another_image_while_it_computes(&mut h, Action::RunAttack);
    assert!(h.state().session().attack.is_none());
    assert_eq!(
        h.state().session().image.as_ref().unwrap().name,
        "cifar10_01_8.png"
    );
    assert_ne!(h.state().message(), Some("Attack cancelled"));
}

/// The same for a result a view owns: a new image clears the transfer matrix on screen and
/// drops the task computing the next one.
#[test]
fn a_views_own_result_for_the_previous_image_never_arrives() {
    let (_, mut h) = ready("cleared-view-slot");
    h.state_mut().settings_mut().attack.steps = 1;
    h.state_mut().views_mut().transfer.paths = 2;
    h.state_mut().apply(Action::Run(Tab::Transfer));
    wait_idle(&mut h);
    assert!(h.state().views().transfer.matrix().is_some());
    h.state_mut().settings_mut().attack.steps = 1000;
    another_image_while_it_computes(&mut h, Action::Run(Tab::Transfer));
    assert!(h.state().views().transfer.matrix().is_none());
    assert_eq!(h.state().message(), None);
}

#[test]
fn the_saved_heatmap_is_the_replay_step_on_screen() {
    use rna_lens::app::export::Export;
    let (dir, mut h) = ready("heatmap-step");
    short_attack(&mut h);
    h.state_mut().apply(Action::RunAttack);
    wait_idle(&mut h);
    let (first, last) = (dir.join("step0.png"), dir.join("last.png"));
    h.state().save(Export::Heatmap { step: 0 }, &first).unwrap();
    h.state().save(Export::Heatmap { step: 3 }, &last).unwrap();
    let decode = |p: &std::path::Path| image::open(p).unwrap().into_rgba8().into_raw();
    let params = h.state_mut().settings_mut().heatmap;
    let run = h.state().session().attack.as_ref().unwrap();
    assert_eq!(run.iterates.len(), 4, "three steps and the start");
    // The heatmap of iterate 0 drawn here, independently of the export, at 8× scale.
    let delta: Vec<f32> = run.iterates[0]
        .iter()
        .zip(&run.clean)
        .map(|(&a, &c)| (f32::from(a) - f32::from(c)) / 255.0)
        .collect();
    let expected = rna_lens::colormap::render_heatmap(&delta, &run.clean, 32, 32, 8, &params);
    assert_eq!(decode(&first), expected);
    assert_ne!(
        decode(&first),
        decode(&last),
        "the first iterate is not the result"
    );
}

#[test]
fn the_default_heatmap_after_the_paper_preset_shows_structure() {
    // The shipped model (built in), the first gallery image, PGD-20 under the paper's protocol.
    let mut h = harness(AppOptions {
        device: "cpu".parse().unwrap(),
        fresh_settings: true,
        ..AppOptions::default()
    });
    wait_idle(&mut h);
    h.state_mut().apply(Action::RunAttack);
    wait_idle(&mut h);
    let shown = h.state_mut().settings_mut().heatmap;
    let run = h
        .state()
        .session()
        .attack
        .as_ref()
        .expect("an attack result");
    // The map alone (opacity 1): blended with the image, any map would look varied.
    let params = rna_lens::colormap::HeatmapParams {
        opacity: 1.0,
        eps: run.pixel_scale(),
        ..shown
    };
    let pixels = rna_lens::colormap::render_heatmap(&run.delta(), &run.clean, 32, 32, 1, &params);
    let mut counts = std::collections::HashMap::new();
    for p in pixels.chunks_exact(4) {
        *counts.entry(p.to_vec()).or_insert(0usize) += 1;
    }
    let mode = counts.values().max().copied().unwrap();
    let away = 32 * 32 - mode;
    assert!(
        away * 10 >= 32 * 32,
        "only {away} of 1024 pixels differ from the most common colour"
    );
}

#[test]
fn presentation_mode_zooms_with_the_keyboard_and_remembers_it() {
    let (_, mut h) = ready("presentation");
    assert_eq!(h.state_mut().settings_mut().presentation.zoom, 1.0);
    for _ in 0..2 {
        h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Plus);
        h.step();
    }
    h.step();
    let zoom = h.state_mut().settings_mut().presentation.zoom;
    assert!(zoom > 1.1, "Ctrl + zooms in: {zoom}");
    assert_eq!(zoom, h.ctx.zoom_factor());
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Num0);
    h.step();
    h.step();
    assert_eq!(h.state_mut().settings_mut().presentation.zoom, 1.0);

    h.get_by_label("high contrast").click();
    h.step();
    assert!(h.state_mut().settings_mut().presentation.high_contrast);
    assert_eq!(
        h.ctx.global_style().visuals.override_text_color,
        Some(egui::Color32::WHITE)
    );
}

#[test]
fn at_a_projectors_size_every_layer_of_the_path_strip_is_on_screen() {
    let dir = scratch("strip-720");
    let mut opts = options(model_file(&dir));
    opts.view = Some(Tab::Paths);
    let mut h = Harness::builder()
        .with_size([1280.0, 720.0])
        .build_eframe(move |cc| RnaLensApp::new(cc, opts));
    wait_idle(&mut h);
    // The central panel ends where the attack panel (its "Paper protocol" button) begins.
    let panel_left = h.get_by_label("Paper protocol").rect().left();
    for layer in [0, 10, 20] {
        let rect = h.get_by_label_contains(&format!("layer {layer}:")).rect();
        assert!(
            rect.right() < panel_left,
            "layer {layer} ends at x = {}, the attack panel starts at {panel_left}",
            rect.right()
        );
    }
}

/// Steps frames until the lesson's current step has its closing sentence.
fn lesson_sentence(h: &mut Harness<'_, RnaLensApp>, step: usize) -> String {
    let start = Instant::now();
    loop {
        h.step();
        if let Some((at, Some(sentence))) = h.state().lesson_status() {
            assert_eq!(at, step);
            h.step();
            return sentence;
        }
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "lesson step {step} never finished: {:?}",
            h.state().message()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn the_lesson_walks_through_every_step_and_each_sentence_reads_the_result_on_screen() {
    let mut h = harness(AppOptions {
        device: "cpu".parse().unwrap(),
        fresh_settings: true,
        lesson: Some(None),
        ..AppOptions::default()
    });
    let mut sentences = Vec::new();
    for step in 0..8 {
        if step > 0 {
            h.key_press(egui::Key::ArrowRight);
        }
        let sentence = lesson_sentence(&mut h, step);
        // The sentence is on screen, and says what the results it reads say.
        h.get_by_label(&sentence);
        let session = h.state().session();
        let model = session.model.as_ref().unwrap();
        let name = |c: usize| model.class_name(c).to_string();
        match step {
            0 => {
                let e = session.ensemble.as_ref().unwrap();
                assert_eq!(e.paths.len(), 1);
                assert!(sentence.contains(&format!("says {}", name(e.clean[0].label))));
                let right = e.clean[0].label == session.label().unwrap();
                assert_eq!(sentence.contains(": right"), right, "{sentence}");
            }
            1 => {
                let path = h.state().path_view().path.clone().unwrap();
                let first = session.ensemble.as_ref().unwrap().paths[0].clone();
                assert_eq!(path, first, "the Paths view shows the path of step 1");
                let bn = path.choices().iter().filter(|&&c| c == 0).count();
                assert!(sentence.contains(&format!("at {bn} of its {}", path.len())));
            }
            2 => {
                let e = session.ensemble.as_ref().unwrap();
                assert_eq!(e.paths.len(), 256);
                let s = rna_lens::ensemble::summarize(&e.clean, 10, session.label());
                assert!(sentence.contains(&format!("vote {}", name(s.majority))));
                let p = s.p_correct.unwrap();
                assert!(sentence.contains(&format!("{:.0}% (95% interval", 100.0 * p.value)));
            }
            3 | 4 => {
                let a = session.attack.as_ref().unwrap();
                let fixed = a.config.policy == rna_lens::attack::PathPolicy::Fixed;
                assert_eq!(fixed, step == 3);
                assert_eq!(fixed, a.attack_path == a.defender_path);
                if fixed {
                    // The white box attacks the path the first two steps showed.
                    assert_eq!(Some(&a.attack_path), h.state().path_view().path.as_ref());
                }
                assert!(sentence.contains(&format!(
                    "says {}: {}",
                    name(a.eight_bit_prediction),
                    a.verdict().describe()
                )));
            }
            5 => {
                let t = h.state().views().transfer.matrix().unwrap();
                assert_eq!(t.paths.len(), 8);
                assert!(sentence.contains("%") || sentence.contains("Too few"));
            }
            6 => {
                let c = h.state().views().compare.comparison().unwrap();
                assert_eq!(c.eot.config.policy, rna_lens::attack::PathPolicy::Eot(10));
                let p = c.eot.adversarial_summary(10).p_correct.unwrap();
                assert!(sentence.contains(&format!("{:.0}% (95% interval", 100.0 * p.value)));
            }
            _ => {
                for (protocol, _, images) in &model.card {
                    assert!(sentence.contains(&format!("{protocol}: ")), "{sentence}");
                    assert!(sentence.contains(&format!("on {images} images")));
                }
                assert!(!model.card.is_empty(), "the shipped model has a card");
            }
        }
        sentences.push(sentence);
    }
    // Back with the left arrow; leave, and the Lesson button resumes at the same step.
    h.key_press(egui::Key::ArrowLeft);
    assert_eq!(lesson_sentence(&mut h, 6), sentences[6]);
    h.get_by_label("Leave lesson").click();
    h.step();
    assert!(h.state().lesson_status().is_none());
    h.step();
    h.get_by_label("Lesson").click();
    h.step();
    assert_eq!(h.state().lesson_status().unwrap().0, 6);
    // Straight from the white box to the EOT step: its official side draws a random path
    // again, not the path the white box pinned.
    h.state_mut().apply(Action::GoToLessonStep(3));
    lesson_sentence(&mut h, 3);
    assert!(
        h.state()
            .session()
            .attack
            .as_ref()
            .unwrap()
            .config
            .path
            .is_some()
    );
    h.state_mut().apply(Action::GoToLessonStep(6));
    lesson_sentence(&mut h, 6);
    let c = h.state().views().compare.comparison().unwrap();
    assert_eq!(c.official.config.path, None);
}

/// Snapshots of the Attack view after an attack at a projector's 1280×720, at 1920×1080, and at
/// 1280×720 with 150% zoom (853×480 points at 1.5 pixels per point, as a zoomed window lays
/// out). Regenerate with `UPDATE_SNAPSHOTS=1` and look at them: nothing clipped or overlapping.
#[test]
fn the_attack_view_holds_at_a_projector_a_1080p_screen_and_150_percent_zoom() {
    if !wgpu_available() {
        return;
    }
    let dir = std::env::temp_dir().join("rna-lens-app-snapshot");
    std::fs::create_dir_all(&dir).unwrap();
    let model = model_file(&dir);
    let mut results = egui_kittest::SnapshotResults::new();
    for (name, size, zoom, side_panels) in [
        ("attack_view_1280x720", [1280.0, 720.0], 1.0, true),
        ("attack_view_1920x1080", [1920.0, 1080.0], 1.0, true),
        (
            "attack_view_1280x720_zoom150",
            [1280.0 / 1.5, 720.0 / 1.5],
            1.5,
            true,
        ),
        (
            "attack_view_1280x720_zoom150_f9",
            [1280.0 / 1.5, 720.0 / 1.5],
            1.5,
            false,
        ),
    ] {
        let options = options(model.clone());
        let mut h = Harness::builder()
            .with_size(size)
            .wgpu()
            .build_eframe(move |cc| RnaLensApp::new(cc, options));
        h.ctx.set_zoom_factor(zoom);
        wait_idle(&mut h);
        let settings = h.state_mut().settings_mut();
        assert_eq!(settings.presentation.zoom, zoom);
        settings.attack.steps = 5;
        if !side_panels {
            h.key_press(egui::Key::F9);
        }
        h.state_mut().apply(Action::SelectSample(4));
        wait_idle(&mut h);
        assert_eq!(
            h.state().session().image.as_ref().unwrap().name,
            "cifar10_04_6.png"
        );
        h.key_press(egui::Key::Space);
        wait_idle(&mut h);
        assert!(h.state().session().attack.is_some());
        assert_eq!(
            h.state_mut().settings_mut().presentation.side_panels,
            side_panels
        );
        h.run();
        h.snapshot(name);
        results.extend_harness(&mut h);
    }
    results.unwrap();
}

#[test]
fn the_budget_view_fills_in_its_curve_as_the_cli_computes_it_and_keeps_it_when_cancelled() {
    let dir = scratch("budget");
    let model = model_file(&dir);
    // A card with a sanity row beside the model: its ε curve is drawn beside the image's.
    let card = r#"{"protocols": {"sanity-official-eps0": {"images": 40}}, "sanity": {
        "curves": [{"policy": "official", "points": [[0, 0.5], [8, 0.3], [32, 0.0]]},
                   {"policy": "eot10", "points": [[0, 0.5], [8, 0.1], [32, 0.0]]}],
        "checks": []}}"#;
    std::fs::write(dir.join("model.eval.json"), card).unwrap();
    let mut opts = options(model);
    opts.view = Some(Tab::Budget);
    let mut h = harness(opts);
    wait_idle(&mut h);
    h.get_by_label_contains("the model card: robust accuracy over 40 test images");
    h.state_mut().settings_mut().attack.seed = 5;
    h.get_by_label("sample cifar10_04_6.png").click();
    h.step();
    h.get_by_label("Run ε curve");
    let knobs = &mut h.state_mut().views_mut().budget;
    (knobs.eot_paths, knobs.judging_paths) = (2, 16);
    h.state_mut().apply(Action::Run(Tab::Budget));
    let points = rna_lens::budget::CURVE_EPS.len() * 2;
    let mut partial = 0;
    let started = Instant::now();
    while h.state().is_busy() {
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "the curve never finished"
        );
        h.step();
        let drawn = h.state().live().curve.as_ref().map_or(0, |c| c.1.len());
        if h.state().views().budget.computing() && drawn > 0 && drawn < points {
            partial = partial.max(drawn);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    h.step();
    h.step();
    assert!(partial > 0, "the curve is drawn while it computes");
    let session = h.state().session();
    let curve = h.state().views().budget.curve().cloned().unwrap();
    assert!(!curve.cancelled);
    assert_eq!(curve.points.len(), points);
    for policy in 0..2 {
        let eps: Vec<f64> = curve.line(policy).map(|p| p.eps).collect();
        assert_eq!(eps, rna_lens::budget::CURVE_EPS);
    }
    assert_eq!(curve.setup.label, 6, "the gallery image's own label");
    let model = session.model.as_ref().unwrap();
    let sentence = curve.sentence(model.class_name(6)).unwrap();
    h.get_by_label(&sentence);

    // `rna-lens attack --budget-curve` computes the same curve for the same image and seed.
    let csv = dir.join("curve.csv");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rna-lens"))
        .args(["attack", "--device", "cpu", "--model"])
        .arg(dir.join("model.safetensors"))
        .arg("--image")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/assets/samples/cifar10_04_6.png"
        ))
        .args([
            "--label", "6", "--steps", "1", "--seed", "5", "--paths", "16",
        ])
        .args(["--curve-eot", "2", "--out"])
        .arg(dir.join("cli-attack"))
        .arg("--budget-curve")
        .arg(&csv)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read_to_string(&csv).unwrap(), curve.csv());
    assert!(String::from_utf8_lossy(&out.stdout).contains(&sentence));

    // Cancelled after three points: those stay, and the user is told.
    let knobs = &mut h.state_mut().views_mut().budget;
    (knobs.eot_paths, knobs.judging_paths) = (2, 16);
    h.state_mut().apply(Action::Run(Tab::Budget));
    loop {
        h.step();
        let drawn = h.state().live().curve.as_ref().map_or(0, |c| c.1.len());
        if !h.state().is_busy() || drawn >= 3 {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(
        h.state().is_busy(),
        "the curve finished before it could be cancelled"
    );
    h.state_mut().apply(Action::Cancel);
    wait_idle(&mut h);
    let curve = h.state().views().budget.curve().cloned().unwrap();
    assert!(curve.cancelled);
    assert!(
        (3..points).contains(&curve.points.len()),
        "{}",
        curve.points.len()
    );
    assert!(h.state().message().unwrap().contains("ε curve cancelled"));
}

/// "Save view PNG" writes the central view, as rendered, into a 1920×1080 slide.
#[test]
fn a_saved_view_is_a_1080p_slide_of_the_view_on_screen() {
    if !wgpu_available() {
        return;
    }
    let dir = scratch("save-view");
    let options = options(model_file(&dir));
    let mut h = Harness::builder()
        .with_size([1280.0, 720.0])
        .wgpu()
        .build_eframe(move |cc| RnaLensApp::new(cc, options));
    wait_idle(&mut h);
    h.state_mut().settings_mut().attack.steps = 3;
    h.state_mut().apply(Action::RunAttack);
    wait_idle(&mut h);
    let path = dir.join("view.png");
    h.state_mut().save_view(path.clone());
    for _ in 0..10 {
        h.step();
    }
    assert_eq!(
        h.state().message(),
        Some(format!("Saved {}", path.display()).as_str())
    );
    let slide = image::open(&path).unwrap().to_rgba8();
    assert_eq!(slide.dimensions(), (1920, 1080));
    // The view (narrower than 16:9, so it fills the height) has the clean image in its upper
    // left: many colours there, where the letterbox bands beside it are one colour.
    let colours = |y0: u32, y1: u32| {
        let mut seen = std::collections::HashSet::new();
        for y in y0..y1 {
            for x in 0..1920 {
                seen.insert(slide.get_pixel(x, y).0);
            }
        }
        seen.len()
    };
    assert!(
        colours(200, 400) > 100,
        "the view's images are in the slide"
    );
    let panel = egui::Visuals::dark().panel_fill.to_array();
    for (x, y) in [(0, 540), (1919, 540)] {
        assert_eq!(
            slide.get_pixel(x, y).0,
            panel,
            "letterboxed on the panel colour"
        );
    }
}

/// The app's "Save replay animation…" writes one frame per step whose last frame shows exactly
/// the adversarial PNG it saves, as the CLI's `--replay` does.
#[test]
fn the_replay_exported_from_the_app_has_a_frame_per_step_ending_on_the_adversarial_png() {
    let (dir, mut h) = ready("app-replay");
    h.state_mut().settings_mut().attack.steps = 4;
    h.state_mut().apply(Action::SelectSample(2));
    h.state_mut().apply(Action::RunAttack);
    wait_idle(&mut h);
    let (animation, adversarial) = (dir.join("replay.png"), dir.join("adversarial.png"));
    h.state().save(Export::Replay, &animation).unwrap();
    h.state().save(Export::Adversarial, &adversarial).unwrap();
    let frames = common::animation_frames(&animation);
    assert_eq!(
        frames.len(),
        h.state().session().attack.as_ref().unwrap().trace.len()
    );
    let adversarial = image::open(&adversarial).unwrap().to_rgb8();
    assert_eq!(
        common::adversarial_panel(frames.last().unwrap()),
        adversarial
    );
    let gif = dir.join("replay.gif");
    h.state().save(Export::Replay, &gif).unwrap();
    assert_eq!(common::animation_frames(&gif).len(), frames.len());
}

/// `gui --zoom 1.5 --high-contrast --no-side-panels`: a class's settings, over the stored ones.
#[test]
fn presentation_options_from_the_command_line_apply_over_the_stored_settings() {
    let dir = scratch("presentation-options");
    let mut opts = options(model_file(&dir));
    opts.zoom = Some(1.5);
    opts.high_contrast = true;
    opts.no_side_panels = true;
    let mut h = harness(opts);
    wait_idle(&mut h);
    let presentation = h.state_mut().settings_mut().presentation.clone();
    assert_eq!(presentation.zoom, 1.5);
    assert_eq!(h.ctx.zoom_factor(), 1.5);
    assert!(presentation.high_contrast && !presentation.side_panels);
    assert!(
        h.query_by_label("Paper protocol").is_none(),
        "the attack panel is hidden"
    );
    h.key_press(egui::Key::F9);
    h.step();
    h.step();
    h.get_by_label("Paper protocol");
}

/// The Layers view draws the attack's travel through the random layers and says in a sentence
/// what it shows, computed from the same numbers.
#[test]
fn the_layers_view_shows_how_the_last_attack_travels() {
    let (_, mut h) = ready("layers");
    h.state_mut().settings_mut().attack.steps = 3;
    h.state_mut().apply(Action::SelectSample(1));
    h.state_mut().apply(Action::RunAttack);
    wait_idle(&mut h);
    h.state_mut().settings_mut().view = Tab::Layers;
    h.step();
    h.step();
    let travel = h.state().session().attack.as_ref().unwrap().travel.clone();
    assert_eq!(
        travel.len(),
        4,
        "attacker, defender, and one uniform path per candidate"
    );
    h.get_by_label(&rna_lens::propagation::travel_sentence(&travel).unwrap());
    // The legend tells the two reference paths apart: one dashed, one dotted.
    for (path, glyph) in travel.iter().zip(["—", "—", "- -", "···"]) {
        h.get_by_label(&format!("{glyph} {}", path.name));
    }
}
