//! Model files: one self-describing file, laid out as a safetensors file.
//!
//! `u64 LE header length | JSON header | little-endian f32 data`. The header's `__metadata__`
//! carries `format = "rna-lens"`, the format version, the [`ModelConfig`] as JSON and an FNV-1a
//! checksum of the data; every other entry is a tensor under its official PyTorch key. Any
//! safetensors reader (e.g. Python's `safetensors.torch.load_file`) can read the weights.
//!
//! Loading is strict and all-or-nothing: the configuration rebuilds the network, and the file
//! must hold exactly its tensors with exactly their shapes, finite values, and an intact data
//! section; otherwise the error names what is wrong and nothing is returned.

use std::collections::BTreeMap;

use burn::tensor::Device;
use serde_json::{Value, json};

use super::{ModelConfig, ModelError, RnaModel};

pub const FORMAT: &str = "rna-lens";
pub const VERSION: &str = "1";
/// Headers beyond this size are not ours (ours are a few tens of kilobytes).
const MAX_HEADER: u64 = 16 << 20;

pub use crate::base::checksum;

/// A tensor as stored: key, shape and row-major values.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedTensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

/// Encodes tensors and metadata (plus format, version and checksum) in the safetensors layout.
pub fn encode(tensors: &[NamedTensor], mut metadata: serde_json::Map<String, Value>) -> Vec<u8> {
    let mut data = Vec::new();
    let mut header = serde_json::Map::new();
    for t in tensors {
        let begin = data.len();
        for v in &t.values {
            data.extend_from_slice(&v.to_le_bytes());
        }
        header.insert(
            t.name.clone(),
            json!({"dtype": "F32", "shape": t.shape, "data_offsets": [begin, data.len()]}),
        );
    }
    metadata.insert("format".into(), FORMAT.into());
    metadata.insert("version".into(), VERSION.into());
    metadata.insert("checksum".into(), checksum(&data).into());
    header.insert("__metadata__".into(), Value::Object(metadata));
    let mut header = serde_json::to_vec(&Value::Object(header)).expect("header serializes");
    while !header.len().is_multiple_of(8) {
        header.push(b' ');
    }
    let mut out = Vec::with_capacity(8 + header.len() + data.len());
    out.extend_from_slice(&(header.len() as u64).to_le_bytes());
    out.extend_from_slice(&header);
    out.extend_from_slice(&data);
    out
}

/// Every parameter of a model under its key.
pub fn model_tensors(model: &RnaModel) -> Vec<NamedTensor> {
    let mut model = model.clone();
    let mut tensors = Vec::new();
    model.visit_params(&mut |name, _, p| {
        tensors.push(NamedTensor {
            name: name.to_string(),
            shape: p.dims(),
            values: p.to_vec(),
        })
    });
    tensors
}

/// Serializes the model (configuration and every parameter) to bytes.
pub fn to_bytes(model: &RnaModel) -> Vec<u8> {
    to_bytes_with(model, serde_json::Map::new())
}

/// Like [`to_bytes`], with extra metadata entries (e.g. a training checkpoint's step).
pub fn to_bytes_with(model: &RnaModel, mut meta: serde_json::Map<String, Value>) -> Vec<u8> {
    let config = serde_json::to_string(model.config()).expect("config serializes");
    meta.insert("config".into(), config.into());
    encode(&model_tensors(model), meta)
}

/// Writes atomically: a temporary file beside the target, then a rename, so a failure
/// (disk full, read-only folder) never leaves a half-written model behind.
pub fn save(model: &RnaModel, path: &std::path::Path) -> Result<(), ModelError> {
    write_atomically(path, &to_bytes(model))
}

/// [`crate::base::write_atomically`], with the model layer's error.
pub fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> Result<(), ModelError> {
    crate::base::write_atomically(path, bytes).map_err(|error| ModelError::Io {
        path: path.display().to_string(),
        error,
    })
}

pub fn load(path: &std::path::Path, device: &Device) -> Result<RnaModel, ModelError> {
    let bytes = std::fs::read(path).map_err(|error| ModelError::Io {
        path: path.display().to_string(),
        error,
    })?;
    from_bytes(&bytes, device).map_err(|e| ModelError::File(format!("{}: {e}", path.display())))
}

