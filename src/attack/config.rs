//! Attack settings as users give them (torchattacks/AutoAttack vocabulary), with presets.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::loss::LossKind;
use super::pgd::{Norm, PgdConfig};
use super::policy::{Pairing, PathPolicy};

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
    /// ARC (Dbouk & Shanbhag 2022) against the ensemble of K paths that `eot:K` names.
    Arc,
    /// Square Attack (Andriushchenko et al. 2020): black-box random search on the margin,
    /// `steps` queries; under `eot:K` every query averages the logits of K random paths.
    Square,
    /// APGD with the targeted DLR loss towards each of the 9 classes ranked next by the clean
    /// logits in turn, as AutoAttack's `apgd-t`.
    ApgdT,
    /// Targeted FAB towards each of the 9 classes ranked next, as AutoAttack's `fab-t`.
    FabT,
    /// AutoAttack's standard version: APGD-CE, APGD-T, FAB-T, then Square with 5,000 queries,
    /// each on the points not yet broken.
    AutoattackStandard,
}

impl AttackKind {
    pub const ALL: [AttackKind; 12] = [
        AttackKind::Fgsm,
        AttackKind::Pgd,
        AttackKind::PgdL2,
        AttackKind::Mifgsm,
        AttackKind::ApgdCe,
        AttackKind::ApgdDlr,
        AttackKind::AutoattackRand,
        AttackKind::Arc,
        AttackKind::Square,
        AttackKind::ApgdT,
        AttackKind::FabT,
        AttackKind::AutoattackStandard,
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
            AttackKind::Arc => "arc",
            AttackKind::Square => "square",
            AttackKind::ApgdT => "apgd-t",
            AttackKind::FabT => "fab-t",
            AttackKind::AutoattackStandard => "autoattack-standard",
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
    /// Paths per image or per batch (settings saved before pairing existed: per image).
    #[serde(default)]
    pub pairing: Pairing,
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
            AttackKind::ApgdCe
            | AttackKind::AutoattackRand
            | AttackKind::AutoattackStandard
            | AttackKind::FabT => (e, 2.0 * e, 100, true, LossKind::Ce),
            AttackKind::ApgdT => (e, 2.0 * e, 100, true, LossKind::DlrTargeted),
            AttackKind::ApgdDlr => (e, 2.0 * e, 100, true, LossKind::Dlr),
            // The authors' CIFAR-10 L∞ runs: η = ε, 20 iterations, from the clean image.
            AttackKind::Arc => (e, e, 20, false, LossKind::Ce),
            // AutoAttack's standard budget: 5,000 queries (α is unused).
            AttackKind::Square => (e, e, 5000, false, LossKind::Ce),
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
            policy: match kind {
                AttackKind::AutoattackRand => PathPolicy::Eot(20),
                AttackKind::Arc => PathPolicy::Eot(10),
                _ => PathPolicy::Official,
            },
            pairing: Pairing::Image,
            path: None,
            seed: 0,
        }
    }

    /// PGD-20 at ε (in /255) with α = ε/4 (2/255 at 8/255, as the paper; at least 0.25/255),
    /// so every ε can be reached: the attack of ε curves.
    pub fn pgd20_at(eps255: f64, policy: PathPolicy) -> Self {
        let mut c = Self::preset(AttackKind::Pgd);
        c.eps = eps255 / 255.0;
        c.alpha = (eps255 / 4.0).max(0.25) / 255.0;
        c.policy = policy;
        c
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
            project: true,
            start_radius: None,
        }
    }

    /// Whether the attack steps by APGD's rule (and so takes no α and no target of its own).
    pub fn is_apgd(&self) -> bool {
        matches!(
            self.kind,
            AttackKind::ApgdCe
                | AttackKind::ApgdDlr
                | AttackKind::ApgdT
                | AttackKind::FabT
                | AttackKind::AutoattackRand
                | AttackKind::AutoattackStandard
        )
    }

    /// Whether points are judged as AutoAttack judges them: a fresh pass after every stage, a
    /// point broken once stays broken.
    pub fn autoattack_accounting(&self) -> bool {
        matches!(
            self.kind,
            AttackKind::ApgdT
                | AttackKind::FabT
                | AttackKind::AutoattackRand
                | AttackKind::AutoattackStandard
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
        let targeted_stages = matches!(
            self.kind,
            AttackKind::ApgdT | AttackKind::FabT | AttackKind::AutoattackStandard
        );
        if (targeted_stages || self.loss == LossKind::DlrTargeted) && classes < 4 {
            return Err(format!(
                "{} needs at least four classes (the targeted DLR loss)",
                self.kind
            ));
        }
        if self.policy == PathPolicy::Eot(0) {
            return Err("eot:K needs K ≥ 1".into());
        }
        if self.kind == AttackKind::Square && self.target.is_some() {
            return Err("square is untargeted here".into());
        }
        if self.kind == AttackKind::Arc {
            if self.target.is_some() {
                return Err("arc is untargeted".into());
            }
            if matches!(self.policy, PathPolicy::Resample) {
                return Err(
                    "arc attacks a fixed ensemble of paths: use eot:K (K members), official or fixed (one)"
                        .into(),
                );
            }
        }
        Ok(())
    }
}

