//! Named protocols, so the CLI, the card scripts and the app mean the same thing by `pgd20`,
//! and the gradient-masking sanity checks that are read off a set of them.

use serde::{Deserialize, Serialize};

use super::EvalReport;
use crate::attack::{AttackConfig, AttackKind, PathPolicy};

/// A named protocol: `None` is natural accuracy.
pub type Protocol = (String, Option<AttackConfig>);

/// Every name `preset` takes.
pub const NAMES: [&str; 15] = [
    "natural",
    "fgsm",
    "pgd20",
    "mifgsm",
    "pgd20-fixed",
    "eot-pgd20",
    "autoattack-rand",
    "paper",
    "sanity",
    "pgd100",
    "arc",
    "square",
    "apgd-t",
    "fab-t",
    "autoattack-standard",
];

/// The ε of the sanity curve, in /255.
pub const SANITY_EPS: [f64; 8] = [0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0];
/// The path policies of the sanity curve.
pub const SANITY_POLICIES: [(&str, PathPolicy); 2] = [
    ("official", PathPolicy::Official),
    ("eot10", PathPolicy::Eot(10)),
];

fn with(kind: AttackKind, policy: PathPolicy) -> Option<AttackConfig> {
    let mut c = AttackConfig::preset(kind);
    c.policy = policy;
    Some(c)
}

/// The protocols behind a preset name (see [`NAMES`]).
pub fn preset(name: &str) -> Result<Vec<Protocol>, String> {
    let one = |p: Option<AttackConfig>| vec![(name.to_string(), p)];
    Ok(match name {
        "natural" => one(None),
        "fgsm" => one(with(AttackKind::Fgsm, PathPolicy::Official)),
        "pgd20" => one(with(AttackKind::Pgd, PathPolicy::Official)),
        "mifgsm" => one(with(AttackKind::Mifgsm, PathPolicy::Official)),
        "pgd20-fixed" => one(with(AttackKind::Pgd, PathPolicy::Fixed)),
        "eot-pgd20" => one(with(AttackKind::Pgd, PathPolicy::Eot(10))),
        "autoattack-rand" => one(with(AttackKind::AutoattackRand, PathPolicy::Eot(20))),
        "arc" => one(with(AttackKind::Arc, PathPolicy::Eot(10))),
        "square" => one(with(AttackKind::Square, PathPolicy::Official)),
        "apgd-t" => one(with(AttackKind::ApgdT, PathPolicy::Fixed)),
        "fab-t" => one(with(AttackKind::FabT, PathPolicy::Fixed)),
        // For a deterministic model every policy is the same; on an RNA model, `resample` is
        // AutoAttack applied the official way: a fresh random path at every forward pass.
        "autoattack-standard" => one(with(AttackKind::AutoattackStandard, PathPolicy::Resample)),
        "pgd100" => one(with(AttackKind::Pgd, PathPolicy::Official).map(|mut c| {
            c.steps = 100;
            c
        })),
        "paper" => ["natural", "fgsm", "pgd20", "mifgsm"]
            .iter()
            .map(|n| preset(n).map(|mut v| v.remove(0)))
            .collect::<Result<_, _>>()?,
        "sanity" => {
            let mut v = Vec::new();
            for (policy_name, policy) in SANITY_POLICIES {
                for eps in SANITY_EPS {
                    v.push((
                        curve_name(policy_name, eps),
                        Some(AttackConfig::pgd20_at(eps, policy.clone())),
                    ));
                }
            }
            v.push(("sanity-pgd100".into(), preset("pgd100")?.remove(0).1));
            v.push((
                "sanity-eot50".into(),
                with(AttackKind::Pgd, PathPolicy::Eot(50)),
            ));
            // 1,000 queries rather than AutoAttack's 5,000, so the checks fit a CPU sitting.
            v.push((
                "sanity-square".into(),
                with(AttackKind::Square, PathPolicy::Official).map(|mut c| {
                    c.steps = 1000;
                    c
                }),
            ));
            v
        }
        other => {
            return Err(format!(
                "unknown preset '{other}': expected {}",
                NAMES.join(", ")
            ));
        }
    })
}

fn curve_name(policy: &str, eps: f64) -> String {
    format!("sanity-{policy}-eps{eps}")
}

