//! Interchange with the PyTorch ecosystem: the official RNA checkpoints open as they are.

pub mod pytorch;

use burn::tensor::Device;

use crate::model::{ModelError, RnaModel, file};

/// Opens a model the way every front end does: a PyTorch checkpoint (`.pth`, `.pt`) through
/// [`pytorch::import`], anything else as an rna-lens model file.
pub fn open_model(path: &std::path::Path, device: &Device) -> Result<RnaModel, ModelError> {
    let is_torch = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "pth" | "pt"));
    if is_torch {
        pytorch::import(path, &pytorch::ImportOptions::default(), device)
    } else {
        file::load(path, device)
    }
}
