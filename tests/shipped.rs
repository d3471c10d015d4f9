//! The models that ship in `assets/models/`: present, trained, of the documented shape, and with
//! a measured card beside them.

use std::path::PathBuf;

use burn::tensor::Device;

use rna_lens::model::file;
use rna_lens::model::norm::NormKind;
use rna_lens::train::TrainConfig;

fn asset(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("assets/models")
        .join(name)
}

#[test]
fn the_shipped_rna_model_and_its_twin_are_trained_resnet20s() {
    let rna = file::load(&asset("rna-resnet20.safetensors"), &Device::flex()).unwrap();
    let bn = file::load(&asset("bn-resnet20.safetensors"), &Device::flex()).unwrap();
    for m in [&rna, &bn] {
        assert!(m.config().provenance.trained);
        assert_eq!(m.config().architecture.name(), "resnet20");
        assert!(m.config().provenance.training_config.is_some());
    }
    assert_eq!(rna.config().norms, NormKind::RELEASED.to_vec());
    assert_eq!(rna.path_space().num_layers(), 21);
    assert_eq!(bn.config().norms, vec![NormKind::Bn]);
    assert_eq!(bn.path_space().count(), Some(1));
}

#[test]
fn each_shipped_model_has_a_card_with_every_protocol_and_its_sample_size() {
    for (name, protocols) in [
        (
            "rna-resnet20.eval.json",
            &["natural", "fgsm", "pgd20", "mifgsm", "pgd20-fixed"][..],
        ),
        (
            "bn-resnet20.eval.json",
            &["natural", "fgsm", "pgd20", "mifgsm", "autoattack-rand"][..],
        ),
    ] {
        let card: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(asset(name)).unwrap()).unwrap();
        for p in protocols {
            let row = &card["protocols"][p];
            assert!(row["images"].as_u64().unwrap() >= 1000, "{name}: {p}");
            assert!(
                row["protocol"].as_str().is_some(),
                "{name}: {p} states its protocol"
            );
        }
        assert_eq!(card["protocols"]["natural"]["images"], 10000, "{name}");
    }
}

/// The recipe beside each model is the one it was trained with: what its file recorded when it
/// was trained (in /255, as configs were written then) is the same run as the recipe now reads
/// (budgets as fractions), so `train --config` on it reproduces the model's training.
#[test]
fn each_shipped_recipe_is_the_one_its_model_records() {
    for name in ["rna-resnet20", "bn-resnet20"] {
        let model = file::load(&asset(&format!("{name}.safetensors")), &Device::flex()).unwrap();
        let recorded: TrainConfig =
            serde_json::from_value(model.config().provenance.training_config.clone().unwrap())
                .unwrap();
        let text = std::fs::read_to_string(asset(&format!("{name}.train.json"))).unwrap();
        let recipe: TrainConfig = serde_json::from_str(&text).unwrap();
        assert_eq!(recipe, recorded, "{name}");
        assert_eq!(recipe.attack.eps, 8.0 / 255.0, "{name}");
    }
}
