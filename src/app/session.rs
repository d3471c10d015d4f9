//! What the user is looking at: the model, the image, and the results computed for them. Panels
//! read it and ask for changes through [`Action`]s; only the app applies them.

use std::path::PathBuf;

use crate::attack::image::ImageAttack;
use crate::data::CIFAR10_CLASSES;
use crate::data::preprocess::UserImage;
use crate::model::Path;

use super::settings::Tab;
use super::worker::{EnsembleResult, ModelInfo, ModelSource, Task};

/// Longest side of the kept preview of a user's picture.
const PREVIEW_SIDE: u32 = 512;

/// The image under attack: a preview of the original and the model input made from it.
pub struct CurrentImage {
    pub name: String,
    /// Where it came from, for reports; `None` for gallery images shown by name.
    pub path: Option<PathBuf>,
    /// At most `PREVIEW_SIDE` pixels a side.
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
        // Only a preview of the original is kept: large photos exceed GPU texture limits.
        let original = if image.original.width().max(image.original.height()) > PREVIEW_SIDE {
            image::DynamicImage::ImageRgb8(image.original)
                .thumbnail(PREVIEW_SIDE, PREVIEW_SIDE)
                .into_rgb8()
        } else {
            image.original
        };
        Self {
            name,
            path,
            original,
            input: image.input,
            label,
        }
    }
}

/// The model, the image, and the results several views show (a result one view shows is that
/// view's own).
#[derive(Default)]
pub struct Session {
    pub model: Option<ModelInfo>,
    pub image: Option<CurrentImage>,
    pub attack: Option<ImageAttack>,
    pub ensemble: Option<EnsembleResult>,
    /// Work in flight for the slots above.
    pub(super) pending: Pending,
}

/// The task of each slot, while it computes. Clearing or replacing a slot drops its task, so a
/// result computed for another image or model can never arrive.
#[derive(Default)]
pub(super) struct Pending {
    pub model: Option<Task<ModelInfo>>,
    pub attack: Option<Task<ImageAttack>>,
    pub ensemble: Option<Task<EnsembleResult>>,
}

impl Session {
    /// Results belong to one model and one image; a new one of either clears them, with the
    /// work still computing for them.
    pub fn clear_results(&mut self) {
        self.attack = None;
        self.ensemble = None;
        let model = self.pending.model.take();
        self.pending = Pending {
            model,
            ..Pending::default()
        };
    }

    /// The image's known true label, if it means something to the loaded model: gallery labels
    /// are CIFAR-10 classes. Without one, attacks use the ensemble's vote.
    pub fn label(&self) -> Option<usize> {
        let model = self.model.as_ref()?;
        let names = &model.config.class_names;
        let cifar = names.iter().map(String::as_str).eq(CIFAR10_CLASSES);
        self.image
            .as_ref()
            .and_then(|i| i.label)
            .filter(|&l| cifar && l < names.len())
    }

    /// The label jobs that need one judge against: the image's own, else the one the last
    /// attack used (the ensemble's vote on the clean image).
    pub fn truth(&self) -> Option<usize> {
        self.label()
            .or_else(|| self.attack.as_ref().map(|a| a.label))
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
    QueryEnsemble {
        paths: usize,
    },
    /// Start the work of a view that owns its result ([`super::view::View::start`]).
    Run(Tab),
    /// Show this path in the path view.
    ShowPath(Path),
    Export(super::export::Export),
    /// Start the guided lesson, or resume it where it was left.
    StartLesson,
    GoToLessonStep(usize),
    LeaveLesson,
}
