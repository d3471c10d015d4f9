//! Accuracy under attack, with the path protocol, the pairing of paths and the convention
//! spelled out.
//!
//! Each mini-batch is attacked along the path(s) its policy prescribes and classified by the
//! defender: the attacker's own path under `fixed`, an independently drawn one otherwise. With
//! `image` pairing every image draws its own paths, in the same batched passes; `batch` pairing
//! gives the whole batch one pair, as the official evaluation code does. Every batch draws its
//! paths from the seed and its index, so a run is reproducible and any batch can be replayed.
//!
//! Two conventions are counted side by side: `robust` (clean and adversarial both right:
//! AutoAttack's and RobustBench's) and `adversarial` (adversarial right, whatever the clean
//! prediction: the official RNA code's).

pub mod card;
mod journal;
pub mod presets;
mod protocol;

pub use journal::EvalJournal;
pub use protocol::EvalConfig;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::attack::{AttackError, Pairing, attack_paths, draw_paths, run_attack};
use crate::data::ImageSet;
use crate::model::{Path, RnaModel};
use crate::rng::SeededRng;
use crate::stats::Proportion;

/// Most images in one forward pass when scoring on several defender paths.
const SCORING_ROWS: usize = 1024;

/// Statistics over the M defender paths each image was scored on (M > 1), in the robust
/// convention (clean and adversarial right on the same path).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DefenderStats {
    pub paths: usize,
    /// Mean over images and paths.
    pub mean: Proportion,
    /// The plurality vote of the M paths is right, clean and adversarial.
    pub vote: Proportion,
    /// Right on every one of the M paths, clean and adversarial.
    pub all_paths: Proportion,
    /// Natural accuracy averaged over the M paths.
    pub natural_mean: Proportion,
}

/// Why an evaluation cannot run or go on; each message is one line, as the CLI prints it.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// Settings, data or a checkpoint journal that do not fit this evaluation.
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Attack(#[from] AttackError),
}

