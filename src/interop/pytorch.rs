//! Importing PyTorch checkpoints of the official RNA release (`weight.pth`: a DataParallel state
//! dict; `model.pth`: a dict whose `state_dict` holds it), with burn's pickle reader, which
//! reads tensors without executing any pickled code.
//!
//! The architecture comes from the keys and shapes (`layer1.0.conv1` → CIFAR ResNet,
//! `block1.layer.0.conv1` → WideResNet, widths and depths from the weights), the candidate list
//! from each random layer's `norm.<i>` entries: a candidate with running statistics is a batch
//! norm (`bn`, or batch group norm when its statistics are per group), one with only affine
//! parameters is a GroupNorm whose group count the weights cannot tell (the released `gnr_1`
//! unless `--norms` says otherwise), and an index with no entries at all is `in`.
//!
//! Export writes the same layout in PyTorch's zip format (`torch.save` of a state dict), so any
//! rna-lens model can be evaluated by PyTorch tools.

use std::collections::{BTreeMap, BTreeSet};

use burn::store::pytorch_reader::{DType, PytorchReader};
use burn::tensor::Device;

use crate::model::file::{NamedTensor, fill};
use crate::model::{Architecture, ModelConfig, ModelError, NormKind, RnaModel};

/// What the user may state; everything else is inferred from the file.
#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    /// Expected architecture preset; a file of another shape is an error.
    pub architecture: Option<String>,
    /// Expected number of classes.
    pub classes: Option<usize>,
    /// The candidate list, where the weights cannot tell it (GroupNorm group counts).
    pub norms: Option<Vec<NormKind>>,
}

fn fail<T>(msg: impl Into<String>) -> Result<T, ModelError> {
    Err(ModelError::File(msg.into()))
}

/// Reads the tensors of a `.pth` file as f32, keys without `module.`; integer buffers dropped.
pub fn read_state_dict(
    path: &std::path::Path,
) -> Result<BTreeMap<String, NamedTensor>, ModelError> {
    let reader = PytorchReader::with_top_level_key(path, "state_dict")
        .or_else(|_| PytorchReader::new(path))
        .map_err(|e| {
            ModelError::File(format!(
                "{}: not a readable PyTorch checkpoint ({e})",
                path.display()
            ))
        })?;
    let mut out = BTreeMap::new();
    for (key, tensor) in reader.into_tensors() {
        let name = key.strip_prefix("module.").unwrap_or(&key).to_string();
        let bytes = tensor
            .read()
            .map_err(|e| ModelError::File(format!("{}: tensor {key}: {e}", path.display())))?;
        let values: Vec<f32> = match tensor.dtype() {
            DType::F32 => bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                .collect(),
            DType::F64 => bytes
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().unwrap()) as f32)
                .collect(),
            DType::I64 | DType::I32 | DType::U8 | DType::Bool
                if name.ends_with("num_batches_tracked") =>
            {
                continue;
            }
            other => {
                return fail(format!(
                    "{}: tensor {key} has dtype {other:?}; rna-lens reads float32 and float64",
                    path.display()
                ));
            }
        };
        if values.len() != tensor.num_elements() {
            return fail(format!("{}: tensor {key} is truncated", path.display()));
        }
        out.insert(
            name.clone(),
            NamedTensor {
                name,
                shape: tensor.shape().to_vec(),
                values,
            },
        );
    }
    if out.is_empty() {
        return fail(format!(
            "{}: the checkpoint holds no float tensors",
            path.display()
        ));
    }
    Ok(out)
}

/// The first dimension of a tensor (output channels, classes).
fn leading_dim(tensors: &BTreeMap<String, NamedTensor>, key: &str) -> Result<usize, ModelError> {
    let t = tensors.get(key).ok_or_else(|| {
        ModelError::File(format!(
            "not an RNA ResNet or WideResNet checkpoint: no '{key}'"
        ))
    })?;
    t.shape
        .first()
        .copied()
        .ok_or_else(|| ModelError::File(format!("'{key}' is a scalar, not a weight tensor")))
}

/// Counts `prefix.<n>.<suffix>` blocks.
fn count_blocks(tensors: &BTreeMap<String, NamedTensor>, prefix: &str, suffix: &str) -> usize {
    (0..)
        .take_while(|b| tensors.contains_key(&format!("{prefix}.{b}.{suffix}")))
        .count()
}

