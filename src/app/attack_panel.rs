//! The right side: attack settings, Run and Cancel, and live progress.

use egui::{RichText, Ui};
use egui_plot::{Line, Plot, PlotPoints};

use crate::attack::describe_attack;
use crate::attack::{AttackConfig, AttackKind, LossKind, PathPolicy};

use super::session::{Action, Session};
use super::settings::{adaptive_protocol, paper_protocol};
use super::worker::Live;

/// ε or α edited in /255 (L∞) or as a plain L2 length.
fn budget_ui(ui: &mut Ui, label: &str, value: &mut f64, l2: bool, max255: f64) {
    let label = ui.label(label);
    if l2 {
        ui.add(egui::Slider::new(value, 0.0..=4.0).max_decimals(3))
            .labelled_by(label.id);
    } else {
        let mut v255 = *value * 255.0;
        if ui
            .add(
                egui::Slider::new(&mut v255, 0.0..=max255)
                    .suffix("/255")
                    .max_decimals(2)
                    .clamping(egui::SliderClamping::Never),
            )
            .labelled_by(label.id)
            .changed()
        {
            *value = v255.max(0.0) / 255.0;
        }
    }
    ui.end_row();
}

pub struct AttackPanel;

impl AttackPanel {
    pub fn ui(
        &mut self,
        ui: &mut Ui,
        config: &mut AttackConfig,
        session: &Session,
        busy: bool,
        live: &Live,
        actions: &mut Vec<Action>,
    ) {
        ui.heading("Attack");
        ui.horizontal_wrapped(|ui| {
            if ui
                .button("Paper protocol")
                .on_hover_text("PGD-20, ε 8/255, α 2/255, random start, official paths")
                .clicked()
            {
                *config = keep_seed(paper_protocol(), config);
            }
            if ui
                .button("Adaptive (EOT-10)")
                .on_hover_text("The same PGD-20 with gradients averaged over 10 paths per step")
                .clicked()
            {
                *config = keep_seed(adaptive_protocol(), config);
            }
        });
        let classes = session
            .model
            .as_ref()
            .map(|m| m.config.class_names.clone())
            .unwrap_or_default();
        ui.add_enabled_ui(!busy, |ui| settings_grid(ui, config, &classes));

        let problem = config.validate(classes.len().max(1)).err();
        if let Some(p) = &problem {
            ui.colored_label(ui.visuals().error_fg_color, p);
        }
        ui.label(RichText::new(describe_attack(config)).small());
        ui.horizontal(|ui| {
            let ready = session.model.is_some() && session.image.is_some();
            let run = ui.add_enabled(
                !busy && ready && problem.is_none(),
                egui::Button::new("Run"),
            );
            if run.on_hover_text("Space").clicked() {
                actions.push(Action::RunAttack);
            }
            if ui
                .add_enabled(busy, egui::Button::new("Cancel"))
                .on_hover_text("Esc")
                .clicked()
            {
                actions.push(Action::Cancel);
            }
        });
        if busy {
            progress_ui(ui, live);
        }
    }
}

fn keep_seed(mut preset: AttackConfig, old: &AttackConfig) -> AttackConfig {
    preset.seed = old.seed;
    preset
}

