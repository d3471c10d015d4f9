//! The Transfer view: attacks crafted on each of K paths, tested on all K.

use egui::{Color32, RichText, Sense, Ui, Vec2};

use crate::colormap::{Colormap, colormap_rgb};

use serde::{Deserialize, Serialize};

use super::session::Action;
use super::settings::Tab;
use super::view::{JobContext, Notice, View, ViewContext};
use super::worker::Slot;
use crate::attack::transfer::{TransferMatrix, transfer_paths};
use crate::limits::MAX_TRANSFER_PATHS;

/// K, the number of paths of the K×K matrix (persisted), and the matrix.
#[derive(Serialize, Deserialize)]
#[serde(default)]
pub struct TransferView {
    pub paths: usize,
    #[serde(skip)]
    matrix: Slot<TransferMatrix>,
}

impl Default for TransferView {
    fn default() -> Self {
        Self {
            paths: 8,
            matrix: Slot::default(),
        }
    }
}

fn cell_colour(success: f64) -> Color32 {
    let [r, g, b] = colormap_rgb(Colormap::Magma, success as f32);
    Color32::from_rgb((r * 255.0) as u8, (g * 255.0) as u8, (b * 255.0) as u8)
}

impl TransferView {
    pub fn sanitize(&mut self) {
        self.paths = self.paths.clamp(2, MAX_TRANSFER_PATHS);
    }

    pub fn matrix(&self) -> Option<&TransferMatrix> {
        self.matrix.get()
    }
}

impl View for TransferView {
    fn job(&self, _ensemble_paths: usize) -> Action {
        Action::Run(Tab::Transfer)
    }

    fn start(&mut self, cx: &JobContext<'_>) -> Result<(), String> {
        let (Some(image), Some(model)) = (&cx.session.image, &cx.session.model) else {
            return Ok(());
        };
        let label = cx.session.truth().ok_or(
            "The transfer matrix needs the true label: pick a gallery image or run an attack first",
        )?;
        let paths = transfer_paths(&model.space, self.paths, cx.attack.seed);
        let task = cx
            .worker
            .transfer(image.input.clone(), label, paths, cx.attack.clone());
        self.matrix.start(task);
        Ok(())
    }

    fn poll(&mut self) -> Option<Notice> {
        let e = self.matrix.poll()?.err()?;
        Some(Notice::Error(format!("Transfer failed: {e}")))
    }

    fn forget_results(&mut self) {
        self.matrix.clear();
    }

    fn ui(&mut self, ui: &mut Ui, cx: &mut ViewContext<'_>) {
        let (session, busy) = (cx.session, cx.busy);
        let (textures, actions) = (&mut *cx.textures, &mut *cx.actions);
        let k = &mut self.paths;
        if session.model.is_none() {
            ui.label("No model loaded.");
            return;
        }
        ui.label(
            "Entry (i, j): does path j misclassify the image after an attack crafted with full \
             knowledge of path i (the Attack panel's settings, policy fixed on i)? The diagonal is \
             white-box success; off the diagonal is what RNA relies on.",
        );
        ui.horizontal(|ui| {
            let label = ui.label("K");
            ui.add(egui::Slider::new(k, 2..=MAX_TRANSFER_PATHS))
                .labelled_by(label.id);
            if ui
                .add_enabled(
                    session.image.is_some() && !busy,
                    egui::Button::new("Run transfer"),
                )
                .clicked()
            {
                actions.push(Action::Run(Tab::Transfer));
            }
        });
        let Some(matrix) = self.matrix.get() else {
            return;
        };
        let n = matrix.paths.len();
        let rows = matrix.success.len();
        let cell = ((ui.available_width() - 180.0) / n as f32).clamp(16.0, 40.0);
        ui.label(
            RichText::new("rows: attacked path · columns: tested path · label: share of BN layers")
                .small(),
        );
        egui::Grid::new("transfer-grid")
            .spacing([2.0, 2.0])
            .show(ui, |ui| {
                ui.label("");
                for j in 0..n {
                    ui.label(
                        RichText::new(format!("{:.0}", 100.0 * matrix.batch_stat_share[j])).small(),
                    )
                    .on_hover_text(&matrix.paths[j]);
                }
                ui.end_row();
                for i in 0..rows {
                    ui.label(
                        RichText::new(format!("{:.0}% BN", 100.0 * matrix.batch_stat_share[i]))
                            .small(),
                    )
                    .on_hover_text(&matrix.paths[i]);
                    for j in 0..n {
                        let (rect, response) =
                            ui.allocate_exact_size(Vec2::splat(cell), Sense::hover());
                        let text = match matrix.success[i][j] {
                            Some(p) => {
                                ui.painter().rect_filled(rect, 1.0, cell_colour(p.value));
                                format!(
                                    "misclassified: {:.0}% (95%: {:.0}–{:.0}%)",
                                    100.0 * p.value,
                                    100.0 * p.low,
                                    100.0 * p.high
                                )
                            }
                            None => {
                                ui.painter().rect_stroke(
                                    rect,
                                    1.0,
                                    ui.visuals().widgets.noninteractive.bg_stroke,
                                    egui::StrokeKind::Inside,
                                );
                                "wrong when clean already: says nothing about the attack".into()
                            }
                        };
                        response.on_hover_text(format!(
                            "crafted on {}\ntested on {}\n{text}",
                            matrix.paths[i], matrix.paths[j]
                        ));
                    }
                    ui.end_row();
                }
            });
        ui.horizontal(|ui| {
            ui.label("0%");
            let bar = crate::colormap::colorbar(Colormap::Magma, 128, 1);
            let t = textures.rgba(ui, "transfer-legend", &bar, 128, 1);
            ui.add(egui::Image::new(&t).fit_to_exact_size(Vec2::new(160.0, 12.0)));
            ui.label("100% misclassified");
        });
        if rows < n {
            ui.colored_label(
                ui.visuals().warn_fg_color,
                format!("cancelled after {rows} of {n} rows"),
            );
        }
        let right = matrix.clean_right.iter().filter(|&&r| r > 0).count();
        ui.label(format!(
            "clean baseline: {right} of {n} paths classify the image right; a cell counts only when both its paths do"
        ));
        let mean = |cells: &mut dyn Iterator<Item = Option<crate::stats::Proportion>>| {
            let values: Vec<f64> = cells.flatten().map(|p| p.value).collect();
            (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
        };
        let diagonal = mean(&mut (0..rows).map(|i| matrix.success[i][i]));
        let off = mean(
            &mut (0..rows)
                .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
                .map(|(i, j)| matrix.success[i][j]),
        );
        let shown = |v: Option<f64>| v.map_or("—".into(), |v| format!("{:.0}%", 100.0 * v));
        ui.label(format!(
            "white-box success (diagonal) {} · transfer to other paths {}",
            shown(diagonal),
            shown(off),
        ));
        for g in &matrix.groups {
            ui.label(
                RichText::new(format!(
                    "{} to {}: {:.0}% over {} pairs",
                    g.source_bin,
                    g.target_bin,
                    100.0 * g.success.value,
                    g.pairs
                ))
                .small(),
            );
        }
    }
}
