//! The same model gives the same logits on wgpu and on the CPU backend.
//!
//! Runs wherever a wgpu adapter exists (on a machine without a GPU, Debian's
//! `mesa-vulkan-drivers` provides a software one). CI sets `RNA_LENS_REQUIRE_WGPU=1` after
//! installing it, so there the test cannot silently skip.

use burn::tensor::{Device, Tensor, TensorData};
use rna_lens::device::{DeviceChoice, select};
use rna_lens::model::{Architecture, ModelConfig, RnaModel};

#[test]
fn wgpu_and_cpu_logits_agree() {
    let gpu = match select(DeviceChoice::Wgpu(None)) {
        Ok(gpu) => gpu,
        Err(e) if std::env::var_os("RNA_LENS_REQUIRE_WGPU").is_none() => {
            eprintln!("skipped: no wgpu adapter ({e})");
            return;
        }
        Err(e) => panic!("RNA_LENS_REQUIRE_WGPU is set but wgpu is unavailable: {e}"),
    };
    let cpu = Device::flex();
    let model = RnaModel::new(
        ModelConfig::cifar10(Architecture::preset("resnet20").unwrap()),
        2,
        &cpu,
    )
    .unwrap();
    let on_gpu = model.to_device(&gpu.device);
    let mut rng = rna_lens::rng::SeededRng::new(4);
    let pixels: Vec<f32> = (0..4 * 3 * 32 * 32).map(|_| rng.next_f32()).collect();
    let x = |d: &Device| Tensor::<4>::from_data(TensorData::new(pixels.clone(), [4, 3, 32, 32]), d);
    let paths = model.path_space().sample_many(4, 9);
    let a = model.forward_paths(x(&cpu), &paths);
    let b = on_gpu.forward_paths(x(&gpu.device), &paths).to_device(&cpu);
    let diff = a.clone().sub(b).abs().max().into_scalar::<f32>();
    assert!(
        diff < 1e-3,
        "wgpu ({}) and CPU differ by {diff}",
        gpu.description
    );
    let c = on_gpu
        .forward_path(x(&gpu.device), &paths[0])
        .to_device(&cpu);
    let diff = model
        .forward_path(x(&cpu), &paths[0])
        .sub(c)
        .abs()
        .max()
        .into_scalar::<f32>();
    assert!(diff < 1e-3, "official-mode logits differ by {diff}");
}