fn config_of(meta: &serde_json::Map<String, Value>) -> Result<ModelConfig, ModelError> {
    let text = meta.get("config").and_then(Value::as_str).ok_or_else(|| {
        ModelError::File("not a model: the file has no model configuration".into())
    })?;
    serde_json::from_str(text)
        .map_err(|e| ModelError::File(format!("the model configuration is invalid: {e}")))
}

struct TensorEntry {
    shape: Vec<usize>,
    begin: usize,
    end: usize,
}

fn fail<T>(msg: impl Into<String>) -> Result<T, ModelError> {
    Err(ModelError::File(msg.into()))
}

type Metadata = serde_json::Map<String, Value>;

fn parse_header(bytes: &[u8]) -> Result<(Metadata, BTreeMap<String, TensorEntry>), ModelError> {
    if bytes.is_empty() {
        return fail("the file is empty");
    }
    if bytes.len() < 8 {
        return fail(format!(
            "not an rna-lens model: {} bytes is too short",
            bytes.len()
        ));
    }
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap());
    if header_len > MAX_HEADER || header_len > (bytes.len() - 8) as u64 {
        return fail(format!(
            "not an rna-lens model (or truncated): its first 8 bytes announce a {header_len}-byte header in a {}-byte file",
            bytes.len()
        ));
    }
    let data_start = 8 + header_len as usize;
    let header: Value = serde_json::from_slice(&bytes[8..data_start]).map_err(|e| {
        ModelError::File(format!("not an rna-lens model: header is not JSON ({e})"))
    })?;
    let Value::Object(mut header) = header else {
        return fail("not an rna-lens model: header is not a JSON object");
    };
    let meta = match header.remove("__metadata__") {
        Some(Value::Object(m)) if m.get("format").and_then(Value::as_str) == Some(FORMAT) => m,
        _ => {
            return fail(
                "a safetensors file without rna-lens metadata (no model configuration); \
                 PyTorch checkpoints are read with `rna-lens import`",
            );
        }
    };
    let version = meta.get("version").and_then(Value::as_str).unwrap_or("?");
    if version != VERSION {
        return fail(format!(
            "rna-lens file format version {version}; this build reads version {VERSION}"
        ));
    }
    let mut tensors = BTreeMap::new();
    for (name, entry) in header {
        let dtype = entry.get("dtype").and_then(Value::as_str);
        if dtype != Some("F32") {
            return fail(format!("tensor {name}: dtype {dtype:?}, expected F32"));
        }
        let shape: Option<Vec<usize>> = entry
            .get("shape")
            .and_then(Value::as_array)
            .and_then(|a| a.iter().map(|d| d.as_u64().map(|d| d as usize)).collect());
        let offsets: Option<Vec<usize>> = entry
            .get("data_offsets")
            .and_then(Value::as_array)
            .and_then(|a| a.iter().map(|d| d.as_u64().map(|d| d as usize)).collect());
        let (Some(shape), Some(offsets)) = (shape, offsets) else {
            return fail(format!("tensor {name}: malformed shape or data offsets"));
        };
        let [begin, end] = offsets[..] else {
            return fail(format!("tensor {name}: malformed data offsets"));
        };
        let elements = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
        if end < begin || elements.and_then(|n| n.checked_mul(4)) != Some(end - begin) {
            return fail(format!(
                "tensor {name}: data offsets {begin}..{end} do not match shape {shape:?}"
            ));
        }
        let (Some(begin), Some(end)) = (begin.checked_add(data_start), end.checked_add(data_start))
        else {
            return fail(format!("tensor {name}: data offsets overflow"));
        };
        tensors.insert(name, TensorEntry { shape, begin, end });
    }
    // The data section must be exactly the tensors, back to back, each once.
    let mut ranges: Vec<(usize, usize, &String)> =
        tensors.iter().map(|(k, t)| (t.begin, t.end, k)).collect();
    ranges.sort_unstable();
    let mut at = data_start;
    for (begin, end, name) in ranges {
        if begin != at {
            return fail(format!(
                "tensor {name}: its data does not follow the previous tensor's (overlap or gap)"
            ));
        }
        at = end;
    }
    let needed = tensors.values().map(|t| t.end).max().unwrap_or(data_start);
    if bytes.len() < needed {
        return fail(format!(
            "truncated: the header describes {} bytes of weights but the file holds {}",
            needed - data_start,
            bytes.len() - data_start
        ));
    }
    if bytes.len() > needed {
        return fail(format!(
            "{} unexpected bytes after the weights",
            bytes.len() - needed
        ));
    }
    let actual = checksum(&bytes[data_start..]);
    let recorded = meta
        .get("checksum")
        .and_then(Value::as_str)
        .unwrap_or("none");
    if recorded != actual {
        return fail(format!(
            "the weights are corrupted (checksum {actual}, the file records {recorded})"
        ));
    }
    Ok((meta, tensors))
}

