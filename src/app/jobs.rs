//! Starting work: each job reads the session and the settings, and hands its task to the slot
//! that will hold the result.

use super::RnaLensApp;
use super::settings::Tab;
use super::view::JobContext;

impl RnaLensApp {
    pub(super) fn run_attack(&mut self) {
        let (Some(image), Some(model)) = (&self.session.image, &self.session.model) else {
            return;
        };
        if self.worker.busy() {
            return;
        }
        if let Err(e) = self
            .settings
            .attack
            .validate(model.config.class_names.len())
        {
            self.error(e);
            return;
        }
        let task = self.worker.attack(
            image.input.clone(),
            self.session.label(),
            self.settings.attack.clone(),
            self.settings.ensemble_paths,
        );
        self.session.pending.attack = Some(task);
    }

    pub(super) fn query_ensemble(&mut self, paths: usize) {
        if let Some(image) = &self.session.image {
            let task = self.worker.ensemble(
                image.input.clone(),
                self.session.attack.as_ref().map(|a| a.adversarial.clone()),
                paths,
                self.settings.attack.seed,
            );
            self.session.pending.ensemble = Some(task);
        }
    }

    /// The work of a view that owns its result.
    pub(super) fn start_view(&mut self, tab: Tab) {
        let cx = JobContext {
            session: &self.session,
            attack: &self.settings.attack,
            ensemble_paths: self.settings.ensemble_paths,
            worker: &self.worker,
        };
        if let Err(e) = self.views.get(tab).start(&cx) {
            self.error(e);
        }
    }
}
