//! Saving what the app shows: the adversarial image, the heatmap of the replay step on screen,
//! the attack report (the CLI's `report.json`) and window screenshots. Each export is one
//! function from the session to a file; the app only asks the user where.

use std::path::{Path, PathBuf};

use crate::attack::image::{AttackReport, ImageAttack, ReportContext, delta_between};
use crate::colormap::{self, HeatmapParams};
use crate::data::preprocess::{save_png, write_png};

use super::RnaLensApp;
use super::session::CurrentImage;
use super::worker::ModelInfo;

/// What can be saved from the Attack view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Export {
    Adversarial,
    /// The heatmap of this replay step.
    Heatmap {
        step: usize,
    },
    Report,
    /// The replay as an animation for slides (GIF, or animated PNG).
    Replay,
}

impl Export {
    fn file_name(self) -> (&'static str, &'static [&'static str]) {
        match self {
            Export::Adversarial => ("adversarial.png", &["png"]),
            Export::Heatmap { .. } => ("heatmap.png", &["png"]),
            Export::Report => ("report.json", &["json"]),
            Export::Replay => ("replay.gif", &["gif", "png"]),
        }
    }
}

/// Pixels per input pixel in the saved heatmap (32×32 → 256×256).
const HEATMAP_SCALE: usize = 8;

/// Writes the heatmap of replay step `step` (the final result past the last step) as the Attack
/// view draws it.
pub fn save_heatmap(
    run: &ImageAttack,
    step: usize,
    params: &HeatmapParams,
    path: &Path,
) -> Result<(), String> {
    let shown = run.iterates.get(step).unwrap_or(&run.adversarial);
    let delta = delta_between(shown, &run.clean);
    let rgba = colormap::render_heatmap(&delta, &run.clean, 32, 32, HEATMAP_SCALE, params);
    let side = (32 * HEATMAP_SCALE) as u32;
    let image = image::RgbaImage::from_raw(side, side, rgba)
        .ok_or_else(|| "heatmap buffer has the wrong size".to_string())?;
    write_png(&image::DynamicImage::ImageRgba8(image), path).map_err(|e| e.to_string())
}

/// The CLI's `report.json` for an attack shown in the app.
pub fn report_of(run: &ImageAttack, model: &ModelInfo, image: &CurrentImage) -> AttackReport {
    let context = ReportContext {
        image: &image
            .path
            .as_ref()
            .map_or_else(|| image.name.clone(), |p| p.display().to_string()),
        model: &model.source.describe(),
        device: &model.device,
    };
    run.report(&model.config, &model.space, &context)
}

pub fn save_screenshot(image: &egui::ColorImage, path: &Path) -> Result<(), String> {
    let [w, h] = image.size;
    let bytes: Vec<u8> = image.pixels.iter().flat_map(|c| c.to_array()).collect();
    let image = image::RgbaImage::from_raw(w as u32, h as u32, bytes)
        .ok_or_else(|| "bad screenshot buffer".to_string())?;
    write_png(&image::DynamicImage::ImageRgba8(image), path).map_err(|e| e.to_string())
}

fn save_dialog(name: &str, extensions: &[&str]) -> Option<PathBuf> {
    extensions
        .iter()
        .fold(rfd::FileDialog::new().set_file_name(name), |dialog, e| {
            dialog.add_filter(*e, &[*e])
        })
        .save_file()
}

impl RnaLensApp {
    /// The report `rna-lens attack` writes, for the current result.
    pub fn report(&self) -> Option<AttackReport> {
        let run = self.session.attack.as_ref()?;
        let model = self.session.model.as_ref()?;
        let image = self.session.image.as_ref()?;
        Some(report_of(run, model, image))
    }

    /// Saves `what` to `path`; public so tests and scripts can export without a dialog.
    pub fn save(&self, what: Export, path: &Path) -> Result<(), String> {
        let run = self
            .session
            .attack
            .as_ref()
            .ok_or_else(|| "no attack to save".to_string())?;
        match what {
            Export::Adversarial => save_png(&run.adversarial, path).map_err(|e| e.to_string()),
            Export::Heatmap { step } => save_heatmap(run, step, &self.settings.heatmap, path),
            Export::Report => {
                let report = self.report().ok_or_else(|| "no report".to_string())?;
                let text = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
                crate::base::write_atomically(path, text.as_bytes()).map_err(|e| e.to_string())
            }
            Export::Replay => {
                let model = self.session.model.as_ref().ok_or("no model")?;
                let frames = crate::replay::replay_frames(
                    run,
                    &model.config.class_names,
                    &self.settings.heatmap,
                );
                crate::replay::write_replay(&frames, path)
            }
        }
    }

    /// Asks where, then saves, and says how it went.
    pub(super) fn export(&mut self, what: Export) {
        if self.session.attack.is_none() {
            return;
        }
        let (name, extensions) = what.file_name();
        if let Some(path) = save_dialog(name, extensions) {
            match self.save(what, &path) {
                Ok(()) => self.info(format!("Saved {}", path.display())),
                Err(e) => self.error(format!("{}: {e}", path.display())),
            }
        }
    }
}
