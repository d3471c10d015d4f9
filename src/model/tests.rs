//! Model tests against hand-worked values and against independent re-computation.

use burn::tensor::{Device, Tensor, TensorData};

use super::norm::{NormKind, NormLayer};
use super::*;
use crate::rng::SeededRng;

fn cpu() -> Device {
    Device::flex()
}

fn tensor4(values: &[f32], dims: [usize; 4]) -> Tensor<4> {
    Tensor::from_data(TensorData::new(values.to_vec(), dims), &cpu())
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_into_vec().unwrap()
}

fn set(layer: &mut dyn Parameters, key: &str, v: Vec<f32>) {
    let mut found = false;
    layer.visit("", &mut |name, _, mut p| {
        if name == key {
            p.set(v.clone());
            found = true;
        }
    });
    assert!(found, "no parameter {key}");
}

fn get(layer: &mut dyn Parameters, key: &str) -> Vec<f32> {
    let mut out = None;
    layer.visit("", &mut |name, _, p| {
        if name == key {
            out = Some(p.to_vec());
        }
    });
    out.unwrap_or_else(|| panic!("no parameter {key}"))
}

fn assert_close(a: &[f32], b: &[f64], tol: f64) {
    assert_eq!(a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((f64::from(*x) - y).abs() < tol, "element {i}: {x} vs {y}");
    }
}

/// Straightforward f64 group normalization over `[n, c, h·w]` data, for reference.
fn reference_group_norm(
    x: &[f32],
    n: usize,
    c: usize,
    hw: usize,
    groups: usize,
    w: &[f64],
    b: &[f64],
) -> Vec<f64> {
    let per = c / groups;
    let mut out = vec![0.0; x.len()];
    for s in 0..n {
        for g in 0..groups {
            let range = (s * c + g * per) * hw..(s * c + (g + 1) * per) * hw;
            let xs: Vec<f64> = x[range.clone()].iter().map(|&v| f64::from(v)).collect();
            let mean = xs.iter().sum::<f64>() / xs.len() as f64;
            let var = xs.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / xs.len() as f64;
            for (k, i) in range.enumerate() {
                let ch = (i / hw) % c;
                out[i] = (xs[k] - mean) / (var + 1e-5).sqrt() * w[ch] + b[ch];
            }
        }
    }
    out
}

fn sample_input(n: usize, c: usize, hw: usize, seed: u64) -> Vec<f32> {
    let mut rng = SeededRng::new(seed);
    (0..n * c * hw)
        .map(|_| (rng.normal() * 2.0 + 0.5) as f32)
        .collect()
}

#[test]
fn norm_names_parse_and_print_official_spellings() {
    for name in [
        "bn", "in", "gn_1", "gn_4", "gnr_1", "gnr_8", "gbn_2", "gbnr_4",
    ] {
        let kind: NormKind = name.parse().unwrap();
        assert_eq!(kind.to_string(), name);
    }
    assert_eq!("bgn_2".parse::<NormKind>().unwrap(), NormKind::Gbn(2));
    assert_eq!("BN".parse::<NormKind>().unwrap(), NormKind::Bn);
    for bad in ["", "bn_1", "gn", "gn_0", "gn_x", "ln", "gnr_-1"] {
        assert!(bad.parse::<NormKind>().is_err(), "{bad} should not parse");
    }
    assert_eq!(
        norm::parse_norm_list("bn,gnr_1").unwrap(),
        NormKind::RELEASED.to_vec()
    );
}

