//! The Attack view: clean, adversarial and perturbation side by side, the WGSL heatmap, top-5
//! confidences, the loss and margin per iteration, and a replay slider.

use std::sync::Arc;

use egui::{RichText, Ui, Vec2};
use egui_plot::{FilledArea, Line, Plot, PlotPoints, VLine};

use crate::attack::image::{amplified, delta_between};
use crate::colormap::{self, Colormap, HeatmapMode, HeatmapParams};

use super::heatmap::{HeatmapCallback, HeatmapInput, HeatmapSlot, heatmap_shape};
use serde::{Deserialize, Serialize};

use super::export::Export;
use super::session::Action;
use super::view::{View, ViewContext};
use super::widgets::{Textures, mean_probabilities, top_k_bars};

const IMAGE_SIDE: f32 = 176.0;

/// The replay position (not persisted: it belongs to one attack).
#[derive(Default, Serialize, Deserialize)]
pub struct ResultView {
    /// Trace entry shown; `None` follows the result (the last entry).
    #[serde(skip)]
    pub step: Option<usize>,
}

/// How heatmaps are drawn this frame.
#[derive(Clone, Copy)]
pub struct HeatmapStyle {
    pub params: HeatmapParams,
    /// Through our WGSL shader (the app renders with wgpu), else from the CPU colormap.
    pub gpu: bool,
    /// Side of the square on screen, in points.
    pub side: f32,
}

/// Draws the heatmap of `delta` over `image` (planar, square) in the place `key`.
pub fn heatmap_ui(
    ui: &mut Ui,
    key: HeatmapSlot,
    delta: &[f32],
    image: &[u8],
    style: &HeatmapStyle,
    textures: &mut Textures,
) {
    let params = &style.params;
    let size = (delta.len() / 3).isqrt();
    let (rect, response) = ui.allocate_exact_size(Vec2::splat(style.side), egui::Sense::hover());
    if style.gpu {
        match HeatmapInput::new(delta.to_vec(), image.to_vec(), size, size) {
            Ok(input) => {
                ui.painter().add(heatmap_shape(
                    rect,
                    HeatmapCallback {
                        key,
                        input: Arc::new(input),
                        params: *params,
                    },
                ));
            }
            Err(e) => {
                ui.painter().text(
                    rect.center(),
                    egui::Align2::CENTER_CENTER,
                    e,
                    egui::FontId::default(),
                    ui.visuals().error_fg_color,
                );
            }
        }
    } else {
        let rgba = colormap::render_heatmap(delta, image, size, size, 1, params);
        let texture = textures.rgba(ui, &format!("heatmap-{key:?}"), &rgba, size, size);
        ui.painter().image(
            texture.id(),
            rect,
            egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0)),
            egui::Color32::WHITE,
        );
    }
    response.on_hover_text(params.mode.meaning());
}

/// Mode, colormap, opacity, amplification, and the colour bar with its values in /255.
pub fn heatmap_controls(ui: &mut Ui, params: &mut HeatmapParams, textures: &mut Textures) {
    ui.horizontal_wrapped(|ui| {
        let label = ui.label("heatmap");
        egui::ComboBox::from_id_salt("heatmap-mode")
            .selected_text(params.mode.name())
            .show_ui(ui, |ui| {
                for mode in HeatmapMode::ALL {
                    if ui
                        .selectable_value(&mut params.mode, mode, mode.name())
                        .clicked()
                    {
                        // Signed values read best on the diverging map, magnitudes on viridis.
                        params.colormap = match mode {
                            HeatmapMode::Channel(_) => Colormap::Diverging,
                            _ if params.colormap == Colormap::Diverging => Colormap::Viridis,
                            _ => params.colormap,
                        };
                    }
                }
            })
            .response
            .labelled_by(label.id);
        egui::ComboBox::from_id_salt("heatmap-colormap")
            .selected_text(params.colormap.name())
            .show_ui(ui, |ui| {
                for c in Colormap::ALL {
                    ui.selectable_value(&mut params.colormap, c, c.name());
                }
            })
            .response
            .labelled_by(label.id);
    });
    ui.horizontal(|ui| {
        let label = ui.label("opacity");
        ui.add(egui::Slider::new(&mut params.opacity, 0.0..=1.0))
            .labelled_by(label.id);
    });
    ui.horizontal(|ui| {
        let label = ui.label("amplify");
        ui.add(
            egui::Slider::new(&mut params.amplification, 1.0..=16.0)
                .logarithmic(true)
                .suffix("×"),
        )
        .labelled_by(label.id);
    });
    let bar = colormap::colorbar(params.colormap, 128, 1);
    let texture = textures.rgba(ui, "colorbar", &bar, 128, 1);
    let (low, high) = colormap::colorbar_range(params);
    ui.horizontal(|ui| {
        ui.label(format!("{low:.1}"));
        ui.add(egui::Image::new(&texture).fit_to_exact_size(Vec2::new(128.0, 12.0)));
        ui.label(format!("{high:.1} /255"));
    });
    ui.label(RichText::new(params.mode.meaning()).small());
}

