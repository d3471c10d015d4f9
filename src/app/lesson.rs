//! The guided lesson: eight steps, each a short paragraph above the live views. Entering a step
//! sets the app up and runs that step's job; its closing sentence is computed from the result
//! on screen, never written in advance. Works on any model, a card's numbers included when the
//! model has one.

use egui::{RichText, Ui};
use serde::{Deserialize, Serialize};

use crate::attack::PathPolicy;
use crate::ensemble::summarize;
use crate::stats::Proportion;

use super::RnaLensApp;
use super::session::{Action, Session};
use super::settings::{Tab, paper_protocol};
use super::view::Views;

/// The steps, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LessonStep {
    OnePath,
    PathMix,
    Vote,
    WhiteBox,
    Defender,
    Transfer,
    Eot,
    Card,
}

/// Where the lesson stands; persisted, so that a lesson left (or a closed app) resumes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LessonProgress {
    pub active: bool,
    pub step: usize,
}

/// The ensemble the lesson votes with, as the paper's figures do.
const VOTERS: usize = 256;

impl LessonStep {
    pub const ALL: [LessonStep; 8] = [
        LessonStep::OnePath,
        LessonStep::PathMix,
        LessonStep::Vote,
        LessonStep::WhiteBox,
        LessonStep::Defender,
        LessonStep::Transfer,
        LessonStep::Eot,
        LessonStep::Card,
    ];

