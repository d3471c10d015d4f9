//! Attack settings as users give them (torchattacks/AutoAttack vocabulary), with presets.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::loss::LossKind;
use super::pgd::{Norm, PgdConfig};
use super::policy::PathPolicy;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AttackKind {
    Fgsm,
    Pgd,
    PgdL2,
    Mifgsm,
    ApgdCe,
    ApgdDlr,
    /// AutoAttack's "rand" version: APGD-CE then APGD-DLR, 100 iterations, EOT over 20 paths.
    AutoattackRand,
}

impl AttackKind {
    pub const ALL: [AttackKind; 7] = [
        AttackKind::Fgsm,
        AttackKind::Pgd,
        AttackKind::PgdL2,
        AttackKind::Mifgsm,
        AttackKind::ApgdCe,
        AttackKind::ApgdDlr,
        AttackKind::AutoattackRand,
    ];

    pub fn name(self) -> &'static str {
        match self {
            AttackKind::Fgsm => "fgsm",
            AttackKind::Pgd => "pgd",
            AttackKind::PgdL2 => "pgd-l2",
            AttackKind::Mifgsm => "mifgsm",
            AttackKind::ApgdCe => "apgd-ce",
            AttackKind::ApgdDlr => "apgd-dlr",
            AttackKind::AutoattackRand => "autoattack-rand",
        }
    }

    pub fn norm(self) -> Norm {
        if self == AttackKind::PgdL2 {
            Norm::L2
        } else {
            Norm::Linf
        }
    }
}

impl fmt::Display for AttackKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for AttackKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim().to_ascii_lowercase();
        AttackKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = AttackKind::ALL.iter().map(|k| k.name()).collect();
                format!("unknown attack '{s}': expected one of {}", names.join(", "))
            })
    }
}

/// One attack, fully specified. ε and α are fractions of the pixel range.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttackConfig {
    pub kind: AttackKind,
    pub eps: f64,
    pub alpha: f64,
    pub steps: usize,
    pub restarts: usize,
    pub random_start: bool,
    pub loss: LossKind,
    /// Targeted attack towards this class (PGD family only).
    pub target: Option<usize>,
    pub policy: PathPolicy,
    /// The attacker's path (text form); drawn from the seed when absent.
    pub path: Option<String>,
    pub seed: u64,
}

impl AttackConfig {
    /// Usual settings of each attack: PGD as in the RNA evaluation (PGD-20, ε 8/255, α 2/255,
    /// random start), FGSM with α = ε, MI-FGSM with 5 steps of 2/255 and μ = 1, APGD with 100
    /// iterations (AutoAttack's), and PGD-L2 with ε 0.5, α 0.1, 20 steps (the common CIFAR L2
    /// budget; torchattacks' own PGDL2 default is ε 1.0, α 0.2, 10 steps).
    pub fn preset(kind: AttackKind) -> Self {
        let e = 8.0 / 255.0;
        let (eps, alpha, steps, random_start, loss) = match kind {
            AttackKind::Fgsm => (e, e, 1, false, LossKind::Ce),
            AttackKind::Pgd => (e, 2.0 / 255.0, 20, true, LossKind::Ce),
            AttackKind::PgdL2 => (0.5, 0.1, 20, true, LossKind::Ce),
            AttackKind::Mifgsm => (e, 2.0 / 255.0, 5, false, LossKind::Ce),
            AttackKind::ApgdCe | AttackKind::AutoattackRand => {
                (e, 2.0 * e, 100, true, LossKind::Ce)
            }
            AttackKind::ApgdDlr => (e, 2.0 * e, 100, true, LossKind::Dlr),
        };
        Self {
            kind,
            eps,
            alpha,
            steps,
            restarts: 1,
            random_start,
            loss,
            target: None,
            policy: if kind == AttackKind::AutoattackRand {
                PathPolicy::Eot(20)
            } else {
                PathPolicy::Official
            },
            path: None,
            seed: 0,
        }
    }