/// What the sanity preset found.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SanityReport {
    /// Per policy, robust accuracy against ε.
    pub curves: Vec<SanityCurve>,
    /// One line per check, with its verdict.
    pub checks: Vec<SanityCheck>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SanityCurve {
    pub policy: String,
    /// `[ε in /255, robust accuracy]` pairs, ε rising.
    pub points: Vec<[f64; 2]>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SanityCheck {
    pub check: String,
    pub passed: bool,
    pub detail: String,
}

/// Reads the checks off the reports of the `sanity` preset's protocols (by name). "Beyond
/// noise" means the 95% intervals do not overlap.
pub fn sanity(results: &[(String, EvalReport)]) -> Result<SanityReport, String> {
    let get = |name: &str| -> Result<&EvalReport, String> {
        results
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, r)| r)
            .ok_or_else(|| format!("the sanity checks need the protocol {name}"))
    };
    let robust = |r: &EvalReport| r.robust.expect("an attacked protocol");
    let pct = |v: f64| format!("{:.1}%", 100.0 * v);
    let mut curves = Vec::new();
    let mut checks = Vec::new();
    for (policy, _) in SANITY_POLICIES {
        let mut curve = Vec::new();
        for eps in SANITY_EPS {
            curve.push([eps, robust(get(&curve_name(policy, eps))?).value]);
        }
        let last = curve.last().expect("a curve")[1];
        let falls = curve.windows(2).all(|w| w[1][1] <= w[0][1] + 0.02);
        checks.push(SanityCheck {
            check: format!("{policy}: accuracy falls to ≤ 1% by ε 64/255"),
            passed: last <= 0.01,
            detail: format!("{} at 64/255", pct(last)),
        });
        checks.push(SanityCheck {
            check: format!("{policy}: accuracy does not rise with ε (beyond 2 points)"),
            passed: falls,
            detail: curve
                .iter()
                .map(|[e, a]| format!("{e}: {}", pct(*a)))
                .collect::<Vec<_>>()
                .join(", "),
        });
        curves.push(SanityCurve {
            policy: policy.to_string(),
            points: curve,
        });
    }
    let not_weaker = |strong: &str, weak: &str, what: &str| -> Result<SanityCheck, String> {
        let (s, w) = (robust(get(strong)?), robust(get(weak)?));
        Ok(SanityCheck {
            check: format!("{what} is not weaker than its shorter version beyond noise"),
            passed: s.low <= w.high,
            detail: format!(
                "{} ({}–{}) against {} ({}–{})",
                pct(s.value),
                pct(s.low),
                pct(s.high),
                pct(w.value),
                pct(w.low),
                pct(w.high)
            ),
        })
    };
    checks.push(not_weaker(
        "sanity-pgd100",
        &curve_name("official", 8.0),
        "PGD-100 (official)",
    )?);
    checks.push(not_weaker(
        "sanity-eot50",
        &curve_name("eot10", 8.0),
        "EOT-50 PGD-20",
    )?);
    // Black-box random search cannot beat the gradient attacks unless gradients mislead.
    let square = robust(get("sanity-square")?);
    let gradient = [
        curve_name("official", 8.0),
        curve_name("eot10", 8.0),
        "sanity-pgd100".into(),
        "sanity-eot50".into(),
    ]
    .iter()
    .map(|n| get(n).map(robust))
    .collect::<Result<Vec<_>, _>>()?;
    let strongest = gradient
        .iter()
        .min_by(|a, b| a.value.total_cmp(&b.value))
        .expect("four gradient attacks");
    checks.push(SanityCheck {
        check: "Square (black box) is not stronger than the gradient attacks beyond noise".into(),
        passed: square.high >= strongest.low,
        detail: format!(
            "Square {} ({}–{}) against the strongest gradient attack's {} ({}–{})",
            pct(square.value),
            pct(square.low),
            pct(square.high),
            pct(strongest.value),
            pct(strongest.low),
            pct(strongest.high)
        ),
    });
    Ok(SanityReport { curves, checks })
}

impl SanityReport {
    /// `policy,eps_255,robust_accuracy` lines.
    pub fn csv(&self) -> String {
        let mut s = String::from("policy,eps_255,robust_accuracy\n");
        for SanityCurve { policy, points } in &self.curves {
            for [eps, acc] in points {
                s += &format!("{policy},{eps},{acc:.4}\n");
            }
        }
        s
    }

