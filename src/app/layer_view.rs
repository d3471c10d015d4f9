//! The Layers view: how the attack's perturbation travels through the network, layer by layer,
//! along the attacker's path, the defender's path and one uniform path per candidate.

use egui::{Color32, RichText, Ui};
use egui_plot::{Line, LineStyle, Plot, PlotPoints, Points};
use serde::{Deserialize, Serialize};

use crate::propagation::travel_sentence;

use super::session::Action;
use super::view::{View, ViewContext};
use super::widgets::norm_colour;

/// Stateless: it shows the travel computed with the attack.
#[derive(Default, Serialize, Deserialize)]
pub struct LayerView {}

/// The attacker's path red, the defender's blue, the references grey, one dashed and one
/// dotted (with the caption's glyph for each), so that the two can be told apart.
fn line_style(index: usize) -> (Color32, LineStyle, f32, &'static str) {
    match index {
        0 => (Color32::from_rgb(219, 68, 55), LineStyle::Solid, 2.5, "—"),
        1 => (Color32::from_rgb(66, 133, 244), LineStyle::Solid, 2.5, "—"),
        2 => (Color32::GRAY, LineStyle::dashed_loose(), 1.5, "- -"),
        _ => (Color32::GRAY, LineStyle::dotted_dense(), 2.0, "···"),
    }
}

impl View for LayerView {
    fn job(&self, _ensemble_paths: usize) -> Action {
        Action::RunAttack
    }

    fn ui(&mut self, ui: &mut Ui, cx: &mut ViewContext<'_>) {
        let (Some(model), Some(run)) = (&cx.session.model, &cx.session.attack) else {
            ui.label(
                "Run an attack (Space) to see how its perturbation travels through the layers.",
            );
            return;
        };
        let travel = &run.travel;
        ui.label(
            "For every random layer in network order: how much the adversarial image moves that \
             layer's output, |a(x+δ) − a(x)| / |a(x)| (L2 norms over the whole layer). Each dot is coloured by the normalization \
             the path uses there.",
        );
        ui.horizontal_wrapped(|ui| {
            for (i, t) in travel.iter().enumerate() {
                let (colour, _, _, glyph) = line_style(i);
                ui.label(
                    RichText::new(format!("{glyph} {}", t.name))
                        .color(colour)
                        .strong(),
                );
            }
            ui.label("dots:");
            for kind in &model.space.candidates {
                ui.label(
                    RichText::new(kind.label())
                        .color(norm_colour(*kind))
                        .strong(),
                );
            }
        });
        let names: Vec<String> = model.space.layers.iter().map(|l| l.name.clone()).collect();
        let axis_names = names.clone();
        let height = (ui.available_height() - 80.0).clamp(160.0, 420.0);
        Plot::new("layer-travel")
            .height(height)
            .x_axis_label("random layer (network order)")
            .y_axis_label("relative change")
            .include_y(0.0)
            .allow_drag(false)
            .allow_zoom(false)
            .allow_scroll(false)
            .label_formatter(move |hover| {
                let egui_plot::HoverPosition::NearDataPoint { position, .. } = hover else {
                    return None;
                };
                let layer = position.x.round().max(0.0) as usize;
                Some(format!(
                    "{}\n{:.1}%",
                    axis_names.get(layer).map_or("", String::as_str),
                    100.0 * position.y
                ))
            })
            .show(ui, |plot| {
                for (i, t) in travel.iter().enumerate() {
                    let (colour, style, width, _) = line_style(i);
                    let points: Vec<[f64; 2]> = t
                        .relative_change
                        .iter()
                        .enumerate()
                        .map(|(layer, &r)| [layer as f64, f64::from(r)])
                        .collect();
                    plot.line(
                        Line::new(t.name.clone(), PlotPoints::from(points.clone()))
                            .color(colour)
                            .style(style)
                            .width(width),
                    );
                    for (candidate, kind) in model.space.candidates.iter().enumerate() {
                        let dots: Vec<[f64; 2]> = points
                            .iter()
                            .zip(&t.candidates)
                            .filter(|(_, c)| **c == candidate)
                            .map(|(p, _)| *p)
                            .collect();
                        plot.points(
                            Points::new(kind.label(), PlotPoints::from(dots))
                                .color(norm_colour(*kind))
                                .radius(if i < 2 { 4.0 } else { 2.5 }),
                        );
                    }
                }
            });
        if let Some(sentence) = travel_sentence(travel) {
            ui.add(egui::Label::new(RichText::new(sentence).strong()).wrap());
        }
        ui.label(
            RichText::new(format!(
                "{} random layers; the adversarial image as saved (8-bit); hover a point for its layer.",
                names.len()
            ))
            .small(),
        );
    }
}
