//! The current image: gallery samples, and images the user brings (files and dropped bytes,
//! decoded off the UI thread: large photos take a while, and the compute thread may be busy
//! with an attack). A new image clears every result.

use std::path::PathBuf;
use std::sync::mpsc::channel;

use crate::data::preprocess::{decode_image, load_image};

use super::RnaLensApp;
use super::session::{Action, CurrentImage};

impl RnaLensApp {
    pub(super) fn load_image_file(&mut self, path: PathBuf) {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.load_image_async(name, Ok(path));
    }

    pub(super) fn set_image(&mut self, image: CurrentImage) {
        self.session.image = Some(image);
        self.clear_results();
        self.message = None;
    }

    /// Every result belongs to one model and one image: a new one of either clears them all,
    /// with the work still computing for them.
    pub(super) fn clear_results(&mut self) {
        self.session.clear_results();
        self.views.for_each(|v| {
            v.forget_results();
            v.results_changed();
        });
    }

    /// Decodes an image file (or dropped bytes) on a short-lived thread: large photos take
    /// a while, and the model's worker may be busy with an attack.
    pub(super) fn load_image_async(&mut self, name: String, source: Result<PathBuf, Vec<u8>>) {
        let (tx, rx) = channel();
        let ctx = self.egui_ctx.clone();
        std::thread::spawn(move || {
            let loaded = match &source {
                Ok(path) => load_image(path).map_err(|e| format!("{}: {e}", path.display())),
                Err(bytes) => decode_image(bytes).map_err(|e| format!("{name}: {e}")),
            };
            let image = loaded.map(|image| CurrentImage::new(name, source.ok(), image, None));
            let _ = tx.send(image);
            ctx.request_repaint();
        });
        self.loading_image = Some(rx);
    }

    pub(super) fn poll_image(&mut self) {
        let Some(rx) = &self.loading_image else {
            return;
        };
        match rx.try_recv() {
            Ok(Ok(image)) => {
                self.loading_image = None;
                self.set_image(image);
            }
            Ok(Err(e)) => {
                self.loading_image = None;
                self.error(format!("{e} — the current image stays"));
            }
            Err(std::sync::mpsc::TryRecvError::Empty) => {}
            Err(std::sync::mpsc::TryRecvError::Disconnected) => self.loading_image = None,
        }
    }

    pub(super) fn handle_dropped_files(&mut self, ctx: &egui::Context) {
        let dropped = ctx.input(|i| i.raw.dropped_files.clone());
        if let Some(file) = dropped.into_iter().next() {
            let path = file.path().to_path_buf();
            if path.is_file() {
                self.apply(Action::LoadImage(path));
            } else {
                let name = "dropped image".to_string();
                match file.bytes() {
                    Ok(bytes) => self.load_image_async(name, Err(bytes)),
                    Err(e) => self.error(format!("{name}: {e} — the current image stays")),
                }
            }
        }
    }
}
