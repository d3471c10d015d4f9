//! An evaluation protocol as data: the attack (or none), its path policy and pairing, the
//! defender paths, the surrogate, the seed; and the sentence that describes it beside every
//! figure.

use serde::{Deserialize, Serialize};

use crate::attack::{AttackConfig, AttackKind, Pairing, PathPolicy, describe_attack};
use crate::rng::SeededRng;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalConfig {
    /// `None`: natural accuracy only.
    pub attack: Option<AttackConfig>,
    /// Paths of the natural pass when there is no attack: `fixed` with `path`, else random.
    pub path: Option<String>,
    pub seed: u64,
    pub pairing: Pairing,
    /// Independent defender paths each image is scored on (the first is the single draw).
    pub defender_paths: usize,
    /// Checksum of the model the attack is crafted on, when it is not the one evaluated
    /// (transfer from a surrogate); part of the configuration so checkpoints keep them apart.
    #[serde(default)]
    pub surrogate: Option<String>,
}

impl EvalConfig {
    /// PGD-k, ε 8/255, α 2/255, random start, official policy, a path pair per image: the
    /// held-out check in training.
    pub fn official_pgd(steps: usize, seed: u64) -> Self {
        let mut attack = AttackConfig::preset(AttackKind::Pgd);
        attack.steps = steps;
        Self::new(Some(attack), seed)
    }

    /// One draw per image, a path pair per image, no fixed path.
    pub fn new(attack: Option<AttackConfig>, seed: u64) -> Self {
        Self {
            attack,
            path: None,
            seed,
            pairing: Pairing::Image,
            defender_paths: 1,
            surrogate: None,
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        let max = crate::limits::MAX_DEFENDER_PATHS;
        if !(1..=max).contains(&self.defender_paths) {
            return Err(format!(
                "--defender-paths must be between 1 and {max}, got {}",
                self.defender_paths
            ));
        }
        Ok(())
    }

    /// The configuration of batch `index`: its own seed, the pairing, the common path if any.
    pub(super) fn for_batch(&self, index: usize) -> AttackConfig {
        let seed = SeededRng::derive(self.seed, &format!("batch-{index}")).next_u64();
        let mut config = self.attack.clone().unwrap_or_else(|| {
            let mut natural = AttackConfig::preset(AttackKind::Fgsm);
            natural.policy = if self.path.is_some() {
                PathPolicy::Fixed
            } else {
                PathPolicy::Official
            };
            natural
        });
        config.seed = seed;
        config.pairing = self.pairing;
        if self.path.is_some() {
            config.path = self.path.clone();
        }
        config
    }

    pub fn describe(&self) -> String {
        let what = match &self.attack {
            None => match &self.path {
                Some(p) => format!("natural accuracy on the fixed path {p}"),
                None => "natural accuracy on random paths".into(),
            },
            Some(a) => describe_attack(a),
        };
        let fixed = self.path.is_some()
            || self
                .attack
                .as_ref()
                .is_some_and(|a| !a.policy.defender_independent());
        let mut s = what;
        if !fixed {
            let pairing = match (&self.attack, self.pairing) {
                (None, Pairing::Image) => "a random path per image",
                (None, Pairing::Batch) => "one random path per batch (the official code's)",
                (Some(_), pairing) => pairing.describe(),
            };
            s += &format!("; {pairing}");
        }
        if self.defender_paths > 1 {
            s += &format!(
                "; each image scored on {} defender paths",
                self.defender_paths
            );
        }
        if let Some(surrogate) = &self.surrogate {
            s += &format!("; crafted on the surrogate model {surrogate}, tested on this one");
        }
        s
    }
}