fn infer_architecture(
    tensors: &BTreeMap<String, NamedTensor>,
) -> Result<(Architecture, String, usize), ModelError> {
    if tensors.contains_key("block1.layer.0.conv1.weight") {
        let blocks = count_blocks(tensors, "block1.layer", "conv1.weight");
        let width = leading_dim(tensors, "block1.layer.0.conv1.weight")?;
        if width % 16 != 0 {
            return fail(format!(
                "WideResNet first-stage width {width} is not a multiple of 16"
            ));
        }
        let classes = leading_dim(tensors, "fc.weight")?;
        Ok((
            Architecture::WideResNet {
                depth: 6 * blocks + 4,
                widen_factor: width / 16,
            },
            "block1.layer.0.bn1".into(),
            classes,
        ))
    } else if tensors.contains_key("layer1.0.conv1.weight") {
        let mut widths = Vec::new();
        let mut blocks = Vec::new();
        for s in 1.. {
            let n = count_blocks(tensors, &format!("layer{s}"), "conv1.weight");
            if n == 0 {
                break;
            }
            widths.push(leading_dim(tensors, &format!("layer{s}.0.conv1.weight"))?);
            blocks.push(n);
        }
        let classes = leading_dim(tensors, "linear.weight")?;
        Ok((
            Architecture::ResNet {
                stage_widths: widths,
                blocks_per_stage: blocks,
            },
            "bn1".into(),
            classes,
        ))
    } else {
        fail(
            "not an RNA ResNet or WideResNet checkpoint: neither 'layer1.0.conv1.weight' nor 'block1.layer.0.conv1.weight' is present",
        )
    }
}

/// The candidate list read off one random layer's entries.
fn infer_norms(
    tensors: &BTreeMap<String, NamedTensor>,
    layer: &str,
) -> Result<Vec<NormKind>, ModelError> {
    let prefix = format!("{layer}.norm.");
    let indices: BTreeSet<usize> = tensors
        .keys()
        .filter_map(|k| k.strip_prefix(&prefix)?.split('.').next()?.parse().ok())
        .collect();
    let Some(&last) = indices.iter().next_back() else {
        return fail(format!(
            "'{layer}' has no random-normalization candidates ('{prefix}<i>.…'): not an RNA checkpoint"
        ));
    };
    (0..=last)
        .map(|i| {
            let key = |p: &str| format!("{prefix}{i}.{p}");
            match (
                tensors.get(&key("running_mean")),
                tensors.get(&key("weight")),
            ) {
                (Some(stats), Some(weight)) if stats.shape == weight.shape => Ok(NormKind::Bn),
                (Some(stats), Some(_)) => {
                    Ok(NormKind::Gbn(stats.shape.first().copied().unwrap_or(1)))
                }
                (None, Some(_)) => Ok(NormKind::Gnr(1)),
                (None, None) => Ok(NormKind::In),
                (Some(_), None) => fail(format!(
                    "candidate {i} of '{layer}' has running statistics but no affine parameters"
                )),
            }
        })
        .collect()
}

/// Imports a PyTorch checkpoint into an rna-lens model; strict in the same way as model files.
pub fn import(
    path: &std::path::Path,
    options: &ImportOptions,
    device: &Device,
) -> Result<RnaModel, ModelError> {
    let tensors = read_state_dict(path)?;
    let (architecture, first_layer, classes) = infer_architecture(&tensors)?;
    if let Some(expected) = &options.architecture {
        let want = Architecture::preset(expected)?;
        if want != architecture {
            return fail(format!(
                "{}: the checkpoint is a {}, not a {expected}",
                path.display(),
                architecture.name()
            ));
        }
    }
    if let Some(c) = options.classes.filter(|&c| c != classes) {
        return fail(format!(
            "{}: the checkpoint has {classes} classes, not {c}",
            path.display()
        ));
    }
    let inferred = infer_norms(&tensors, &first_layer)?;
    let norms = match &options.norms {
        Some(given) => {
            let compatible = given.len() == inferred.len()
                && given.iter().zip(&inferred).all(|(g, i)| {
                    g.uses_batch_statistics() == i.uses_batch_statistics()
                        && g.has_affine() == i.has_affine()
                });
            if !compatible {
                let list = |v: &[NormKind]| {
                    v.iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(",")
                };
                return fail(format!(
                    "{}: --norms {} does not fit the checkpoint, whose candidates look like {}",
                    path.display(),
                    list(given),
                    list(&inferred)
                ));
            }
            given.clone()
        }
        None => inferred,
    };
    let mut config = ModelConfig::cifar10(architecture).with_norms(norms);
    if classes != config.class_names.len() {
        config.class_names = (0..classes).map(|c| format!("class {c}")).collect();
    }
    config.provenance.trained = true;
    config.provenance.summary = format!("imported from PyTorch checkpoint {}", path.display());
    let mut model = RnaModel::new(config, 0, device)?;
    fill(&mut model, &tensors).map_err(|e| ModelError::File(format!("{}: {e}", path.display())))?;
    Ok(model)
}

