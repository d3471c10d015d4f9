//! Robustness against budget for one image: as ε grows, the share of random paths that still
//! classify the attacked image right, under the paper's protocol and under EOT. The app draws
//! it point by point while it computes; a model's own curve comes from its card's `sanity` row.

use serde::{Deserialize, Serialize};

use crate::attack::image::first_image_bytes;
use crate::attack::{AttackConfig, AttackError, PathPolicy, run_attack};
use crate::data::batch_to_tensor;
use crate::ensemble;
use crate::model::RnaModel;
use crate::stats::Proportion;

/// ε of the curve, in /255: 0 to 16/255, twice the paper's budget.
pub const CURVE_EPS: [f64; 9] = [0.0, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 14.0, 16.0];

/// What the curve measures and how, for the plot's caption.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CurveSetup {
    /// The path policies, one line each (`official`, then `eot:K`).
    pub policies: Vec<PathPolicy>,
    /// ε in /255, rising.
    pub eps: Vec<f64>,
    /// Random paths that judge every attacked image (the same paths at every point).
    pub paths: usize,
    pub label: usize,
    /// Whether `label` is the image's true label; otherwise it is the clean ensemble's vote
    /// (no true label known), and "right" means "still says what the ensemble said".
    pub label_known: bool,
    pub seed: u64,
}

/// One attack and its judgement by the setup's paths.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    /// Index into [`CurveSetup::policies`].
    pub policy: usize,
    /// In /255.
    pub eps: f64,
    /// Paths that classify the attacked (8-bit) image right, with a 95% Wilson interval. The
    /// interval covers the judging paths only: each point is one attack (one attacker's path and
    /// random start, from the seed), whose own randomness it does not cover.
    pub correct: Proportion,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BudgetCurve {
    pub setup: CurveSetup,
    /// In the order computed: for each ε, every policy.
    pub points: Vec<CurvePoint>,
    pub cancelled: bool,
}

impl CurveSetup {
    /// The curve the app and the CLI draw: [`CURVE_EPS`] under `official` and `eot:K`.
    pub fn official_and_eot(
        eot_paths: usize,
        paths: usize,
        (label, label_known): (usize, bool),
        seed: u64,
    ) -> Self {
        Self {
            policies: vec![PathPolicy::Official, PathPolicy::Eot(eot_paths)],
            eps: CURVE_EPS.to_vec(),
            paths,
            label,
            label_known,
            seed,
        }
    }

    /// The attack at one point: PGD-20 at ε with α = ε/4 (2/255 at 8/255, as the paper), the
    /// same attack as the card's sanity curve, so the image's curve and the model's compare.
    pub fn attack(&self, policy: usize, eps255: f64) -> AttackConfig {
        let mut c = AttackConfig::pgd20_at(eps255, self.policies[policy].clone());
        c.seed = self.seed;
        c
    }

    /// The caption every plot of the curve carries: protocol, judging paths, seed.
    pub fn describe(&self) -> String {
        let truth = match self.label_known {
            true => "the true label",
            false => "label: the clean ensemble's vote (no true label known)",
        };
        format!(
            "PGD-20 (α = ε/4, random start) per ε; share of {} random paths right on the 8-bit result ({truth}), \
             95% Wilson interval over those paths; one attack per point, seed {}",
            self.paths, self.seed
        )
    }
}

impl BudgetCurve {
    /// The points of one policy, ε rising.
    pub fn line(&self, policy: usize) -> impl Iterator<Item = &CurvePoint> {
        self.points.iter().filter(move |p| p.policy == policy)
    }

    /// One row per point: `policy,eps_255,right,paths,low,high` (shares as fractions).
    pub fn csv(&self) -> String {
        let mut out = String::from("policy,eps_255,right,paths,low,high\n");
        for p in &self.points {
            out += &format!(
                "{},{},{},{},{:.6},{:.6}\n",
                self.setup.policies[p.policy],
                p.eps,
                (p.correct.value * self.setup.paths as f64).round(),
                self.setup.paths,
                p.correct.low,
                p.correct.high
            );
        }
        out
    }

    /// What the curve shows in one sentence, computed from it: every policy's share at the
    /// paper's 8/255, or at the largest ε every policy reached.
    pub fn sentence(&self, class: &str) -> Option<String> {
        let policies = self.setup.policies.len();
        let reached = |eps: f64| (0..policies).all(|p| self.line(p).any(|q| q.eps == eps));
        let eps = if reached(8.0) {
            8.0
        } else {
            self.setup.eps.iter().copied().rev().find(|&e| reached(e))?
        };
        let shares: Vec<String> = (0..policies)
            .filter_map(|p| self.line(p).find(|q| q.eps == eps).map(|q| (p, q)))
            .map(|(p, q)| {
                format!(
                    "{:.0}% under {}",
                    100.0 * q.correct.value,
                    self.setup.policies[p]
                )
            })
            .collect();
        Some(format!(
            "At ε = {eps}/255, the share of the {} paths that still say {class}: {}.",
            self.setup.paths,
            shares.join(", ")
        ))
    }
}