    pub fn title(self) -> &'static str {
        match self {
            LessonStep::OnePath => "One image, one path",
            LessonStep::PathMix => "What a path is made of",
            LessonStep::Vote => "What 256 paths vote",
            LessonStep::WhiteBox => "Attacking one path (white box)",
            LessonStep::Defender => "The defender draws its own path",
            LessonStep::Transfer => "Do attacks cross between paths?",
            LessonStep::Eot => "An attacker who averages over paths",
            LessonStep::Card => "What the numbers say over the whole test set",
        }
    }

    pub fn text(self) -> &'static str {
        match self {
            LessonStep::OnePath => {
                "An RNA network has, at every normalization layer, several candidates (here \
                 BatchNorm or instance norm). Picking one per layer gives a path: an ordinary \
                 network. We draw one path at random and ask it about this image."
            }
            LessonStep::PathMix => {
                "The strip shows that path layer by layer, each cell coloured by the \
                 normalization it uses. Resample (R) to draw another one: there are \
                 astronomically many."
            }
            LessonStep::Vote => {
                "Each prediction of the model uses a fresh random path. Asking 256 paths at once \
                 shows how often the model is right on this image, and how much paths disagree."
            }
            LessonStep::WhiteBox => {
                "PGD-20 (ε = 8/255) now attacks the path of the first two steps, and we ask the \
                 same path again: the attacker knows exactly the network it faces."
            }
            LessonStep::Defender => {
                "The paper's protocol: the attacker still attacks one random path, but the \
                 defender answers with an independent random path. Watch the verdict and the \
                 256 paths after the attack."
            }
            LessonStep::Transfer => {
                "If attacks crafted on one path fool other paths less, randomness protects. The \
                 matrix attacks 8 paths and tests each attack on every other path, grouped by \
                 their share of BatchNorm layers."
            }
            LessonStep::Eot => {
                "An adaptive attacker averages gradients over 10 random paths at every step \
                 (EOT). Left: the paper's protocol; right: EOT, with the same budget."
            }
            LessonStep::Card => {
                "One image proves little. The model's card holds accuracies measured on the test \
                 split, each with its protocol and a 95% interval."
            }
        }
    }

    pub fn tab(self) -> Tab {
        match self {
            LessonStep::OnePath | LessonStep::Vote => Tab::Ensemble,
            LessonStep::PathMix => Tab::Paths,
            LessonStep::WhiteBox | LessonStep::Defender | LessonStep::Card => Tab::Attack,
            LessonStep::Transfer => Tab::Transfer,
            LessonStep::Eot => Tab::Compare,
        }
    }

    /// The step's closing sentence from what the session and the views show; `None` until its
    /// result is there.
    pub fn conclusion(self, session: &Session, views: &Views) -> Option<String> {
        let model = session.model.as_ref()?;
        let name = |c: usize| model.class_name(c).to_string();
        let truth = session
            .label()
            .or_else(|| session.attack.as_ref().map(|a| a.label));
        let percent = |p: &Proportion| {
            format!(
                "{:.0}% (95% interval {:.0}–{:.0}%)",
                100.0 * p.value,
                100.0 * p.low,
                100.0 * p.high
            )
        };
        match self {
            LessonStep::OnePath => {
                let e = session.ensemble.as_ref().filter(|e| e.paths.len() == 1)?;
                let p = &e.clean[0];
                let right = match truth {
                    Some(t) if t == p.label => format!(": right, it is a {}", name(t)),
                    Some(t) => format!(": wrong, it is a {}", name(t)),
                    None => String::new(),
                };
                Some(format!(
                    "This path says {} with {:.0}% confidence{right}.",
                    name(p.label),
                    100.0 * p.probabilities.get(p.label).copied().unwrap_or(0.0)
                ))
            }
            LessonStep::PathMix => {
                let path = views.paths.path.as_ref()?;
                let batch = model.space.batch_stat_layers(path);
                Some(format!(
                    "This path normalizes with batch statistics at {batch} of its {} random \
                     layers; a fresh draw would mix them differently.",
                    path.len()
                ))
            }
            LessonStep::Vote => {
                let e = session.ensemble.as_ref().filter(|e| e.paths.len() > 1)?;
                let s = summarize(&e.clean, model.config.num_classes(), truth);
                let correct = s
                    .p_correct
                    .map(|p| format!("; P(correct) = {}", percent(&p)))
                    .unwrap_or_default();
                Some(format!(
                    "{:.0}% of the {} paths vote {}{correct}.",
                    100.0 * s.agreement,
                    e.paths.len(),
                    name(s.majority)
                ))
            }
            LessonStep::WhiteBox => {
                let a = session
                    .attack
                    .as_ref()
                    .filter(|a| a.config.policy == PathPolicy::Fixed)?;
                Some(format!(
                    "After the attack the same path says {}: {}.",
                    name(a.eight_bit_prediction),
                    a.verdict().describe()
                ))
            }
            LessonStep::Defender => {
                let a = session
                    .attack
                    .as_ref()
                    .filter(|a| a.config.policy == PathPolicy::Official)?;
                let classes = model.config.num_classes();
                let (before, after) = (a.clean_summary(classes), a.adversarial_summary(classes));
                let ensemble = match (before.p_correct, after.p_correct) {
                    (Some(b), Some(c)) => format!(
                        "; over {} paths P(correct) goes from {} to {}",
                        a.query_paths.len(),
                        percent(&b),
                        percent(&c)
                    ),
                    _ => String::new(),
                };
                Some(format!(
                    "The defender's independent path says {}: {}{ensemble}.",
                    name(a.eight_bit_prediction),
                    a.verdict().describe()
                ))
            }
            LessonStep::Transfer => {
                let t = views.transfer.matrix()?;
                let pooled = |same: bool| {
                    let cells: Vec<_> = t
                        .groups
                        .iter()
                        .filter(|g| (g.source_bin == g.target_bin) == same && g.pairs > 0)
                        .collect();
                    let pairs: usize = cells.iter().map(|g| g.pairs).sum();
                    (pairs > 0).then(|| {
                        cells
                            .iter()
                            .map(|g| g.success.value * g.pairs as f64)
                            .sum::<f64>()
                            / pairs as f64
                    })
                };
                Some(match (pooled(true), pooled(false)) {
                    (Some(within), Some(across)) => format!(
                        "Attacks fooled another path of the same BatchNorm share in {:.0}% of \
                         pairs and one of a different share in {:.0}%: {}.",
                        100.0 * within,
                        100.0 * across,
                        if across + 0.1 < within {
                            "composition protects here"
                        } else {
                            "composition makes no clear difference on this image"
                        }
                    ),
                    _ => "Too few paths were right on the clean image to compare groups: try \
                          another image."
                        .to_string(),
                })
            }
            LessonStep::Eot => {
                let c = views.compare.comparison()?;
                let classes = model.config.num_classes();
                let (official, eot) = (
                    c.official.adversarial_summary(classes).p_correct?,
                    c.eot.adversarial_summary(classes).p_correct?,
                );
                Some(format!(
                    "After the attack P(correct) over the paths is {} under the paper's protocol \
                     and {} under EOT: {}.",
                    percent(&official),
                    percent(&eot),
                    if eot.high < official.low {
                        "averaging over paths breaks the ensemble further"
                    } else if eot.value < official.value {
                        "EOT does somewhat more harm"
                    } else {
                        "on this image EOT does no more harm"
                    }
                ))
            }
            LessonStep::Card => Some(if model.card.is_empty() {
                "This model has no card: measure one with `rna-lens eval`.".to_string()
            } else {
                let rows: Vec<String> = model
                    .card
                    .iter()
                    .map(|(protocol, accuracy, images)| {
                        let right = (accuracy * *images as f64).round() as usize;
                        format!(
                            "{protocol}: {} on {images} images",
                            percent(&Proportion::wilson(right, *images))
                        )
                    })
                    .collect();
                format!("{}.", rows.join("; "))
            }),
        }
    }
}

impl RnaLensApp {
    /// Starts the lesson at `step`, or resumes it where it was left.
    pub(super) fn start_lesson(&mut self, step: Option<usize>) {
        self.settings.lesson.active = true;
        let step = step.unwrap_or(self.settings.lesson.step);
        self.settings.lesson.step = step.min(LessonStep::ALL.len() - 1);
        self.lesson_entered = None;
    }

    pub(super) fn go_to_lesson_step(&mut self, step: usize) {
        self.settings.lesson.step = step.min(LessonStep::ALL.len() - 1);
        self.lesson_entered = None;
        // The previous step's job would hold the worker: the new step's job runs next.
        self.apply(Action::Cancel);
    }