    /// The PGD-family loop settings (MI-FGSM's decay μ = 1 as in the paper).
    pub fn pgd(&self) -> PgdConfig {
        PgdConfig {
            eps: self.eps,
            alpha: self.alpha,
            steps: self.steps,
            random_start: self.random_start,
            norm: self.kind.norm(),
            momentum: if self.kind == AttackKind::Mifgsm {
                1.0
            } else {
                0.0
            },
        }
    }

    pub fn is_apgd(&self) -> bool {
        matches!(
            self.kind,
            AttackKind::ApgdCe | AttackKind::ApgdDlr | AttackKind::AutoattackRand
        )
    }

    /// Rejects settings that are meaningless or absurd, with a message that says why.
    pub fn validate(&self, classes: usize) -> Result<(), String> {
        self.pgd().validate()?;
        if self.restarts == 0 || self.restarts > 100 {
            return Err(format!(
                "restarts must be between 1 and 100, got {}",
                self.restarts
            ));
        }
        if let Some(t) = self.target {
            if t >= classes {
                return Err(format!(
                    "target class {t} does not exist: the model has {classes} classes"
                ));
            }
            if self.is_apgd() {
                return Err(format!(
                    "{} is untargeted; use pgd, fgsm or mifgsm for a targeted attack",
                    self.kind
                ));
            }
        }
        if (self.loss == LossKind::Dlr || self.kind == AttackKind::AutoattackRand) && classes < 3 {
            return Err("the DLR loss needs at least three classes".into());
        }
        if self.policy == PathPolicy::Eot(0) {
            return Err("eot:K needs K ≥ 1".into());
        }
        Ok(())
    }
}

/// Parses ε or α as given on the command line: a number of /255 steps (`8` = 8/255) or, with a
/// `/255` suffix or below 1, a fraction (`0.0314`, `8/255`).
pub fn parse_budget(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let value = if let Some(num) = t.strip_suffix("/255") {
        num.trim().parse::<f64>().map(|v| v / 255.0)
    } else {
        t.parse::<f64>()
            .map(|v| if v >= 1.0 { v / 255.0 } else { v })
    }
    .map_err(|_| format!("'{text}' is not a number (give e.g. 8, 8/255 or 0.0314)"))?;
    if !value.is_finite() || value < 0.0 {
        return Err(format!("'{text}' must be a finite number ≥ 0"));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_parse_in_255ths_or_fractions() {
        assert!((parse_budget("8").unwrap() - 8.0 / 255.0).abs() < 1e-12);
        assert!((parse_budget("8/255").unwrap() - 8.0 / 255.0).abs() < 1e-12);
        assert!((parse_budget("0.5").unwrap() - 0.5).abs() < 1e-12);
        for bad in ["-1", "nan", "NaN", "inf", "x", ""] {
            assert!(parse_budget(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn attack_names_round_trip() {
        for k in AttackKind::ALL {
            assert_eq!(k.name().parse::<AttackKind>().unwrap(), k);
        }
        assert!("cw-l2".parse::<AttackKind>().is_err());
    }

    #[test]
    fn absurd_settings_are_rejected() {
        let ok = AttackConfig::preset(AttackKind::Pgd);
        assert!(ok.validate(10).is_ok());
        let bad = |f: &dyn Fn(&mut AttackConfig)| {
            let mut c = ok.clone();
            f(&mut c);
            c.validate(10).unwrap_err()
        };
        assert!(bad(&|c| c.eps = f64::NAN).contains("ε"));
        assert!(bad(&|c| c.eps = -0.1).contains("ε"));
        assert!(bad(&|c| c.eps = 3.0).contains("exceeds"));
        assert!(bad(&|c| c.alpha = 0.0).contains("step size"));
        assert!(bad(&|c| c.steps = 0).contains("at least one step"));
        assert!(bad(&|c| c.steps = 10_000_000).contains("beyond"));
        assert!(bad(&|c| c.restarts = 0).contains("restarts"));
        assert!(bad(&|c| c.target = Some(10)).contains("does not exist"));
        let mut apgd = AttackConfig::preset(AttackKind::ApgdCe);
        apgd.target = Some(1);
        assert!(apgd.validate(10).unwrap_err().contains("untargeted"));
    }
}