fn settings_grid(ui: &mut Ui, config: &mut AttackConfig, classes: &[String]) {
    egui::Grid::new("attack-settings")
        .num_columns(2)
        .show(ui, |ui| {
            let label = ui.label("attack");
            let before = config.kind;
            egui::ComboBox::from_id_salt("attack-kind")
                .selected_text(config.kind.name())
                .show_ui(ui, |ui| {
                    for kind in AttackKind::ALL {
                        ui.selectable_value(&mut config.kind, kind, kind.name());
                    }
                })
                .response
                .labelled_by(label.id);
            ui.end_row();
            if config.kind != before {
                // A new attack starts from its own usual settings; the path settings stay.
                let fresh = AttackConfig::preset(config.kind);
                *config = AttackConfig {
                    policy: if config.kind == AttackKind::AutoattackRand {
                        fresh.policy.clone()
                    } else {
                        config.policy.clone()
                    },
                    seed: config.seed,
                    target: config.target.filter(|_| !fresh.is_apgd()),
                    path: config.path.clone(),
                    ..fresh
                };
            }
            let l2 = config.kind == AttackKind::PgdL2;
            budget_ui(ui, "ε", &mut config.eps, l2, 32.0);
            if config.is_apgd() {
                ui.label("α");
                ui.label("adaptive (APGD)");
                ui.end_row();
            } else if config.kind == AttackKind::Fgsm {
                config.alpha = config.eps;
                ui.label("α");
                ui.label("= ε (one step)");
                ui.end_row();
            } else {
                budget_ui(ui, "α", &mut config.alpha, l2, 16.0);
            }
            let label = ui.label("steps");
            ui.add_enabled(
                config.kind != AttackKind::Fgsm,
                egui::DragValue::new(&mut config.steps).range(1..=1000),
            )
            .labelled_by(label.id);
            ui.end_row();
            let label = ui.label("restarts");
            ui.add(egui::DragValue::new(&mut config.restarts).range(1..=20))
                .labelled_by(label.id);
            ui.end_row();
            ui.label("start");
            ui.checkbox(&mut config.random_start, "random start");
            ui.end_row();
            ui.label("norm");
            ui.label(if l2 { "L2" } else { "L∞" })
                .on_hover_text("Choose pgd-l2 for an L2 attack");
            ui.end_row();
            let label = ui.label("loss");
            ui.add_enabled_ui(config.kind != AttackKind::AutoattackRand, |ui| {
                egui::ComboBox::from_id_salt("loss")
                    .selected_text(config.loss.to_string())
                    .show_ui(ui, |ui| {
                        for loss in [LossKind::Ce, LossKind::Cw, LossKind::Dlr] {
                            ui.selectable_value(&mut config.loss, loss, loss.to_string());
                        }
                    })
                    .response
                    .labelled_by(label.id);
            });
            ui.end_row();
            let label = ui.label("target");
            ui.add_enabled_ui(!config.is_apgd(), |ui| {
                let name = |t: Option<usize>| match t {
                    None => "untargeted".to_string(),
                    Some(c) => classes.get(c).cloned().unwrap_or_else(|| c.to_string()),
                };
                egui::ComboBox::from_id_salt("target")
                    .selected_text(name(config.target))
                    .show_ui(ui, |ui| {
                        ui.selectable_value(&mut config.target, None, "untargeted");
                        for c in 0..classes.len() {
                            ui.selectable_value(&mut config.target, Some(c), name(Some(c)));
                        }
                    })
                    .response
                    .labelled_by(label.id);
            });
            ui.end_row();
            let label = ui.label("paths");
            policy_ui(ui, &mut config.policy, label.id);
            ui.end_row();
            let label = ui.label("seed");
            ui.add(egui::DragValue::new(&mut config.seed))
                .labelled_by(label.id);
            ui.end_row();
        });
    if let Some(path) = config.path.clone() {
        ui.horizontal(|ui| {
            ui.label(RichText::new(format!("attacker path pinned: {path}")).small());
            if ui.small_button("unpin").clicked() {
                config.path = None;
            }
        });
    }
}

fn policy_ui(ui: &mut Ui, policy: &mut PathPolicy, label: egui::Id) {
    ui.horizontal(|ui| {
        let k = match policy {
            PathPolicy::Eot(k) => *k,
            _ => 10,
        };
        egui::ComboBox::from_id_salt("policy")
            .selected_text(match &*policy {
                PathPolicy::Eot(_) => "eot".to_string(),
                other => other.to_string(),
            })
            .show_ui(ui, |ui| {
                for p in [
                    PathPolicy::Fixed,
                    PathPolicy::Official,
                    PathPolicy::Resample,
                    PathPolicy::Eot(k),
                ] {
                    let text = match &p {
                        PathPolicy::Eot(_) => "eot".to_string(),
                        other => other.to_string(),
                    };
                    let hover = p.describe();
                    ui.selectable_value(policy, p, text).on_hover_text(hover);
                }
            })
            .response
            .labelled_by(label);
        if let PathPolicy::Eot(k) = policy {
            let k_label = ui.label("K");
            ui.add(egui::DragValue::new(k).range(1..=crate::limits::MAX_EOT_PATHS))
                .labelled_by(k_label.id);
        }
    });
}

/// Iteration k of n, and the loss so far.
pub fn progress_ui(ui: &mut Ui, live: &Live) {
    let fraction = if live.total > 0 {
        live.done as f32 / live.total as f32
    } else {
        0.0
    };
    let text = if live.total > 0 {
        format!("{}: iteration {} of {}", live.task, live.done, live.total)
    } else {
        live.task.clone()
    };
    ui.add(
        egui::ProgressBar::new(fraction)
            .text(text)
            .animate(live.total == 0),
    );
    if let Some(&last) = live.losses.last() {
        ui.label(format!("loss {last:.4}"));
        let points: PlotPoints = live
            .losses
            .iter()
            .enumerate()
            .map(|(i, &l)| [i as f64, f64::from(l)])
            .collect();
        Plot::new("live-loss")
            .height(80.0)
            .show_axes([false, true])
            .allow_drag(false)
            .allow_zoom(false)
            .allow_scroll(false)
            .show(ui, |plot| plot.line(Line::new("loss", points)));
    }
}