/// Decodes and validates a file: layout, checksum, finite values. Returns metadata and tensors.
pub fn decode(bytes: &[u8]) -> Result<(Metadata, BTreeMap<String, NamedTensor>), ModelError> {
    let (meta, entries) = parse_header(bytes)?;
    let mut tensors = BTreeMap::new();
    for (name, e) in entries {
        let values: Vec<f32> = bytes[e.begin..e.end]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        if values.iter().any(|v| !v.is_finite()) {
            return fail(format!("tensor {name} holds NaN or infinite values"));
        }
        tensors.insert(
            name.clone(),
            NamedTensor {
                name,
                shape: e.shape,
                values,
            },
        );
    }
    Ok((meta, tensors))
}

pub fn from_bytes(bytes: &[u8], device: &Device) -> Result<RnaModel, ModelError> {
    let (meta, tensors) = decode(bytes)?;
    let mut model = RnaModel::new(config_of(&meta)?, 0, device)?;
    fill(&mut model, &tensors)?;
    Ok(model)
}

/// Replaces every parameter of `model` from `tensors`, after checking that they match exactly.
pub fn fill(
    model: &mut RnaModel,
    tensors: &BTreeMap<String, NamedTensor>,
) -> Result<(), ModelError> {
    let mut expected: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    model.visit_params(&mut |name, _, p| {
        expected.insert(name.to_string(), p.dims());
    });
    let found = tensors
        .iter()
        .map(|(k, t)| (k.clone(), t.shape.clone()))
        .collect();
    check_keys(&expected, &found)?;
    model.visit_params(&mut |name, _, mut p| p.set(tensors[name].values.clone()));
    Ok(())
}

/// Every expected key present with its shape, and nothing else; the error lists the differences.
pub fn check_keys(
    expected: &BTreeMap<String, Vec<usize>>,
    found: &BTreeMap<String, Vec<usize>>,
) -> Result<(), ModelError> {
    let missing: Vec<&String> = expected
        .keys()
        .filter(|k| !found.contains_key(*k))
        .collect();
    let extra: Vec<&String> = found
        .keys()
        .filter(|k| !expected.contains_key(*k))
        .collect();
    let shapes: Vec<String> = expected
        .iter()
        .filter_map(|(k, want)| {
            found
                .get(k)
                .filter(|got| *got != want)
                .map(|got| format!("{k} is {got:?}, expected {want:?}"))
        })
        .collect();
    if missing.is_empty() && extra.is_empty() && shapes.is_empty() {
        return Ok(());
    }
    let list = |items: Vec<String>| {
        let n = items.len();
        let mut shown: Vec<String> = items.into_iter().take(6).collect();
        if n > 6 {
            shown.push(format!("… {} more", n - 6));
        }
        shown.join(", ")
    };
    let mut parts = Vec::new();
    if !missing.is_empty() {
        parts.push(format!(
            "{} missing ({})",
            missing.len(),
            list(missing.into_iter().cloned().collect())
        ));
    }
    if !extra.is_empty() {
        parts.push(format!(
            "{} unexpected ({})",
            extra.len(),
            list(extra.into_iter().cloned().collect())
        ));
    }
    if !shapes.is_empty() {
        parts.push(format!(
            "{} with the wrong shape ({})",
            shapes.len(),
            list(shapes)
        ));
    }
    fail(format!(
        "the weights do not fit the architecture: {}",
        parts.join("; ")
    ))
}
