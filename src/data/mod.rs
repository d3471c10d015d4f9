//! Data sets and images.
//!
//! Everything here works on CIFAR's own layout: an image is 3×32×32 bytes, channel-planar
//! (the R plane, then G, then B), exactly as records are stored in the CIFAR-10 binary release.
//! Keeping bytes until the last moment keeps a 50,000-image training set at 150 MiB instead of
//! 600 MiB of floats, and makes "this image passed through unchanged" checkable bit for bit.

pub mod augment;
pub mod cifar;
pub mod image_folder;
pub mod preprocess;

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use burn::tensor::{Device, Tensor, TensorData};

use crate::rng::SeededRng;
use preprocess::ImageLoadError;

/// Side length of the model input, in pixels.
pub const IMAGE_SIZE: usize = 32;
/// Bytes in one planar 3×32×32 image.
pub const IMAGE_LEN: usize = 3 * IMAGE_SIZE * IMAGE_SIZE;

pub use crate::base::CIFAR10_CLASSES;

/// Labelled 32×32 images, stored as planar bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageSet {
    /// `len()` images of [`IMAGE_LEN`] bytes each, planar R, G, B.
    pub pixels: Vec<u8>,
    pub labels: Vec<u16>,
    /// Name of each label index; labels are always `< class_names.len()`.
    pub class_names: Vec<String>,
}

impl ImageSet {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The planar bytes of image `index`.
    pub fn image(&self, index: usize) -> &[u8] {
        &self.pixels[index * IMAGE_LEN..(index + 1) * IMAGE_LEN]
    }

    /// A new set holding the given images, in the given order (repeats allowed).
    pub fn subset(&self, indices: &[usize]) -> ImageSet {
        let mut pixels = Vec::with_capacity(indices.len() * IMAGE_LEN);
        for &index in indices {
            pixels.extend_from_slice(self.image(index));
        }
        ImageSet {
            pixels,
            labels: self.labels_of(indices),
            class_names: self.class_names.clone(),
        }
    }

    /// Splits off `holdout` randomly chosen images (for checkpoint selection without touching
    /// the test set). Returns `(train, holdout)`; both keep the original relative order, so the
    /// split depends only on the seed and the set's size.
    ///
    /// # Panics
    /// If `holdout > self.len()`.
    pub fn split_holdout(&self, holdout: usize, seed: u64) -> (ImageSet, ImageSet) {
        assert!(
            holdout <= self.len(),
            "cannot hold out {holdout} images from a set of {}",
            self.len()
        );
        let mut order: Vec<usize> = (0..self.len()).collect();
        SeededRng::new(seed).shuffle(&mut order);
        let (held, kept) = order.split_at_mut(holdout);
        held.sort_unstable();
        kept.sort_unstable();
        (self.subset(kept), self.subset(held))
    }

    /// A seeded random subset of `n` images, kept in their original order (everything when
    /// `n ≥ len`), so a limited run covers every class even when files are grouped by class.
    pub fn sample(&self, n: usize, seed: u64) -> ImageSet {
        if n >= self.len() {
            return self.clone();
        }
        self.split_holdout(n, seed).1
    }

    /// The given images as an `[n, 3, 32, 32]` float tensor with values `byte / 255` in [0, 1].
    pub fn to_tensor(&self, indices: &[usize], device: &Device) -> Tensor<4> {
        let mut pixels = Vec::with_capacity(indices.len() * IMAGE_LEN);
        for &index in indices {
            pixels.extend_from_slice(self.image(index));
        }
        batch_to_tensor(&pixels, device)
    }

    pub fn labels_of(&self, indices: &[usize]) -> Vec<u16> {
        indices.iter().map(|&index| self.labels[index]).collect()
    }
}

/// Concatenated planar images (e.g. an augmented batch or one user image) as an
/// `[n, 3, 32, 32]` float tensor with values `byte / 255` in [0, 1].
///
/// # Panics
/// If `pixels.len()` is not a multiple of [`IMAGE_LEN`].
pub fn batch_to_tensor(pixels: &[u8], device: &Device) -> Tensor<4> {
    assert_eq!(
        pixels.len() % IMAGE_LEN,
        0,
        "{} bytes is not a whole number of 3×32×32 images",
        pixels.len()
    );
    let count = pixels.len() / IMAGE_LEN;
    let values: Vec<f32> = pixels.iter().map(|&byte| f32::from(byte) / 255.0).collect();
    Tensor::<4>::from_data(
        TensorData::new(values, [count, 3, IMAGE_SIZE, IMAGE_SIZE]),
        device,
    )
}

/// Which half of a data set to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Split {
    Train,
    Test,
}

impl Split {
    pub fn as_str(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "test",
        }
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Split {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "train" => Ok(Split::Train),
            "test" => Ok(Split::Test),
            other => Err(format!(
                "unknown split `{other}` (expected `train` or `test`)"
            )),
        }
    }
}

