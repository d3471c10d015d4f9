//! What the user is looking at: the model, the image, and the results computed for them. Panels
//! read it and ask for changes through [`Action`]s; only the app applies them.

use std::path::PathBuf;

use crate::attack::image::ImageAttack;
use crate::attack::transfer::TransferMatrix;
use crate::data::preprocess::UserImage;
use crate::model::Path;

use super::worker::{Comparison, EnsembleResult, ModelInfo, ModelSource};

/// The image under attack: the original as loaded and the model input made from it.
pub struct CurrentImage {
    pub name: String,
    /// Where it came from, for reports; `None` for gallery images shown by name.
    pub path: Option<PathBuf>,
    pub original: image::RgbImage,
    /// Planar `[3, 32, 32]` 8-bit model input.
    pub input: Vec<u8>,
    /// The true label when known (gallery images carry it in their file name).
    pub label: Option<usize>,
}

impl CurrentImage {
    pub fn new(
        name: String,
        path: Option<PathBuf>,
        image: UserImage,
        label: Option<usize>,
    ) -> Self {
        Self {
            name,
            path,
            original: image.original,
            input: image.input,
            label,
        }
    }
}

/// An attack result with every iterate, for replay.
pub struct AttackRun {
    pub result: ImageAttack,
    /// 8-bit planar image of each trace entry, the last one being the result.
    pub iterates: Vec<Vec<u8>>,
}

#[derive(Default)]
pub struct Session {
    pub model: Option<ModelInfo>,
    pub image: Option<CurrentImage>,
    pub attack: Option<AttackRun>,
    pub ensemble: Option<EnsembleResult>,
    pub transfer: Option<TransferMatrix>,
    pub comparison: Option<Comparison>,
}

impl Session {
    /// Results belong to one model and one image; a new one of either clears them.
    pub fn clear_results(&mut self) {
        self.attack = None;
        self.ensemble = None;
        self.transfer = None;
        self.comparison = None;
    }

    /// The true label the attack should use: the image's own, else the ensemble's vote.
    pub fn label(&self) -> Option<usize> {
        self.image.as_ref().and_then(|i| i.label)
    }
}

/// Requests from panels, applied by the app after drawing.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    LoadModel(ModelSource),
    OpenModelDialog,
    LoadImage(PathBuf),
    OpenImageDialog,
    SelectSample(usize),
    RunAttack,
    Cancel,
    QueryEnsemble,
    RunTransfer,
    RunCompare,
    /// Show this path in the path view.
    ShowPath(Path),
    ExportAdversarial,
    ExportHeatmap,
    ExportReport,
}
