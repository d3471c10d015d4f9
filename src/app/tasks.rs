//! Results coming back: each slot's finished task is taken in, and a model that failed to load
//! gives way to the shipped one.

use super::RnaLensApp;
use super::script::Script;
use super::worker::{ModelInfo, ModelSource, finished};

impl RnaLensApp {
    /// Takes in whatever the slots' tasks have finished.
    pub(super) fn poll_tasks(&mut self) {
        // A new model clears every result; what the other slots finished belonged to the old one.
        if let Some(result) = finished(&mut self.session.pending.model) {
            return self.model_loaded(result);
        }
        let pending = &mut self.session.pending;
        let attack = finished(&mut pending.attack);
        let ensemble = finished(&mut pending.ensemble);
        match attack {
            Some(Ok(run)) => {
                if run.cancelled {
                    self.info("Attack cancelled");
                }
                // The ensemble view's adversarial side belonged to the previous attack.
                self.session.ensemble = None;
                self.session.attack = Some(run);
                self.views.for_each(|v| v.results_changed());
            }
            Some(Err(e)) => self.error(format!("Attack failed: {e}")),
            None => {}
        }
        match ensemble {
            Some(Ok(result)) => {
                let current = self.session.image.as_ref().map(|i| &i.input);
                if current == Some(&result.clean_input) {
                    self.session.ensemble = Some(result);
                }
            }
            Some(Err(e)) => self.error(format!("Ensemble query failed: {e}")),
            None => {}
        }
        // A view's notice replaces the message, as the app's own do.
        let mut notices = Vec::new();
        self.views.for_each(|v| notices.extend(v.poll()));
        if let Some(last) = notices.pop() {
            self.message = Some(last);
        }
    }

    fn model_loaded(&mut self, result: Result<ModelInfo, String>) {
        match result {
            Ok(info) => {
                if let Some(path) = &self.settings.attack.path
                    && info.space.parse(path).is_err()
                {
                    self.settings.attack.path = None;
                }
                if let Some(remembered) = info.source.remembered() {
                    self.settings.model = Some(remembered);
                }
                if self
                    .settings
                    .attack
                    .target
                    .is_some_and(|t| t >= info.config.class_names.len())
                {
                    self.settings.attack.target = None;
                }
                self.views.for_each(|v| v.model_changed(&info.space));
                self.info(format!("Loaded {}", info.source.describe()));
                self.session.model = Some(info);
                self.clear_results();
            }
            Err(e) => {
                let keep = if self.session.model.is_some() {
                    " — the current model stays"
                } else {
                    ""
                };
                self.error(format!("Cannot load the model: {e}{keep}"));
                if self.session.model.is_none() {
                    self.recover_without_model(e);
                }
            }
        }
    }

    /// The first model failed to load. A remembered model that broke gives way to the shipped
    /// one; a model named on the command line is an error for scripted runs.
    fn recover_without_model(&mut self, error: String) {
        if self.options.model.is_none() && self.settings.model.take().is_some() {
            self.session.pending.model = Some(
                self.worker
                    .load_model(ModelSource::Shipped(crate::assets::default_model())),
            );
        } else if self.scripted() {
            *self
                .options
                .failure
                .lock()
                .unwrap_or_else(|p| p.into_inner()) =
                Some(format!("cannot load the model: {error}"));
            self.egui_ctx
                .send_viewport_cmd(egui::ViewportCommand::Close);
            self.script = Script::Done;
        }
    }
}