#[test]
fn instance_norm_with_affine_is_group_norm_with_one_channel_per_group() {
    let (n, c, hw) = (2, 3, 4);
    let x = sample_input(n, c, hw, 1);
    let w = [0.5, -1.5, 2.0];
    let b = [0.1, 0.2, -0.3];
    let expected = reference_group_norm(&x, n, c, hw, c, &w, &b);
    for kind in [NormKind::Gnr(1), NormKind::Gn(3)] {
        let mut layer = NormLayer::new(kind, c, &cpu()).unwrap();
        set(&mut layer, "weight", w.iter().map(|&v| v as f32).collect());
        set(&mut layer, "bias", b.iter().map(|&v| v as f32).collect());
        let y = values(layer.forward(tensor4(&x, [n, c, 2, 2])));
        assert_close(&y, &expected, 1e-4);
        // Train mode is identical for per-sample norms.
        let (yt, update) = layer.forward_train(tensor4(&x, [n, c, 2, 2]));
        assert!(update.is_none());
        assert_close(&values(yt), &expected, 1e-4);
    }
    // `in` has no affine and no running statistics.
    let mut plain = NormLayer::new(NormKind::In, c, &cpu()).unwrap();
    let mut keys = Vec::new();
    plain.visit("", &mut |k, _, _| keys.push(k.to_string()));
    assert!(keys.is_empty(), "{keys:?}");
    let y = values(plain.forward(tensor4(&x, [n, c, 2, 2])));
    assert_close(
        &y,
        &reference_group_norm(&x, n, c, hw, c, &[1.0; 3], &[0.0; 3]),
        1e-4,
    );
}

#[test]
fn gn_1_is_layer_norm_over_channels_and_space() {
    let (n, c, hw) = (2, 4, 4);
    let x = sample_input(n, c, hw, 2);
    let w = [1.0, 0.5, -1.0, 2.0];
    let b = [0.0, 0.25, 0.5, -0.5];
    let mut layer = NormLayer::new(NormKind::Gn(1), c, &cpu()).unwrap();
    set(&mut layer, "weight", w.iter().map(|&v| v as f32).collect());
    set(&mut layer, "bias", b.iter().map(|&v| v as f32).collect());
    let y = values(layer.forward(tensor4(&x, [n, c, 2, 2])));
    // LayerNorm over (C, H, W): one mean and variance per sample.
    let mut expected = Vec::new();
    for s in 0..n {
        let xs: Vec<f64> = x[s * c * hw..(s + 1) * c * hw]
            .iter()
            .map(|&v| f64::from(v))
            .collect();
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        let var = xs.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / xs.len() as f64;
        for (i, v) in xs.iter().enumerate() {
            let ch = i / hw;
            expected.push((v - mean) / (var + 1e-5).sqrt() * w[ch] + b[ch]);
        }
    }
    assert_close(&y, &expected, 1e-4);
}

#[test]
fn batch_norm_running_statistics_after_two_batches_match_hand_computation() {
    let mut bn = NormLayer::new(NormKind::Bn, 1, &cpu()).unwrap();
    // Batch 1: values 1, 2, 3, 6 → mean 3, biased var 3.5, unbiased var 14/3.
    let (y, update) = bn.forward_train(tensor4(&[1.0, 2.0, 3.0, 6.0], [2, 1, 1, 2]));
    bn.apply_update(update.unwrap());
    let s = (3.5f64 + 1e-5).sqrt();
    assert_close(&values(y), &[-2.0 / s, -1.0 / s, 0.0, 3.0 / s], 1e-5);
    // running_mean = 0.9·0 + 0.1·3 = 0.3; running_var = 0.9·1 + 0.1·14/3 = 1.366667.
    assert_close(&get(&mut bn, "running_mean"), &[0.3], 1e-6);
    assert_close(&get(&mut bn, "running_var"), &[1.366_666_7], 1e-6);
    // Batch 2: 0, 0, 4, 4 → mean 2, unbiased var 16/3.
    let (_, update) = bn.forward_train(tensor4(&[0.0, 0.0, 4.0, 4.0], [2, 1, 1, 2]));
    bn.apply_update(update.unwrap());
    // running_mean = 0.9·0.3 + 0.2 = 0.47; running_var = 0.9·1.366667 + 0.1·16/3 = 1.763333.
    assert_close(&get(&mut bn, "running_mean"), &[0.47], 1e-6);
    assert_close(&get(&mut bn, "running_var"), &[1.763_333_3], 1e-6);
    // Eval mode uses them: (x − 0.47)/sqrt(1.763333 + 1e-5)·γ + β with γ = 2, β = 1.
    set(&mut bn, "weight", vec![2.0]);
    set(&mut bn, "bias", vec![1.0]);
    let y = values(bn.forward(tensor4(&[1.0], [1, 1, 1, 1])));
    assert_close(
        &y,
        &[(1.0 - 0.47) / (1.763_333_3f64 + 1e-5).sqrt() * 2.0 + 1.0],
        1e-5,
    );
}

