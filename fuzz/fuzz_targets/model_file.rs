//! Any bytes as an rna-lens model file, and byte edits of a valid one: a model whose outputs
//! are finite, or an error.
#![no_main]

use std::sync::LazyLock;

use burn::tensor::Device;
use libfuzzer_sys::fuzz_target;
use rna_lens::model::file::{from_bytes, to_bytes};

#[path = "common.rs"]
mod common;

static TEMPLATE: LazyLock<Vec<u8>> = LazyLock::new(|| to_bytes(&common::tiny_model()));

fuzz_target!(|data: &[u8]| {
    for bytes in [data.to_vec(), common::edited(&TEMPLATE, data)] {
        if let Ok(model) = from_bytes(&bytes, &Device::flex()) {
            common::check_loaded(&model);
        }
    }
});
