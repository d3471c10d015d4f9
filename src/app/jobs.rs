//! Starting work: each job reads the session and the settings, and hands its task to the slot
//! that will hold the result.

use crate::budget::CurveSetup;

use super::RnaLensApp;

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

    pub(super) fn run_transfer(&mut self, k: usize) {
        let (Some(image), Some(model)) = (&self.session.image, &self.session.model) else {
            return;
        };
        let Some(label) = self.session.truth() else {
            self.error("The transfer matrix needs the true label: pick a gallery image or run an attack first");
            return;
        };
        let paths =
            crate::attack::transfer::transfer_paths(&model.space, k, self.settings.attack.seed);
        let task = self.worker.transfer(
            image.input.clone(),
            label,
            paths,
            self.settings.attack.clone(),
        );
        self.session.pending.transfer = Some(task);
    }

    pub(super) fn run_compare(&mut self, eot_paths: usize, query_paths: usize) {
        if let Some(image) = &self.session.image {
            let task = self.worker.compare(
                image.input.clone(),
                self.session.label(),
                self.settings.attack.clone(),
                eot_paths,
                query_paths,
            );
            self.session.pending.comparison = Some(task);
        }
    }

    pub(super) fn run_curve(&mut self, eot_paths: usize, judging_paths: usize) {
        let Some(image) = &self.session.image else {
            return;
        };
        // The image's true label, else the one the last attack judged by (the ensemble's vote).
        let label = match (self.session.label(), &self.session.attack) {
            (Some(truth), _) => (truth, true),
            (None, Some(attack)) => (attack.label, attack.label_given),
            (None, None) => {
                self.error("The ε curve needs a label: pick a gallery image, or run an attack first (it uses the ensemble's vote)");
                return;
            }
        };
        let setup = CurveSetup::official_and_eot(
            eot_paths,
            judging_paths,
            label,
            self.settings.attack.seed,
        );
        self.session.curve = None;
        self.session.pending.curve = Some(self.worker.budget_curve(image.input.clone(), setup));
    }
}
