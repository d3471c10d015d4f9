//! The central views behind one trait. Each view owns and persists its own knobs, reads the
//! session, and asks for work through [`Action`]s: no view reaches into another, and the app
//! talks to a view only through this trait and the view's own public methods. A result only one
//! view shows (the transfer matrix, the comparison, the ε curve) is that view's own: it starts
//! the work in [`View::start`] and keeps the task and the result in a [`Slot`](super::worker::Slot),
//! so adding such a computation is a view and one engine call.

use egui::Ui;
use serde::{Deserialize, Serialize};

use crate::attack::AttackConfig;
use crate::colormap::HeatmapParams;
use crate::model::PathSpace;

use super::compare_view::CompareView;
use super::curve_view::CurveView;
use super::ensemble_view::EnsembleView;
use super::layer_view::LayerView;
use super::path_view::PathView;
use super::result_view::ResultView;
use super::session::{Action, Session};
use super::settings::Tab;
use super::transfer_view::TransferView;
use super::widgets::Textures;
use super::worker::{Live, Worker};

/// What a view may read and change while it draws.
pub struct ViewContext<'a> {
    pub session: &'a Session,
    /// How heatmaps look, wherever they are drawn (the Attack and Compare views).
    pub heatmap: &'a mut HeatmapParams,
    /// The ensemble's size: the Ensemble view sets it, attacks report their ensemble with it.
    pub ensemble_paths: &'a mut usize,
    /// Heatmaps are drawn by the WGSL shader (else by the CPU colormap).
    pub gpu_heatmap: bool,
    /// The compute thread is working: Run buttons are disabled.
    pub busy: bool,
    /// Progress of the running job (partial results to draw while it computes).
    pub live: &'a Live,
    pub textures: &'a mut Textures,
    pub actions: &'a mut Vec<Action>,
}

/// What a view reads to start its own work.
pub struct JobContext<'a> {
    pub session: &'a Session,
    /// The Attack panel's settings, which every attack of every view uses.
    pub attack: &'a AttackConfig,
    pub ensemble_paths: usize,
    pub worker: &'a Worker,
}

/// A line for the user in the status bar (from the app, or from a view's finished work): an
/// error or a confirmation, shown until dismissed or replaced.
#[derive(Clone, Debug, PartialEq)]
pub enum Notice {
    Info(String),
    Error(String),
}

impl Notice {
    pub fn text(&self) -> &str {
        match self {
            Notice::Info(text) | Notice::Error(text) => text,
        }
    }
}

/// The status line: the message with a way to dismiss it, or the keys when there is none.
pub fn status_ui(ui: &mut Ui, message: &mut Option<Notice>) {
    let Some(m) = message else {
        ui.label(
            egui::RichText::new(
                "Space run · Esc cancel · R resample path · F9 side panels · F11 full screen",
            )
            .small(),
        );
        return;
    };
    let colour = match m {
        Notice::Error(_) => ui.visuals().error_fg_color,
        Notice::Info(_) => ui.visuals().text_color(),
    };
    ui.colored_label(colour, m.text());
    if ui.small_button("Dismiss").clicked() {
        *message = None;
    }
}

pub trait View {
    fn ui(&mut self, ui: &mut Ui, cx: &mut ViewContext<'_>);

    /// The action the view's Run button pushes (for `--attack-on-start`).
    fn job(&self, ensemble_paths: usize) -> Action;

    /// Starts the view's own computation ([`Action::Run`]); an error is the user's message.
    fn start(&mut self, _cx: &JobContext<'_>) -> Result<(), String> {
        Ok(())
    }

    /// Takes in the view's own finished work, every frame.
    fn poll(&mut self) -> Option<Notice> {
        None
    }

    /// A new image or model: the view's own results, and the work still computing them,
    /// belonged to the old one.
    fn forget_results(&mut self) {}

    /// A model was loaded: fit whatever depends on its path space.
    fn model_changed(&mut self, _space: &PathSpace) {}

    /// The session's results were replaced or cleared (new image, model or attack).
    fn results_changed(&mut self) {}
}

/// All central views; the knobs of each persist with the app's settings.
#[derive(Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Views {
    pub attack: ResultView,
    pub layers: LayerView,
    #[serde(skip)]
    pub paths: PathView,
    pub ensemble: EnsembleView,
    pub transfer: TransferView,
    pub compare: CompareView,
    pub budget: CurveView,
}

impl Views {
    pub fn get(&mut self, tab: Tab) -> &mut dyn View {
        match tab {
            Tab::Attack => &mut self.attack,
            Tab::Layers => &mut self.layers,
            Tab::Paths => &mut self.paths,
            Tab::Ensemble => &mut self.ensemble,
            Tab::Transfer => &mut self.transfer,
            Tab::Compare => &mut self.compare,
            Tab::Budget => &mut self.budget,
        }
    }

    pub fn for_each(&mut self, mut f: impl FnMut(&mut dyn View)) {
        for tab in Tab::ALL {
            f(self.get(tab));
        }
    }

    /// Brings values from an older or edited store back into range.
    pub fn sanitize(&mut self) {
        self.transfer.sanitize();
        self.compare.sanitize();
        self.budget.sanitize();
    }
}
