//! The Paths view: one path as a strip of its random layers, pins, resampling, text copy and
//! paste, and the normalization mix of the current ensemble.

use egui::{Color32, RichText, Sense, Stroke, Ui, Vec2};

use crate::model::{Path, PathMix, PathSpace};
use crate::rng::SeededRng;

use super::session::Action;
use super::view::{View, ViewContext};
use super::widgets::norm_colour;

pub struct PathView {
    pub path: Option<Path>,
    pub pinned: Vec<bool>,
    /// Text box for pasting a path.
    pub text: String,
    pub error: Option<String>,
    rng: SeededRng,
}

impl Default for PathView {
    fn default() -> Self {
        Self {
            path: None,
            pinned: Vec::new(),
            text: String::new(),
            error: None,
            rng: SeededRng::derive(0, "path-view"),
        }
    }
}

impl PathView {
    /// Fits the view to a model's path space, keeping the path if it still fits.
    pub fn reset(&mut self, space: &PathSpace) {
        let fits = |p: &Path| {
            p.len() == space.num_layers()
                && p.choices()
                    .iter()
                    .all(|&c| usize::from(c) < space.num_candidates())
        };
        if !self.path.as_ref().is_some_and(fits) || self.pinned.len() != space.num_layers() {
            self.path = Some(space.sample(&mut self.rng));
            self.pinned = vec![false; space.num_layers()];
        }
        self.error = None;
    }

    /// New candidates for every layer that is not pinned.
    pub fn resample(&mut self, space: &PathSpace) {
        let base = self
            .path
            .clone()
            .unwrap_or_else(|| space.sample(&mut self.rng));
        self.pinned.resize(space.num_layers(), false);
        self.path = Some(space.resample_unpinned(&base, &self.pinned, &mut self.rng));
    }

    pub fn show(&mut self, path: Path) {
        self.path = Some(path);
    }
}

impl View for PathView {
    fn job(&self, _ensemble_paths: usize) -> Action {
        Action::RunAttack
    }

    fn model_changed(&mut self, space: &PathSpace) {
        self.reset(space);
    }

    fn ui(&mut self, ui: &mut Ui, cx: &mut ViewContext<'_>) {
        let session = cx.session;
        let Some(model) = &session.model else {
            ui.label("No model loaded.");
            return;
        };
        let space = &model.space;
        if space.num_layers() == 0 {
            ui.label("This model has no random layers: it is a single path.");
            return;
        }
        self.reset(space);
        ui.label(format!(
            "{} random layers × {} candidates: {} paths. Click a cell to pin that layer's \
             candidate (a pinned layer stays when resampling); click again to switch candidate.",
            space.num_layers(),
            space.num_candidates(),
            space.describe_count()
        ));
        legend(ui, space);
        let mut path = self.path.clone().expect("reset sets a path");
        if let Some(layer) = strip(ui, space, &path, &self.pinned) {
            if self.pinned[layer] {
                let next = (path.get(layer) + 1) % space.num_candidates();
                path.set(layer, next);
            }
            self.pinned[layer] = true;
            self.path = Some(path.clone());
        }
        ui.horizontal(|ui| {
            if ui.button("Resample").on_hover_text("R").clicked() {
                self.resample(space);
            }
            if ui.button("Unpin all").clicked() {
                self.pinned.iter_mut().for_each(|p| *p = false);
            }
            let text = space.format(&path);
            if ui.button("Copy").clicked() {
                ui.ctx().copy_text(text.clone());
            }
            ui.label(RichText::new(text).monospace());
        });
        ui.horizontal(|ui| {
            let label = ui.label("paste a path:");
            let edit = ui
                .text_edit_singleline(&mut self.text)
                .labelled_by(label.id);
            if ui.button("Use").clicked()
                || (edit.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter)))
            {
                match space.parse(&self.text) {
                    Ok(p) => {
                        self.path = Some(p);
                        self.error = None;
                    }
                    Err(e) => self.error = Some(e.to_string()),
                }
            }
        });
        if let Some(e) = &self.error {
            ui.colored_label(ui.visuals().error_fg_color, e);
        }
        ui.label(format!(
            "share of layers normalizing with batch statistics: {:.0}%",
            100.0 * space.batch_stat_share(&path)
        ));
        ui.separator();
        match &session.ensemble {
            Some(ensemble) => {
                ui.label(
                    RichText::new(format!(
                        "normalization mix over the {} paths of the ensemble query",
                        ensemble.paths.len()
                    ))
                    .strong(),
                );
                mix_chart(ui, space, &PathMix::from_paths(space, &ensemble.paths));
            }
            None => {
                ui.label("Query the ensemble (Ensemble view) to see its normalization mix.");
            }
        }
    }
}

