//! A training run as data: the recipe, its attack, and the checks a config must pass.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};

use crate::attack::pgd::{Norm, PgdConfig};
use crate::model::{Architecture, norm::NormKind};

use super::schedule::Schedule;

/// How configs gave the training attack before its budgets were fractions: ε, α and the
/// random start's radius in /255, L∞ only, and no `norm`. Run folders and shipped recipes
/// written then still load, to the same attack.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AttackIn255 {
    eps: f64,
    alpha: f64,
    steps: usize,
    /// Radius of the uniform random start (absent: ε).
    #[serde(default)]
    noise: Option<f64>,
    #[serde(default = "yes")]
    project: bool,
}

fn yes() -> bool {
    true
}

/// The fields of the engine's form, as [`PgdConfig`] writes them (so the list cannot fall
/// behind the struct).
fn engine_fields() -> Vec<String> {
    let serde_json::Value::Object(fields) = serde_json::json!(PgdConfig::linf(0.0, 0.0, 1)) else {
        unreachable!("a struct serialises to an object")
    };
    fields.into_iter().map(|(name, _)| name).collect()
}

/// A config's attack in either form: the engine's [`PgdConfig`] (any of its own fields marks
/// it, and it must name its `norm`), or the older form in /255.
fn attack_in_either_unit<'de, D: Deserializer<'de>>(d: D) -> Result<PgdConfig, D::Error> {
    let value = serde_json::Value::deserialize(d)?;
    let Some(fields) = value.as_object() else {
        return Err(D::Error::custom(
            "the training attack must be an object such as {\"eps\": 0.03137254901960784, \"alpha\": 0.00784313725490196, \"steps\": 10, \"random_start\": true, \"norm\": \"linf\"}",
        ));
    };
    let engine_form = ["norm", "random_start", "momentum", "start_radius"]
        .iter()
        .any(|k| fields.contains_key(*k));
    if engine_form {
        // PgdConfig ignores fields it does not know, and here one would be silently lost (a
        // legacy `noise` beside `norm`, a misspelt `start_radius`).
        let known = engine_fields();
        if let Some(unknown) = fields.keys().find(|k| !known.contains(k)) {
            return Err(D::Error::custom(format!(
                "unknown field `{unknown}` in the training attack, expected one of {}",
                known.join(", ")
            )));
        }
        return PgdConfig::deserialize(value).map_err(D::Error::custom);
    }
    let old = AttackIn255::deserialize(value).map_err(D::Error::custom)?;
    // Without a norm the budgets are read in /255, where a positive ε below 1 is no real
    // budget: most likely a fraction written without its norm, which would train at ε/255.
    if old.eps > 0.0 && old.eps < 1.0 {
        return Err(D::Error::custom(format!(
            "the training attack has no \"norm\", so its budgets are read in /255 and ε = {0} would be {0}/255; give fractions with \"norm\": \"linf\" (8/255 is 0.03137254901960784), or 255ths without it (8 for 8/255)",
            old.eps
        )));
    }
    Ok(PgdConfig {
        project: old.project,
        start_radius: old.noise.map(|r| r / 255.0),
        ..PgdConfig::linf(old.eps / 255.0, old.alpha / 255.0, old.steps)
    })
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub architecture: String,
    pub norms: Vec<NormKind>,
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f64,
    pub momentum: f64,
    pub weight_decay: f64,
    pub schedule: Schedule,
    /// The attack that generates training examples, its budgets fractions of the pixel range as
    /// every attack's. One step with α = 1.25 ε and a random start is "FGSM-RS" (Wong et al.
    /// 2020); one step with α = ε from noise of radius 2ε, not projected back to the ε-ball, is
    /// N-FGSM (de Jorge et al. 2022), which resists catastrophic overfitting; ten steps with
    /// α = ε/4 is the official PGD-10.
    #[serde(deserialize_with = "attack_in_either_unit")]
    pub attack: PgdConfig,
    /// Training images held out to pick the best epoch by PGD accuracy (never the test set).
    pub holdout: usize,
    /// Steps of the held-out PGD evaluation (official policy).
    pub holdout_pgd_steps: usize,
    /// Random crop (pad 4) and horizontal flip.
    pub augment: bool,
    pub seed: u64,
    /// Also checkpoint every this many steps inside an epoch (0: only at epoch ends).
    pub checkpoint_every: usize,
    /// Use only the first N training images (quick runs and tests).
    #[serde(default)]
    pub limit: Option<usize>,
}