    /// Sets up the current step once the model and image are there and the worker is free.
    pub(super) fn lesson_logic(&mut self, ctx: &egui::Context) {
        if !self.settings.lesson.active {
            return;
        }
        if !ctx.egui_wants_keyboard_input() {
            let (next, back) = ctx.input(|i| {
                (
                    i.key_pressed(egui::Key::ArrowRight),
                    i.key_pressed(egui::Key::ArrowLeft),
                )
            });
            let step = self.settings.lesson.step;
            if next && step + 1 < LessonStep::ALL.len() {
                self.go_to_lesson_step(step + 1);
            }
            if back && step > 0 {
                self.go_to_lesson_step(step - 1);
            }
        }
        let step = self.settings.lesson.step;
        let ready = self.session.model.is_some() && self.session.image.is_some();
        if self.lesson_entered == Some(step) || !ready || self.is_busy() {
            return;
        }
        self.lesson_entered = Some(step);
        let lesson = LessonStep::ALL[step];
        self.settings.view = lesson.tab();
        match lesson {
            LessonStep::OnePath => {
                self.settings.ensemble_paths = 1;
                self.apply(Action::QueryEnsemble { paths: 1 });
            }
            LessonStep::PathMix => {
                let first = self.session.ensemble.as_ref().and_then(|e| e.paths.first());
                if let Some(path) = first.cloned() {
                    self.apply(Action::ShowPath(path));
                }
            }
            LessonStep::Vote => {
                self.settings.ensemble_paths = VOTERS;
                self.apply(Action::QueryEnsemble { paths: VOTERS });
            }
            LessonStep::WhiteBox | LessonStep::Defender => {
                self.settings.ensemble_paths = VOTERS;
                self.settings.attack = paper_protocol();
                if lesson == LessonStep::WhiteBox {
                    self.settings.attack.policy = PathPolicy::Fixed;
                    // The path of steps 1 and 2 (or the one resampled there), not a new draw.
                    if let (Some(path), Some(model)) = (&self.views.paths.path, &self.session.model)
                    {
                        self.settings.attack.path = Some(model.space.format(path));
                    }
                }
                self.apply(Action::RunAttack);
            }
            LessonStep::Transfer => {
                self.views.transfer.paths = 8;
                self.apply(Action::Run(Tab::Transfer));
            }
            LessonStep::Eot => {
                // The paper's protocol on its official side: no path the white box pinned.
                self.settings.attack.path = None;
                self.settings.ensemble_paths = VOTERS;
                self.views.compare.eot_paths = 10;
                self.apply(Action::Run(Tab::Compare));
            }
            LessonStep::Card => {}
        }
    }

    /// The step on screen and its closing sentence (`None` while its job computes), when the
    /// lesson is on. Public so tests can check the sentence against the results.
    pub fn lesson_status(&self) -> Option<(usize, Option<String>)> {
        let step = self.settings.lesson.step;
        self.settings.lesson.active.then(|| {
            let done = self.lesson_entered == Some(step) && !self.is_busy();
            let sentence = done
                .then(|| LessonStep::ALL[step].conclusion(&self.session, &self.views))
                .flatten();
            (step, sentence)
        })
    }

    /// The lesson's paragraph, closing sentence and navigation, above the current view.
    pub(super) fn lesson_ui(&mut self, ui: &mut Ui, actions: &mut Vec<Action>) {
        let step = self.settings.lesson.step;
        let lesson = LessonStep::ALL[step];
        let total = LessonStep::ALL.len();
        ui.horizontal_wrapped(|ui| {
            ui.label(RichText::new(format!("Lesson · step {} of {total}", step + 1)).small());
            ui.label(RichText::new(lesson.title()).heading());
        });
        ui.add(egui::Label::new(lesson.text()).wrap());
        match self.lesson_status().and_then(|(_, sentence)| sentence) {
            Some(text) => {
                ui.add(egui::Label::new(RichText::new(text).strong()).wrap());
            }
            None => {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label("computing…");
                });
            }
        }
        ui.horizontal(|ui| {
            if ui
                .add_enabled(step > 0, egui::Button::new("Back"))
                .on_hover_text("left arrow")
                .clicked()
            {
                actions.push(Action::GoToLessonStep(step - 1));
            }
            if ui
                .add_enabled(step + 1 < total, egui::Button::new("Next"))
                .on_hover_text("right arrow")
                .clicked()
            {
                actions.push(Action::GoToLessonStep(step + 1));
            }
            if ui.button("Leave lesson").clicked() {
                actions.push(Action::LeaveLesson);
            }
            ui.separator();
            for (i, s) in LessonStep::ALL.iter().enumerate() {
                if ui
                    .selectable_label(i == step, format!("{}", i + 1))
                    .on_hover_text(s.title())
                    .clicked()
                    && i != step
                {
                    actions.push(Action::GoToLessonStep(i));
                }
            }
        });
        ui.separator();
    }
}
