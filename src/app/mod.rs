//! The desktop app: a thin egui layer over the engine. All computation runs on the worker
//! thread ([`worker`]); the UI thread only draws [`session::Session`] and turns clicks into
//! [`session::Action`]s.

pub mod attack_panel;
pub mod compare_view;
pub mod curve_view;
pub mod ensemble_view;
pub mod export;
mod frames;
pub mod heatmap;
mod images;
mod input;
mod inspect;
mod jobs;
pub mod layer_view;
pub mod lesson;
pub mod path_view;
pub mod presentation;
pub mod result_view;
mod script;
pub mod session;
pub mod settings;
pub mod sidebar;
mod startup;
mod tasks;
pub mod transfer_view;
pub mod view;
pub mod widgets;
pub mod worker;

pub use startup::{AppOptions, run};

use std::path::PathBuf;
use std::sync::mpsc::Receiver;
use std::time::Instant;

use egui::Ui;

use attack_panel::AttackPanel;
use frames::FrameStats;
use script::Script;
use session::{Action, CurrentImage, Session};
use settings::{Settings, Tab};
use sidebar::{Gallery, ImagePanel, ModelPanel};
use view::{Notice, ViewContext, Views};
use widgets::Textures;
use worker::{Live, ModelSource, Worker};

/// Where the views' knobs are stored, beside the settings under `eframe::APP_KEY`.
const VIEWS_KEY: &str = "views";

pub struct RnaLensApp {
    options: AppOptions,
    settings: Settings,
    session: Session,
    worker: Worker,
    gallery: Gallery,
    textures: Textures,
    /// The heatmap is drawn by our WGSL shader when the app renders with wgpu.
    gpu_heatmap: bool,
    message: Option<Notice>,
    live: Live,
    model_panel: ModelPanel,
    image_panel: ImagePanel,
    attack_panel: AttackPanel,
    views: Views,
    script: Script,
    frames: FrameStats,
    egui_ctx: egui::Context,
    /// An image being decoded off the UI thread.
    loading_image: Option<Receiver<Result<CurrentImage, String>>>,
    /// The lesson step whose set-up has run (its job started).
    lesson_entered: Option<usize>,
    /// Where the central view was last drawn (in points), for "Save view PNG".
    view_rect: egui::Rect,
    /// A view being saved from the next screenshot.
    view_save: Option<Receiver<Result<PathBuf, String>>>,
}

impl RnaLensApp {
    fn error(&mut self, text: impl Into<String>) {
        self.message = Some(Notice::Error(text.into()));
    }

    fn info(&mut self, text: impl Into<String>) {
        self.message = Some(Notice::Info(text.into()));
    }

    /// Applies one action. Public so tests and scripts can drive the app like a user.
    pub fn apply(&mut self, action: Action) {
        match action {
            Action::LoadModel(source) => {
                self.session.pending.model = Some(self.worker.load_model(source));
            }
            Action::OpenModelDialog => {
                if let Some(path) = input::pick_model_file() {
                    self.apply(Action::LoadModel(ModelSource::File(path)));
                }
            }
            Action::LoadImage(path) => self.load_image_file(path),
            Action::OpenImageDialog => {
                if let Some(path) = input::pick_image_file() {
                    self.apply(Action::LoadImage(path));
                }
            }
            Action::SelectSample(i) => {
                if let Some(s) = self.gallery.samples.get(i) {
                    let image = CurrentImage::new(s.name.clone(), None, s.image.clone(), s.label);
                    self.set_image(image);
                }
            }
            Action::RunAttack => self.run_attack(),
            Action::Cancel => self.worker.cancel(),
            Action::QueryEnsemble { paths } => self.query_ensemble(paths),
            Action::Run(tab) => self.start_view(tab),
            Action::ShowPath(path) => {
                self.views.paths.show(path);
                self.settings.view = Tab::Paths;
            }
            Action::Export(what) => self.export(what),
            Action::StartLesson => self.start_lesson(None),
            Action::GoToLessonStep(step) => self.go_to_lesson_step(step),
            Action::LeaveLesson => self.settings.lesson.active = false,
        }
    }

    fn central_ui(&mut self, ui: &mut Ui, actions: &mut Vec<Action>) {
        let busy = self.worker.busy();
        if self.settings.lesson.active {
            self.lesson_ui(ui, actions);
        }
        ui.horizontal_wrapped(|ui| {
            for view in Tab::ALL {
                ui.selectable_value(&mut self.settings.view, view, view.name());
            }
            if !self.settings.lesson.active && ui.button("Lesson").clicked() {
                actions.push(Action::StartLesson);
            }
            if ui
                .button("Save view PNG…")
                .on_hover_text("This view as on screen, fitted into a 1920×1080 slide")
                .clicked()
            {
                actions.push(Action::Export(export::Export::View));
            }
        });
        ui.separator();
        let mut cx = ViewContext {
            session: &self.session,
            heatmap: &mut self.settings.heatmap,
            ensemble_paths: &mut self.settings.ensemble_paths,
            gpu_heatmap: self.gpu_heatmap,
            busy,
            live: &self.live,
            textures: &mut self.textures,
            actions,
        };
        let view = self.views.get(self.settings.view);
        self.view_rect = ui.available_rect_before_wrap();
        egui::ScrollArea::vertical().show(ui, |ui| view.ui(ui, &mut cx));
    }
}

impl eframe::App for RnaLensApp {
    /// Everything that is not drawing: results, images, keys, scripts.
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        self.poll_tasks();
        self.poll_image();
        self.poll_view_save();
        self.live = self.worker.live();
        self.handle_dropped_files(ctx);
        self.handle_keys(ctx);
        self.settings.presentation.logic(ctx);
        self.lesson_logic(ctx);
        self.run_script(ctx);
        if self.options.frame_stats {
            self.frames.tick(self.worker.busy());
            ctx.request_repaint();
        }
    }

    fn ui(&mut self, ui: &mut Ui, frame: &mut eframe::Frame) {
        let started = Instant::now();
        self.show_renderer_errors(frame);
        let busy = self.worker.busy();

        let mut actions = Vec::new();
        egui::Panel::bottom("status").show(ui, |ui| {
            ui.horizontal(|ui| {
                view::status_ui(ui, &mut self.message);
                ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                    self.settings.presentation.ui(ui);
                });
            });
        });
        if self.settings.presentation.side_panels {
            self.side_panels_ui(ui, busy, &mut actions);
        }
        egui::CentralPanel::default_margins().show(ui, |ui| self.central_ui(ui, &mut actions));

        for action in actions {
            self.apply(action);
        }
        if self.options.frame_stats {
            self.frames.built(started);
        }
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        if !self.options.fresh_settings {
            eframe::set_value(storage, eframe::APP_KEY, &self.settings);
            eframe::set_value(storage, VIEWS_KEY, &self.views);
        }
    }

    fn on_exit(&mut self) {
        if self.options.frame_stats {
            eprintln!("{}", self.frames.report());
        }
    }
}