/// Why a data set could not be loaded. Every variant names the file or folder at fault.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{} does not exist", .path.display())]
    NotFound { path: PathBuf },

    #[error("cannot read {}: {source}", .path.display())]
    Io { path: PathBuf, source: io::Error },

    #[error(
        "{} is {size} bytes, not a multiple of {} (1 label byte + 3072 pixels); \
         is it a CIFAR-10 binary batch, and is it complete?",
        .path.display(),
        cifar::RECORD_LEN
    )]
    BadSize { path: PathBuf, size: u64 },

    #[error(
        "{}: record {record} has label {label}, but there are only {num_classes} classes",
        .path.display()
    )]
    LabelOutOfRange {
        path: PathBuf,
        record: usize,
        label: u16,
        num_classes: usize,
    },

    #[error("{}: no images found ({what})", .path.display())]
    NoImages { path: PathBuf, what: String },

    #[error("{}: {source}", .path.display())]
    UnreadableImage {
        path: PathBuf,
        source: ImageLoadError,
    },

    #[error(
        "{}: class folder `{folder}` is not one of the model's classes ({})",
        .path.display(),
        .known.join(", ")
    )]
    UnknownClass {
        path: PathBuf,
        folder: String,
        known: Vec<String>,
    },

    #[error(
        "{}: its class names ({}) differ from the model's ({})",
        .path.display(),
        .found.join(", "),
        .expected.join(", ")
    )]
    ClassMismatch {
        path: PathBuf,
        found: Vec<String>,
        expected: Vec<String>,
    },

    #[error(
        "{}: neither a CIFAR-10 binary folder (data_batch_1.bin or test_batch.bin, possibly in \
         cifar-10-batches-bin/) nor an image folder with {split}/<class>/ subfolders",
        .path.display()
    )]
    UnknownLayout { path: PathBuf, split: Split },
}

/// Loads one split of a data set, recognising its layout:
/// - the CIFAR-10 binary release: `dir` (or `dir/cifar-10-batches-bin`) holds
///   `data_batch_1.bin` or `test_batch.bin`;
/// - an image-folder tree `dir/<split>/<class>/*.{png,jpg,jpeg,webp,bmp}`.
///
/// With `classes` (a model's class list), labels follow that list and anything that does not
/// fit it is an error; without it, the data set's own class names are used.
pub fn load_dataset(
    dir: &Path,
    split: Split,
    classes: Option<&[String]>,
) -> Result<ImageSet, DataError> {
    if !dir.is_dir() {
        return Err(DataError::NotFound {
            path: dir.to_path_buf(),
        });
    }
    if let Some(binary_dir) = cifar::find_binary_dir(dir) {
        return cifar::load_split(&binary_dir, split, classes);
    }
    if dir.join(split.as_str()).is_dir() {
        return image_folder::load_split(dir, split, classes);
    }
    Err(DataError::UnknownLayout {
        path: dir.to_path_buf(),
        split,
    })
}

#[cfg(test)]
pub(crate) mod test_support {
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A fresh folder under the system temp dir, removed when dropped.
    pub struct ScratchDir(PathBuf);

    impl ScratchDir {
        pub fn new(label: &str) -> Self {
            static COUNTER: AtomicUsize = AtomicUsize::new(0);
            let unique = COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = std::env::temp_dir().join(format!(
                "rna-lens-test-{label}-{}-{unique}",
                std::process::id()
            ));
            let _ = std::fs::remove_dir_all(&path);
            std::fs::create_dir_all(&path).expect("create scratch dir");
            Self(path)
        }

        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for ScratchDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::ScratchDir;
    use super::*;