#[test]
fn batch_group_norm_uses_batch_and_group_statistics() {
    // gbn_2 on 4 channels: groups {0,1} and {2,3}, statistics over batch, group channels, space.
    let (n, c) = (2, 4);
    let x: Vec<f32> = vec![
        1.0, 3.0, 10.0, 20.0, // sample 0, channels 0..4 (1×1 spatial)
        5.0, 7.0, 30.0, 40.0, // sample 1
    ];
    let mut gbn = NormLayer::new(NormKind::Gbn(2), c, &cpu()).unwrap();
    let (y, update) = gbn.forward_train(tensor4(&x, [n, c, 1, 1]));
    gbn.apply_update(update.unwrap());
    // Group 0: {1,3,5,7}: mean 4, biased var 5, unbiased 20/3.
    // Group 1: {10,20,30,40}: mean 25, biased var 125, unbiased 500/3.
    let (s0, s1) = ((5.0f64 + 1e-5).sqrt(), (125.0f64 + 1e-5).sqrt());
    let expected = [
        -3.0 / s0,
        -1.0 / s0,
        -15.0 / s1,
        -5.0 / s1,
        1.0 / s0,
        3.0 / s0,
        5.0 / s1,
        15.0 / s1,
    ];
    assert_close(&values(y), &expected, 1e-5);
    assert_close(&get(&mut gbn, "running_mean"), &[0.4, 2.5], 1e-5);
    assert_close(
        &get(&mut gbn, "running_var"),
        &[0.9 + 2.0 / 3.0, 0.9 + 50.0 / 3.0],
        1e-4,
    );
    // Eval: each channel uses its group's running statistics.
    let y = values(gbn.forward(tensor4(&[1.0, 1.0, 1.0, 1.0], [1, 4, 1, 1])));
    let g0 = (1.0 - 0.4) / (0.9f64 + 2.0 / 3.0 + 1e-5).sqrt();
    let g1 = (1.0 - 2.5) / (0.9f64 + 50.0 / 3.0 + 1e-5).sqrt();
    assert_close(&y, &[g0, g0, g1, g1], 1e-5);
}

#[test]
fn norms_reject_channel_counts_they_cannot_group() {
    assert!(NormLayer::new(NormKind::Gn(3), 16, &cpu()).is_err());
    assert!(NormLayer::new(NormKind::Gnr(5), 16, &cpu()).is_err());
    assert!(NormLayer::new(NormKind::Gnr(4), 16, &cpu()).is_ok());
}

/// Gives every norm non-trivial running statistics and affine parameters, so that paths differ.
fn perturb_norms(model: &mut RnaModel, seed: u64) {
    let mut rng = SeededRng::new(seed);
    model.visit_params(&mut |name, _, mut p| {
        let n = p.num_elements();
        let mut draw = |lo: f64, hi: f64| -> Vec<f32> {
            (0..n)
                .map(|_| (lo + (hi - lo) * rng.next_f64()) as f32)
                .collect()
        };
        let is_norm = name.contains(".norm.") || name.starts_with("bn1.");
        if name.ends_with("running_var") {
            p.set(draw(0.5, 2.0));
        } else if name.ends_with("running_mean") {
            p.set(draw(-0.3, 0.3));
        } else if is_norm && name.ends_with("weight") {
            p.set(draw(0.6, 1.2));
        } else if is_norm && name.ends_with("bias") {
            p.set(draw(-0.2, 0.2));
        }
    });
}

fn images(n: usize, seed: u64) -> Tensor<4> {
    let mut rng = SeededRng::new(seed);
    let v: Vec<f32> = (0..n * 3 * 32 * 32).map(|_| rng.next_f32()).collect();
    tensor4(&v, [n, 3, 32, 32])
}

fn max_abs_diff(a: Tensor<2>, b: Tensor<2>) -> f32 {
    a.sub(b).abs().max().into_scalar::<f32>()
}

