//! One image attacked end to end, as the CLI and the app both show it: the label, the attack,
//! the 8-bit adversarial image a user can save, the defender's verdict before and after
//! rounding, and the path ensemble on the clean and the adversarial input.

use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::describe_attack;
use super::{AttackConfig, AttackError, Progress, TraceStep, run_attack};
use crate::data::batch_to_tensor;
use crate::ensemble::{self, EnsembleSummary, PathPrediction};
use crate::model::{ModelConfig, Path, PathSpace, RnaModel};
use crate::propagation::{self, PathTravel};

/// Everything one attack on one image produced, as plain data (no tensors), so it can cross
/// threads and be saved.
#[derive(Clone, Debug)]
pub struct ImageAttack {
    pub config: AttackConfig,
    /// Planar `[3, H, W]` 8-bit model input.
    pub clean: Vec<u8>,
    /// The attack's result before rounding, planar, in [0, 1].
    pub adversarial_float: Vec<f32>,
    /// The result as a user would save it: rounded to 8 bits.
    pub adversarial: Vec<u8>,
    pub label: usize,
    pub label_given: bool,
    pub attack_path: Path,
    pub defender_path: Path,
    pub trace: Vec<TraceStep>,
    /// The 8-bit planar image at each trace entry, for replay: the last one is the result.
    pub iterates: Vec<Vec<u8>>,
    pub cancelled: bool,
    /// The defender path's prediction on the clean image, and on the float and the 8-bit
    /// result.
    pub clean_prediction: usize,
    pub float_prediction: usize,
    pub eight_bit_prediction: usize,
    /// The ensemble query: these paths (drawn from the attack seed) on both inputs.
    pub query_paths: Vec<Path>,
    pub clean_paths: Vec<PathPrediction>,
    pub adversarial_paths: Vec<PathPrediction>,
    /// How the 8-bit perturbation travels along the attacker's, the defender's and the uniform
    /// paths (the layer view).
    pub travel: Vec<PathTravel>,
}

/// Where a report's inputs came from, for the record.
pub struct ReportContext<'a> {
    pub image: &'a str,
    pub model: &'a str,
    pub device: &'a str,
}

/// Planar 8-bit values of the first image of a `[N, 3, H, W]` tensor in [0, 1].
pub fn first_image_bytes(x: &Tensor<4>) -> Vec<u8> {
    eight_bit(&first_image_floats(x))
}

/// Pixel values in [0, 1] as the 8-bit values a saved PNG holds.
pub fn eight_bit(pixels: &[f32]) -> Vec<u8> {
    pixels
        .iter()
        .map(|p| (p.clamp(0.0, 1.0) * 255.0).round() as u8)
        .collect()
}

/// Planar float values of the first image of a `[N, 3, H, W]` tensor.
pub fn first_image_floats(x: &Tensor<4>) -> Vec<f32> {
    crate::device::to_host(x.clone().narrow(0, 0, 1))
}

/// δ in pixel units between two planar 8-bit images.
pub fn delta_between(adversarial: &[u8], clean: &[u8]) -> Vec<f32> {
    adversarial
        .iter()
        .zip(clean)
        .map(|(&a, &c)| (f32::from(a) - f32::from(c)) / 255.0)
        .collect()
}

/// A perturbation shown around mid-grey, per channel, scaled so that ±`scale` (pixel units)
/// reaches black and white.
pub fn amplified(delta: &[f32], scale: f32) -> Vec<u8> {
    delta
        .iter()
        .map(|d| ((0.5 + 0.5 * d / scale.max(1e-12)).clamp(0.0, 1.0) * 255.0).round() as u8)
        .collect()
}