/// A minimal pickle (protocol 2) writer for a state dict of tensors, as `torch.save` lays it out.
struct Pickle(Vec<u8>);

impl Pickle {
    fn global(&mut self, module: &str, name: &str) {
        self.0.push(b'c');
        self.0
            .extend_from_slice(format!("{module}\n{name}\n").as_bytes());
    }
    fn string(&mut self, s: &str) {
        self.0.push(b'X');
        self.0.extend_from_slice(&(s.len() as u32).to_le_bytes());
        self.0.extend_from_slice(s.as_bytes());
    }
    fn int(&mut self, v: usize) {
        self.0.push(b'J');
        self.0.extend_from_slice(&(v as i32).to_le_bytes());
    }
    fn ints(&mut self, values: &[usize]) {
        self.0.push(b'(');
        for &v in values {
            self.int(v);
        }
        self.0.push(b't');
    }
    fn ordered_dict(&mut self) {
        self.global("collections", "OrderedDict");
        self.0.extend_from_slice(b")R");
    }
    /// `torch._utils._rebuild_tensor_v2(storage, 0, shape, stride, False, OrderedDict())`.
    fn tensor(&mut self, storage_key: &str, storage_type: &str, shape: &[usize]) {
        let numel: usize = shape.iter().product();
        let mut stride = vec![1usize; shape.len()];
        for i in (0..shape.len().saturating_sub(1)).rev() {
            stride[i] = stride[i + 1] * shape[i + 1];
        }
        self.global("torch._utils", "_rebuild_tensor_v2");
        self.0.push(b'(');
        self.0.push(b'(');
        self.string("storage");
        self.global("torch", storage_type);
        self.string(storage_key);
        self.string("cpu");
        self.int(numel);
        self.0.extend_from_slice(b"tQ");
        self.int(0);
        self.ints(shape);
        self.ints(&stride);
        self.0.push(0x89);
        self.ordered_dict();
        self.0.extend_from_slice(b"tR");
    }
}

/// Writes `model` as a PyTorch state dict under the official keys, each prefixed by `prefix`
/// (`module.` as in the released `weight.pth`). BatchNorm candidates get the
/// `num_batches_tracked` buffer PyTorch expects (0: rna-lens does not count batches).
pub fn export(model: &RnaModel, path: &std::path::Path, prefix: &str) -> Result<(), ModelError> {
    use std::io::Write;
    let mut entries: Vec<(String, &'static str, Vec<usize>, Vec<u8>)> = Vec::new();
    for t in crate::model::file::model_tensors(model) {
        let bytes: Vec<u8> = t.values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let counter = t
            .name
            .strip_suffix("running_var")
            .map(|base| format!("{base}num_batches_tracked"));
        entries.push((t.name, "FloatStorage", t.shape, bytes));
        if let Some(name) = counter {
            entries.push((name, "LongStorage", Vec::new(), 0i64.to_le_bytes().to_vec()));
        }
    }
    let mut pickle = Pickle(vec![0x80, 0x02]);
    pickle.ordered_dict();
    pickle.0.push(b'(');
    for (i, (name, storage, shape, _)) in entries.iter().enumerate() {
        pickle.string(&format!("{prefix}{name}"));
        pickle.tensor(&i.to_string(), storage, shape);
    }
    pickle.0.extend_from_slice(b"u.");

    let mut buffer = std::io::Cursor::new(Vec::new());
    let result: zip::result::ZipResult<()> = (|| {
        let mut zip = zip::ZipWriter::new(&mut buffer);
        let stored = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .with_alignment(64);
        zip.start_file("archive/data.pkl", stored)?;
        zip.write_all(&pickle.0)?;
        zip.start_file("archive/byteorder", stored)?;
        zip.write_all(b"little")?;
        for (i, (_, _, _, bytes)) in entries.iter().enumerate() {
            zip.start_file(format!("archive/data/{i}"), stored)?;
            zip.write_all(bytes)?;
        }
        zip.start_file("archive/version", stored)?;
        zip.write_all(b"3\n")?;
        zip.finish()?;
        Ok(())
    })();
    result.map_err(|e| ModelError::File(format!("{}: {e}", path.display())))?;
    crate::model::file::write_atomically(path, &buffer.into_inner())
}