impl From<String> for EvalError {
    fn from(message: String) -> Self {
        EvalError::Refused(message)
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EvalReport {
    pub images: usize,
    /// Natural accuracy on the (first) defender path.
    pub natural: Proportion,
    /// Clean and adversarial both right (AutoAttack/RobustBench convention).
    pub robust: Option<Proportion>,
    /// Adversarial right whatever the clean prediction (the official RNA code's convention).
    pub adversarial: Option<Proportion>,
    pub defender: Option<DefenderStats>,
    pub pairing: Pairing,
    /// How the intervals were formed.
    pub intervals: String,
    pub protocol: String,
    pub seed: u64,
    /// Images left out of a targeted evaluation because they are of the target class.
    pub skipped: usize,
    /// Wall time of this run; images counted from a checkpoint took none of it.
    pub seconds: f64,
    /// Images counted from a checkpoint rather than evaluated in this run.
    pub resumed: usize,
}

impl EvalReport {
    /// The headline figure: robust accuracy (AutoAttack convention), or natural without attack.
    pub fn headline(&self) -> f64 {
        self.robust.unwrap_or(self.natural).value
    }
}

/// What one finished batch contributed: all an interrupted evaluation needs to keep.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BatchCount {
    pub images: usize,
    /// Clean right on the first defender path.
    pub natural: usize,
    /// Clean and adversarial right (for autoattack-rand: AutoAttack's own verdict).
    pub robust: usize,
    /// Adversarial right on the first defender path.
    pub adversarial: usize,
    /// Over the M defender paths: Σ over images of the share of paths robust on that image,
    /// and Σ of its square (for the interval over images).
    pub path_share: f64,
    pub path_share_sq: f64,
    pub natural_path_share: f64,
    pub vote: usize,
    pub all_paths: usize,
}

impl BatchCount {
    fn add(&mut self, o: &BatchCount) {
        self.images += o.images;
        self.natural += o.natural;
        self.robust += o.robust;
        self.adversarial += o.adversarial;
        self.path_share += o.path_share;
        self.path_share_sq += o.path_share_sq;
        self.natural_path_share += o.natural_path_share;
        self.vote += o.vote;
        self.all_paths += o.all_paths;
    }
}

/// Per image and defender path, the predicted class: `predicted[j][i]` on `paths[j][i]`.
fn predict_on(
    model: &RnaModel,
    x: &burn::tensor::Tensor<4>,
    paths: &[Vec<Path>],
) -> Vec<Vec<usize>> {
    let n = x.dims()[0].max(1);
    let per_pass = (SCORING_ROWS / n).max(1);
    paths
        .chunks(per_pass)
        .flat_map(|group| {
            let flat: Vec<Path> = group.iter().flatten().cloned().collect();
            let predicted = crate::model::predictions(
                model.forward_paths(x.clone().repeat_dim(0, group.len()), &flat),
            );
            predicted.chunks(n).map(|c| c.to_vec()).collect::<Vec<_>>()
        })
        .collect()
}

/// The class most of `votes` name (ties to the lowest class, as argmax does).
fn plurality(votes: impl Iterator<Item = usize>, classes: usize) -> usize {
    let mut histogram = vec![0usize; classes];
    for v in votes {
        histogram[v] += 1;
    }
    crate::ensemble::argmax(&histogram.iter().map(|&c| c as f32).collect::<Vec<_>>())
}

/// Counts one batch: `clean[j][i]` and `adversarial[j][i]` are the predictions of defender
/// path j on image i; `robust_by_stages` replaces the single-draw robust verdict (AutoAttack).
pub fn count_batch(
    labels: &[usize],
    clean: &[Vec<usize>],
    adversarial: &[Vec<usize>],
    robust_by_stages: Option<&[bool]>,
    classes: usize,
) -> BatchCount {
    let m = clean.len();
    let mut count = BatchCount {
        images: labels.len(),
        ..BatchCount::default()
    };
    for (i, &label) in labels.iter().enumerate() {
        let clean_right = clean[0][i] == label;
        let adv_right = adversarial[0][i] == label;
        count.natural += usize::from(clean_right);
        count.adversarial += usize::from(adv_right);
        count.robust += usize::from(match robust_by_stages {
            Some(verdict) => verdict[i],
            None => clean_right && adv_right,
        });
        let both = (0..m)
            .filter(|&j| clean[j][i] == label && adversarial[j][i] == label)
            .count();
        let share = both as f64 / m as f64;
        count.path_share += share;
        count.path_share_sq += share * share;
        count.natural_path_share +=
            (0..m).filter(|&j| clean[j][i] == label).count() as f64 / m as f64;
        let vote = |p: &[Vec<usize>]| plurality(p.iter().map(|row| row[i]), classes) == label;
        count.vote += usize::from(vote(clean) && vote(adversarial));
        count.all_paths += usize::from(both == m);
    }
    count
}

/// The model under evaluation and, for a transfer attack, the one the attack is crafted on.
#[derive(Clone, Copy)]
pub struct Models<'m> {
    pub target: &'m RnaModel,
    pub surrogate: Option<&'m RnaModel>,
}

impl<'m> From<&'m RnaModel> for Models<'m> {
    fn from(target: &'m RnaModel) -> Self {
        Self {
            target,
            surrogate: None,
        }
    }
}

fn evaluate_batch(
    models: Models<'_>,
    data: &ImageSet,
    indices: &[usize],
    config: &EvalConfig,
    index: usize,
) -> Result<BatchCount, EvalError> {
    let model = models.target;
    let x = data.to_tensor(indices, model.device());
    let labels: Vec<usize> = indices
        .iter()
        .map(|&i| usize::from(data.labels[i]))
        .collect();
    let batch = config.for_batch(index);
    let n = labels.len();
    let (_, first) = attack_paths(model, &batch, n)?;
    let mut defenders = vec![first.clone()];
    let mut extra = SeededRng::derive(batch.seed, "defender-extra");
    for _ in 1..config.defender_paths {
        defenders.push(if batch.policy.defender_independent() {
            draw_paths(model, n, batch.pairing, &mut extra)
        } else {
            first.clone()
        });
    }
    let clean = predict_on(model, &x, &defenders);
    let (adversarial, verdict) = match config.attack {
        Some(_) => {
            let crafter = models.surrogate.unwrap_or(model);
            let result = run_attack(crafter, &x, &labels, &batch, &mut |_, _, _| true)?;
            (
                predict_on(model, &result.x_adv, &defenders),
                result.robust_by_stages,
            )
        }
        None => (clean.clone(), None),
    };
    Ok(count_batch(
        &labels,
        &clean,
        &adversarial,
        verdict.as_deref(),
        model.num_classes(),
    ))
}