fn per_sample_paths_match_single_path_runs(arch: &str, batch: usize) {
    let config = ModelConfig::cifar10(Architecture::preset(arch).unwrap());
    let mut model = RnaModel::new(config, 3, &cpu()).unwrap();
    perturb_norms(&mut model, 4);
    let x = images(1, 5).repeat_dim(0, batch);
    let mut paths = model.path_space().sample_many(batch - 1, 6);
    paths.push(paths[0].clone());
    assert!(paths.windows(2).any(|w| w[0] != w[1]));
    let batched = model.forward_paths(x.clone(), &paths);
    // The same paths with shared prefixes computed once (a repeated path included).
    let shared = model.forward_shared(images(1, 5), &paths);
    let mut spread = 0.0f32;
    for (i, path) in paths.iter().enumerate() {
        let single = model.forward_path(x.clone().narrow(0, i, 1), path);
        let row = batched.clone().narrow(0, i, 1);
        let diff = max_abs_diff(single.clone(), row);
        assert!(diff < 1e-4, "{arch}: path {i} differs by {diff}");
        let diff = max_abs_diff(single.clone(), shared.clone().narrow(0, i, 1));
        assert!(
            diff < 1e-4,
            "{arch}: shared-prefix path {i} differs by {diff}"
        );
        spread = spread.max(max_abs_diff(single, batched.clone().narrow(0, 0, 1)));
    }
    // The paths really compute different functions, or the test proves nothing.
    assert!(spread > 1e-2, "{arch}: all paths gave the same logits");
}

#[test]
fn per_sample_paths_match_single_path_runs_resnet20() {
    per_sample_paths_match_single_path_runs("resnet20", 12);
}

#[test]
fn per_sample_paths_match_single_path_runs_resnet18() {
    per_sample_paths_match_single_path_runs("resnet18", 5);
}

#[test]
fn per_sample_paths_match_single_path_runs_wrn34_10() {
    per_sample_paths_match_single_path_runs("wrn34-10", 4);
}

#[test]
fn eval_mode_does_not_depend_on_the_rest_of_the_batch() {
    let mut model = RnaModel::new(
        ModelConfig::cifar10(Architecture::preset("resnet20").unwrap()),
        1,
        &cpu(),
    )
    .unwrap();
    perturb_norms(&mut model, 2);
    let x = images(4, 9);
    let path = model.path_space().sample(&mut SeededRng::new(3));
    let together = model.forward_path(x.clone(), &path);
    let alone = model.forward_path(x.narrow(0, 2, 1), &path);
    assert!(max_abs_diff(together.narrow(0, 2, 1), alone) < 1e-5);
}

#[test]
fn parameter_counts_match_the_published_architectures() {
    // Plain CIFAR ResNet-18 (kuangliu/pytorch-cifar) has 11,173,962 parameters. RNA adds a second
    // affine pair per random norm: 2 × (64 + 4·64 + 5·128 + 5·256 + 5·512) = 2 × 4,800 = 9,600.
    let count = |arch: &str, norms: Vec<NormKind>| {
        let config = ModelConfig::cifar10(Architecture::preset(arch).unwrap()).with_norms(norms);
        RnaModel::new(config, 0, &cpu()).unwrap().num_parameters()
    };
    assert_eq!(count("resnet18", vec![NormKind::Bn]), 11_173_962);
    assert_eq!(count("resnet18", NormKind::RELEASED.to_vec()), 11_183_562);
    // ResNet-20 with 1×1 conv shortcuts: 432 + 32 + 14,016 + 51,648 + 205,696 + 650 = 272,474.
    assert_eq!(count("resnet20", vec![NormKind::Bn]), 272_474);
    // WRN-34-10 has 46,160,474; its 30 random norms cover 10,576 channels → +21,152.
    assert_eq!(count("wrn34-10", vec![NormKind::Bn]), 46_160_474);
    assert_eq!(count("wrn34-10", NormKind::RELEASED.to_vec()), 46_181_626);
}

#[test]
fn random_layers_are_named_in_network_order() {
    let space = |arch: &str| {
        RnaModel::new(
            ModelConfig::cifar10(Architecture::preset(arch).unwrap()),
            0,
            &cpu(),
        )
        .unwrap()
        .path_space()
        .clone()
    };
    let r18 = space("resnet18");
    assert_eq!(r18.num_layers(), 20);
    assert_eq!(r18.count(), Some(1 << 20));
    let names: Vec<&str> = r18.layers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(
        &names[..8],
        &[
            "stem",
            "layer1.0.norm1",
            "layer1.0.norm2",
            "layer1.1.norm1",
            "layer1.1.norm2",
            "layer2.0.norm1",
            "layer2.0.norm2",
            "layer2.0.shortcut"
        ]
    );
    assert_eq!(r18.layers[7].key, "layer2.0.shortcut.1");
    assert_eq!(space("resnet20").num_layers(), 21);
    let wrn = space("wrn34-10");
    assert_eq!(wrn.num_layers(), 30);
    assert_eq!(wrn.layers[0].name, "block1.0.norm1");
    assert_eq!(wrn.layers[0].channels, 16);
}