impl TrainConfig {
    /// The official recipe: PGD-10 AT, SGD 0.1, 200 epochs, ×0.1 at 100 and 150.
    pub fn official(architecture: &str) -> Self {
        Self {
            architecture: architecture.into(),
            norms: NormKind::RELEASED.to_vec(),
            epochs: 200,
            batch_size: 128,
            lr: 0.1,
            momentum: 0.9,
            weight_decay: 5e-4,
            schedule: Schedule::Multistep {
                milestones: vec![100, 150],
                gamma: 0.1,
            },
            attack: PgdConfig::linf(8.0 / 255.0, 2.0 / 255.0, 10),
            holdout: 1000,
            holdout_pgd_steps: 10,
            augment: true,
            seed: 0,
            checkpoint_every: 50,
            limit: None,
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        Architecture::preset(&self.architecture).map_err(|e| e.to_string())?;
        if self.norms.is_empty() {
            return Err("the candidate list is empty".into());
        }
        if self.epochs == 0 || self.batch_size < 2 {
            return Err(
                "need at least one epoch and a batch of at least 2 (train-mode BatchNorm)".into(),
            );
        }
        if !(self.lr.is_finite()
            && self.lr > 0.0
            && (0.0..1.0).contains(&self.momentum)
            && self.weight_decay.is_finite()
            && self.weight_decay >= 0.0)
        {
            return Err("lr must be > 0, momentum in [0, 1), weight decay ≥ 0".into());
        }
        if self.holdout == 0 || self.holdout_pgd_steps == 0 {
            return Err(
                "the held-out split and its PGD check need at least one image and one step".into(),
            );
        }
        match &self.schedule {
            Schedule::Multistep { gamma, .. } if !(gamma.is_finite() && *gamma > 0.0) => {
                return Err(format!("the multistep factor must be > 0, got {gamma}"));
            }
            Schedule::Cosine { warmup_epochs }
                if !(warmup_epochs.is_finite()
                    && *warmup_epochs >= 0.0
                    && *warmup_epochs < self.epochs as f64) =>
            {
                return Err(format!(
                    "warm-up must be between 0 and the number of epochs, got {warmup_epochs}"
                ));
            }
            _ => {}
        }
        if self.attack.norm == Norm::Linf {
            for (name, budget) in [("ε", self.attack.eps), ("α", self.attack.alpha)] {
                if budget > 1.0 {
                    return Err(format!(
                        "the training attack's {name} is a fraction of the pixel range (8/255 is 0.0314), got {budget}"
                    ));
                }
            }
        }
        self.attack.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run folder written before the budgets were fractions (session 10's N-FGSM run).
    const IN_255THS: &str = r#"{
        "architecture": "resnet18-half", "norms": ["bn", "gnr_1"], "epochs": 30,
        "batch_size": 128, "lr": 0.2, "momentum": 0.9, "weight_decay": 0.0005,
        "schedule": {"kind": "cosine", "warmup_epochs": 6.0},
        "attack": {"eps": 8.0, "alpha": 8.0, "steps": 1, "noise": 16.0, "project": false},
        "holdout": 1000, "holdout_pgd_steps": 10, "augment": true, "seed": 1,
        "checkpoint_every": 50
    }"#;

    #[test]
    fn a_config_in_255ths_loads_to_the_same_attack_and_is_written_back_in_fractions() {
        let old: TrainConfig = serde_json::from_str(IN_255THS).unwrap();
        let expected = PgdConfig {
            eps: 8.0 / 255.0,
            alpha: 8.0 / 255.0,
            steps: 1,
            random_start: true,
            norm: Norm::Linf,
            momentum: 0.0,
            project: false,
            start_radius: Some(16.0 / 255.0),
        };
        assert_eq!(old.attack, expected);
        assert_eq!(old.validate(), Ok(()));
        let written = serde_json::to_value(&old).unwrap();
        assert_eq!(written["attack"]["eps"], 8.0 / 255.0);
        assert_eq!(written["attack"]["norm"], "linf");
        let again: TrainConfig = serde_json::from_value(written).unwrap();
        assert_eq!(again, old);
    }

    #[test]
    fn a_budget_in_255ths_beside_a_norm_is_refused_with_the_unit() {
        let mut value: serde_json::Value = serde_json::from_str(IN_255THS).unwrap();
        for (eps, alpha, refused) in [(8.0, 2.0, "ε"), (8.0 / 255.0, 2.0, "α")] {
            value["attack"] = serde_json::json!({
                "eps": eps, "alpha": alpha, "steps": 10, "random_start": true, "norm": "linf"
            });
            let config: TrainConfig = serde_json::from_value(value.clone()).unwrap();
            let err = config.validate().unwrap_err();
            assert!(
                err.contains(&format!("{refused} is a fraction of the pixel range")),
                "{err}"
            );
        }
    }

    #[test]
    fn a_fraction_without_its_norm_is_refused_rather_than_read_in_255ths() {
        let mut value: serde_json::Value = serde_json::from_str(IN_255THS).unwrap();
        for attack in [
            serde_json::json!({"eps": 0.0314, "alpha": 0.0314, "steps": 1}),
            serde_json::json!({"eps": 0.0314, "alpha": 0.0078, "steps": 10, "random_start": true}),
        ] {
            value["attack"] = attack;
            let err = serde_json::from_value::<TrainConfig>(value.clone()).unwrap_err();
            assert!(err.to_string().contains("norm"), "{err}");
        }
    }

    /// `noise` is the old form's name for the start radius: beside `norm` it would be dropped,
    /// and N-FGSM would start from radius ε instead of 2ε.
    #[test]
    fn a_field_the_engine_form_does_not_know_is_refused_by_name() {
        let mut value: serde_json::Value = serde_json::from_str(IN_255THS).unwrap();
        value["attack"] = serde_json::json!({
            "eps": 8.0 / 255.0, "alpha": 8.0 / 255.0, "steps": 1, "random_start": true,
            "norm": "linf", "project": false, "noise": 16.0 / 255.0
        });
        let err = serde_json::from_value::<TrainConfig>(value).unwrap_err();
        assert!(err.to_string().contains("unknown field `noise`"), "{err}");
    }

    /// Run folders are JSON text: every budget in whole 255ths must read back to the same bits,
    /// or a resumed run would attack with a budget one unit in the last place off.
    #[test]
    fn budgets_in_255ths_survive_a_round_trip_through_json_text() {
        let base: TrainConfig = serde_json::from_str(IN_255THS).unwrap();
        for k in 1..=64 {
            let budget = k as f64 / 255.0;
            let mut config = base.clone();
            config.attack.eps = budget;
            config.attack.alpha = budget / 4.0;
            config.attack.start_radius = Some(2.0 * budget);
            let text = serde_json::to_string_pretty(&config).unwrap();
            let again: TrainConfig = serde_json::from_str(&text).unwrap();
            assert_eq!(again.attack.eps.to_bits(), budget.to_bits(), "{k}/255");
            assert_eq!(again, config, "{k}/255");
        }
    }

    #[test]
    fn an_attack_in_neither_form_is_an_error_naming_the_field() {
        let mut value: serde_json::Value = serde_json::from_str(IN_255THS).unwrap();
        value["attack"] = serde_json::json!({"eps": 8.0, "alpha": 2.0, "stpes": 10});
        let err = serde_json::from_value::<TrainConfig>(value).unwrap_err();
        assert!(err.to_string().contains("stpes"), "{err}");
    }
}
