//! Accuracy under attack, with the path protocol spelled out.
//!
//! As in the official evaluation, each mini-batch is attacked along the path(s) its policy
//! prescribes and classified by the defender with one path for the whole batch: the attacker's
//! own path under `fixed`, an independently drawn one otherwise. Every batch draws its paths
//! from the seed and its index, so a run is reproducible and any batch can be replayed alone.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::attack::{AttackConfig, AttackKind, PathPolicy, attack_paths, run_attack};
use crate::data::ImageSet;
use crate::model::file::checksum;
use crate::model::{Path, RnaModel};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalConfig {
    /// `None`: natural accuracy only.
    pub attack: Option<AttackConfig>,
    /// Paths of the natural pass when there is no attack: `fixed` with `path`, else random.
    pub path: Option<String>,
    pub seed: u64,
}

impl EvalConfig {
    /// PGD-k, ε 8/255, α 2/255, random start, official policy: the held-out check in training.
    pub fn official_pgd(steps: usize, seed: u64) -> Self {
        let mut attack = AttackConfig::preset(AttackKind::Pgd);
        attack.steps = steps;
        Self {
            attack: Some(attack),
            path: None,
            seed,
        }
    }

    /// The configuration of batch `index`: its own seed, the common path if any.
    fn for_batch(&self, index: usize) -> AttackConfig {
        let seed = crate::rng::SeededRng::derive(self.seed, &format!("batch-{index}")).next_u64();
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
        if self.path.is_some() {
            config.path = self.path.clone();
        }
        config
    }

    pub fn describe(&self) -> String {
        match &self.attack {
            None => match &self.path {
                Some(p) => format!("natural accuracy on the fixed path {p}"),
                None => "natural accuracy; each batch classified by a random path".into(),
            },
            Some(a) => describe_attack(a),
        }
    }
}

pub fn describe_attack(a: &AttackConfig) -> String {
    let mut s = format!("{} (", a.kind);
    if a.is_apgd() {
        s += &format!("{} iterations", a.steps);
    } else {
        s += &format!(
            "{} step{}, α {:.2}/255",
            a.steps,
            if a.steps == 1 { "" } else { "s" },
            a.alpha * 255.0
        );
    }
    s += &format!(
        ", ε {}, {}random start, {} restart{}, {} loss{}); {}",
        if a.kind.norm() == crate::attack::Norm::L2 {
            format!("{:.3} (L2)", a.eps)
        } else {
            format!("{:.2}/255", a.eps * 255.0)
        },
        if a.random_start || a.is_apgd() {
            ""
        } else {
            "no "
        },
        a.restarts,
        if a.restarts == 1 { "" } else { "s" },
        a.loss,
        a.target
            .map(|t| format!(", targeted at class {t}"))
            .unwrap_or_default(),
        a.policy.describe()
    );
    s
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EvalReport {
    pub images: usize,
    pub natural_accuracy: f64,
    pub robust_accuracy: Option<f64>,
    pub protocol: String,
    /// Wall time of this run; images counted from a checkpoint took none of it.
    pub seconds: f64,
    /// Images counted from a checkpoint rather than evaluated in this run.
    #[serde(default)]
    pub resumed: usize,
}

/// What one finished batch contributed: all an interrupted evaluation needs to keep.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchCount {
    pub natural: usize,
    pub robust: usize,
    pub images: usize,
}