#[test]
fn training_updates_only_the_candidates_on_the_path() {
    let mut model = RnaModel::new(
        ModelConfig::cifar10(Architecture::preset("resnet20").unwrap()),
        1,
        &cpu(),
    )
    .unwrap();
    let path = model.path_space().sample(&mut SeededRng::new(11));
    let before = snapshot(&mut model);
    let _ = model.forward_train(images(4, 1), &path);
    let after = snapshot(&mut model);
    let space = model.path_space().clone();
    for (layer, info) in space.layers.iter().enumerate() {
        for c in 0..space.num_candidates() {
            let key = format!("{}.norm.{c}.running_mean", info.key);
            let Some(old) = before.iter().find(|(k, _)| *k == key) else {
                continue; // candidates without running statistics
            };
            let new = after.iter().find(|(k, _)| *k == key).unwrap();
            let changed = old.1 != new.1;
            assert_eq!(changed, c == path.get(layer), "{key}");
        }
    }
}

fn snapshot(model: &mut RnaModel) -> Vec<(String, Vec<f32>)> {
    let mut out = Vec::new();
    model.visit_params(&mut |k, _, p| out.push((k.to_string(), p.to_vec())));
    out
}

#[test]
fn the_same_seed_gives_the_same_weights() {
    let config = ModelConfig::cifar10(Architecture::preset("resnet20").unwrap());
    let a = snapshot(&mut RnaModel::new(config.clone(), 42, &cpu()).unwrap());
    let b = snapshot(&mut RnaModel::new(config.clone(), 42, &cpu()).unwrap());
    let c = snapshot(&mut RnaModel::new(config, 43, &cpu()).unwrap());
    assert_eq!(a, b);
    assert_ne!(a, c);
}

mod files {
    use super::*;

    fn small_model() -> RnaModel {
        let mut m = RnaModel::new(
            ModelConfig::cifar10(Architecture::preset("resnet20").unwrap()),
            7,
            &cpu(),
        )
        .unwrap();
        perturb_norms(&mut m, 8);
        m
    }

    #[test]
    fn round_trip_keeps_configuration_and_every_value() {
        let mut model = small_model();
        model.provenance_mut().summary = "test".into();
        let bytes = file::to_bytes(&model);
        let mut loaded = file::from_bytes(&bytes, &cpu()).unwrap();
        assert_eq!(loaded.config(), model.config());
        assert_eq!(snapshot(&mut loaded), snapshot(&mut model));
        let path = model.path_space().sample(&mut SeededRng::new(1));
        let x = images(2, 3);
        assert_eq!(
            values(loaded.forward_path(x.clone(), &path)),
            values(model.forward_path(x, &path))
        );
    }

