//! The Ensemble view: N paths on the clean and the adversarial input in one batched query.

use egui::{Color32, RichText, Ui};
use egui_plot::{Bar, BarChart, Legend, Plot, PlotPoints, Points};

use crate::ensemble::{EnsembleSummary, PathPrediction, summarize};

use serde::{Deserialize, Serialize};

use super::session::{Action, Session};
use super::view::{View, ViewContext};
use super::worker::EnsembleResult;
use crate::limits::MAX_QUERY_PATHS;

const CLEAN: Color32 = Color32::from_rgb(66, 133, 244);
const ADVERSARIAL: Color32 = Color32::from_rgb(219, 68, 55);

/// Stateless: the ensemble's size is shared (see [`ViewContext::ensemble_paths`]).
#[derive(Default, Serialize, Deserialize)]
pub struct EnsembleView {}

/// (BN share, true-class confidence) of each path, in path order.
pub fn scatter_points(
    result: &EnsembleResult,
    predictions: &[PathPrediction],
    session: &Session,
    truth: usize,
) -> Vec<[f64; 2]> {
    let space = &session.model.as_ref().expect("a model").space;
    result
        .paths
        .iter()
        .zip(predictions)
        .map(|(path, p)| {
            [
                space.batch_stat_share(path),
                f64::from(p.probabilities.get(truth).copied().unwrap_or(0.0)),
            ]
        })
        .collect()
}

fn summary_ui(ui: &mut Ui, title: &str, s: &EnsembleSummary, names: &[String]) {
    ui.label(RichText::new(title).strong());
    ui.label(format!(
        "majority vote: {} ({:.1}% of paths agree)",
        names.get(s.majority).map_or("?", String::as_str),
        100.0 * s.agreement
    ));
    if let Some(p) = s.p_correct {
        ui.label(format!(
            "P(correct) = {:.1}%  (95% interval {:.1}–{:.1}%)",
            100.0 * p.value,
            100.0 * p.low,
            100.0 * p.high
        ));
    }
}

impl View for EnsembleView {
    fn job(&self, ensemble_paths: usize) -> Action {
        Action::QueryEnsemble {
            paths: ensemble_paths,
        }
    }

    fn ui(&mut self, ui: &mut Ui, cx: &mut ViewContext<'_>) {
        let (session, busy) = (cx.session, cx.busy);
        let (paths, actions) = (&mut *cx.ensemble_paths, &mut *cx.actions);
        let Some(model) = &session.model else {
            ui.label("No model loaded.");
            return;
        };
        let names = &model.config.class_names;
        ui.horizontal(|ui| {
            let label = ui.label("paths");
            ui.add(egui::Slider::new(paths, 1..=MAX_QUERY_PATHS).logarithmic(true))
                .labelled_by(label.id);
            let ready = session.image.is_some() && !busy;
            if ui
                .add_enabled(ready, egui::Button::new("Query ensemble"))
                .on_hover_text("All paths in batched forward passes, on the clean and (after an attack) the adversarial image")
                .clicked()
            {
                actions.push(Action::QueryEnsemble { paths: *paths });
            }
        });
        let Some(result) = &session.ensemble else {
            ui.label("Press Query ensemble to classify the image with many sampled paths.");
            return;
        };
        let truth = session
            .truth()
            .unwrap_or_else(|| summarize(&result.clean, names.len(), None).majority);
        let clean = summarize(&result.clean, names.len(), Some(truth));
        let adversarial = result
            .adversarial
            .as_ref()
            .map(|a| summarize(a, names.len(), Some(truth)));
        let n = result.paths.len();
        ui.label(format!(
            "{n} {}; true class {}",
            if n == 1 { "path" } else { "paths" },
            model.class_name(truth)
        ));
        ui.columns(2, |cols| {
            summary_ui(&mut cols[0], "clean", &clean, names);
            if let Some(a) = &adversarial {
                summary_ui(&mut cols[1], "adversarial", a, names);
            } else {
                cols[1].label("Run an attack, then query again, to compare.");
            }
        });
        let height = ((ui.available_height() - 40.0) / 2.0).clamp(120.0, 260.0);
        let bars = |s: &EnsembleSummary, offset: f64, colour: Color32, name: &str| {
            BarChart::new(
                name,
                s.histogram
                    .iter()
                    .enumerate()
                    .map(|(c, &n)| Bar::new(c as f64 + offset, n as f64).width(0.4))
                    .collect(),
            )
            .color(colour)
        };
        let class_names = names.clone();
        Plot::new("ensemble-histogram")
            .height(height)
            .legend(Legend::default())
            .y_axis_label("paths")
            .x_axis_formatter(move |mark, _| {
                let i = mark.value.round();
                if (mark.value - i).abs() < 1e-6 && i >= 0.0 {
                    class_names.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .allow_drag(false)
            .allow_zoom(false)
            .allow_scroll(false)
            .show(ui, |plot| {
                plot.bar_chart(bars(&clean, -0.2, CLEAN, "clean"));
                if let Some(a) = &adversarial {
                    plot.bar_chart(bars(a, 0.2, ADVERSARIAL, "adversarial"));
                }
            });
        ui.label("Each point is a path: its share of BN layers against its confidence in the true class. Click a point to open that path in the Paths view.");
        let clean_points = scatter_points(result, &result.clean, session, truth);
        let adv_points = result
            .adversarial
            .as_ref()
            .map(|a| scatter_points(result, a, session, truth));
        let response = Plot::new("ensemble-scatter")
            .height(height)
            .legend(Legend::default())
            .x_axis_label("share of BN layers")
            .y_axis_label("p(true class)")
            .include_y(0.0)
            .include_y(1.0)
            .show(ui, |plot| {
                plot.points(
                    Points::new("clean", PlotPoints::from(clean_points.clone()))
                        .color(CLEAN)
                        .radius(2.5),
                );
                if let Some(a) = &adv_points {
                    plot.points(
                        Points::new("adversarial", PlotPoints::from(a.clone()))
                            .color(ADVERSARIAL)
                            .radius(2.5),
                    );
                }
                if plot.response().clicked() {
                    plot.pointer_coordinate().map(|c| (c, *plot.transform()))
                } else {
                    None
                }
            });
        if let Some((pointer, transform)) = response.inner {
            let at = transform.position_from_point(&pointer);
            let nearest = clean_points
                .iter()
                .chain(adv_points.iter().flatten())
                .enumerate()
                .map(|(i, p)| {
                    let pos = transform.position_from_point(&egui_plot::PlotPoint::new(p[0], p[1]));
                    (i % clean_points.len(), pos.distance(at))
                })
                .min_by(|a, b| a.1.total_cmp(&b.1));
            if let Some((i, distance)) = nearest
                && distance < 12.0
            {
                actions.push(Action::ShowPath(result.paths[i].clone()));
            }
        }
    }
}