impl View for ResultView {
    fn job(&self, _ensemble_paths: usize) -> Action {
        Action::RunAttack
    }

    fn results_changed(&mut self) {
        self.step = None;
    }

    fn ui(&mut self, ui: &mut Ui, cx: &mut ViewContext<'_>) {
        let (session, gpu) = (cx.session, cx.gpu_heatmap);
        let params = &mut *cx.heatmap;
        let (textures, actions) = (&mut *cx.textures, &mut *cx.actions);
        let (Some(model), Some(run)) = (&session.model, &session.attack) else {
            ui.label("Pick an image and press Run (or Space) to attack it.");
            return;
        };
        let (result, iterates) = (run, &run.iterates);
        let names = &model.config.class_names;
        let last = result.trace.len().saturating_sub(1);
        let step = self.step.unwrap_or(last).min(last);
        let shown = iterates.get(step).unwrap_or(&result.adversarial);
        let delta = delta_between(shown, &result.clean);
        params.eps = result.pixel_scale();

        if result.cancelled {
            ui.colored_label(
                ui.visuals().warn_fg_color,
                "Cancelled: showing the best point found before stopping.",
            );
        }
        // Four images side by side, as large as the panel allows (a projector's 1280×720
        // leaves the central panel about 750 points); two by two where four would be tiny
        // (a zoomed or narrow window).
        let gap = ui.spacing().item_spacing.x;
        let width = ui.available_width();
        let (side, per_row) = match (width - 3.0 * gap) / 4.0 {
            quarter if quarter >= 80.0 => (quarter.min(IMAGE_SIDE), 4),
            _ => (((width - gap) / 2.0).clamp(40.0, IMAGE_SIDE), 2),
        };
        let column = |ui: &mut Ui, title: &str, draw: &mut dyn FnMut(&mut Ui)| {
            ui.vertical(|ui| {
                ui.set_max_width(side);
                ui.add(egui::Label::new(RichText::new(title).strong()).wrap());
                draw(ui);
            });
        };
        let scale = format!("perturbation ±{:.1}/255", 255.0 * params.eps);
        for first in (0..4).step_by(per_row) {
            ui.horizontal(|ui| {
                for panel in first..first + per_row {
                    match panel {
                        0 => column(ui, "clean", &mut |ui| {
                            let t = textures.planar(ui, "result-clean", &result.clean, 32);
                            ui.add(egui::Image::new(&t).fit_to_exact_size(Vec2::splat(side)));
                        }),
                        1 => column(ui, &format!("adversarial (step {step})"), &mut |ui| {
                            let t = textures.planar(ui, "result-adversarial", shown, 32);
                            ui.add(egui::Image::new(&t).fit_to_exact_size(Vec2::splat(side)));
                        }),
                        2 => column(ui, &scale, &mut |ui| {
                            let t = textures.planar(
                                ui,
                                "result-perturbation",
                                &amplified(&delta, params.eps),
                                32,
                            );
                            ui.add(egui::Image::new(&t).fit_to_exact_size(Vec2::splat(side)))
                                .on_hover_text("black and white are −ε and +ε");
                        }),
                        _ => column(ui, "heatmap", &mut |ui| {
                            let style = HeatmapStyle {
                                params: *params,
                                gpu,
                                side,
                            };
                            heatmap_ui(
                                ui,
                                HeatmapSlot::Attack,
                                &delta,
                                &result.clean,
                                &style,
                                textures,
                            );
                        }),
                    }
                }
            });
        }
        ui.horizontal_wrapped(|ui| {
            ui.label("replay");
            let mut s = step;
            if ui
                .add(egui::Slider::new(&mut s, 0..=last).text("iterate"))
                .changed()
            {
                self.step = (s != last).then_some(s);
            }
            if let Some(t) = result.trace.get(step) {
                ui.label(format!(
                    "attacker's path says {} (p(true) {:.2}, margin {:+.2}), max |δ| {:.1}/255",
                    names.get(t.predicted).map_or("?", String::as_str),
                    t.p_true,
                    t.margin,
                    t.linf * 255.0
                ));
            }
        });
        ui.separator();
        // The verdict beside the two bar charts where they fit, else below them.
        let wide = ui.available_width() >= 900.0;
        let classes = names.len();
        let (clean, adv) = (
            result.clean_summary(classes),
            result.adversarial_summary(classes),
        );
        let mut verdict_ui = |ui: &mut Ui| {
            ui.label(RichText::new("verdict").strong());
            ui.label(format!(
                "true label: {} ({})",
                model.class_name(result.label),
                if result.label_given {
                    "from the file"
                } else {
                    "ensemble vote"
                }
            ));
            ui.label(format!(
                "defender's path says {} ({}){}",
                model.class_name(result.eight_bit_prediction),
                result.verdict().describe(),
                if result.float_prediction != result.eight_bit_prediction {
                    format!(
                        " ({} before 8-bit rounding)",
                        model.class_name(result.float_prediction)
                    )
                } else {
                    String::new()
                }
            ));
            let pc = |s: &crate::ensemble::EnsembleSummary| {
                s.p_correct
                    .map(|p| {
                        format!(
                            "{:.1}% [{:.1}, {:.1}]",
                            100.0 * p.value,
                            100.0 * p.low,
                            100.0 * p.high
                        )
                    })
                    .unwrap_or_default()
            };
            ui.label(format!("paths correct, clean: {}", pc(&clean)));
            ui.label(format!("paths correct, adversarial: {}", pc(&adv)));
            ui.label(
                RichText::new(format!(
                    "{} paths, seed {}",
                    result.query_paths.len(),
                    result.config.seed
                ))
                .small(),
            );
            ui.horizontal_wrapped(|ui| {
                if ui.button("Save adversarial PNG…").clicked() {
                    actions.push(Action::Export(Export::Adversarial));
                }
                if ui.button("Save heatmap PNG…").clicked() {
                    actions.push(Action::Export(Export::Heatmap { step }));
                }
                if ui.button("Save report JSON…").clicked() {
                    actions.push(Action::Export(Export::Report));
                }
                if ui.button("Save replay animation…").clicked() {
                    actions.push(Action::Export(Export::Replay));
                }
            });
        };
        ui.columns(if wide { 3 } else { 2 }, |cols| {
            let mean = |rows: &[crate::ensemble::PathPrediction]| {
                mean_probabilities(
                    &rows
                        .iter()
                        .map(|p| p.probabilities.clone())
                        .collect::<Vec<_>>(),
                )
            };
            cols[0].label(RichText::new("before: mean over paths").strong());
            top_k_bars(
                &mut cols[0],
                &mean(&result.clean_paths),
                names,
                Some(result.label),
                5,
            );
            cols[1].label(RichText::new("after: mean over paths").strong());
            top_k_bars(
                &mut cols[1],
                &mean(&result.adversarial_paths),
                names,
                Some(result.label),
                5,
            );
            if wide {
                verdict_ui(&mut cols[2]);
            }
        });
        if !wide {
            verdict_ui(ui);
        }
        ui.separator();
        heatmap_controls(ui, params, textures);
        ui.separator();
        trace_plots(ui, "result", result, step);
    }
}