    #[test]
    fn save_writes_atomically_and_load_names_the_file() {
        let dir = std::env::temp_dir().join(format!("rna-lens-model-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("m.safetensors");
        file::save(&small_model(), &path).unwrap();
        assert!(file::load(&path, &cpu()).is_ok());
        let leftovers: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "temporary file left behind");
        let err = file::load(&dir.join("missing.safetensors"), &cpu())
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing.safetensors"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn error_of(bytes: &[u8]) -> String {
        match file::from_bytes(bytes, &cpu()) {
            Ok(_) => panic!("loaded a bad file"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn truncated_files_fail_at_every_offset() {
        let bytes = file::to_bytes(&small_model());
        let header_end = 8 + u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        for cut in [
            0,
            4,
            8,
            100,
            header_end - 1,
            header_end,
            header_end + 3,
            bytes.len() - 1,
        ] {
            let err = error_of(&bytes[..cut]);
            assert!(
                err.contains("empty")
                    || err.contains("truncated")
                    || err.contains("too short")
                    || err.contains("not an rna-lens model"),
                "cut at {cut}: {err}"
            );
        }
    }

    #[test]
    fn files_that_are_not_models_are_rejected() {
        assert!(error_of(b"").contains("empty"));
        let mut rng = SeededRng::new(1);
        let noise: Vec<u8> = (0..5000).map(|_| rng.next_u64() as u8).collect();
        assert!(error_of(&noise).contains("not an rna-lens model"));
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x20\0\0\0\x20\x08\x02\0\0\0";
        assert!(error_of(png).contains("not an rna-lens model"));
        // A safetensors file from another tool: valid layout, no rna-lens metadata.
        let header = br#"{"weight":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#;
        let mut other = (header.len() as u64).to_le_bytes().to_vec();
        other.extend_from_slice(header);
        other.extend_from_slice(&1.0f32.to_le_bytes());
        assert!(error_of(&other).contains("without rna-lens metadata"));
    }

    /// Rewrites the configuration inside a valid file, keeping its weights and checksum.
    fn with_config(bytes: &[u8], edit: impl FnOnce(&mut ModelConfig)) -> Vec<u8> {
        let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        let mut header: serde_json::Value =
            serde_json::from_slice(&bytes[8..8 + header_len]).unwrap();
        let mut config: ModelConfig =
            serde_json::from_str(header["__metadata__"]["config"].as_str().unwrap()).unwrap();
        edit(&mut config);
        header["__metadata__"]["config"] = serde_json::to_string(&config).unwrap().into();
        let header = serde_json::to_vec(&header).unwrap();
        let mut out = (header.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(&header);
        out.extend_from_slice(&bytes[8 + header_len..]);
        out
    }

    #[test]
    fn weights_of_another_architecture_or_candidate_list_fail_with_the_differences() {
        let bytes = file::to_bytes(&small_model());
        let other_arch = with_config(&bytes, |c| {
            c.architecture = Architecture::preset("resnet18").unwrap()
        });
        let err = error_of(&other_arch);
        assert!(
            err.contains("do not fit the architecture") && err.contains("wrong shape"),
            "{err}"
        );
        let other_norms = with_config(&bytes, |c| c.norms = vec![NormKind::Bn]);
        let err = error_of(&other_norms);
        assert!(
            err.contains("unexpected") && err.contains("norm.1"),
            "{err}"
        );
        let more_norms = with_config(&bytes, |c| c.norms.push(NormKind::Gn(1)));
        let err = error_of(&more_norms);
        assert!(
            err.contains("missing") && err.contains("norm.2.weight"),
            "{err}"
        );
        let bad_norm = with_config(&bytes, |c| c.norms = vec![NormKind::Gnr(3)]);
        assert!(error_of(&bad_norm).contains("gnr_3"));
    }

    #[test]
    fn corrupted_weights_and_nans_are_detected() {
        let model = small_model();
        let mut bytes = file::to_bytes(&model);
        let last = bytes.len() - 2;
        bytes[last] ^= 0x40;
        assert!(error_of(&bytes).contains("corrupted"));

        let mut nan_model = model.clone();
        nan_model.visit_params(&mut |name, _, mut p| {
            if name == "linear.bias" {
                let mut v = p.to_vec();
                v[0] = f32::NAN;
                p.set(v);
            }
        });
        let err = error_of(&file::to_bytes(&nan_model));
        assert!(err.contains("linear.bias") && err.contains("NaN"), "{err}");
    }
}

#[test]
fn forward_flops_match_hand_counts() {
    let flops = |arch: &str| {
        let config = ModelConfig::cifar10(Architecture::preset(arch).unwrap());
        RnaModel::new(config, 0, &cpu()).unwrap().flops_per_image()
    };
    // ResNet-20, 2·Cout·Cin·k²·H·W per convolution: stem 884,736; stage 1, six 16→16 convs at
    // 32² 28,311,552; stage 2, 16→32 at 16² 2,359,296 + five 32→32 23,592,960 + 1×1 shortcut
    // 262,144; stage 3 the same at 8² with doubled channels; linear 2·64·10 = 1,280.
    assert_eq!(flops("resnet20"), 81_626_368);
    // ResNet-18: stem 3,538,944; layer1 4 × 75,497,472; layers 2–4 each 37,748,736 +
    // 3 × 75,497,472 + 4,194,304; linear 10,240 (the usual "0.56 GMACs").
    assert_eq!(flops("resnet18"), 1_110_845_440);
}
