//! The Budget view: for the current image, how the share of random paths that stay right falls
//! as ε grows, under the paper's protocol and under EOT, drawn point by point while it
//! computes; beside it, the model's own accuracy-against-ε from its card.

use egui::{Color32, RichText, Ui};
use egui_plot::{Line, LineStyle, Plot, PlotPoints, Points};
use serde::{Deserialize, Serialize};

use crate::budget::{BudgetCurve, CURVE_EPS, CurvePoint, CurveSetup};
use crate::eval::card::CardCurves;
use crate::eval::presets::SanityCurve;
use crate::limits::{MAX_EOT_PATHS, MAX_QUERY_PATHS};

use super::session::Action;
use super::settings::Tab;
use super::view::{JobContext, Notice, View, ViewContext};
use super::worker::Slot;

const OFFICIAL: Color32 = Color32::from_rgb(66, 133, 244);
const EOT: Color32 = Color32::from_rgb(219, 68, 55);

/// The attacker's EOT K and the number of paths that judge every attacked image (persisted),
/// and the curve.
#[derive(Serialize, Deserialize)]
#[serde(default)]
pub struct CurveView {
    pub eot_paths: usize,
    pub judging_paths: usize,
    #[serde(skip)]
    curve: Slot<BudgetCurve>,
}

impl Default for CurveView {
    fn default() -> Self {
        Self {
            eot_paths: 10,
            judging_paths: 64,
            curve: Slot::default(),
        }
    }
}

impl CurveView {
    pub fn sanitize(&mut self) {
        self.eot_paths = self.eot_paths.clamp(1, MAX_EOT_PATHS);
        self.judging_paths = self.judging_paths.clamp(1, MAX_QUERY_PATHS);
    }

    pub fn curve(&self) -> Option<&BudgetCurve> {
        self.curve.get()
    }

    /// The curve is being computed (its points so far are in the worker's live progress).
    pub fn computing(&self) -> bool {
        self.curve.computing()
    }
}

fn colour(policy: usize) -> Color32 {
    if policy == 0 { OFFICIAL } else { EOT }
}

/// The card's curve of `policy` ("official", "eot10"), ε up to the plot's 16/255, in percent.
fn card_line(curves: &[SanityCurve], policy: &str) -> Option<Vec<[f64; 2]>> {
    let max = CURVE_EPS[CURVE_EPS.len() - 1];
    let curve = curves.iter().find(|c| c.policy == policy)?;
    Some(
        curve
            .points
            .iter()
            .filter(|p| p[0] <= max)
            .map(|p| [p[0], 100.0 * p[1]])
            .collect(),
    )
}

impl View for CurveView {
    fn job(&self, _ensemble_paths: usize) -> Action {
        Action::Run(Tab::Budget)
    }

    fn start(&mut self, cx: &JobContext<'_>) -> Result<(), String> {
        let Some(image) = &cx.session.image else {
            return Ok(());
        };
        // The image's true label, else the one the last attack judged by (the ensemble's vote).
        let label = match (cx.session.label(), &cx.session.attack) {
            (Some(truth), _) => (truth, true),
            (None, Some(attack)) => (attack.label, attack.label_given),
            (None, None) => {
                return Err("The ε curve needs a label: pick a gallery image, or run an attack first (it uses the ensemble's vote)".into());
            }
        };
        let setup =
            CurveSetup::official_and_eot(self.eot_paths, self.judging_paths, label, cx.attack.seed);
        // The plot shows the new curve's points as they come, never the previous curve.
        self.curve.clear();
        self.curve
            .start(cx.worker.budget_curve(image.input.clone(), setup));
        Ok(())
    }

    fn poll(&mut self) -> Option<Notice> {
        match self.curve.poll()? {
            Ok(curve) if curve.cancelled => Some(Notice::Info(
                "ε curve cancelled: the points computed so far are shown".into(),
            )),
            Ok(_) => None,
            Err(e) => Some(Notice::Error(format!("ε curve failed: {e}"))),
        }
    }

    fn forget_results(&mut self) {
        self.curve.clear();
    }

