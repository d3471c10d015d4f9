//! What ships inside the binary: the default RNA model, its BatchNorm twin, their model cards and
//! the sample gallery. Embedding them lets a copied or `cargo install`ed binary open the app from
//! any directory. An `assets/` folder beside the binary takes precedence, file by file, so a
//! packager or a user can replace what ships without rebuilding.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use burn::tensor::Device;

use crate::model::{Architecture, ModelConfig, ModelError, RnaModel, file};

/// A model that ships with rna-lens.
#[derive(Debug)]
pub struct ShippedModel {
    /// Its name in menus and in the CLI's output.
    pub label: &'static str,
    /// Its file name under `assets/models/`.
    pub file: &'static str,
    bytes: &'static [u8],
    card: &'static str,
}

impl PartialEq for ShippedModel {
    fn eq(&self, other: &Self) -> bool {
        self.file == other.file
    }
}

macro_rules! asset {
    (bytes $relative:literal) => {
        include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/", $relative))
    };
    (text $relative:literal) => {
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/", $relative))
    };
}

/// The shipped models, the default first.
pub static MODELS: [ShippedModel; 2] = [
    ShippedModel {
        label: "RNA ResNet-20 [bn, gnr_1]",
        file: "rna-resnet20.safetensors",
        bytes: asset!(bytes "models/rna-resnet20.safetensors"),
        card: asset!(text "models/rna-resnet20.eval.json"),
    },
    ShippedModel {
        label: "BN ResNet-20 (plain twin)",
        file: "bn-resnet20.safetensors",
        bytes: asset!(bytes "models/bn-resnet20.safetensors"),
        card: asset!(text "models/bn-resnet20.eval.json"),
    },
];

/// The model the app and the CLI open when none is named.
pub fn default_model() -> &'static ShippedModel {
    &MODELS[0]
}

/// The shipped model with this file name.
pub fn shipped(file: &str) -> Option<&'static ShippedModel> {
    MODELS.iter().find(|m| m.file == file)
}

impl ShippedModel {
    /// The file beside the binary that replaces the embedded copy, if there is one.
    pub fn override_file(&self) -> Option<PathBuf> {
        beside_binary("models")
            .map(|dir| dir.join(self.file))
            .filter(|p| p.is_file())
    }

    /// Where this model is read from, for messages: a file beside the binary, or "built in".
    pub fn origin(&self) -> String {
        match self.override_file() {
            Some(path) => path.display().to_string(),
            None => "built into the binary".into(),
        }
    }

    pub fn open(&self, device: &Device) -> Result<RnaModel, ModelError> {
        match self.override_file() {
            Some(path) => file::load(&path, device),
            None => file::from_bytes(self.bytes, device),
        }
    }

    /// The model card (`rna-lens eval --json` output): the override's card beside it when the
    /// model file is replaced, else the embedded one. `None` when a replaced model has no card,
    /// so the embedded figures are never shown for another model.
    pub fn card(&self) -> Option<Cow<'static, str>> {
        match self.override_file() {
            Some(path) => std::fs::read_to_string(path.with_extension("eval.json"))
                .ok()
                .map(Cow::Owned),
            None => Some(Cow::Borrowed(self.card)),
        }
    }
}

/// Where a model comes from: what every front end opens.
#[derive(Clone, Debug, PartialEq)]
pub enum ModelSource {
    Shipped(&'static ShippedModel),
    /// An rna-lens `.safetensors` file or a PyTorch `.pth` checkpoint of the official code.
    File(PathBuf),
    /// A freshly initialised network of this architecture preset: for trying the tool before any
    /// model exists.
    Untrained(String),
}

impl ModelSource {
    pub fn describe(&self) -> String {
        match self {
            ModelSource::Shipped(m) => format!("{} ({})", m.label, m.origin()),
            ModelSource::File(p) => p.display().to_string(),
            ModelSource::Untrained(arch) => format!("untrained {arch}"),
        }
    }

    pub fn open(&self, device: &Device) -> Result<RnaModel, ModelError> {
        let started = std::time::Instant::now();
        let mut model = match self {
            ModelSource::Shipped(m) => m.open(device),
            ModelSource::File(path) => crate::interop::open_model(path, device),
            ModelSource::Untrained(arch) => Architecture::preset(arch)
                .and_then(|a| RnaModel::new(ModelConfig::cifar10(a), 0, device)),
        };
        match &mut model {
            Ok(m) => tracing::info!(
                source = %self.describe(),
                architecture = m.config().architecture.name(),
                parameters = m.num_parameters(),
                seconds = started.elapsed().as_secs_f64(),
                "model loaded"
            ),
            Err(e) => tracing::info!(source = %self.describe(), error = %e, "model not loaded"),
        }
        model
    }

    /// The model card published beside the model (`<name>.eval.json`), if any.
    pub fn card(&self) -> Option<Cow<'static, str>> {
        match self {
            ModelSource::Shipped(m) => m.card(),
            ModelSource::File(path) => std::fs::read_to_string(path.with_extension("eval.json"))
                .ok()
                .map(Cow::Owned),
            ModelSource::Untrained(_) => None,
        }
    }

    /// How settings remember it: a shipped model by its file name, a file by its path.
    pub fn remembered(&self) -> Option<PathBuf> {
        match self {
            ModelSource::Shipped(m) => Some(PathBuf::from(m.file)),
            ModelSource::File(path) => Some(path.clone()),
            ModelSource::Untrained(_) => None,
        }
    }

