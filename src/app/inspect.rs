//! What tests and scripts read of the app, and the knobs they turn as a user would.

use super::RnaLensApp;
use super::path_view::PathView;
use super::session::Session;
use super::settings::Settings;
use super::view::{Notice, Views};
use super::worker::Live;

impl RnaLensApp {
    pub fn session(&self) -> &Session {
        &self.session
    }

    pub fn settings_mut(&mut self) -> &mut Settings {
        &mut self.settings
    }

    /// Whether anything is computing or loading.
    pub fn is_busy(&self) -> bool {
        self.worker.busy() || self.loading_image.is_some()
    }

    /// The message shown to the user, if any.
    pub fn message(&self) -> Option<&str> {
        self.message.as_ref().map(Notice::text)
    }

    /// The running job's progress, as the views draw it.
    pub fn live(&self) -> &Live {
        &self.live
    }

    pub fn path_view(&self) -> &PathView {
        &self.views.paths
    }

    /// The central views, with their knobs and the results they own (for tests and scripts).
    pub fn views(&self) -> &Views {
        &self.views
    }

    pub fn views_mut(&mut self) -> &mut Views {
        &mut self.views
    }
}
