//! The binary on its own, as `cargo install` or a packager leaves it: copied out of the checkout
//! and run from an empty directory, it opens the app and predicts on what it carries inside.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A copy of the built binary in a folder of its own (no `assets/` beside it), and an empty
/// working directory that also serves as `HOME`, so no stored settings are read or written.
struct LoneBinary {
    root: PathBuf,
    bin: PathBuf,
    work: PathBuf,
}

impl LoneBinary {
    fn new(name: &str) -> Self {
        let root =
            std::env::temp_dir().join(format!("rna-lens-lone-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let (bin_dir, work) = (root.join("bin"), root.join("work"));
        std::fs::create_dir_all(&bin_dir).unwrap();
        std::fs::create_dir_all(&work).unwrap();
        let bin = bin_dir.join("rna-lens");
        // A hard link where the file system allows: a fresh copy can be briefly "busy" to exec
        // while another test thread forks with the copy's write handle open.
        let built = env!("CARGO_BIN_EXE_rna-lens");
        if std::fs::hard_link(built, &bin).is_err() {
            std::fs::copy(built, &bin).unwrap();
        }
        Self { root, bin, work }
    }

    fn command(&self, program: &Path) -> Command {
        let mut command = Command::new(program);
        command
            .current_dir(&self.work)
            .env("HOME", &self.work)
            .env_remove("XDG_DATA_HOME")
            .env_remove("XDG_CONFIG_HOME");
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        output(self.command(&self.bin).args(args))
    }
}

impl Drop for LoneBinary {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Runs the command, retrying while the copied executable is still busy (see `LoneBinary::new`).
fn output(command: &mut Command) -> Output {
    for _ in 0..50 {
        match command.output() {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy => {
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            result => return result.unwrap(),
        }
    }
    panic!("the copied binary stayed busy")
}

fn succeeded(out: &Output) -> (String, String) {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "failed: {stderr}");
    (String::from_utf8(out.stdout.clone()).unwrap(), stderr)
}

#[test]
fn a_copied_binary_predicts_on_its_embedded_gallery_without_naming_a_model() {
    let lone = LoneBinary::new("predict");
    let out = lone.run(&[
        "predict", "--sample", "0", "--paths", "16", "--device", "cpu", "--json",
    ]);
    let (stdout, stderr) = succeeded(&out);
    assert!(
        stderr.contains("model: ") && stderr.contains("built into the binary"),
        "the default model is announced: {stderr}"
    );
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["image"], "cifar10_00_3.png");
    assert_eq!(report["trained"], true);
    assert_eq!(report["paths"].as_array().unwrap().len(), 16);
    // The sample's label travels with it: the share of correct paths is reported.
    assert!(
        report["summary"]["p_correct"]["value"].is_number(),
        "{report}"
    );
    assert!(
        std::fs::read_dir(&lone.work).unwrap().next().is_none(),
        "predict leaves the working directory as it found it"
    );
}

#[test]
fn a_copied_binary_refuses_an_unknown_sample_in_one_line() {
    let lone = LoneBinary::new("bad-sample");
    let out = lone.run(&["predict", "--sample", "99", "--device", "cpu"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    assert!(
        lines[0].starts_with("error: no gallery sample 99"),
        "{stderr}"
    );
}

#[test]
fn a_model_file_beside_the_binary_replaces_the_embedded_one() {
    let lone = LoneBinary::new("override");
    let models = lone.bin.parent().unwrap().join("assets/models");
    std::fs::create_dir_all(&models).unwrap();
    // The BatchNorm twin under the default model's name: `info` must describe the twin.
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let replacement = models.join("rna-resnet20.safetensors");
    std::fs::copy(
        manifest.join("assets/models/bn-resnet20.safetensors"),
        &replacement,
    )
    .unwrap();
    let (stdout, stderr) = succeeded(&lone.run(&["info", "--device", "cpu", "--json"]));
    assert!(
        stderr.contains(replacement.to_str().unwrap()),
        "the replacement is named: {stderr}"
    );
    let info: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(info["candidates"], serde_json::json!(["bn"]), "{info}");
}

/// The real window under a virtual X server; CI installs xvfb beside lavapipe, so where the
/// software Vulkan driver is required this test must run, not skip.
#[cfg(feature = "gui")]
#[test]
fn a_copied_binary_opens_the_app_on_its_embedded_model_and_gallery() {
    let xvfb = Path::new("/usr/bin/xvfb-run");
    if !xvfb.is_file() {
        assert!(
            std::env::var_os("RNA_LENS_REQUIRE_WGPU").is_none(),
            "xvfb-run is missing although the wgpu tests are required to run"
        );
        eprintln!("skipped: no xvfb-run");
        return;
    }
    let lone = LoneBinary::new("gui");
    let shot = lone.root.join("shot.png");
    let mut command = lone.command(xvfb);
    command
        .args(["-a", "-s", "-screen 0 1280x720x24"])
        .arg(&lone.bin)
        .args([
            "gui",
            "--fresh-settings",
            "--device",
            "cpu",
            "--exit",
            "--screenshot",
        ])
        .arg(&shot);
    let out = output(&mut command);
    // A scripted run whose model fails to load exits non-zero, so success means the embedded
    // model opened.
    succeeded(&out);
    let image = image::open(&shot).unwrap().into_rgb8();
    assert!(image.width() >= 640 && image.height() >= 480);
    // The interface is grey; colour comes from the picked image and the gallery thumbnails.
    let colourful = image
        .pixels()
        .filter(|p| p.0.iter().max().unwrap() - p.0.iter().min().unwrap() > 40)
        .count();
    assert!(
        colourful * 100 > 3 * image.pixels().len() / 2,
        "the embedded image and gallery are on screen: {colourful} colourful pixels"
    );
}