    fn ui(&mut self, ui: &mut Ui, cx: &mut ViewContext<'_>) {
        let session = cx.session;
        let Some(model) = &session.model else {
            ui.label("No model loaded.");
            return;
        };
        ui.add(
            egui::Label::new(
                "Robustness against budget: PGD-20 at each ε from 0 to 16/255, then how many \
                 random paths still classify the attacked image right. Blue attacks one random \
                 path (the paper's protocol), red averages gradients over K paths per step (EOT).",
            )
            .wrap(),
        );
        ui.horizontal_wrapped(|ui| {
            let label = ui.label("EOT K");
            ui.add(egui::Slider::new(&mut self.eot_paths, 1..=MAX_EOT_PATHS).logarithmic(true))
                .labelled_by(label.id);
            let label = ui.label("judging paths");
            ui.add(
                egui::Slider::new(&mut self.judging_paths, 1..=MAX_QUERY_PATHS).logarithmic(true),
            )
            .labelled_by(label.id);
            let ready = session.image.is_some() && !cx.busy;
            if ui
                .add_enabled(ready, egui::Button::new("Run ε curve"))
                .on_hover_text("Esc cancels; the points done so far stay")
                .clicked()
            {
                cx.actions.push(self.job(0));
            }
        });
        let computing = self.curve.computing();
        let names = |setup: &CurveSetup| -> Vec<String> {
            setup.policies.iter().map(|p| p.to_string()).collect()
        };
        let live = cx.live.curve.as_ref().filter(|_| computing);
        let (points, names, caption) = if let Some((setup, points)) = live {
            let progress = format!("computing point {} of {}…", cx.live.done, cx.live.total);
            (
                points.as_slice(),
                names(setup),
                format!("{progress} {}", setup.describe()),
            )
        } else if let Some(curve) = self.curve.get().filter(|_| !computing) {
            (
                curve.points.as_slice(),
                names(&curve.setup),
                curve.setup.describe(),
            )
        } else {
            ui.label("Press Run ε curve to draw it for this image.");
            (&[][..], Vec::new(), String::new())
        };
        if let Some(curve) = self.curve.get().filter(|_| !computing) {
            let class = model.class_name(curve.setup.label);
            if let Some(sentence) = curve.sentence(class) {
                ui.label(RichText::new(sentence).size(15.0));
            }
            if curve.cancelled {
                ui.colored_label(
                    ui.visuals().warn_fg_color,
                    "Cancelled: the curve stops where it was stopped",
                );
            }
        }
        ui.horizontal_wrapped(|ui| {
            for (i, name) in names.iter().enumerate() {
                ui.label(RichText::new(format!("— {name}")).color(colour(i)).strong());
            }
            match &model.card_curves {
                Some(CardCurves { images: n, .. }) => ui.label(format!(
                    "- - the model card: robust accuracy over {n} test images (official, eot:10), \
                     each clean and adversarial right"
                )),
                _ => ui.label(
                    "(this model's card has no ε curve: `rna-lens eval --preset sanity` measures one)",
                ),
            };
        });
        if !caption.is_empty() {
            ui.add(egui::Label::new(RichText::new(caption).small()).wrap());
        }
        let curves = model.card_curves.as_ref().map_or(&[][..], |c| &c.curves);
        let cards = [card_line(curves, "official"), card_line(curves, "eot10")];
        let height = (ui.available_height() - 16.0).clamp(200.0, 460.0);
        Plot::new("budget-curve")
            .height(height)
            .x_axis_label("ε (/255)")
            .y_axis_label("right (%)")
            .include_x(0.0)
            .include_x(CURVE_EPS[CURVE_EPS.len() - 1])
            .include_y(0.0)
            .include_y(100.0)
            .allow_scroll(false)
            .show(ui, |plot| {
                for (policy, card) in cards.iter().enumerate() {
                    if let Some(line) = card {
                        plot.line(
                            Line::new(format!("card {policy}"), PlotPoints::from(line.clone()))
                                .color(colour(policy))
                                .style(LineStyle::dashed_loose())
                                .width(1.5),
                        );
                    }
                }
                for (policy, name) in names.iter().enumerate() {
                    let line: Vec<&CurvePoint> =
                        points.iter().filter(|p| p.policy == policy).collect();
                    let xy: Vec<[f64; 2]> = line
                        .iter()
                        .map(|p| [p.eps, 100.0 * p.correct.value])
                        .collect();
                    // Interval bars side by side, so that equal points do not hide each other.
                    let dx = 0.15 * policy as f64;
                    for p in &line {
                        let bar = vec![
                            [p.eps + dx, 100.0 * p.correct.low],
                            [p.eps + dx, 100.0 * p.correct.high],
                        ];
                        plot.line(
                            Line::new(format!("{name} interval"), PlotPoints::from(bar))
                                .color(colour(policy).gamma_multiply(0.6))
                                .width(1.5),
                        );
                    }
                    plot.line(
                        Line::new(name.clone(), PlotPoints::from(xy.clone()))
                            .color(colour(policy))
                            .width(2.5),
                    );
                    plot.points(
                        Points::new(name.clone(), PlotPoints::from(xy))
                            .color(colour(policy))
                            .radius(4.0),
                    );
                }
            });
    }
}
