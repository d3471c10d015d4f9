//! The evaluation journal behind `eval --checkpoint`.

use serde::{Deserialize, Serialize};

use crate::base::checksum;
use crate::data::ImageSet;
use crate::model::RnaModel;

use super::{BatchCount, EvalConfig};

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

const JOURNAL_KIND: &str = "rna-lens eval journal 2";

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

    pub(super) fn check(&self, data: &ImageSet, batch_size: usize) -> Result<(), String> {
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

    pub(super) fn record(
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
