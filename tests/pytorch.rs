//! PyTorch interchange against a fixture written by PyTorch itself
//! (tests/python/make_parity_fixture.py): same weights, same paths, same logits.

use std::path::PathBuf;

use burn::tensor::{Device, Tensor, TensorData};
use rna_lens::interop::pytorch::{ImportOptions, import};
use rna_lens::model::{Architecture, NormKind, Path};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rna-lens-pth-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn official_layout_imports_and_matches_pytorch_logits_on_every_path() {
    let model = import(
        &fixture("rna_resnet18_w8.pth"),
        &ImportOptions::default(),
        &Device::flex(),
    )
    .unwrap();
    assert_eq!(
        model.config().architecture,
        Architecture::ResNet {
            stage_widths: vec![8, 16, 32, 64],
            blocks_per_stage: vec![2, 2, 2, 2]
        }
    );
    assert_eq!(model.config().norms, NormKind::RELEASED.to_vec());
    assert_eq!(model.path_space().num_layers(), 20);

    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("rna_resnet18_w8.json")).unwrap())
            .unwrap();
    let inputs: Vec<f32> = reference["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() as f32)
        .collect();
    let n = inputs.len() / 3072;
    let x = Tensor::<4>::from_data(TensorData::new(inputs, [n, 3, 32, 32]), &Device::flex());
    let paths = reference["paths"].as_array().unwrap();
    assert!(paths.len() >= 4);
    for (p, (path, expected)) in paths
        .iter()
        .zip(reference["logits"].as_array().unwrap())
        .enumerate()
    {
        let choices: Vec<u8> = path
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_u64().unwrap() as u8)
            .collect();
        let logits: Vec<f32> = model
            .forward_path(x.clone(), &Path::new(choices))
            .into_data()
            .convert::<f32>()
            .try_into_vec()
            .unwrap();
        let expected: Vec<f32> = expected
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|row| {
                row.as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_f64().unwrap() as f32)
            })
            .collect();
        let diff = logits
            .iter()
            .zip(&expected)
            .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(diff < 1e-4, "path {p}: max |rna-lens − PyTorch| = {diff}");
    }
}

#[test]
fn a_checkpoint_of_another_architecture_is_refused() {
    let options = ImportOptions {
        architecture: Some("resnet18".into()),
        ..Default::default()
    };
    let err = import(&fixture("rna_resnet18_w8.pth"), &options, &Device::flex())
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a resnet18"), "{err}");
    let options = ImportOptions {
        classes: Some(100),
        ..Default::default()
    };
    let err = import(&fixture("rna_resnet18_w8.pth"), &options, &Device::flex())
        .unwrap_err()
        .to_string();
    assert!(err.contains("10 classes, not 100"), "{err}");
    let options = ImportOptions {
        norms: Some(vec![NormKind::Bn, NormKind::Bn]),
        ..Default::default()
    };
    let err = import(&fixture("rna_resnet18_w8.pth"), &options, &Device::flex())
        .unwrap_err()
        .to_string();
    assert!(err.contains("does not fit"), "{err}");
}

#[test]
fn malformed_files_give_clear_errors_and_run_no_code() {
    let dir = scratch("malformed");
    let whole = std::fs::read(fixture("rna_resnet18_w8.pth")).unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty.pth", Vec::new()),
        ("truncated.pth", whole[..whole.len() / 2].to_vec()),
        (
            "noise.pth",
            (0..4096u32)
                .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
                .collect(),
        ),
        // pickle.dumps({'a': 1}, protocol=2): a valid pickle of something else.
        (
            "dict.pth",
            b"\x80\x02}q\x00X\x01\x00\x00\x00aq\x01K\x01s.".to_vec(),
        ),
    ];
    for (name, bytes) in cases {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        let err = import(&path, &ImportOptions::default(), &Device::flex())
            .unwrap_err()
            .to_string();
        assert!(err.contains(name), "{name}: {err}");
    }
    // A pickle that would run `os.system` if it were executed.
    let marker = dir.join("pwned");
    let evil = format!("cos\nsystem\n(S'touch {}'\ntR.", marker.display());
    let path = dir.join("evil.pth");
    std::fs::write(&path, evil).unwrap();
    assert!(import(&path, &ImportOptions::default(), &Device::flex()).is_err());
    assert!(!marker.exists(), "the pickle was executed");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn export_then_import_round_trips_every_value() {
    let dir = scratch("roundtrip");
    let original = import(
        &fixture("rna_resnet18_w8.pth"),
        &ImportOptions::default(),
        &Device::flex(),
    )
    .unwrap();
    let exported = dir.join("exported.pth");
    rna_lens::interop::pytorch::export(&original, &exported, "module.").unwrap();
    let back = import(&exported, &ImportOptions::default(), &Device::flex()).unwrap();
    assert_eq!(
        rna_lens::model::file::model_tensors(&back),
        rna_lens::model::file::model_tensors(&original)
    );
    assert_eq!(back.config().norms, original.config().norms);
    // Also without the DataParallel prefix, and for a WideResNet-shaped model.
    let wrn_config = rna_lens::model::ModelConfig::cifar10(Architecture::WideResNet {
        depth: 10,
        widen_factor: 1,
    });
    let wrn = rna_lens::model::RnaModel::new(wrn_config, 5, &Device::flex()).unwrap();
    let plain = dir.join("wrn.pth");
    rna_lens::interop::pytorch::export(&wrn, &plain, "").unwrap();
    let wrn_back = import(&plain, &ImportOptions::default(), &Device::flex()).unwrap();
    assert_eq!(wrn_back.config().architecture, wrn.config().architecture);
    assert_eq!(
        rna_lens::model::file::model_tensors(&wrn_back),
        rna_lens::model::file::model_tensors(&wrn)
    );
    std::fs::remove_dir_all(dir).unwrap();
}
