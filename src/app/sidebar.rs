//! The side panels: which model and which image on the left, the attack on the right.

use egui::{RichText, Ui, Vec2};

use crate::data::preprocess::{UserImage, decode_image};

use super::RnaLensApp;
use super::session::{Action, Session};
use super::widgets::Textures;
use super::worker::ModelSource;

pub struct ModelPanel;

impl ModelPanel {
    pub fn ui(&mut self, ui: &mut Ui, session: &Session, busy: bool, actions: &mut Vec<Action>) {
        ui.heading("Model");
        let current = session.model.as_ref().map(|m| &m.source);
        ui.add_enabled_ui(!busy, |ui| {
            for shipped in &crate::assets::MODELS {
                let source = ModelSource::Shipped(shipped);
                let selected = current == Some(&source);
                let response = ui
                    .add(egui::Button::selectable(selected, shipped.label))
                    // Lazily: `origin` looks for a file beside the binary, not a per-frame cost.
                    .on_hover_ui(|ui| {
                        ui.label(shipped.origin());
                    });
                if response.clicked() && !selected {
                    actions.push(Action::LoadModel(source));
                }
            }
            if ui
                .button("Open model…")
                .on_hover_text(
                    "An rna-lens .safetensors file or an official PyTorch .pth checkpoint",
                )
                .clicked()
            {
                actions.push(Action::OpenModelDialog);
            }
        });
        let Some(model) = &session.model else {
            ui.label("No model loaded.");
            return;
        };
        ui.add_space(4.0);
        if !model.trained() {
            ui.colored_label(
                ui.visuals().error_fg_color,
                "UNTRAINED: random weights, predictions mean nothing",
            );
        }
        egui::Grid::new("model-summary")
            .num_columns(2)
            .show(ui, |ui| {
                let row = |ui: &mut Ui, k: &str, v: String| {
                    ui.label(k);
                    ui.label(v);
                    ui.end_row();
                };
                row(ui, "file", short_name(&model.source));
                row(ui, "architecture", model.config.architecture.name());
                row(ui, "candidates", model.space.candidate_list());
                row(ui, "random layers", model.space.num_layers().to_string());
                row(ui, "paths", model.space.describe_count());
                row(
                    ui,
                    "parameters",
                    crate::model::path::group_thousands(model.parameters as u128),
                );
                row(
                    ui,
                    "trained",
                    if model.trained() { "yes" } else { "no" }.into(),
                );
            });
        if !model.card.is_empty() {
            ui.label(RichText::new("measured (model card)").strong());
            for (name, acc, images) in &model.card {
                ui.label(format!("{name}: {:.1}% on {images} images", 100.0 * acc));
            }
        }
        ui.label(RichText::new(format!("runs on: {}", model.device)).small());
    }
}

fn short_name(source: &ModelSource) -> String {
    match source {
        ModelSource::Shipped(m) => m.file.into(),
        ModelSource::File(p) => p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| p.display().to_string()),
        other => other.describe(),
    }
}

/// One gallery image: a real CIFAR-10 test image with its label.
pub struct Sample {
    pub name: String,
    pub label: Option<usize>,
    pub image: UserImage,
}

/// The shipped samples, decoded once at start.
pub struct Gallery {
    pub samples: Vec<Sample>,
    pub error: Option<String>,
}

impl Gallery {
    pub fn load() -> Self {
        let files = match crate::assets::gallery_files() {
            Ok(files) => files,
            Err(e) => {
                return Self {
                    samples: Vec::new(),
                    error: Some(format!("cannot read the sample gallery: {e}")),
                };
            }
        };
        let mut error = None;
        let samples = files
            .into_iter()
            .filter_map(|file| match decode_image(&file.bytes) {
                Ok(image) => Some(Sample {
                    label: crate::assets::label_from_name(&file.name),
                    name: file.name,
                    image,
                }),
                Err(e) => {
                    error = Some(format!("{}: {e}", file.name));
                    None
                }
            })
            .collect();
        Self { samples, error }
    }
}

pub struct ImagePanel;

