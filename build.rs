//! Link settings for the `rna-lens` binary.

use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Identical code folding: generic code instantiated alike in many crates is kept once
/// (measured: the stripped release binary went from 119.5 MB to 110.2 MB with rust-lld).
/// `--icf=safe` folds nothing, as rustc emits no address-significance tables.
const FOLD: &str = "-Wl,--icf=all";

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    // Debug builds keep their links fast.
    if std::env::var("PROFILE").is_ok_and(|p| p == "release") && linker_takes(FOLD) {
        println!("cargo::rustc-link-arg-bins={FOLD}");
    }
}

/// Whether this build's linker accepts `flag`: rust-lld does, GNU ld (which a distribution's
/// rustc or a configured linker may use) does not. Tried by linking an empty program with the
/// same rustc, target, rustflags and linker.
fn linker_takes(flag: &str) -> bool {
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let out = PathBuf::from(var("OUT_DIR"));
    let source = out.join("link_probe.rs");
    if std::fs::write(&source, "fn main() {}\n").is_err() {
        return false;
    }
    let mut rustc = Command::new(var("RUSTC"));
    rustc
        .arg(&source)
        .arg("--target")
        .arg(var("TARGET"))
        .arg("-o")
        .arg(out.join("link_probe"))
        .arg(format!("-Clink-arg={flag}"));
    let flags = var("CARGO_ENCODED_RUSTFLAGS");
    rustc.args(flags.split('\x1f').filter(|f| !f.is_empty()));
    if let Ok(linker) = std::env::var("RUSTC_LINKER") {
        rustc.arg(format!("-Clinker={linker}"));
    }
    rustc
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
