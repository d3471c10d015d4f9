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
    /// The central view as it is on screen, fitted into a 1920×1080 slide.
    View,
}

impl Export {
    fn file_name(self) -> (&'static str, &'static [&'static str]) {
        match self {
            Export::Adversarial => ("adversarial.png", &["png"]),
            Export::Heatmap { .. } => ("heatmap.png", &["png"]),
            Export::Report => ("report.json", &["json"]),
            Export::Replay => ("replay.gif", &["gif", "png"]),
            Export::View => ("view.png", &["png"]),
        }
    }
}

/// The size of a saved view: a 1080p slide.
pub const SLIDE: [u32; 2] = [1920, 1080];

/// The part `crop` (in physical pixels) of a window screenshot, scaled to fit a [`SLIDE`] and
/// centred on `background`, so a view saved from any window size drops into a slide as is.
pub fn fit_to_slide(
    screenshot: &egui::ColorImage,
    crop: egui::Rect,
    background: egui::Color32,
) -> Result<image::RgbaImage, String> {
    let [w, h] = screenshot.size;
    let bytes: Vec<u8> = screenshot
        .pixels
        .iter()
        .flat_map(|c| c.to_array())
        .collect();
    let window = image::RgbaImage::from_raw(w as u32, h as u32, bytes)
        .ok_or_else(|| "bad screenshot buffer".to_string())?;
    let x0 = (crop.min.x.max(0.0).round() as u32).min(w as u32);
    let y0 = (crop.min.y.max(0.0).round() as u32).min(h as u32);
    let x1 = (crop.max.x.round() as u32).clamp(x0, w as u32);
    let y1 = (crop.max.y.round() as u32).clamp(y0, h as u32);
    if x1 == x0 || y1 == y0 {
        return Err("the view has no area on screen".into());
    }
    let view = image::imageops::crop_imm(&window, x0, y0, x1 - x0, y1 - y0).to_image();
    let [sw, sh] = SLIDE;
    let scale = f64::min(
        sw as f64 / view.width() as f64,
        sh as f64 / view.height() as f64,
    );
    let fw = ((view.width() as f64 * scale).round() as u32).clamp(1, sw);
    let fh = ((view.height() as f64 * scale).round() as u32).clamp(1, sh);
    let fitted = image::imageops::resize(&view, fw, fh, image::imageops::FilterType::Lanczos3);
    let mut slide = image::RgbaImage::from_pixel(sw, sh, image::Rgba(background.to_array()));
    image::imageops::overlay(
        &mut slide,
        &fitted,
        i64::from((sw - fw) / 2),
        i64::from((sh - fh) / 2),
    );
    Ok(slide)
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
            Export::View => Err("a view is saved from the window's screenshot".into()),
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
        if self.session.attack.is_none() && what != Export::View {
            return;
        }
        let (name, extensions) = what.file_name();
        if let Some(path) = save_dialog(name, extensions) {
            if what == Export::View {
                return self.save_view(path);
            }
            match self.save(what, &path) {
                Ok(()) => self.info(format!("Saved {}", path.display())),
                Err(e) => self.error(format!("{}: {e}", path.display())),
            }
        }
    }

    /// Saves the central view at [`SLIDE`] size from the next frame's screenshot; the outcome
    /// arrives in the status bar (see [`Self::poll_view_save`]).
    pub fn save_view(&mut self, path: PathBuf) {
        let ppp = self.egui_ctx.pixels_per_point();
        let crop = egui::Rect::from_min_max(
            (self.view_rect.min.to_vec2() * ppp).to_pos2(),
            (self.view_rect.max.to_vec2() * ppp).to_pos2(),
        );
        let background = self.egui_ctx.global_style().visuals.panel_fill;
        let (tx, rx) = std::sync::mpsc::channel();
        self.view_save = Some(rx);
        let ctx = self.egui_ctx.clone();
        self.egui_ctx.request_screenshot(move |screenshot| {
            let saved = fit_to_slide(&screenshot, crop, background)
                .and_then(|slide| {
                    write_png(&image::DynamicImage::ImageRgba8(slide), &path)
                        .map_err(|e| e.to_string())
                })
                .map(|()| path.clone())
                .map_err(|e| format!("{}: {e}", path.display()));
            let _ = tx.send(saved);
            // An idle window draws no next frame by itself: wake it to say it is saved.
            ctx.request_repaint();
        });
    }

    /// Reports a view saved by [`Self::save_view`]; `Some` once it is written (or failed).
    pub fn poll_view_save(&mut self) -> Option<Result<PathBuf, String>> {
        let outcome = self.view_save.as_ref()?.try_recv().ok()?;
        self.view_save = None;
        match &outcome {
            Ok(path) => self.info(format!("Saved {}", path.display())),
            Err(e) => self.error(e.clone()),
        }
        Some(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_view_is_cropped_scaled_to_fit_a_slide_and_centred() {
        // A 400×300 window whose view is the 200×100 block at (100, 50), red on green.
        let (w, h) = (400, 300);
        let mut screenshot = egui::ColorImage::filled([w, h], egui::Color32::GREEN);
        for y in 50..150 {
            for x in 100..300 {
                screenshot.pixels[y * w + x] = egui::Color32::RED;
            }
        }
        let crop = egui::Rect::from_min_max(egui::pos2(100.0, 50.0), egui::pos2(300.0, 150.0));
        let slide = fit_to_slide(&screenshot, crop, egui::Color32::BLUE).unwrap();
        assert_eq!(slide.dimensions(), (1920, 1080));
        // 200×100 scales by 9.6 to 1920×960: blue bands of 60 rows above and below.
        let near = |x: u32, y: u32, want: [u8; 4]| {
            let got = slide.get_pixel(x, y).0;
            let close = got.iter().zip(want).all(|(g, w)| g.abs_diff(w) <= 1);
            assert!(close, "({x}, {y}): {got:?}, want {want:?}");
        };
        near(960, 540, [255, 0, 0, 255]);
        near(5, 65, [255, 0, 0, 255]);
        near(1914, 1014, [255, 0, 0, 255]);
        near(960, 30, [0, 0, 255, 255]);
        near(960, 1050, [0, 0, 255, 255]);
        let empty = egui::Rect::from_min_max(egui::pos2(500.0, 0.0), egui::pos2(600.0, 10.0));
        assert!(fit_to_slide(&screenshot, empty, egui::Color32::BLUE).is_err());
    }
}