/// Computes the curve of `input` (8-bit planar) with the setup's true label. `on_point` sees each point
/// as it is done and `keep_going` is asked at every attack step; either returning false stops
/// the curve there, keeping what is done. ε = 0 is one point for every policy (no attack).
pub fn budget_curve(
    model: &RnaModel,
    input: &[u8],
    setup: CurveSetup,
    on_point: &mut dyn FnMut(&CurvePoint) -> bool,
    keep_going: &dyn Fn() -> bool,
) -> Result<BudgetCurve, AttackError> {
    let label = setup.label;
    if label >= model.num_classes() {
        return Err(format!(
            "class {label} does not exist: the model has {} classes",
            model.num_classes()
        )
        .into());
    }
    if setup.paths == 0 {
        return Err(AttackError::Settings(
            "the curve needs at least one judging path".into(),
        ));
    }
    let device = model.device().clone();
    let x = batch_to_tensor(input, &device);
    let judges = model.path_space().sample_many(setup.paths, setup.seed);
    let judge = |bytes: &[u8]| {
        let image = batch_to_tensor(bytes, &device).squeeze_dim(0);
        let right = ensemble::query(model, &image, &judges)
            .iter()
            .filter(|p| p.label == label)
            .count();
        Proportion::wilson(right, judges.len())
    };
    let mut curve = BudgetCurve {
        setup,
        points: Vec::new(),
        cancelled: false,
    };
    let clean = judge(input);
    for &eps in &curve.setup.eps.clone() {
        for policy in 0..curve.setup.policies.len() {
            let correct = if eps == 0.0 {
                clean
            } else {
                let config = curve.setup.attack(policy, eps);
                let result = run_attack(model, &x, &[label], &config, &mut |_, _, _| keep_going())?;
                if result.cancelled {
                    curve.cancelled = true;
                    return Ok(curve);
                }
                judge(&first_image_bytes(&result.x_adv))
            };
            let point = CurvePoint {
                policy,
                eps,
                correct,
            };
            let go_on = on_point(&point);
            curve.points.push(point);
            let all = curve.setup.eps.len() * curve.setup.policies.len();
            if !go_on && curve.points.len() < all {
                curve.cancelled = true;
                return Ok(curve);
            }
        }
    }
    Ok(curve)
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;
    use crate::attack::image::first_image_bytes;
    use crate::model::{NormKind, predictions, tiny_for_tests};
    use crate::rng::SeededRng;

    fn setup() -> CurveSetup {
        CurveSetup {
            policies: vec![PathPolicy::Official, PathPolicy::Eot(2)],
            eps: vec![0.0, 8.0],
            paths: 12,
            label: 3,
            label_known: true,
            seed: 5,
        }
    }

    fn model_and_image() -> (RnaModel, Vec<u8>) {
        let model = tiny_for_tests(2, NormKind::RELEASED.to_vec());
        let mut rng = SeededRng::new(9);
        let image = (0..crate::data::IMAGE_LEN)
            .map(|_| rng.below(256) as u8)
            .collect();
        (model, image)
    }

    /// Paths right on `bytes`, one forward pass per path (not the batched ensemble query).
    fn right_one_by_one(model: &RnaModel, bytes: &[u8], s: &CurveSetup) -> usize {
        let x = batch_to_tensor(bytes, model.device());
        model
            .path_space()
            .sample_many(s.paths, s.seed)
            .iter()
            .filter(|path| predictions(model.forward_path(x.clone(), path))[0] == s.label)
            .count()
    }

    #[test]
    fn each_point_is_the_share_of_the_judging_paths_right_on_its_attacked_image() {
        let (model, image) = model_and_image();
        let s = setup();
        let mut streamed = Vec::new();
        let curve = budget_curve(
            &model,
            &image,
            s.clone(),
            &mut |p| {
                streamed.push(p.clone());
                true
            },
            &|| true,
        )
        .unwrap();
        assert!(!curve.cancelled);
        assert_eq!(streamed, curve.points);
        let order: Vec<(f64, usize)> = curve.points.iter().map(|p| (p.eps, p.policy)).collect();
        assert_eq!(order, vec![(0.0, 0), (0.0, 1), (8.0, 0), (8.0, 1)]);
        let clean = right_one_by_one(&model, &image, &s);
        for p in &curve.points[..2] {
            assert_eq!(p.correct, Proportion::wilson(clean, s.paths));
        }
        for p in &curve.points[2..] {
            let config = s.attack(p.policy, p.eps);
            assert_eq!(config.eps, 8.0 / 255.0);
            assert_eq!(config.alpha, 2.0 / 255.0);
            assert_eq!(config.policy, s.policies[p.policy]);
            let x = batch_to_tensor(&image, model.device());
            let adversarial =
                run_attack(&model, &x, &[s.label], &config, &mut |_, _, _| true).unwrap();
            let right = right_one_by_one(&model, &first_image_bytes(&adversarial.x_adv), &s);
            assert_eq!(p.correct, Proportion::wilson(right, s.paths), "{p:?}");
        }
        assert_eq!(curve.line(1).count(), 2);
    }

    #[test]
    fn a_curve_stops_where_it_is_asked_to_and_keeps_what_is_done() {
        let (model, image) = model_and_image();
        let seen = Cell::new(0);
        let curve = budget_curve(
            &model,
            &image,
            setup(),
            &mut |_| {
                seen.set(seen.get() + 1);
                seen.get() < 3
            },
            &|| true,
        )
        .unwrap();
        assert!(curve.cancelled);
        assert_eq!(curve.points.len(), 3);
        // A stop asked for at the last point comes too late: the curve is whole.
        seen.set(0);
        let curve = budget_curve(
            &model,
            &image,
            setup(),
            &mut |_| {
                seen.set(seen.get() + 1);
                seen.get() < 4
            },
            &|| true,
        )
        .unwrap();
        assert!(!curve.cancelled);
        assert_eq!(curve.points.len(), 4);
        // Stopped inside the first attack: the clean points remain, no partial attack is judged.
        let curve = budget_curve(&model, &image, setup(), &mut |_| true, &|| false).unwrap();
        assert!(curve.cancelled);
        assert!(curve.points.iter().all(|p| p.eps == 0.0));
        assert_eq!(curve.points.len(), 2);
    }

    #[test]
    fn the_caption_says_whether_right_means_the_true_label_or_the_vote() {
        assert!(setup().describe().contains("(the true label)"));
        let vote = CurveSetup {
            label_known: false,
            ..setup()
        };
        assert!(vote.describe().contains("the clean ensemble's vote"));
        assert!(vote.describe().contains("seed 5") && vote.describe().contains("12 random paths"));
    }

    #[test]
    fn a_class_the_model_lacks_or_no_judging_paths_is_an_error() {
        let (model, image) = model_and_image();
        let cases = [
            (
                CurveSetup {
                    label: 10,
                    ..setup()
                },
                "class 10 does not exist",
            ),
            (
                CurveSetup {
                    paths: 0,
                    ..setup()
                },
                "at least one judging path",
            ),
        ];
        for (bad, expected) in cases {
            let err = budget_curve(&model, &image, bad, &mut |_| true, &|| true).unwrap_err();
            assert!(err.to_string().contains(expected), "{err}");
        }
    }

    #[test]
    fn the_sentence_reads_every_policy_at_the_papers_budget_or_the_last_one_reached() {
        let point = |policy, eps, right| CurvePoint {
            policy,
            eps,
            correct: Proportion::wilson(right, 20),
        };
        let mut curve = BudgetCurve {
            setup: CurveSetup {
                eps: vec![0.0, 4.0, 8.0, 16.0],
                paths: 20,
                ..setup()
            },
            points: vec![point(0, 0.0, 20), point(1, 0.0, 20), point(0, 4.0, 15)],
            cancelled: true,
        };
        assert_eq!(
            curve.sentence("cat").unwrap(),
            "At ε = 0/255, the share of the 20 paths that still say cat: 100% under official, 100% under eot:2."
        );
        curve
            .points
            .extend([point(1, 4.0, 5), point(0, 8.0, 13), point(1, 8.0, 1)]);
        assert_eq!(
            curve.sentence("cat").unwrap(),
            "At ε = 8/255, the share of the 20 paths that still say cat: 65% under official, 5% under eot:2."
        );
        let csv = curve.csv();
        let rows: Vec<&str> = csv.lines().collect();
        assert_eq!(rows.len(), 7);
        assert_eq!(rows[0], "policy,eps_255,right,paths,low,high");
        assert!(rows[4].starts_with("eot:2,4,5,20,"), "{}", rows[4]);
        assert!(rows[5].starts_with("official,8,13,20,"), "{}", rows[5]);
        curve.points.clear();
        assert_eq!(curve.sentence("cat"), None);
    }
}