impl ImagePanel {
    pub fn ui(
        &mut self,
        ui: &mut Ui,
        session: &Session,
        gallery: &Gallery,
        textures: &mut Textures,
        actions: &mut Vec<Action>,
    ) {
        ui.heading("Image");
        let names = session
            .model
            .as_ref()
            .map(|m| m.config.class_names.clone())
            .unwrap_or_default();
        if let Some(image) = &session.image {
            ui.horizontal(|ui| {
                let original = textures.rgb(ui, "original", &image.original);
                ui.add(egui::Image::new(&original).fit_to_exact_size(Vec2::splat(96.0)))
                    .on_hover_text("the original picture");
                let input = textures.planar(ui, "input", &image.input, 32);
                ui.add(egui::Image::new(&input).fit_to_exact_size(Vec2::splat(96.0)))
                    .on_hover_text("the 32×32 model input");
            });
            let label = match image.label {
                Some(l) => names.get(l).cloned().unwrap_or_else(|| l.to_string()),
                None => "unknown (the ensemble's vote is used)".into(),
            };
            ui.label(format!("{}: {label}", image.name));
        }
        if ui
            .button("Open image…")
            .on_hover_text("Or drop an image file onto the window")
            .clicked()
        {
            actions.push(Action::OpenImageDialog);
        }
        if let Some(e) = &gallery.error {
            ui.colored_label(ui.visuals().warn_fg_color, e);
        }
        ui.label(RichText::new("gallery (CIFAR-10 test images)").small());
        egui::Grid::new("gallery")
            .spacing([4.0, 4.0])
            .show(ui, |ui| {
                for (i, sample) in gallery.samples.iter().enumerate() {
                    let texture =
                        textures.planar(ui, &format!("sample-{i}"), &sample.image.input, 32);
                    let selected = session
                        .image
                        .as_ref()
                        .is_some_and(|im| im.path.is_none() && im.name == sample.name);
                    let class = sample
                        .label
                        .and_then(|l| names.get(l).cloned())
                        .unwrap_or_default();
                    let response = ui
                        .add(
                            egui::Button::image(
                                egui::Image::new(&texture).fit_to_exact_size(Vec2::splat(40.0)),
                            )
                            .selected(selected),
                        )
                        .on_hover_text(format!("{} — {class}", sample.name));
                    let label = format!("sample {}", sample.name);
                    response.widget_info(|| {
                        egui::WidgetInfo::labeled(egui::Role::Button, true, &label)
                    });
                    if response.clicked() {
                        actions.push(Action::SelectSample(i));
                    }
                    if i % 4 == 3 {
                        ui.end_row();
                    }
                }
            });
    }
}

impl RnaLensApp {
    /// Model and image on the left, the attack on the right.
    pub(super) fn side_panels_ui(&mut self, ui: &mut Ui, busy: bool, actions: &mut Vec<Action>) {
        // Each side at most a quarter of the window, scrolling inside rather than covering
        // the view when the window is narrow or zoomed.
        let side_max = 0.25 * ui.available_width();
        egui::Panel::left("left")
            .default_size(240.0_f32.min(side_max))
            .max_size(side_max)
            .show(ui, |ui| {
                egui::ScrollArea::both().show(ui, |ui| {
                    self.model_panel.ui(ui, &self.session, busy, actions);
                    ui.separator();
                    self.image_panel.ui(
                        ui,
                        &self.session,
                        &self.gallery,
                        &mut self.textures,
                        actions,
                    );
                });
            });
        egui::Panel::right("right")
            .default_size(280.0_f32.min(side_max))
            .max_size(side_max)
            .show(ui, |ui| {
                egui::ScrollArea::both().show(ui, |ui| {
                    self.attack_panel.ui(
                        ui,
                        &mut self.settings.attack,
                        &self.session,
                        busy,
                        &self.live,
                        actions,
                    );
                });
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_gallery_loads_all_twenty_samples_with_labels() {
        let gallery = Gallery::load();
        assert_eq!(gallery.error, None);
        assert_eq!(gallery.samples.len(), 20);
        assert!(
            gallery
                .samples
                .iter()
                .all(|s| s.label.is_some_and(|l| l < 10))
        );
    }
}