/// Evaluates every image of `data` in batches. `progress(done, total)` may return false to
/// stop early; the report then covers the images done so far. With a `journal`, batches it
/// already holds for this configuration are counted without being run again, and every batch
/// run is recorded as soon as it finishes.
pub fn evaluate(
    model: &RnaModel,
    data: &ImageSet,
    config: &EvalConfig,
    batch_size: usize,
    mut journal: Option<&mut EvalJournal>,
    progress: &mut dyn FnMut(usize, usize) -> bool,
) -> Result<EvalReport, String> {
    let started = std::time::Instant::now();
    let total = data.len();
    let device = model.device().clone();
    let batch_size = batch_size.max(1);
    if let Some(journal) = &journal {
        journal.check(data, batch_size)?;
    }
    let recorded = journal
        .as_ref()
        .map(|j| j.recorded(config))
        .unwrap_or_default();
    let mut sum = BatchCount::default();
    for count in recorded.values() {
        sum.natural += count.natural;
        sum.robust += count.robust;
        sum.images += count.images;
    }
    let resumed = sum.images;
    let starts: Vec<(usize, usize)> = (0..total)
        .step_by(batch_size)
        .enumerate()
        .filter(|(index, _)| !recorded.contains_key(index))
        .collect();
    // As many batches side by side as there are threads: much of a pass is single-threaded
    // work between convolutions. Results do not depend on it (each batch has its own seed).
    let side_by_side = rayon::current_num_threads().max(1);
    for group in starts.chunks(side_by_side) {
        let counts: Vec<Result<(usize, BatchCount), String>> = group
            .par_iter()
            .map(|&(index, start)| {
                let indices: Vec<usize> = (start..(start + batch_size).min(total)).collect();
                let x = data.to_tensor(&indices, &device);
                let labels: Vec<usize> = indices
                    .iter()
                    .map(|&i| usize::from(data.labels[i]))
                    .collect();
                let batch = config.for_batch(index);
                let (_, defender) = attack_paths(model, &batch)?;
                let natural = count_correct(model, x.clone(), &defender, &labels);
                let robust = match config.attack {
                    Some(_) => {
                        let result = run_attack(model, &x, &labels, &batch, &mut |_, _, _| true)?;
                        count_correct(model, result.x_adv, &result.defender_path, &labels)
                    }
                    None => 0,
                };
                let images = indices.len();
                Ok((
                    index,
                    BatchCount {
                        natural,
                        robust,
                        images,
                    },
                ))
            })
            .collect();
        for count in counts {
            let (index, count) = count?;
            if let Some(journal) = journal.as_deref_mut() {
                journal.record(config, index, count)?;
            }
            sum.natural += count.natural;
            sum.robust += count.robust;
            sum.images += count.images;
        }
        if !progress(sum.images, total) {
            break;
        }
    }
    let frac = |n: usize| {
        if sum.images == 0 {
            0.0
        } else {
            n as f64 / sum.images as f64
        }
    };
    Ok(EvalReport {
        images: sum.images,
        natural_accuracy: frac(sum.natural),
        robust_accuracy: config.attack.as_ref().map(|_| frac(sum.robust)),
        protocol: config.describe(),
        seconds: started.elapsed().as_secs_f64(),
        resumed,
    })
}

