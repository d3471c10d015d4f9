//! Link settings for the `rna-lens` binary.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    // Identical code folding: generic code instantiated alike in many crates is kept once
    // (measured: the stripped release binary went from 119.5 MB to 110.2 MB). rust-lld, rustc's
    // default linker on this target since Rust 1.90, does it; `--icf=safe` folds nothing, as
    // rustc emits no address-significance tables. Skipped where the build chose its own linker,
    // which may not know the flag, and for debug builds, whose links stay fast.
    let target = std::env::var("TARGET").unwrap_or_default();
    let release = std::env::var("PROFILE").is_ok_and(|p| p == "release");
    let flags = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    // Cargo names a configured linker in RUSTC_LINKER; rustflags can choose one too.
    let own_linker = std::env::var_os("RUSTC_LINKER").is_some()
        || flags.contains("linker")
        || flags.contains("link-self-contained");
    if target == "x86_64-unknown-linux-gnu" && release && !own_linker {
        println!("cargo::rustc-link-arg-bins=-Wl,--icf=all");
    }
}