fn legend(ui: &mut Ui, space: &PathSpace) {
    ui.horizontal(|ui| {
        for (i, kind) in space.candidates.iter().enumerate() {
            let (rect, _) = ui.allocate_exact_size(Vec2::splat(12.0), Sense::hover());
            ui.painter().rect_filled(rect, 2.0, norm_colour(*kind));
            ui.label(format!("{i}: {kind} ({})", kind.label()));
        }
    });
}

const CELL_GAP: f32 = 2.0;

/// The width of one layer's cell so that all `layers` fit the panel, gaps included.
fn cell_width(ui: &Ui, layers: usize) -> f32 {
    let n = layers.max(1) as f32;
    ((ui.available_width() - CELL_GAP * (n - 1.0)) / n - 0.5).clamp(14.0, 40.0)
}

/// Draws the cells; returns the layer clicked.
fn strip(ui: &mut Ui, space: &PathSpace, path: &Path, pinned: &[bool]) -> Option<usize> {
    let mut clicked = None;
    let cell = Vec2::new(cell_width(ui, space.num_layers()), 36.0);
    // Wraps where even the narrowest cells do not fit (large zoom, deep networks).
    ui.horizontal_wrapped(|ui| {
        ui.spacing_mut().item_spacing.x = CELL_GAP;
        for (layer, info) in space.layers.iter().enumerate() {
            let kind = space.candidates[path.get(layer)];
            let (rect, response) = ui.allocate_exact_size(cell, Sense::click());
            response.widget_info(|| {
                egui::WidgetInfo::labeled(
                    egui::Role::Button,
                    true,
                    format!("layer {layer}: {}", info.name),
                )
            });
            let painter = ui.painter();
            painter.rect_filled(rect, 3.0, norm_colour(kind));
            if pinned.get(layer).copied().unwrap_or(false) {
                painter.rect_stroke(
                    rect,
                    3.0,
                    Stroke::new(2.5, ui.visuals().strong_text_color()),
                    egui::StrokeKind::Inside,
                );
            }
            painter.text(
                rect.center(),
                egui::Align2::CENTER_CENTER,
                path.get(layer).to_string(),
                egui::FontId::monospace(12.0),
                Color32::WHITE,
            );
            let response = response.on_hover_text(format!(
                "{} (stage {})\n{} — {}\n{} channels{}",
                info.name,
                info.stage,
                kind,
                kind.label(),
                info.channels,
                if pinned.get(layer).copied().unwrap_or(false) {
                    "\npinned"
                } else {
                    ""
                }
            ));
            if response.clicked() {
                clicked = Some(layer);
            }
        }
    });
    clicked
}

/// Per layer, a bar split by the share of each candidate.
fn mix_chart(ui: &mut Ui, space: &PathSpace, mix: &PathMix) {
    let width = cell_width(ui, space.num_layers());
    let height = 90.0;
    ui.horizontal_wrapped(|ui| {
        ui.spacing_mut().item_spacing.x = CELL_GAP;
        for (layer, info) in space.layers.iter().enumerate() {
            let (rect, response) = ui.allocate_exact_size(Vec2::new(width, height), Sense::hover());
            let mut top = rect.top();
            let mut shares = Vec::new();
            for (c, kind) in space.candidates.iter().enumerate() {
                let share = mix.share(layer, c);
                let h = height * share as f32;
                let r =
                    egui::Rect::from_min_size(egui::pos2(rect.left(), top), Vec2::new(width, h));
                ui.painter().rect_filled(r, 0.0, norm_colour(*kind));
                top += h;
                shares.push(format!("{kind}: {:.1}%", 100.0 * share));
            }
            response.on_hover_text(format!("{}\n{}", info.name, shares.join("\n")));
        }
    });
}