/// The largest L∞ budget accepted as a plain fraction: above it, `0.5` is far more likely a
/// slip for `0.5/255` than a meant 127.5/255, so it must be written with `/255`.
const LINF_PLAIN_FRACTION_MAX: f64 = 32.0 / 255.0;
/// The largest L2 budget accepted as a plain number: CIFAR L2 budgets are 0.25–2, and `8` is
/// far more likely an L∞ habit (8/255) than a meant ε = 8 (a third of the image's diameter).
const L2_PLAIN_MAX: f64 = 4.0;

/// Parses ε or α as given on the command line, in the attack's norm. L∞: a plain number ≥ 1 is
/// in /255 (`8` = 8/255: a fraction ≥ 1 is meaningless for pixels in [0, 1]), one below 1 a
/// fraction (`0.0314`), and `8/255` is explicit. L2: a plain number is taken literally (`0.5`),
/// `N/255` still works. Values whose unit cannot be told apart are refused with the reason.
pub fn parse_budget(text: &str, norm: Norm) -> Result<f64, String> {
    let t = text.trim();
    let number = |s: &str| {
        s.trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0)
            .ok_or_else(|| {
                format!("'{text}' is not a finite number ≥ 0 (give e.g. 8, 8/255 or 0.0314)")
            })
    };
    if let Some(num) = t.strip_suffix("/255") {
        return Ok(number(num)? / 255.0);
    }
    let v = number(t)?;
    match norm {
        Norm::Linf if v >= 1.0 => Ok(v / 255.0),
        Norm::Linf if v > LINF_PLAIN_FRACTION_MAX => Err(format!(
            "'{text}' is ambiguous for an L∞ budget: as a fraction of the pixel range it is {:.1}/255; write {:.1}/255 if you mean that, or {text}/255",
            v * 255.0,
            v * 255.0
        )),
        Norm::Linf => Ok(v),
        Norm::L2 if v > L2_PLAIN_MAX => Err(format!(
            "'{text}' is ambiguous for an L2 budget: L2 budgets are taken literally, and ε = {v} is beyond any CIFAR L2 budget; write {text}/255 for {:.4}",
            v / 255.0
        )),
        Norm::L2 => Ok(v),
    }
}

/// A budget in both forms, so it cannot be misread: `8/255 (0.0314)` or `0.500 (127.5/255)`.
pub fn describe_budget(value: f64, norm: Norm) -> String {
    match norm {
        Norm::Linf => format!("{}/255 ({value:.4})", trim_number(value * 255.0)),
        Norm::L2 => format!(
            "{} ({}/255) in L2",
            trim_number(value),
            trim_number(value * 255.0)
        ),
    }
}