/// Loss (with the EOT band) and margin per iteration, with the replayed step marked.
pub fn trace_plots(ui: &mut Ui, id: &str, result: &crate::attack::image::ImageAttack, step: usize) {
    let xs: Vec<f64> = (0..result.trace.len()).map(|i| i as f64).collect();
    let loss: PlotPoints = result
        .trace
        .iter()
        .enumerate()
        .map(|(i, t)| [i as f64, f64::from(t.loss)])
        .collect();
    let low: Vec<f64> = result.trace.iter().map(|t| f64::from(t.loss_low)).collect();
    let high: Vec<f64> = result
        .trace
        .iter()
        .map(|t| f64::from(t.loss_high))
        .collect();
    let margin: PlotPoints = result
        .trace
        .iter()
        .enumerate()
        .map(|(i, t)| [i as f64, f64::from(t.margin)])
        .collect();
    let height = (ui.available_height() - 28.0).clamp(100.0, 220.0);
    let eot = low != high;
    // Captions instead of legends: a legend inside a narrow plot covers the data.
    let caption = |ui: &mut Ui, text: &str| {
        ui.add(egui::Label::new(RichText::new(text).small()).wrap());
    };
    ui.columns(2, |cols| {
        caption(
            &mut cols[0],
            if eot {
                "loss (red), min–max over the EOT paths shaded; grey: the step shown"
            } else {
                "loss (red); grey: the step shown"
            },
        );
        Plot::new(format!("{id}-loss"))
            .height(height)
            .x_axis_label("iteration")
            .show(&mut cols[0], |plot| {
                if eot {
                    plot.add(
                        FilledArea::new("EOT spread (min–max over paths)", &xs, &low, &high)
                            .fill_color(egui::Color32::from_rgba_unmultiplied(219, 68, 55, 60)),
                    );
                }
                plot.line(Line::new("loss", loss).color(egui::Color32::from_rgb(219, 68, 55)));
                plot.vline(VLine::new("shown step", step as f64).color(egui::Color32::GRAY));
            });
        caption(
            &mut cols[1],
            "margin: true class minus the best other (below 0: misclassified); grey: the step shown",
        );
        Plot::new(format!("{id}-margin"))
            .height(height)
            .x_axis_label("iteration")
            .show(&mut cols[1], |plot| {
                plot.line(Line::new("margin (true − best other)", margin));
                plot.vline(VLine::new("shown step", step as f64).color(egui::Color32::GRAY));
            });
    });
}