    /// `count` images where every byte of image `i` equals `i`, labelled `i % 10`.
    fn numbered_set(count: usize) -> ImageSet {
        ImageSet {
            pixels: (0..count).flat_map(|i| vec![i as u8; IMAGE_LEN]).collect(),
            labels: (0..count).map(|i| (i % 10) as u16).collect(),
            class_names: CIFAR10_CLASSES.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn image_and_subset_pick_the_right_bytes() {
        let set = numbered_set(5);
        assert_eq!(set.len(), 5);
        assert!(!set.is_empty());
        assert!(set.image(3).iter().all(|&b| b == 3));
        let picked = set.subset(&[4, 1, 4]);
        assert_eq!(picked.labels, vec![4, 1, 4]);
        assert_eq!(picked.pixels.len(), 3 * IMAGE_LEN);
        assert!(picked.image(0).iter().all(|&b| b == 4));
        assert!(picked.image(1).iter().all(|&b| b == 1));
        assert_eq!(set.labels_of(&[2, 0]), vec![2, 0]);
    }

    #[test]
    fn split_holdout_partitions_and_is_deterministic() {
        let set = numbered_set(10);
        let (train, held) = set.split_holdout(3, 42);
        assert_eq!((train.len(), held.len()), (7, 3));

        // Every image keeps its own label (image i is filled with byte i, label i % 10 = i).
        let ids = |s: &ImageSet| -> Vec<u8> { (0..s.len()).map(|i| s.image(i)[0]).collect() };
        for part in [&train, &held] {
            for (i, id) in ids(part).into_iter().enumerate() {
                assert_eq!(part.labels[i], u16::from(id));
            }
        }
        let mut all: Vec<u8> = ids(&train).into_iter().chain(ids(&held)).collect();
        all.sort_unstable();
        assert_eq!(all, (0..10).collect::<Vec<u8>>());
        // Original relative order is kept.
        assert!(ids(&train).windows(2).all(|w| w[0] < w[1]));

        assert_eq!(set.split_holdout(3, 42), (train, held));
        let distinct: std::collections::BTreeSet<Vec<u8>> = (0..20)
            .map(|seed| ids(&set.split_holdout(3, seed).1))
            .collect();
        assert!(distinct.len() > 1, "the seed must change the split");
    }

    #[test]
    fn split_holdout_edges() {
        let set = numbered_set(4);
        let (train, held) = set.split_holdout(0, 1);
        assert_eq!((train.len(), held.len()), (4, 0));
        let (train, held) = set.split_holdout(4, 1);
        assert_eq!((train.len(), held.len()), (0, 4));
    }

    #[test]
    fn tensor_holds_bytes_over_255_in_planar_order() {
        let mut set = numbered_set(2);
        // Image 1: R plane 255, G plane 51, B plane 0; pixel (y=0, x=1) of G set to 102.
        set.pixels[IMAGE_LEN..IMAGE_LEN + 1024].fill(255);
        set.pixels[IMAGE_LEN + 1024..IMAGE_LEN + 2048].fill(51);
        set.pixels[IMAGE_LEN + 2048..2 * IMAGE_LEN].fill(0);
        set.pixels[IMAGE_LEN + 1024 + 1] = 102;

        let tensor = set.to_tensor(&[1, 0], &Device::flex());
        assert_eq!(tensor.dims(), [2, 3, 32, 32]);
        let values = tensor.into_data().try_to_vec::<f32>().unwrap();
        let at = |n: usize, c: usize, y: usize, x: usize| values[((n * 3 + c) * 32 + y) * 32 + x];
        assert_eq!(at(0, 0, 5, 7), 1.0);
        assert!((at(0, 1, 0, 0) - 0.2).abs() < 1e-7);
        assert!((at(0, 1, 0, 1) - 0.4).abs() < 1e-7);
        assert_eq!(at(0, 2, 31, 31), 0.0);
        // Image 0 is all zeros.
        assert!(values[IMAGE_LEN..].iter().all(|&v| v == 0.0));
    }

    #[test]
    fn split_parses_and_prints() {
        assert_eq!("train".parse::<Split>(), Ok(Split::Train));
        assert_eq!("test".parse::<Split>(), Ok(Split::Test));
        assert!("val".parse::<Split>().unwrap_err().contains("`val`"));
        assert_eq!(Split::Test.to_string(), "test");
    }

    fn two_image_set() -> ImageSet {
        let mut set = numbered_set(2);
        set.labels = vec![7, 2];
        set
    }

    #[test]
    fn detects_cifar_binary_in_a_subfolder() {
        let scratch = ScratchDir::new("detect-bin");
        let bin = scratch.path().join("cifar-10-batches-bin");
        std::fs::create_dir_all(&bin).unwrap();
        cifar::write_cifar_binary(&bin.join("test_batch.bin"), &two_image_set()).unwrap();

        let loaded = load_dataset(scratch.path(), Split::Test, None).unwrap();
        assert_eq!(loaded.labels, vec![7, 2]);
        assert_eq!(loaded.class_names[7], "horse");
        assert!(loaded.image(1).iter().all(|&b| b == 1));
    }

    #[test]
    fn detects_image_folder_tree() {
        let scratch = ScratchDir::new("detect-folder");
        let class_dir = scratch.path().join("train").join("frog");
        std::fs::create_dir_all(&class_dir).unwrap();
        image::RgbImage::from_pixel(32, 32, image::Rgb([10, 20, 30]))
            .save(class_dir.join("a.png"))
            .unwrap();

        let loaded = load_dataset(scratch.path(), Split::Train, None).unwrap();
        assert_eq!(loaded.labels, vec![0]);
        assert_eq!(loaded.class_names, vec!["frog".to_string()]);
        assert_eq!(loaded.image(0)[0], 10);
        assert_eq!(loaded.image(0)[1024], 20);
        assert_eq!(loaded.image(0)[2048], 30);
    }

    #[test]
    fn unknown_layout_and_missing_dir_are_named() {
        let scratch = ScratchDir::new("detect-none");
        let err = load_dataset(scratch.path(), Split::Test, None).unwrap_err();
        assert!(matches!(err, DataError::UnknownLayout { .. }));
        assert!(err.to_string().contains("test/<class>/"), "{err}");

        let missing = scratch.path().join("nope");
        let err = load_dataset(&missing, Split::Test, None).unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
    }
}