/// AutoAttack's self-check (`check_randomized`): whether two forward passes over the same
/// images disagree, in which case its standard version under-estimates an attack on the model
/// and the rand version (EOT) is the one to use.
pub fn forward_passes_disagree(model: &RnaModel, data: &ImageSet) -> bool {
    let n = data.len().min(16);
    if n == 0 {
        return false;
    }
    let indices: Vec<usize> = (0..n).collect();
    let x = data.to_tensor(&indices, model.device());
    let pass = |seed: u64| {
        let paths = draw_paths(
            model,
            n,
            Pairing::Image,
            &mut SeededRng::derive(seed, "self-check"),
        );
        model.forward_paths(x.clone(), &paths)
    };
    let difference = pass(1).sub(pass(2)).abs().max().into_scalar::<f32>();
    difference > 1e-5
}

/// The images a targeted attack can move: those not already of the target class.
fn without_class(data: &ImageSet, class: Option<usize>) -> ImageSet {
    match class {
        None => data.clone(),
        Some(t) => {
            let keep: Vec<usize> = (0..data.len())
                .filter(|&i| usize::from(data.labels[i]) != t)
                .collect();
            data.subset(&keep)
        }
    }
}

/// Evaluates every image of `data` in batches. `progress(done, total)` may return false to
/// stop early; the report then covers the images done so far. With a `journal`, batches it
/// already holds for this configuration are counted without being run again, and every batch
/// run is recorded as soon as it finishes.
pub fn evaluate<'m>(
    models: impl Into<Models<'m>>,
    data: &ImageSet,
    config: &EvalConfig,
    batch_size: usize,
    mut journal: Option<&mut EvalJournal>,
    progress: &mut dyn FnMut(usize, usize) -> bool,
) -> Result<EvalReport, EvalError> {
    let started = std::time::Instant::now();
    let models = models.into();
    let model = models.target;
    config.validate()?;
    if let Some(surrogate) = models.surrogate {
        if surrogate.config().class_names != model.config().class_names {
            return Err(EvalError::Refused(
                "the surrogate model has other classes than the evaluated one".into(),
            ));
        }
        if config.surrogate.is_none() {
            return Err(EvalError::Refused(
                "a surrogate model needs its checksum in the configuration".into(),
            ));
        }
    }
    if let Some(attack) = &config.attack {
        attack.validate(model.num_classes())?;
    }
    let batch_size = batch_size.max(1);
    if let Some(journal) = &journal {
        journal.check(data, batch_size)?;
    }
    let target = config.attack.as_ref().and_then(|a| a.target);
    let all = data.len();
    let data = &without_class(data, target);
    let total = data.len();
    let recorded = journal
        .as_ref()
        .map(|j| j.recorded(config))
        .unwrap_or_default();
    let mut counts: Vec<BatchCount> = recorded.values().copied().collect();
    let resumed: usize = counts.iter().map(|c| c.images).sum();
    let starts: Vec<(usize, usize)> = (0..total)
        .step_by(batch_size)
        .enumerate()
        .filter(|(index, _)| !recorded.contains_key(index))
        .collect();
    // As many batches side by side as there are threads: much of a pass is single-threaded
    // work between convolutions. Results do not depend on it (each batch has its own seed).
    let side_by_side = rayon::current_num_threads().max(1);
    for group in starts.chunks(side_by_side) {
        let done: Vec<Result<(usize, BatchCount), EvalError>> = group
            .par_iter()
            .map(|&(index, start)| {
                let indices: Vec<usize> = (start..(start + batch_size).min(total)).collect();
                evaluate_batch(models, data, &indices, config, index).map(|c| (index, c))
            })
            .collect();
        for result in done {
            let (index, count) = result?;
            if let Some(journal) = journal.as_deref_mut() {
                journal.record(config, index, count)?;
            }
            counts.push(count);
        }
        let images = counts.iter().map(|c| c.images).sum();
        if !progress(images, total) {
            break;
        }
    }
    Ok(report(
        config,
        &counts,
        all - total,
        resumed,
        started.elapsed().as_secs_f64(),
    ))
}