/// Attacks the 8-bit planar `input` with `config`. Without a `label`, the true label is the
/// majority vote of `query_paths` paths on the clean image.
pub fn attack_image(
    model: &RnaModel,
    input: &[u8],
    label: Option<usize>,
    config: &AttackConfig,
    query_paths: usize,
    progress: &mut Progress<'_>,
) -> Result<ImageAttack, AttackError> {
    if let Some(l) = label.filter(|&l| l >= model.num_classes()) {
        return Err(format!(
            "class {l} does not exist: the model has {} classes",
            model.num_classes()
        )
        .into());
    }
    let device: Device = model.device().clone();
    let x = batch_to_tensor(input, &device);
    let paths = model.path_space().sample_many(query_paths, config.seed);
    let clean_paths = ensemble::query(model, &x.clone().squeeze_dim(0), &paths);
    let label_given = label.is_some();
    let label = label
        .unwrap_or_else(|| ensemble::summarize(&clean_paths, model.num_classes(), None).majority);
    let mut iterates = Vec::new();
    let result = run_attack(model, &x, &[label], config, &mut |step, image, total| {
        iterates.push(eight_bit(image));
        progress(step, image, total)
    })?;
    let adversarial = first_image_bytes(&result.x_adv);
    iterates.truncate(result.trace.len().saturating_sub(1));
    iterates.push(adversarial.clone());
    let x8 = batch_to_tensor(&adversarial, &device);
    let defend = |x: Tensor<4>| {
        crate::model::predictions(model.forward_path(x, &result.defender_paths[0]))[0]
    };
    let clean_prediction = defend(x.clone());
    let float_prediction = defend(result.x_adv.clone());
    let eight_bit_prediction = defend(x8.clone());
    let travel = propagation::travel(
        model,
        &x,
        &x8,
        &propagation::layer_view_paths(
            model.path_space(),
            &result.attack_paths[0],
            &result.defender_paths[0],
        ),
    );
    let adversarial_paths = ensemble::query(model, &x8.squeeze_dim(0), &paths);
    Ok(ImageAttack {
        config: config.clone(),
        clean: input.to_vec(),
        adversarial_float: first_image_floats(&result.x_adv),
        adversarial,
        label,
        label_given,
        attack_path: result.attack_paths[0].clone(),
        defender_path: result.defender_paths[0].clone(),
        trace: result.trace,
        iterates,
        cancelled: result.cancelled,
        clean_prediction,
        float_prediction,
        eight_bit_prediction,
        query_paths: paths,
        clean_paths,
        adversarial_paths,
        travel,
    })
}

/// What the attack did to the defender's path: the one-line answer a lesson gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The defender's path was wrong on the clean image already: the attack proves nothing.
    WrongBeforeTheAttack,
    /// Right on the clean image, wrong on the (8-bit) adversarial one.
    Fooled,
    /// Right on both.
    StillRight,
}

impl Verdict {
    pub fn of(clean: usize, adversarial: usize, label: usize) -> Self {
        match (clean == label, adversarial == label) {
            (false, _) => Verdict::WrongBeforeTheAttack,
            (true, false) => Verdict::Fooled,
            (true, true) => Verdict::StillRight,
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Verdict::WrongBeforeTheAttack => "wrong before the attack",
            Verdict::Fooled => "fooled",
            Verdict::StillRight => "still right",
        }
    }
}

impl ImageAttack {
    /// The defender's path on the 8-bit result, judged against its clean prediction.
    pub fn verdict(&self) -> Verdict {
        Verdict::of(self.clean_prediction, self.eight_bit_prediction, self.label)
    }

    pub fn clean_summary(&self, classes: usize) -> EnsembleSummary {
        ensemble::summarize(&self.clean_paths, classes, Some(self.label))
    }

    pub fn adversarial_summary(&self, classes: usize) -> EnsembleSummary {
        ensemble::summarize(&self.adversarial_paths, classes, Some(self.label))
    }

    /// The perturbation of the saved (8-bit) image, in pixel units, planar.
    pub fn delta(&self) -> Vec<f32> {
        delta_between(&self.adversarial, &self.clean)
    }

    /// The per-pixel size that maps to full colour in heatmaps: ε for L∞ attacks; for L2
    /// attacks, whose ε bounds the whole image, the largest pixel change of the result.
    pub fn pixel_scale(&self) -> f32 {
        if self.config.kind.norm() == super::Norm::L2 {
            self.delta()
                .iter()
                .fold(0.0f32, |m, d| m.max(d.abs()))
                .max(1.0 / 255.0)
        } else {
            self.config.eps as f32
        }
    }

    /// The perturbation around mid-grey, per channel: −ε black, +ε white.
    pub fn perturbation_image(&self) -> Vec<u8> {
        amplified(&self.delta(), self.config.eps as f32)
    }