    /// "gradient masking suspected" when any check failed.
    pub fn verdict(&self) -> &'static str {
        if self.checks.iter().all(|c| c.passed) {
            "no sign of gradient masking in these checks"
        } else {
            "gradient masking suspected: see the failed checks"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attack::Pairing;
    use crate::stats::Proportion;

    fn report(value: f64, half: f64) -> EvalReport {
        let p = Proportion {
            value,
            low: value - half,
            high: value + half,
        };
        EvalReport {
            images: 100,
            natural: p,
            robust: Some(p),
            adversarial: Some(p),
            defender: None,
            pairing: Pairing::Image,
            intervals: String::new(),
            protocol: String::new(),
            seed: 0,
            skipped: 0,
            seconds: 0.0,
            resumed: 0,
        }
    }

    /// The sanity preset's protocols, each with the robust accuracy `value(name)`.
    fn results(value: &dyn Fn(&str) -> f64) -> Vec<(String, EvalReport)> {
        preset("sanity")
            .unwrap()
            .into_iter()
            .map(|(name, _)| {
                let v = value(&name);
                (name, report(v, 0.03))
            })
            .collect()
    }

    /// A healthy curve: 50% at ε 0, halving with each doubling of ε, 0 at 64/255.
    fn healthy(name: &str) -> f64 {
        match name.rsplit_once("-eps") {
            Some((_, eps)) => {
                let e: f64 = eps.parse().unwrap();
                if e >= 64.0 { 0.0 } else { 0.5 / (1.0 + e) }
            }
            None if name == "sanity-square" => 0.5 / 9.0 + 0.02,
            None => 0.5 / 9.0 - 0.01,
        }
    }

    #[test]
    fn sanity_covers_both_policies_at_every_eps_and_the_longer_attacks() {
        let names: Vec<String> = preset("sanity").unwrap().into_iter().map(|p| p.0).collect();
        assert_eq!(names.len(), 2 * SANITY_EPS.len() + 3);
        let (_, eot) = preset("sanity")
            .unwrap()
            .into_iter()
            .find(|p| p.0 == "sanity-eot10-eps64")
            .unwrap();
        let eot = eot.unwrap();
        assert_eq!(eot.policy, PathPolicy::Eot(10));
        assert!((eot.eps - 64.0 / 255.0).abs() < 1e-12 && (eot.alpha - 16.0 / 255.0).abs() < 1e-12);
        assert!(preset("bogus").unwrap_err().contains("sanity"));
    }

    #[test]
    fn healthy_results_pass_every_check() {
        let report = sanity(&results(&healthy)).unwrap();
        assert!(
            report.checks.iter().all(|c| c.passed),
            "{:?}",
            report.checks
        );
        assert_eq!(report.curves[0].points[4], [8.0, 0.5 / 9.0]);
        assert!(
            report
                .csv()
                .starts_with("policy,eps_255,robust_accuracy\nofficial,0,0.5000\n")
        );
        assert!(report.verdict().starts_with("no sign"));
    }

    #[test]
    fn a_curve_that_stays_up_or_a_longer_attack_that_is_weaker_is_flagged() {
        // Accuracy stuck at 20% from ε 16 on: the curve check fails.
        let stuck = |n: &str| {
            if n.contains("eps32") || n.contains("eps64") {
                0.2
            } else {
                healthy(n)
            }
        };
        let report = sanity(&results(&stuck)).unwrap();
        assert!(report.checks.iter().filter(|c| !c.passed).count() >= 2);
        assert!(report.verdict().starts_with("gradient masking suspected"));
        // PGD-100 at 30% against PGD-20's 5.6%: weaker beyond the intervals.
        let weaker = |n: &str| {
            if n == "sanity-pgd100" {
                0.3
            } else {
                healthy(n)
            }
        };
        let report = sanity(&results(&weaker)).unwrap();
        let failed: Vec<&str> = report
            .checks
            .iter()
            .filter(|c| !c.passed)
            .map(|c| c.check.as_str())
            .collect();
        assert_eq!(
            failed,
            vec!["PGD-100 (official) is not weaker than its shorter version beyond noise"]
        );
        // Square far below every gradient attack: gradient masking suspected.
        let masked = |n: &str| {
            if n == "sanity-square" {
                0.0
            } else {
                0.3 + healthy(n)
            }
        };
        let report = sanity(&results(&masked)).unwrap();
        let square = report
            .checks
            .iter()
            .find(|c| c.check.starts_with("Square"))
            .unwrap();
        assert!(!square.passed, "{square:?}");
        // A missing protocol is an error, not a pass.
        assert!(sanity(&results(&healthy)[1..]).is_err());
    }
}