/// The figures of the counted batches, with intervals over the independent units: images under
/// `image` pairing (or a fixed path), batches under `batch` pairing.
fn report(
    config: &EvalConfig,
    counts: &[BatchCount],
    skipped: usize,
    resumed: usize,
    seconds: f64,
) -> EvalReport {
    let mut sum = BatchCount::default();
    for c in counts {
        sum.add(c);
    }
    let by_batch = config.pairing == Pairing::Batch
        && config.path.is_none()
        && config
            .attack
            .as_ref()
            .is_none_or(|a| a.policy.defender_independent());
    let share = |pick: &dyn Fn(&BatchCount) -> f64| -> Proportion {
        if by_batch {
            let clusters: Vec<(f64, f64)> =
                counts.iter().map(|c| (pick(c), c.images as f64)).collect();
            Proportion::clustered(&clusters)
        } else {
            Proportion::wilson(pick(&sum).round() as usize, sum.images)
        }
    };
    let attacked = config.attack.is_some();
    let defender = (config.defender_paths > 1).then(|| {
        let mean = if by_batch {
            share(&|c| c.path_share)
        } else {
            // Images are independent, their shares of robust paths are not 0/1: the normal
            // interval of a mean, from Σ share and Σ share².
            let n = sum.images as f64;
            let p = if n > 0.0 { sum.path_share / n } else { 0.0 };
            let var = if n > 1.0 {
                ((sum.path_share_sq - n * p * p) / (n - 1.0)).max(0.0)
            } else {
                0.0
            };
            let half = 1.959_963_984_540_054 * (var / n.max(1.0)).sqrt();
            Proportion {
                value: p,
                low: (p - half).max(0.0),
                high: (p + half).min(1.0),
            }
        };
        DefenderStats {
            paths: config.defender_paths,
            mean,
            vote: share(&|c| c.vote as f64),
            all_paths: share(&|c| c.all_paths as f64),
            natural_mean: share(&|c| c.natural_path_share),
        }
    });
    EvalReport {
        images: sum.images,
        natural: share(&|c| c.natural as f64),
        robust: attacked.then(|| share(&|c| c.robust as f64)),
        adversarial: attacked.then(|| share(&|c| c.adversarial as f64)),
        defender,
        pairing: config.pairing,
        intervals: if by_batch {
            format!(
                "95%, over the {} batches (images of a batch share their paths)",
                counts.len()
            )
        } else {
            "95% Wilson, over images (each its own random paths)".into()
        },
        protocol: config.describe(),
        seed: config.seed,
        skipped,
        seconds,
        resumed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::checksum;
    use crate::model::norm::NormKind;

    fn tiny_model(seed: u64) -> RnaModel {
        crate::model::tiny_for_tests(seed, NormKind::RELEASED.to_vec())
    }

    fn deterministic_model() -> RnaModel {
        crate::model::tiny_for_tests(1, vec![NormKind::Bn])
    }

    fn images(n: usize) -> ImageSet {
        let mut rng = crate::rng::SeededRng::new(7);
        ImageSet {
            pixels: (0..n * crate::data::IMAGE_LEN)
                .map(|_| rng.below(256) as u8)
                .collect(),
            labels: (0..n as u16).map(|i| i % 10).collect(),
            class_names: Vec::new(),
        }
    }

    fn pgd3() -> EvalConfig {
        EvalConfig::official_pgd(3, 5)
    }

    /// PGD-3 in batches of 2, recorded in `journal`.
    fn pgd3_in_pairs(
        model: &RnaModel,
        data: &ImageSet,
        journal: &mut EvalJournal,
        progress: &mut dyn FnMut(usize, usize) -> bool,
    ) -> EvalReport {
        evaluate(model, data, &pgd3(), 2, Some(journal), progress).unwrap()
    }

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("rna-lens-eval-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("journal.jsonl")
    }

    /// Two threads: batches run two at a time, and a stop comes after a pair.
    #[test]
    fn a_stopped_evaluation_resumes_to_the_uninterrupted_result() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        pool.install(stop_and_resume);
    }

    fn stop_and_resume() {
        let (model, data) = (tiny_model(1), images(10));
        let full = evaluate(&model, &data, &pgd3(), 2, None, &mut |_, _| true).unwrap();
        assert_eq!(full.images, 10);

        let path = scratch("resume");
        let mut journal = EvalJournal::open(&path, &model, &data, 2).unwrap();
        let stopped = pgd3_in_pairs(&model, &data, &mut journal, &mut |_, _| false);
        assert_eq!(stopped.images, 4, "stops after the first two batches");
        drop(journal);
        // A crash in the middle of writing leaves a line cut short: it is dropped.
        let mut text = std::fs::read_to_string(&path).unwrap();
        text += r#"{"config":{"attack":nu"#;
        std::fs::write(&path, &text).unwrap();

        let mut journal = EvalJournal::open(&path, &model, &data, 2).unwrap();
        assert_eq!(journal.recorded(&pgd3()).len(), 2);
        assert!(journal.recorded(&EvalConfig::official_pgd(3, 6)).is_empty());
        let mut calls = 0;
        let resumed = pgd3_in_pairs(&model, &data, &mut journal, &mut |_, _| {
            calls += 1;
            true
        });
        assert_eq!(
            calls, 2,
            "only the three batches not recorded run, two at a time"
        );
        assert_eq!(resumed.resumed, 4);
        assert_eq!(resumed.images, 10);
        assert_eq!(resumed.natural, full.natural);
        assert_eq!(resumed.robust, full.robust);
        assert_eq!(resumed.adversarial, full.adversarial);

        // Everything recorded: nothing runs, the same figures come back.
        let mut journal = EvalJournal::open(&path, &model, &data, 2).unwrap();
        let again = pgd3_in_pairs(&model, &data, &mut journal, &mut |_, _| {
            panic!("no batch should run")
        });
        assert_eq!((again.resumed, again.robust), (10, full.robust));
        let lines = std::fs::read_to_string(&path).unwrap().lines().count();
        assert_eq!(lines, 1 + 5, "a header and one line per batch");
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    #[test]
    fn a_clean_wrong_image_never_counts_as_robust() {
        // Image 0: right clean and attacked. Image 1: wrong clean, right attacked (counted by
        // the official convention only). Image 2: right clean, broken.
        let c = count_batch(&[0, 1, 2], &[vec![0, 9, 2]], &[vec![0, 1, 9]], None, 10);
        assert_eq!((c.natural, c.adversarial, c.robust), (2, 2, 1));
        assert_eq!(
            (c.vote, c.all_paths),
            (1, 1),
            "one path: vote and worst case = robust"
        );
        assert_eq!(c.path_share, 1.0);
    }

    #[test]
    fn defender_path_statistics_follow_their_definitions() {
        // One image of class 0 on three defender paths: clean right on paths 0 and 1, attacked
        // right on path 0 only. Robust on 1 of 3 paths; the attacked vote (0, 3, 3) is 3, so
        // the vote is wrong; not robust on all paths.
        let c = count_batch(
            &[0],
            &[vec![0], vec![0], vec![5]],
            &[vec![0], vec![3], vec![3]],
            None,
            10,
        );
        assert_eq!((c.natural, c.robust, c.adversarial), (1, 1, 1));
        assert!((c.path_share - 1.0 / 3.0).abs() < 1e-12);
        assert!((c.natural_path_share - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!((c.vote, c.all_paths), (0, 0));
        // AutoAttack's verdict replaces the single-draw robust count, nothing else.
        let v = count_batch(&[0], &[vec![0]], &[vec![0]], Some(&[false]), 10);
        assert_eq!((v.robust, v.adversarial), (0, 1));
    }

    #[test]
    fn many_defender_paths_on_a_one_path_space_equal_one() {
        let model = deterministic_model();
        let data = images(8);
        let one = evaluate(&model, &data, &pgd3(), 4, None, &mut |_, _| true).unwrap();
        let config = EvalConfig {
            defender_paths: 5,
            ..pgd3()
        };
        let many = evaluate(&model, &data, &config, 4, None, &mut |_, _| true).unwrap();
        let d = many.defender.unwrap();
        let robust = one.robust.unwrap().value;
        for (what, p) in [("mean", d.mean), ("vote", d.vote), ("all", d.all_paths)] {
            assert!(
                (p.value - robust).abs() < 1e-12,
                "{what}: {} vs {robust}",
                p.value
            );
        }
        assert_eq!(many.robust, one.robust);
        assert!((d.natural_mean.value - one.natural.value).abs() < 1e-12);
    }

    #[test]
    fn a_surrogate_equal_to_the_target_reproduces_the_white_box_result() {
        let (model, data) = (tiny_model(1), images(6));
        let white_box = evaluate(&model, &data, &pgd3(), 3, None, &mut |_, _| true).unwrap();
        let config = EvalConfig {
            surrogate: Some(checksum(&crate::model::file::to_bytes(&model))),
            ..pgd3()
        };
        let same = Models {
            target: &model,
            surrogate: Some(&model),
        };
        let transfer = evaluate(same, &data, &config, 3, None, &mut |_, _| true).unwrap();
        assert_eq!(
            (transfer.robust, transfer.adversarial),
            (white_box.robust, white_box.adversarial)
        );
        // Crafted on another model: the same images counted, and the report says so.
        let other = tiny_model(2);
        let from_other = Models {
            target: &model,
            surrogate: Some(&other),
        };
        let report = evaluate(from_other, &data, &config, 3, None, &mut |_, _| true).unwrap();
        assert_eq!(report.images, 6);
        assert!(report.protocol.contains("surrogate"));
    }

    #[test]
    fn the_self_check_flags_a_randomized_model_only() {
        let data = images(4);
        assert!(forward_passes_disagree(&tiny_model(1), &data));
        let deterministic = deterministic_model();
        assert!(!forward_passes_disagree(&deterministic, &data));
    }

    #[test]
    fn a_targeted_evaluation_skips_images_of_the_target_class() {
        let (model, data) = (tiny_model(1), images(20));
        let mut config = pgd3();
        config.attack.as_mut().unwrap().target = Some(3);
        let report = evaluate(&model, &data, &config, 8, None, &mut |_, _| true).unwrap();
        assert_eq!((report.images, report.skipped), (18, 2));
        assert!(report.protocol.contains("skipped"), "{}", report.protocol);
    }

    #[test]
    fn a_checkpoint_of_another_evaluation_is_refused_and_kept() {
        let (model, data) = (tiny_model(1), images(6));
        let path = scratch("refuse");
        let mut journal = EvalJournal::open(&path, &model, &data, 2).unwrap();
        evaluate(
            &model,
            &data,
            &pgd3(),
            2,
            Some(&mut journal),
            &mut |_, _| true,
        )
        .unwrap();
        drop(journal);
        let before = std::fs::read(&path).unwrap();

        let refused = |model: &RnaModel, data: &ImageSet, batch: usize| {
            EvalJournal::open(&path, model, data, batch).err().unwrap()
        };
        assert!(refused(&tiny_model(2), &data, 2).contains("another model"));
        assert!(refused(&model, &images(5), 2).contains("other images"));
        assert!(refused(&model, &data, 3).contains("batches of 2"));
        assert_eq!(
            std::fs::read(&path).unwrap(),
            before,
            "nothing was overwritten"
        );

        // Opened for one set of images, used with another.
        let mut journal = EvalJournal::open(&path, &model, &data, 2).unwrap();
        let misuse = evaluate(
            &model,
            &images(4),
            &pgd3(),
            2,
            Some(&mut journal),
            &mut |_, _| true,
        );
        assert!(misuse.err().unwrap().to_string().contains("other images"));

        let mut lines: Vec<&str> = std::str::from_utf8(&before).unwrap().lines().collect();
        lines[1] = "{\"batch\": 0}";
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        assert!(refused(&model, &data, 2).contains("line 2 is damaged"));
        std::fs::write(&path, "natural 52.8%\n").unwrap();
        assert!(refused(&model, &data, 2).contains("not an rna-lens evaluation checkpoint"));
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }
}