/// A record of finished batches, one JSON line each, so that an evaluation that takes hours
/// on a CPU survives being stopped: run the same command again and it goes on from there.
/// The first line names the model, the images and the batch size it was written for (batch
/// seeds depend on batch positions, so none of them may change); one file may hold several
/// protocols, each batch keyed by its full configuration.
pub struct EvalJournal {
    path: std::path::PathBuf,
    file: std::fs::File,
    header: JournalHeader,
    entries: Vec<JournalEntry>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct JournalHeader {
    journal: String,
    model: String,
    images: String,
    batch: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct JournalEntry {
    config: EvalConfig,
    batch: usize,
    count: BatchCount,
}

const JOURNAL_KIND: &str = "rna-lens eval journal 1";

impl EvalJournal {
    /// Opens the journal at `path` for `model` on `data` in batches of `batch_size`, creating
    /// it if it does not exist. A journal written for anything else is an error, never
    /// overwritten; a last line cut short by a crash is dropped.
    pub fn open(
        path: &std::path::Path,
        model: &RnaModel,
        data: &ImageSet,
        batch_size: usize,
    ) -> Result<Self, String> {
        use std::io::Write;
        let header = JournalHeader {
            journal: JOURNAL_KIND.into(),
            model: checksum(&crate::model::file::to_bytes(model)),
            images: images_fingerprint(data),
            batch: batch_size.max(1),
        };
        let shown = path.display();
        let existing = match std::fs::read_to_string(path) {
            Ok(text) => Some(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(format!("cannot read the checkpoint {shown}: {e}")),
        };
        let mut entries = Vec::new();
        let mut keep = 0;
        if let Some(text) = &existing {
            let mut lines = text.split_inclusive('\n');
            let first = lines.next().unwrap_or("");
            let found: JournalHeader = serde_json::from_str(first)
                .ok()
                .filter(|h: &JournalHeader| h.journal == JOURNAL_KIND && first.ends_with('\n'))
                .ok_or_else(|| format!("{shown} is not an rna-lens evaluation checkpoint"))?;
            if let Some(what) = header.difference(&found) {
                return Err(format!(
                    "the checkpoint {shown} was written for {what}; choose another file or delete it"
                ));
            }
            keep = first.len();
            for (number, line) in lines.enumerate() {
                match serde_json::from_str::<JournalEntry>(line) {
                    Ok(entry) if line.ends_with('\n') => {
                        keep += line.len();
                        entries.push(entry);
                    }
                    // Only the last line can be cut short (a write interrupted by a crash).
                    _ if !line.ends_with('\n') => break,
                    _ => return Err(format!("{shown}: line {} is damaged", number + 2)),
                }
            }
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| format!("cannot write the checkpoint {shown}: {e}"))?;
        let mut journal = Self {
            path: path.to_path_buf(),
            file,
            header,
            entries,
        };
        match existing {
            Some(text) if keep < text.len() => journal
                .file
                .set_len(keep as u64)
                .map_err(|e| journal.write_error(e))?,
            Some(_) => {}
            None => {
                let line = serde_json::to_string(&journal.header).expect("header serializes");
                writeln!(journal.file, "{line}").map_err(|e| journal.write_error(e))?;
            }
        }
        Ok(journal)
    }

    /// Batches already recorded for `config`, by index.
    pub fn recorded(&self, config: &EvalConfig) -> std::collections::BTreeMap<usize, BatchCount> {
        self.entries
            .iter()
            .filter(|e| &e.config == config)
            .map(|e| (e.batch, e.count))
            .collect()
    }

    fn check(&self, data: &ImageSet, batch_size: usize) -> Result<(), String> {
        let actual = JournalHeader {
            images: images_fingerprint(data),
            batch: batch_size,
            ..self.header.clone()
        };
        match self.header.difference(&actual) {
            Some(what) => Err(format!(
                "the checkpoint {} was opened for {what}",
                self.path.display()
            )),
            None => Ok(()),
        }
    }

    fn record(
        &mut self,
        config: &EvalConfig,
        batch: usize,
        count: BatchCount,
    ) -> Result<(), String> {
        use std::io::Write;
        let entry = JournalEntry {
            config: config.clone(),
            batch,
            count,
        };
        let line = serde_json::to_string(&entry).expect("entry serializes");
        writeln!(self.file, "{line}")
            .and_then(|()| self.file.sync_data())
            .map_err(|e| self.write_error(e))?;
        self.entries.push(entry);
        Ok(())
    }

    fn write_error(&self, e: std::io::Error) -> String {
        format!("cannot write the checkpoint {}: {e}", self.path.display())
    }
}

impl JournalHeader {
    /// What `other` was written for, in words, where it differs from this one.
    fn difference(&self, other: &JournalHeader) -> Option<String> {
        if self.model != other.model {
            Some("another model".into())
        } else if self.images != other.images {
            Some("other images (another data set, split or --limit)".into())
        } else if self.batch != other.batch {
            Some(format!("batches of {}", other.batch))
        } else {
            None
        }
    }
}

/// The images and their labels, in order.
fn images_fingerprint(data: &ImageSet) -> String {
    let labels: Vec<u8> = data.labels.iter().flat_map(|l| l.to_le_bytes()).collect();
    format!("{}/{}", checksum(&data.pixels), checksum(&labels))
}

/// How many of `labels` the model gets right on `path`.
pub fn count_correct(
    model: &RnaModel,
    x: burn::tensor::Tensor<4>,
    path: &Path,
    labels: &[usize],
) -> usize {
    crate::model::count_correct(model.forward_path(x, path), labels)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Architecture, ModelConfig};

    fn tiny_model(seed: u64) -> RnaModel {
        let architecture = Architecture::ResNet {
            stage_widths: vec![4, 8],
            blocks_per_stage: vec![1, 1],
        };
        RnaModel::new(
            ModelConfig::cifar10(architecture),
            seed,
            &burn::tensor::Device::flex(),
        )
        .unwrap()
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
        assert_eq!(resumed.natural_accuracy, full.natural_accuracy);
        assert_eq!(resumed.robust_accuracy, full.robust_accuracy);

        // Everything recorded: nothing runs, the same figures come back.
        let mut journal = EvalJournal::open(&path, &model, &data, 2).unwrap();
        let again = pgd3_in_pairs(&model, &data, &mut journal, &mut |_, _| {
            panic!("no batch should run")
        });
        assert_eq!(
            (again.resumed, again.robust_accuracy),
            (10, full.robust_accuracy)
        );
        let lines = std::fs::read_to_string(&path).unwrap().lines().count();
        assert_eq!(lines, 1 + 5, "a header and one line per batch");
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
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
        assert!(misuse.err().unwrap().contains("other images"));

        let mut lines: Vec<&str> = std::str::from_utf8(&before).unwrap().lines().collect();
        lines[1] = "{\"batch\": 0}";
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        assert!(refused(&model, &data, 2).contains("line 2 is damaged"));
        std::fs::write(&path, "natural 52.8%\n").unwrap();
        assert!(refused(&model, &data, 2).contains("not an rna-lens evaluation checkpoint"));
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }
}
