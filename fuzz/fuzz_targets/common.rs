//! A tiny valid model, so that byte edits of it reach the checks deep inside the loaders that
//! random bytes never get past (headers, metadata, shapes, values).

use burn::tensor::{Device, Tensor};
use rna_lens::model::{Architecture, ModelConfig, RnaModel};

pub fn tiny_model() -> RnaModel {
    let mut config = ModelConfig::cifar10(Architecture::ResNet {
        stage_widths: vec![2, 4],
        blocks_per_stage: vec![1, 1],
    });
    config.class_names.truncate(3);
    RnaModel::new(config, 0, &Device::flex()).expect("a valid configuration")
}

/// `template` with the input applied as edits: each 3 bytes are (offset low, offset high, value).
pub fn edited(template: &[u8], data: &[u8]) -> Vec<u8> {
    let mut bytes = template.to_vec();
    for edit in data.chunks_exact(3) {
        let at = usize::from(u16::from_le_bytes([edit[0], edit[1]])) % bytes.len();
        bytes[at] = edit[2];
    }
    bytes
}

/// A model that loaded must compute finite logits on a plain image.
pub fn check_loaded(model: &RnaModel) {
    let device = model.device().clone();
    let path = model.path_space().sample(&mut rna_lens::rng::SeededRng::new(0));
    let logits = model.forward_path(Tensor::zeros([1, 3, 32, 32], &device), &path);
    let values: Vec<f32> = logits.into_data().convert::<f32>().try_into_vec().unwrap();
    assert!(values.iter().all(|v| v.is_finite()), "a loaded model gave {values:?}");
}
