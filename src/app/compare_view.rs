//! Compare mode: the same image and budget under `official` and `eot:K`, side by side — why the
//! paper's protocol can overstate robustness.

use egui::{RichText, Ui, Vec2};

use crate::attack::image::{ImageAttack, Verdict};
use crate::colormap::HeatmapParams;
use crate::limits::MAX_EOT_PATHS;

use super::heatmap::HeatmapSlot;
use super::result_view::{HeatmapStyle, heatmap_ui, trace_plots};
use serde::{Deserialize, Serialize};

use super::session::Action;
use super::settings::Tab;
use super::view::{JobContext, Notice, View, ViewContext};
use super::widgets::Textures;
use super::worker::{Comparison, ModelInfo, Slot};

/// K of the EOT side (persisted), and the comparison.
#[derive(Serialize, Deserialize)]
#[serde(default)]
pub struct CompareView {
    pub eot_paths: usize,
    #[serde(skip)]
    comparison: Slot<Comparison>,
}

impl Default for CompareView {
    fn default() -> Self {
        Self {
            eot_paths: 10,
            comparison: Slot::default(),
        }
    }
}

fn side_ui(
    ui: &mut Ui,
    key: HeatmapSlot,
    title: &str,
    attack: &ImageAttack,
    model: &ModelInfo,
    style: &HeatmapStyle,
    textures: &mut Textures,
) {
    let classes = model.config.class_names.len();
    ui.label(RichText::new(title).strong().size(16.0));
    ui.label(RichText::new(attack.config.policy.describe()).small());
    if attack.cancelled {
        ui.colored_label(
            ui.visuals().warn_fg_color,
            "Cancelled: this side is a partial attack and overstates robustness",
        );
    }
    ui.horizontal(|ui| {
        let t = textures.planar(ui, &format!("compare-adv-{key:?}"), &attack.adversarial, 32);
        ui.add(egui::Image::new(&t).fit_to_exact_size(Vec2::splat(128.0)));
        let delta = attack.delta();
        heatmap_ui(ui, key, &delta, &attack.clean, style, textures);
    });
    let verdict = attack.verdict();
    let text = format!(
        "defender's random path says {}: {}",
        model.class_name(attack.eight_bit_prediction),
        verdict.describe()
    );
    let colour = match verdict {
        Verdict::Fooled => ui.visuals().error_fg_color,
        Verdict::WrongBeforeTheAttack => ui.visuals().warn_fg_color,
        Verdict::StillRight => egui::Color32::from_rgb(46, 160, 67),
    };
    ui.colored_label(colour, text);
    if let Some(p) = attack.adversarial_summary(classes).p_correct {
        ui.label(
            RichText::new(format!(
                "paths still correct: {:.1}% (95% interval {:.1}–{:.1}%) of {}",
                100.0 * p.value,
                100.0 * p.low,
                100.0 * p.high,
                attack.adversarial_paths.len()
            ))
            .strong(),
        );
    }
    trace_plots(
        ui,
        &format!("compare-{key:?}"),
        attack,
        attack.trace.len().saturating_sub(1),
    );
}

impl CompareView {
    pub fn sanitize(&mut self) {
        self.eot_paths = self.eot_paths.clamp(1, MAX_EOT_PATHS);
    }

    pub fn comparison(&self) -> Option<&Comparison> {
        self.comparison.get()
    }
}

impl View for CompareView {
    fn job(&self, _ensemble_paths: usize) -> Action {
        Action::Run(Tab::Compare)
    }

    fn start(&mut self, cx: &JobContext<'_>) -> Result<(), String> {
        if let Some(image) = &cx.session.image {
            let task = cx.worker.compare(
                image.input.clone(),
                cx.session.label(),
                cx.attack.clone(),
                self.eot_paths,
                cx.ensemble_paths,
            );
            self.comparison.start(task);
        }
        Ok(())
    }

    fn poll(&mut self) -> Option<Notice> {
        let e = self.comparison.poll()?.err()?;
        Some(Notice::Error(format!("Comparison stopped: {e}")))
    }

    fn forget_results(&mut self) {
        self.comparison.clear();
    }

    fn ui(&mut self, ui: &mut Ui, cx: &mut ViewContext<'_>) {
        let (session, busy, gpu) = (cx.session, cx.busy, cx.gpu_heatmap);
        let params: &HeatmapParams = cx.heatmap;
        let (textures, actions) = (&mut *cx.textures, &mut *cx.actions);
        let eot_k = &mut self.eot_paths;
        let Some(model) = &session.model else {
            ui.label("No model loaded.");
            return;
        };
        ui.label(
            "The Attack panel's attack and budget, run twice: attacking one random path \
             (official, the paper's protocol) and averaging gradients over K paths per step \
             (EOT). The defender always draws its own random path.",
        );
        ui.horizontal(|ui| {
            let label = ui.label("EOT K");
            ui.add(egui::Slider::new(eot_k, 1..=MAX_EOT_PATHS).logarithmic(true))
                .labelled_by(label.id);
            if ui
                .add_enabled(
                    session.image.is_some() && !busy,
                    egui::Button::new("Run comparison"),
                )
                .clicked()
            {
                actions.push(Action::Run(Tab::Compare));
            }
        });
        let Some(c) = self.comparison.get() else {
            return;
        };
        let k = match c.eot.config.policy {
            crate::attack::PathPolicy::Eot(k) => k,
            _ => 0,
        };
        let classes = model.config.class_names.len();
        let share = |a: &ImageAttack| {
            a.adversarial_summary(classes)
                .p_correct
                .map_or(0.0, |p| 100.0 * p.value)
        };
        ui.label(
            RichText::new(format!(
                "Paths still correct: {:.1}% under official vs {:.1}% under EOT-{k}",
                share(&c.official),
                share(&c.eot)
            ))
            .size(15.0),
        );
        let style = HeatmapStyle {
            params: HeatmapParams {
                eps: c.official.pixel_scale(),
                ..*params
            },
            gpu,
            side: 128.0,
        };
        ui.columns(2, |cols| {
            side_ui(
                &mut cols[0],
                HeatmapSlot::CompareOfficial,
                "official (paper)",
                &c.official,
                model,
                &style,
                textures,
            );
            side_ui(
                &mut cols[1],
                HeatmapSlot::CompareEot,
                &format!("EOT-{k} (adaptive)"),
                &c.eot,
                model,
                &style,
                textures,
            );
        });
    }
}
