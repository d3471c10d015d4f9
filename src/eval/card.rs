//! The model card: what `rna-lens eval --json` prints, kept beside a model as
//! `<name>.eval.json`, and read back by the app to show a model's measured accuracy.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::EvalReport;
use super::presets::SanityReport;
use crate::attack::Pairing;

/// How each protocol's figures count, in words for the card's readers.
pub const CONVENTION: &str = "robust: clean and adversarial both right (AutoAttack/RobustBench); each protocol also gives `adversarial`: adversarial right (the official RNA code)";

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ModelCard {
    pub model: Option<PathBuf>,
    pub data: PathBuf,
    pub split: String,
    pub seed: u64,
    pub pairing: Pairing,
    pub accuracy_convention: String,
    /// The headline figure per protocol: robust accuracy, or natural without an attack.
    pub accuracy: BTreeMap<String, f64>,
    pub protocols: BTreeMap<String, EvalReport>,
    pub sanity: Option<SanityReport>,
    /// Repeated forward passes disagree: `autoattack-standard` ran the official way.
    pub randomized_model_warning: bool,
}

impl ModelCard {
    pub fn new(
        results: &[(String, EvalReport)],
        common: CardContext,
        sanity: Option<SanityReport>,
    ) -> Self {
        Self {
            model: common.model,
            data: common.data,
            split: common.split,
            seed: common.seed,
            pairing: common.pairing,
            accuracy_convention: CONVENTION.into(),
            accuracy: results
                .iter()
                .map(|(n, r)| (n.clone(), r.headline()))
                .collect(),
            protocols: results.iter().cloned().collect(),
            sanity,
            randomized_model_warning: common.randomized,
        }
    }
}

/// What every row of a card shares.
pub struct CardContext {
    pub model: Option<PathBuf>,
    pub data: PathBuf,
    pub split: String,
    pub seed: u64,
    pub pairing: Pairing,
    pub randomized: bool,
}

/// Protocols of the sanity preset are named with this prefix; they are the points of the card's
/// ε curve (see [`card_curves`]), not rows of their own.
pub const SANITY_PREFIX: &str = "sanity-";

/// One card row as the app lists it: (protocol, accuracy, images). Robust accuracy in the
/// AutoAttack convention, or natural accuracy for rows without an attack. Lenient on purpose:
/// cards measured before both conventions were counted hold one figure per protocol
/// (`robust_accuracy` / `natural_accuracy`) and still show.
pub fn card_accuracies(card: &str) -> Vec<(String, f64, usize)> {
    #[derive(Deserialize)]
    struct Rows {
        protocols: BTreeMap<String, Row>,
    }
    #[derive(Deserialize)]
    struct Row {
        images: usize,
        robust: Option<Figure>,
        natural: Option<Figure>,
        robust_accuracy: Option<f64>,
        natural_accuracy: Option<f64>,
    }
    #[derive(Deserialize)]
    struct Figure {
        value: f64,
    }
    let Ok(rows) = serde_json::from_str::<Rows>(card) else {
        return Vec::new();
    };
    rows.protocols
        .into_iter()
        .filter(|(name, _)| !name.starts_with(SANITY_PREFIX))
        .filter_map(|(name, r)| {
            let accuracy = r
                .robust
                .map(|f| f.value)
                .or(r.natural.map(|f| f.value))
                .or(r.robust_accuracy)
                .or(r.natural_accuracy)?;
            Some((name, accuracy, r.images))
        })
        .collect()
}

/// A card's robust accuracy against ε, one curve per path policy, and on how many images.
#[derive(Clone, Debug)]
pub struct CardCurves {
    pub images: usize,
    pub curves: Vec<super::presets::SanityCurve>,
}

/// The card's ε curves; `None` for a card without a `sanity` row, or for text that is no card.
pub fn card_curves(card: &str) -> Option<CardCurves> {
    #[derive(Deserialize)]
    struct Curves {
        sanity: Option<SanityReport>,
        #[serde(default)]
        protocols: BTreeMap<String, Row>,
    }
    #[derive(Deserialize)]
    struct Row {
        images: usize,
    }
    let card = serde_json::from_str::<Curves>(card).ok()?;
    let images = card
        .protocols
        .iter()
        .find(|(name, _)| name.starts_with(SANITY_PREFIX))
        .map_or(0, |(_, r)| r.images);
    Some(CardCurves {
        images,
        curves: card.sanity?.curves,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_card_lists_robust_then_natural_figures_and_reads_old_cards() {
        let new = r#"{"protocols": {
            "natural": {"images": 100, "natural": {"value": 0.8, "low": 0.7, "high": 0.9}, "robust": null},
            "pgd20": {"images": 100, "natural": {"value": 0.8, "low": 0.7, "high": 0.9},
                      "robust": {"value": 0.4, "low": 0.3, "high": 0.5}},
            "sanity-official-eps8": {"images": 50, "natural": {"value": 0.8, "low": 0.7, "high": 0.9},
                      "robust": {"value": 0.3, "low": 0.2, "high": 0.4}}}}"#;
        // The sanity preset's points belong to the card's ε curve, not to its rows.
        assert_eq!(
            card_accuracies(new),
            vec![("natural".into(), 0.8, 100), ("pgd20".into(), 0.4, 100)]
        );
        let old = r#"{"protocols": {"fgsm": {"images": 10000, "robust_accuracy": 0.3369}}}"#;
        assert_eq!(card_accuracies(old), vec![("fgsm".into(), 0.3369, 10000)]);
        assert!(card_accuracies("not a card").is_empty());
    }

    #[test]
    fn a_card_gives_its_sanity_curves_and_a_card_without_them_none() {
        let card = r#"{"protocols": {
            "pgd20": {"images": 1000},
            "sanity-official-eps0": {"images": 200}}, "sanity": {
            "curves": [{"policy": "official", "points": [[0, 0.5], [8, 0.3]]},
                       {"policy": "eot10", "points": [[0, 0.5], [8, 0.1]]}],
            "checks": []}}"#;
        let curves = card_curves(card).unwrap();
        assert_eq!(curves.images, 200);
        assert_eq!(curves.curves.len(), 2);
        assert_eq!(curves.curves[1].policy, "eot10");
        assert_eq!(curves.curves[1].points, vec![[0.0, 0.5], [8.0, 0.1]]);
        assert!(card_curves(r#"{"protocols": {}, "sanity": null}"#).is_none());
        assert!(card_curves("").is_none());
    }

    #[test]
    fn the_shipped_cards_list_their_rows() {
        for shipped in &crate::assets::MODELS {
            let rows = card_accuracies(&shipped.card().unwrap());
            assert!(
                rows.iter().any(|(name, _, _)| name == "natural"),
                "{}",
                shipped.file
            );
        }
    }
}