    /// The report the CLI writes as `report.json` (and the app exports); `rna-lens attack
    /// --settings` replays its `attack` settings.
    pub fn report(
        &self,
        model: &ModelConfig,
        space: &PathSpace,
        context: &ReportContext<'_>,
    ) -> AttackReport {
        let classes = model.class_names.len();
        let name = |c: usize| {
            model
                .class_names
                .get(c)
                .map_or("?", String::as_str)
                .to_string()
        };
        AttackReport {
            image: context.image.to_string(),
            model: context.model.to_string(),
            trained: model.provenance.trained,
            device: context.device.to_string(),
            attack: self.config.clone(),
            protocol: describe_attack(&self.config),
            true_label: self.label,
            true_label_name: name(self.label),
            label_source: if self.label_given {
                "given"
            } else {
                "majority vote on the clean image"
            }
            .into(),
            attack_path: space.format(&self.attack_path),
            defender_path: space.format(&self.defender_path),
            defender_prediction: DefenderPrediction {
                clean: self.clean_prediction,
                clean_name: name(self.clean_prediction),
                verdict: self.verdict(),
                float: self.float_prediction,
                eight_bit: self.eight_bit_prediction,
                float_name: name(self.float_prediction),
                eight_bit_name: name(self.eight_bit_prediction),
                rounding_changes_outcome: self.float_prediction != self.eight_bit_prediction,
            },
            cancelled: self.cancelled,
            trace: self.trace.clone(),
            ensemble: ReportEnsemble {
                paths: self.query_paths.len(),
                seed: self.config.seed,
                clean: EnsembleSide {
                    summary: self.clean_summary(classes),
                    paths: self.clean_paths.clone(),
                },
                adversarial: EnsembleSide {
                    summary: self.adversarial_summary(classes),
                    paths: self.adversarial_paths.clone(),
                },
            },
            layers: self.travel.clone(),
        }
    }
}

/// `report.json`: one attack on one image, with everything needed to read or replay it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttackReport {
    pub image: String,
    pub model: String,
    pub trained: bool,
    pub device: String,
    pub attack: AttackConfig,
    pub protocol: String,
    pub true_label: usize,
    pub true_label_name: String,
    pub label_source: String,
    pub attack_path: String,
    pub defender_path: String,
    pub defender_prediction: DefenderPrediction,
    pub cancelled: bool,
    pub trace: Vec<TraceStep>,
    pub ensemble: ReportEnsemble,
    /// The layer view: relative change of each random layer's output along each path.
    #[serde(default)]
    pub layers: Vec<PathTravel>,
}

/// The defender path's predictions: on the clean image, and on the adversarial image before
/// and after 8-bit rounding.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DefenderPrediction {
    pub clean: usize,
    pub clean_name: String,
    /// From the clean and the 8-bit prediction.
    pub verdict: Verdict,
    pub float: usize,
    pub eight_bit: usize,
    pub float_name: String,
    pub eight_bit_name: String,
    pub rounding_changes_outcome: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReportEnsemble {
    pub paths: usize,
    pub seed: u64,
    pub clean: EnsembleSide,
    pub adversarial: EnsembleSide,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EnsembleSide {
    pub summary: EnsembleSummary,
    pub paths: Vec<PathPrediction>,
}

#[cfg(test)]
mod verdict_tests {
    use super::Verdict;

    #[test]
    fn a_path_wrong_on_the_clean_image_is_not_fooled_by_the_attack() {
        // label 3; (clean, adversarial) predictions of the defender's path.
        assert_eq!(Verdict::of(5, 5, 3), Verdict::WrongBeforeTheAttack);
        assert_eq!(Verdict::of(5, 3, 3), Verdict::WrongBeforeTheAttack);
        assert_eq!(Verdict::of(3, 5, 3), Verdict::Fooled);
        assert_eq!(Verdict::of(3, 3, 3), Verdict::StillRight);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attack::AttackKind;
    use crate::device::readbacks;
    use crate::model::{NormKind, tiny_for_tests};

    /// What the app does with every iteration (trace entry, progress, the iterate kept for the
    /// replay) costs one readback: three more steps, three more readbacks.
    #[test]
    fn each_attack_iteration_costs_one_readback_replay_included() {
        let model = tiny_for_tests(3, NormKind::RELEASED.to_vec());
        let input = vec![100u8; crate::data::IMAGE_LEN];
        let used = |steps: usize| {
            let mut config = AttackConfig::preset(AttackKind::Pgd);
            config.steps = steps;
            let before = readbacks();
            let run =
                attack_image(&model, &input, Some(2), &config, 4, &mut |_, _, _| true).unwrap();
            assert_eq!(run.iterates.len(), steps + 1);
            readbacks() - before
        };
        assert_eq!(used(6) - used(3), 3);
    }
}
