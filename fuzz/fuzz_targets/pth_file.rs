//! Any bytes as a PyTorch checkpoint, and byte edits of a valid one: an imported model or an
//! error, and no code runs (burn's reader never executes pickled code).
#![no_main]

use std::path::PathBuf;
use std::sync::LazyLock;

use burn::tensor::Device;
use libfuzzer_sys::fuzz_target;
use rna_lens::interop::pytorch::{ImportOptions, export, import};

#[path = "common.rs"]
mod common;

/// The reader takes a path: one scratch file per fuzzing process.
static SCRATCH: LazyLock<PathBuf> = LazyLock::new(|| {
    std::env::temp_dir().join(format!("rna-lens-fuzz-{}.pth", std::process::id()))
});

static TEMPLATE: LazyLock<Vec<u8>> = LazyLock::new(|| {
    export(&common::tiny_model(), &SCRATCH, "module.").expect("export");
    std::fs::read(&*SCRATCH).expect("read back")
});

fuzz_target!(|data: &[u8]| {
    for bytes in [data.to_vec(), common::edited(&TEMPLATE, data)] {
        std::fs::write(&*SCRATCH, &bytes).expect("scratch file");
        if let Ok(model) = import(&SCRATCH, &ImportOptions::default(), &Device::flex()) {
            common::check_loaded(&model);
        }
    }
});
