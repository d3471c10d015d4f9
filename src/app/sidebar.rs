//! The left side: which model, and which image.

use std::path::{Path as FsPath, PathBuf};

use egui::{RichText, Ui, Vec2};

use crate::data::preprocess::{UserImage, load_image};

use super::session::{Action, Session};
use super::widgets::Textures;
use super::worker::ModelSource;

/// Where shipped files live: beside the sources when run with cargo, else beside the binary,
/// else the working directory.
pub fn assets_dir() -> PathBuf {
    let candidates = [
        Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets")),
        std::env::current_exe()
            .ok()
            .and_then(|e| e.parent().map(|p| p.join("assets"))),
        Some(PathBuf::from("assets")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|p| p.is_dir())
        .unwrap_or_else(|| PathBuf::from("assets"))
}

/// The models that ship with the app: (menu name, file).
pub fn shipped_models() -> Vec<(&'static str, PathBuf)> {
    let dir = assets_dir().join("models");
    vec![
        (
            "RNA ResNet-20 [bn, gnr_1]",
            dir.join("rna-resnet20.safetensors"),
        ),
        (
            "BN ResNet-20 (plain twin)",
            dir.join("bn-resnet20.safetensors"),
        ),
    ]
}

/// The model to open when nothing else is asked for: the shipped RNA model, or an untrained
/// network (clearly labelled) if the assets are missing.
pub fn default_model() -> ModelSource {
    let (_, rna) = &shipped_models()[0];
    if rna.is_file() {
        ModelSource::File(rna.clone())
    } else {
        ModelSource::Untrained("resnet20".into())
    }
}

/// Measured accuracies published beside a model (`<name>.eval.json`, the output of
/// `rna-lens eval --json`): (protocol, accuracy, images).
pub fn card_accuracies(model: &FsPath) -> Vec<(String, f64, usize)> {
    let card = model.with_extension("eval.json");
    let Ok(text) = std::fs::read_to_string(card) else {
        return Vec::new();
    };
    let Ok(json) = serde_json::from_str::<serde_json::Value>(&text) else {
        return Vec::new();
    };
    let Some(protocols) = json["protocols"].as_object() else {
        return Vec::new();
    };
    protocols
        .iter()
        .filter_map(|(name, r)| {
            // Robust accuracy in the AutoAttack convention, or natural without an attack (cards
            // measured before both conventions were counted hold one figure per protocol).
            let acc = r["robust"]["value"]
                .as_f64()
                .or_else(|| r["natural"]["value"].as_f64())
                .or_else(|| r["robust_accuracy"].as_f64())
                .or_else(|| r["natural_accuracy"].as_f64())?;
            Some((name.clone(), acc, r["images"].as_u64()? as usize))
        })
        .collect()
}

pub struct ModelPanel;

impl ModelPanel {
    pub fn ui(&mut self, ui: &mut Ui, session: &Session, busy: bool, actions: &mut Vec<Action>) {
        ui.heading("Model");
        let current = session.model.as_ref().map(|m| &m.source);
        ui.add_enabled_ui(!busy, |ui| {
            for (name, path) in shipped_models() {
                let source = ModelSource::File(path.clone());
                let selected = current == Some(&source);
                let available = path.is_file();
                let response = ui
                    .add_enabled(available, egui::Button::selectable(selected, name))
                    .on_disabled_hover_text(format!("{} is missing", path.display()));
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
    pub path: PathBuf,
    pub label: Option<usize>,
    pub image: UserImage,
}

/// The bundled samples, loaded once at start.
pub struct Gallery {
    pub samples: Vec<Sample>,
    pub error: Option<String>,
}

/// The label in a Foolbox sample name `cifar10_NN_L.png`.
fn label_from_name(name: &str) -> Option<usize> {
    let stem = name.strip_suffix(".png")?;
    stem.rsplit('_').next()?.parse().ok()
}

impl Gallery {
    pub fn load(dir: &FsPath) -> Self {
        let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
            Ok(entries) => entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "png"))
                .collect(),
            Err(e) => {
                return Self {
                    samples: Vec::new(),
                    error: Some(format!("no sample gallery at {}: {e}", dir.display())),
                };
            }
        };
        files.sort();
        let mut error = None;
        let samples = files
            .into_iter()
            .filter_map(|path| {
                let name = path.file_name()?.to_string_lossy().into_owned();
                match load_image(&path) {
                    Ok(image) => Some(Sample {
                        label: label_from_name(&name),
                        name,
                        path,
                        image,
                    }),
                    Err(e) => {
                        error = Some(format!("{name}: {e}"));
                        None
                    }
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
                        .is_some_and(|im| im.path.as_ref() == Some(&sample.path));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gallery_names_carry_their_label() {
        assert_eq!(label_from_name("cifar10_07_9.png"), Some(9));
        assert_eq!(label_from_name("cifar10_00_3.png"), Some(3));
        assert_eq!(label_from_name("photo.png"), None);
        assert_eq!(label_from_name("cifar10_00_3.jpg"), None);
    }

    #[test]
    fn the_bundled_gallery_loads_all_twenty_samples_with_labels() {
        let gallery = Gallery::load(&assets_dir().join("samples"));
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
