//! What a run writes and reads back: its state, model and optimizer, stamped so they always
//! match, the best epoch, and the per-epoch log.

use std::collections::HashMap;
use std::path::{Path as FsPath, PathBuf};

use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::data::ImageSet;
use crate::model::ParamRole;
use crate::model::file::{self, NamedTensor};

use super::config::TrainConfig;
use super::optimizer::Sgd;
use super::trainer::{Trainer, split};
use super::{Result, TrainError, ensure};

/// One row of the per-epoch log.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EpochLog {
    pub epoch: usize,
    pub lr: f64,
    pub train_loss: f64,
    /// Accuracy on the adversarial training examples, on the update path.
    pub train_adv_accuracy: f64,
    pub holdout_natural: f64,
    pub holdout_pgd: f64,
    pub seconds: f64,
}

/// Where a run stands; saved with every checkpoint.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrainState {
    pub config: TrainConfig,
    pub epoch: usize,
    pub step_in_epoch: usize,
    pub best_epoch: Option<usize>,
    pub best_holdout_pgd: f64,
    pub log: Vec<EpochLog>,
    /// Wall-clock seconds spent so far, across resumptions.
    pub seconds: f64,
    /// Running sums of the current epoch, so a mid-epoch resume logs the same numbers.
    pub epoch_loss_sum: f64,
    pub epoch_correct: usize,
    pub epoch_seen: usize,
    /// Size of the data the run started on (training plus held-out), checked on resume.
    #[serde(default)]
    pub data_images: Option<usize>,
}

impl TrainState {
    /// Identifies the step a checkpoint was written at.
    pub(super) fn stamp(&self) -> String {
        format!("{}:{}", self.epoch, self.step_in_epoch)
    }
}

pub(super) const CHECKPOINT: &str = "checkpoint.safetensors";
pub(super) const OPTIMIZER: &str = "optimizer.safetensors";
pub(super) const BEST: &str = "best.safetensors";
pub(super) const LOG: &str = "log.csv";

impl Trainer {
    pub fn resume(dir: &FsPath, data: ImageSet, device: &Device) -> Result<Self> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read(&path).map_err(|error| TrainError::Io {
                path: path.display().to_string(),
                error,
            })
        };
        let (meta, tensors) = file::decode(&read(OPTIMIZER)?)?;
        let state: TrainState = serde_json::from_str(
            meta.get("train_state")
                .and_then(|v| v.as_str())
                .ok_or_else(|| {
                    TrainError::Refused("optimizer file has no training state".into())
                })?,
        )?;
        let model_bytes = read(CHECKPOINT)?;
        let (model_meta, _) = file::decode(&model_bytes)?;
        // Weights and optimizer state are two files; a stamp shows they belong together.
        if let Some(stamp) = model_meta.get("train_step").and_then(|v| v.as_str()) {
            ensure(stamp == state.stamp(), || {
                format!(
                    "{}: the weights are from step {stamp} but the optimizer state from step {} (interrupted while checkpointing); restart the run",
                    dir.display(),
                    state.stamp()
                )
            })?;
        }
        let mut model = file::from_bytes(&model_bytes, device)?;
        ensure(model.config().class_names == data.class_names, || {
            format!(
                "the data's classes ({}) are not the run's ({})",
                data.class_names.join(", "),
                model.config().class_names.join(", ")
            )
        })?;
        if let Some(n) = state.data_images {
            ensure(n == data.len(), || {
                format!(
                    "the run started on {n} images, this data has {}: resume with the same --data",
                    data.len()
                )
            })?;
        }
        let mut sizes = HashMap::new();
        model.visit_params(&mut |name, role, p| {
            if role == ParamRole::Trainable {
                sizes.insert(name.to_string(), p.num_elements());
            }
        });
        let mut buffers = HashMap::new();
        for t in tensors.into_values() {
            ensure(sizes.get(&t.name) == Some(&t.values.len()), || {
                format!("optimizer state for '{}' does not fit the model", t.name)
            })?;
            let n = t.values.len();
            buffers.insert(
                t.name,
                Tensor::from_data(burn::tensor::TensorData::new(t.values, [n]), device),
            );
        }
        let (train, holdout) = split(&state.config, data)?;
        Ok(Self {
            model,
            sgd: Sgd {
                momentum: state.config.momentum,
                weight_decay: state.config.weight_decay,
                buffers,
            },
            state,
            dir: dir.to_path_buf(),
            train,
            holdout,
        })
    }

    pub fn checkpoint(&self) -> Result<()> {
        let mut stamp = serde_json::Map::new();
        stamp.insert("train_step".into(), self.state.stamp().into());
        file::write_atomically(
            &self.dir.join(CHECKPOINT),
            &file::to_bytes_with(&self.model, stamp),
        )?;
        let tensors: Vec<NamedTensor> = self
            .sgd
            .buffers
            .iter()
            .map(|(name, t)| {
                let values: Vec<f32> = t.to_data().convert::<f32>().try_into_vec().expect("f32");
                NamedTensor {
                    name: name.clone(),
                    shape: vec![values.len()],
                    values,
                }
            })
            .collect();
        let mut meta = serde_json::Map::new();
        meta.insert(
            "train_state".into(),
            serde_json::to_string(&self.state)?.into(),
        );
        file::write_atomically(&self.dir.join(OPTIMIZER), &file::encode(&tensors, meta))?;
        let mut csv = String::from(
            "epoch,lr,train_loss,train_adv_accuracy,holdout_natural,holdout_pgd,seconds\n",
        );
        for r in &self.state.log {
            csv.push_str(&format!(
                "{},{:.6},{:.4},{:.4},{:.4},{:.4},{:.1}\n",
                r.epoch,
                r.lr,
                r.train_loss,
                r.train_adv_accuracy,
                r.holdout_natural,
                r.holdout_pgd,
                r.seconds
            ));
        }
        file::write_atomically(&self.dir.join(LOG), csv.as_bytes())?;
        Ok(())
    }

    /// One training step (attack on one path, update on another). Returns loss and accuracy.
    pub fn best_path(&self) -> PathBuf {
        self.dir.join(BEST)
    }
}