/// Up to two decimals, without trailing zeros.
fn trim_number(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// The same attack and budget under the paper's protocol (`official`: attack one random path,
/// defend on another) and under EOT over `k` paths per step: the comparison that shows how far
/// the protocol overstates robustness. The EOT side should be judged against the official
/// side's label, so both count the same truth.
pub fn protocol_pair(config: &AttackConfig, k: usize) -> [AttackConfig; 2] {
    let mut official = config.clone();
    official.policy = PathPolicy::Official;
    let mut eot = config.clone();
    eot.policy = PathPolicy::Eot(k);
    [official, eot]
}

/// The attack in words, with its budget, loss, target and path policy: the line every report
/// and table prints beside a figure.
pub fn describe_attack(a: &AttackConfig) -> String {
    let norm = a.kind.norm();
    let budget = |v: f64| describe_budget(v, norm);
    let mut s = match a.kind {
        AttackKind::AutoattackRand => {
            format!(
                "autoattack-rand (APGD-CE then APGD-DLR, {} iterations each",
                a.steps
            )
        }
        AttackKind::Arc => format!("arc ({} iterations, η {}", a.steps, budget(a.alpha)),
        AttackKind::Square => format!("square ({} queries, p 0.8, margin loss", a.steps),
        _ if a.is_apgd() => format!("{} ({} iterations", a.kind, a.steps),
        _ => format!(
            "{} ({} step{}, α {}",
            a.kind,
            a.steps,
            if a.steps == 1 { "" } else { "s" },
            budget(a.alpha)
        ),
    };
    s += &format!(
        ", ε {}, {}random start, {} restart{}{}{}); {}",
        budget(a.eps),
        if (a.random_start || a.is_apgd())
            && !matches!(a.kind, AttackKind::Arc | AttackKind::Square)
        {
            ""
        } else {
            "no "
        },
        a.restarts,
        if a.restarts == 1 { "" } else { "s" },
        if matches!(
            a.kind,
            AttackKind::AutoattackRand | AttackKind::Arc | AttackKind::Square
        ) {
            String::new()
        } else {
            format!(", {} loss", a.loss)
        },
        a.target
            .map(|t| format!(", targeted at class {t} (images of that class skipped)"))
            .unwrap_or_default(),
        match (a.kind, &a.policy) {
            (AttackKind::Arc, PathPolicy::Eot(k)) => format!(
                "against an ensemble of {k} random paths of equal weight drawn per batch, defence on an independent random path"
            ),
            _ => a.policy.describe(),
        }
    );
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_protocol_pair_keeps_the_budget_and_changes_only_the_policy() {
        let mut config = AttackConfig::preset(AttackKind::Pgd);
        config.policy = PathPolicy::Fixed;
        config.eps = 4.0 / 255.0;
        let [official, eot] = protocol_pair(&config, 7);
        assert_eq!(official.policy, PathPolicy::Official);
        assert_eq!(eot.policy, PathPolicy::Eot(7));
        for side in [official, eot] {
            assert_eq!(
                AttackConfig {
                    policy: PathPolicy::Fixed,
                    ..side
                },
                config
            );
        }
    }

    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn linf_budgets_parse_in_255ths_or_small_fractions() {
        let linf = |t: &str| parse_budget(t, Norm::Linf);
        assert!(close(linf("8").unwrap(), 8.0 / 255.0));
        assert!(close(linf("8/255").unwrap(), 8.0 / 255.0));
        assert!(close(linf("0.0314").unwrap(), 0.0314));
        assert!(close(linf("1").unwrap(), 1.0 / 255.0));
        assert!(close(linf("0.5/255").unwrap(), 0.5 / 255.0));
        assert!(close(linf("127.5/255").unwrap(), 0.5));
        let ambiguous = linf("0.5").unwrap_err();
        assert!(
            ambiguous.contains("ambiguous") && ambiguous.contains("127.5/255"),
            "{ambiguous}"
        );
        for bad in ["-1", "nan", "NaN", "inf", "x", "", "-8/255"] {
            assert!(linf(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn l2_budgets_are_literal() {
        let l2 = |t: &str| parse_budget(t, Norm::L2);
        assert!(close(l2("0.5").unwrap(), 0.5));
        assert!(
            close(l2("1").unwrap(), 1.0),
            "torchattacks' usual L2 ε = 1 stays 1"
        );
        assert!(close(l2("128/255").unwrap(), 128.0 / 255.0));
        let ambiguous = l2("8").unwrap_err();
        assert!(
            ambiguous.contains("ambiguous") && ambiguous.contains("8/255"),
            "{ambiguous}"
        );
    }

    #[test]
    fn budgets_are_described_in_both_forms() {
        assert_eq!(describe_budget(8.0 / 255.0, Norm::Linf), "8/255 (0.0314)");
        assert_eq!(describe_budget(0.5, Norm::L2), "0.5 (127.5/255) in L2");
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