    /// The inverse of [`ModelSource::remembered`]; `None` for a file that is gone.
    pub fn recall(remembered: &Path) -> Option<ModelSource> {
        let bare_name = remembered
            .parent()
            .is_some_and(|p| p.as_os_str().is_empty());
        match remembered.to_str().and_then(shipped) {
            Some(m) if bare_name => Some(ModelSource::Shipped(m)),
            _ => remembered
                .is_file()
                .then(|| ModelSource::File(remembered.to_path_buf())),
        }
    }
}

/// One gallery image: its file name and encoded bytes.
pub struct GalleryFile {
    pub name: String,
    pub bytes: Cow<'static, [u8]>,
}

macro_rules! samples {
    ($($name:literal),* $(,)?) => {
        &[$((
            $name,
            include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/samples/", $name)),
        )),*]
    };
}

/// The embedded gallery: the first twenty CIFAR-10 test images (Foolbox's samples), named
/// `cifar10_<index>_<label>.png`.
static SAMPLES: &[(&str, &[u8])] = samples![
    "cifar10_00_3.png",
    "cifar10_01_8.png",
    "cifar10_02_8.png",
    "cifar10_03_0.png",
    "cifar10_04_6.png",
    "cifar10_05_6.png",
    "cifar10_06_1.png",
    "cifar10_07_6.png",
    "cifar10_08_3.png",
    "cifar10_09_1.png",
    "cifar10_10_0.png",
    "cifar10_11_9.png",
    "cifar10_12_5.png",
    "cifar10_13_7.png",
    "cifar10_14_9.png",
    "cifar10_15_8.png",
    "cifar10_16_5.png",
    "cifar10_17_7.png",
    "cifar10_18_8.png",
    "cifar10_19_6.png",
];

/// The gallery's PNG files in name order: those in `assets/samples/` beside the binary when that
/// folder exists, else the embedded ones.
pub fn gallery_files() -> std::io::Result<Vec<GalleryFile>> {
    match beside_binary("samples") {
        Some(dir) => read_png_folder(&dir),
        None => Ok(SAMPLES
            .iter()
            .map(|(name, bytes)| GalleryFile {
                name: (*name).into(),
                bytes: Cow::Borrowed(*bytes),
            })
            .collect()),
    }
}

/// One gallery image by its index in name order or its file name.
pub fn gallery_file(key: &str) -> Result<GalleryFile, String> {
    let files = gallery_files().map_err(|e| format!("cannot read the sample gallery: {e}"))?;
    let count = files.len();
    let found = match key.parse::<usize>() {
        Ok(i) => files.into_iter().nth(i),
        Err(_) => files.into_iter().find(|f| f.name == key),
    };
    found.ok_or_else(|| {
        format!("no gallery sample {key}: give an index below {count} or a file name such as cifar10_00_3.png")
    })
}

/// The label in a gallery name `cifar10_NN_L.png`.
pub fn label_from_name(name: &str) -> Option<usize> {
    let stem = name.strip_suffix(".png")?;
    stem.rsplit('_').next()?.parse().ok()
}

fn read_png_folder(dir: &Path) -> std::io::Result<Vec<GalleryFile>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            Ok(GalleryFile {
                name: path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                bytes: Cow::Owned(std::fs::read(&path)?),
            })
        })
        .collect()
}

/// `assets/<sub>` beside the running binary, if that folder exists.
fn beside_binary(sub: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    Some(exe.parent()?.join("assets").join(sub)).filter(|d| d.is_dir())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gallery_names_carry_their_label() {
        assert_eq!(label_from_name("cifar10_07_9.png"), Some(9));
        assert_eq!(label_from_name("cifar10_00_3.png"), Some(3));
        assert_eq!(label_from_name("photo.png"), None);
        assert_eq!(label_from_name("cifar10_00_3.jpg"), None);
    }

    /// The embedded list is written by hand: it must hold exactly the folder's files, byte for
    /// byte, or a sample added to `assets/samples/` would silently not ship.
    #[test]
    fn the_embedded_gallery_is_the_samples_folder() {
        let folder =
            read_png_folder(&Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/samples")).unwrap();
        assert_eq!(folder.len(), SAMPLES.len());
        for (on_disk, (name, bytes)) in folder.iter().zip(SAMPLES) {
            assert_eq!(on_disk.name, *name);
            assert!(on_disk.bytes.as_ref() == *bytes, "{name} differs");
        }
    }

    #[test]
    fn embedded_models_open_and_carry_their_cards() {
        let device = Device::flex();
        for shipped in &MODELS {
            let model = file::from_bytes(shipped.bytes, &device).unwrap();
            assert!(model.config().provenance.trained, "{}", shipped.file);
            let card: serde_json::Value = serde_json::from_str(shipped.card).unwrap();
            assert!(card["protocols"].is_object(), "{} card", shipped.file);
        }
        assert_eq!(shipped("bn-resnet20.safetensors"), Some(&MODELS[1]));
        assert_eq!(shipped("nope.safetensors"), None);
    }

    #[test]
    fn settings_remember_shipped_models_by_name_and_files_by_path() {
        let twin = ModelSource::Shipped(&MODELS[1]);
        let remembered = twin.remembered().unwrap();
        assert_eq!(ModelSource::recall(&remembered), Some(twin));
        let file =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/models/bn-resnet20.safetensors");
        let source = ModelSource::File(file.clone());
        assert_eq!(
            ModelSource::recall(&source.remembered().unwrap()),
            Some(source)
        );
        // A shipped model's name inside some folder is that folder's file, not the shipped one.
        assert_eq!(
            ModelSource::recall(Path::new("/nowhere/bn-resnet20.safetensors")),
            None
        );
        assert_eq!(ModelSource::Untrained("resnet20".into()).remembered(), None);
    }
}
