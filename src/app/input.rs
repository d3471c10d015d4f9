//! What reaches the app from outside its views: the keyboard, file dialogs and the renderer's
//! errors.

use std::path::PathBuf;

use egui::Key;

use super::RnaLensApp;
use super::heatmap;
use super::session::Action;

impl RnaLensApp {
    pub(super) fn handle_keys(&mut self, ctx: &egui::Context) {
        if ctx.egui_wants_keyboard_input() {
            return;
        }
        let (space, escape, r) = ctx.input(|i| {
            (
                i.key_pressed(Key::Space),
                i.key_pressed(Key::Escape),
                i.key_pressed(Key::R),
            )
        });
        if space {
            self.apply(Action::RunAttack);
        }
        if escape {
            self.apply(Action::Cancel);
        }
        if r && let Some(model) = &self.session.model {
            let space = model.space.clone();
            self.views.paths.resample(&space);
        }
    }

    /// Heatmap failures happen inside the renderer, every frame; each distinct one is shown
    /// once in the status bar.
    pub(super) fn show_renderer_errors(&mut self, frame: &eframe::Frame) {
        let Some(render_state) = frame.wgpu_render_state() else {
            return;
        };
        let errors = render_state
            .renderer
            .write()
            .callback_resources
            .get_mut::<heatmap::HeatmapPipeline>()
            .map(|p| p.take_errors())
            .unwrap_or_default();
        if let Some(last) = errors.into_iter().last() {
            self.error(last);
        }
    }
}

/// The model files the app opens: ours, and the official release's PyTorch checkpoints.
pub(super) fn pick_model_file() -> Option<PathBuf> {
    rfd::FileDialog::new()
        .add_filter("model", &["safetensors", "pth", "pt"])
        .pick_file()
}

pub(super) fn pick_image_file() -> Option<PathBuf> {
    rfd::FileDialog::new()
        .add_filter(
            "image",
            &["png", "jpg", "jpeg", "webp", "bmp", "gif", "tif", "tiff"],
        )
        .pick_file()
}
