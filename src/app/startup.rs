//! Opening the app: the window, the stored settings and views, the compute thread, the first
//! model and image.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::device::DeviceChoice;

use super::attack_panel::AttackPanel;
use super::frames::FrameStats;
use super::script::Script;
use super::session::{Action, Session};
use super::settings::{Settings, Tab};
use super::sidebar::{Gallery, ImagePanel, ModelPanel};
use super::view::Notice;
use super::view::Views;
use super::widgets::Textures;
use super::worker::{Live, ModelSource, Worker};
use super::{RnaLensApp, VIEWS_KEY, heatmap};

/// How the app starts; the command line fills this in.
#[derive(Clone, Debug, Default)]
pub struct AppOptions {
    pub model: Option<PathBuf>,
    pub image: Option<PathBuf>,
    /// Run the current view's job (attack, ensemble, transfer or compare) once ready.
    pub attack_on_start: bool,
    /// Save a screenshot of the window here once everything asked for has finished.
    pub screenshot: Option<PathBuf>,
    /// Close after the screenshot (or once ready, without one).
    pub exit: bool,
    pub view: Option<Tab>,
    pub device: DeviceChoice,
    /// Print frame-time statistics at exit, repainting continuously to measure them.
    pub frame_stats: bool,
    /// Ignore stored settings (scripted runs must not depend on the user's last session).
    pub fresh_settings: bool,
    /// Open in the guided lesson: at this step (from 0), or `Some(None)` where it was left.
    pub lesson: Option<Option<usize>>,
    /// Presentation settings set from the command line (`gui --zoom 1.5 --high-contrast
    /// --no-side-panels` before a class); remembered afterwards, as the same change made in the
    /// window would be.
    pub zoom: Option<f32>,
    pub high_contrast: bool,
    pub no_side_panels: bool,
    /// Set by a scripted run that could not do what it was asked (e.g. the model did not load).
    pub failure: Arc<Mutex<Option<String>>>,
}

impl RnaLensApp {
    pub fn new(cc: &eframe::CreationContext<'_>, options: AppOptions) -> Self {
        // Without wgpu (or if the shader fails to build) the heatmap falls back to the CPU
        // colormap, which draws the same colours; a shader failure is reported, not hidden.
        let (gpu_heatmap, shader_error) = match &cc.wgpu_render_state {
            Some(render_state) => match heatmap::install(render_state) {
                Ok(()) => (true, None),
                Err(e) => (
                    false,
                    Some(format!(
                        "heatmap shader unavailable, drawing on the CPU: {e}"
                    )),
                ),
            },
            None => (false, None),
        };
        let (mut settings, mut views) = if options.fresh_settings {
            (Settings::default(), Views::default())
        } else {
            let settings = cc
                .storage
                .and_then(|s| eframe::get_value::<Settings>(s, eframe::APP_KEY));
            let views = cc
                .storage
                .and_then(|s| eframe::get_value::<Views>(s, VIEWS_KEY));
            (
                settings.map(Settings::sanitized).unwrap_or_default(),
                views.unwrap_or_default(),
            )
        };
        views.sanitize();
        let presentation = &mut settings.presentation;
        presentation.zoom = options.zoom.unwrap_or(presentation.zoom);
        presentation.high_contrast |= options.high_contrast;
        presentation.side_panels &= !options.no_side_panels;
        presentation.sanitize();
        presentation.restore(&cc.egui_ctx);
        let ctx = cc.egui_ctx.clone();
        // Progress arrives at every attack iteration, often hundreds a second: at most about
        // 30 repaints a second follow it (each request only moves the deadline earlier).
        let worker = Worker::spawn(options.device, move || {
            ctx.request_repaint_after(std::time::Duration::from_millis(33))
        });
        let source = match (&options.model, &settings.model) {
            (Some(path), _) => ModelSource::File(path.clone()),
            (None, Some(remembered)) => ModelSource::recall(remembered)
                .unwrap_or(ModelSource::Shipped(crate::assets::default_model())),
            (None, None) => ModelSource::Shipped(crate::assets::default_model()),
        };
        let loading = worker.load_model(source);
        let gallery = Gallery::load();
        let mut app = Self {
            settings,
            session: Session::default(),
            worker,
            gallery,
            textures: Textures::default(),
            gpu_heatmap,
            message: shader_error.map(Notice::Error),
            live: Live::default(),
            model_panel: ModelPanel,
            image_panel: ImagePanel,
            attack_panel: AttackPanel,
            views,
            script: Script::WaitForModel,
            frames: FrameStats::default(),
            egui_ctx: cc.egui_ctx.clone(),
            loading_image: None,
            lesson_entered: None,
            view_rect: egui::Rect::NOTHING,
            view_save: None,
            options,
        };
        if let Some(step) = app.options.lesson {
            app.start_lesson(step);
        }
        app.session.pending.model = Some(loading);
        if let Some(view) = app.options.view {
            app.settings.view = view;
        }
        match app.options.image.clone() {
            Some(path) => app.apply(Action::LoadImage(path)),
            None if !app.gallery.samples.is_empty() => app.apply(Action::SelectSample(0)),
            None => {}
        }
        app
    }
}

/// Opens the app window; returns when it closes.
pub fn run(options: AppOptions) -> Result<(), String> {
    let native = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("rna-lens")
            .with_inner_size([1360.0, 860.0])
            .with_min_inner_size([900.0, 600.0])
            .with_drag_and_drop(true),
        renderer: eframe::Renderer::Wgpu,
        ..Default::default()
    };
    let failure = options.failure.clone();
    eframe::run_native(
        "rna-lens",
        native,
        Box::new(move |cc| Ok(Box::new(RnaLensApp::new(cc, options)))),
    )
    .map_err(|e| format!("cannot open the window: {e}"))?;
    match failure.lock().unwrap_or_else(|p| p.into_inner()).take() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
