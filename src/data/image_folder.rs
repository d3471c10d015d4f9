//! Image-folder data sets: `<root>/<split>/<class>/<image>`, the torchvision `ImageFolder`
//! layout that most exported data sets (including our JPEG CIFAR-10) use.
//!
//! - Images are files ending in `.png`, `.jpg`, `.jpeg`, `.webp` or `.bmp` (any case); other
//!   files and hidden folders are ignored.
//! - Without a model's class list, labels follow the alphabetical order of the class folders,
//!   as in torchvision (for CIFAR-10 that equals its label order). With one, each folder is
//!   looked up by name, and a folder the model does not know is an error.
//! - Files are taken in name order within a class, so the set is the same on every run.
//! - Every image goes through [`preprocess`](super::preprocess): 32×32 images pass through
//!   unchanged, other sizes are centre-cropped and resized like user images.
//! - Decoding runs in parallel; the first unreadable file stops the load and is named.

use std::fs;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::preprocess::load_image;
use super::{DataError, IMAGE_LEN, ImageSet, Split};

/// File extensions (lower case) that are read as images.
pub const IMAGE_EXTENSIONS: [&str; 5] = ["png", "jpg", "jpeg", "webp", "bmp"];

/// Loads `<root>/<split>/<class>/*` (see the module docs for the rules).
pub fn load_split(
    root: &Path,
    split: Split,
    classes: Option<&[String]>,
) -> Result<ImageSet, DataError> {
    let split_dir = root.join(split.as_str());
    if !split_dir.is_dir() {
        return Err(DataError::NotFound { path: split_dir });
    }

    let folders = sorted_entries(&split_dir, |path| path.is_dir())?;
    if folders.is_empty() {
        return Err(DataError::NoImages {
            path: split_dir,
            what: "no class folders".into(),
        });
    }
    let class_names: Vec<String> = match classes {
        Some(known) => known.to_vec(),
        None => folders.iter().map(|(name, _)| name.clone()).collect(),
    };

    let mut files: Vec<(PathBuf, u16)> = Vec::new();
    for (name, folder) in &folders {
        let Some(label) = class_names.iter().position(|known| known == name) else {
            return Err(DataError::UnknownClass {
                path: folder.clone(),
                folder: name.clone(),
                known: class_names,
            });
        };
        let label = u16::try_from(label).expect("more than 65,536 classes");
        let images = sorted_entries(folder, |path| path.is_file() && has_image_extension(path))?;
        files.extend(images.into_iter().map(|(_, path)| (path, label)));
    }
    if files.is_empty() {
        return Err(DataError::NoImages {
            path: split_dir,
            what: format!("expected files ending in .{}", IMAGE_EXTENSIONS.join(", .")),
        });
    }

    let mut pixels = vec![0u8; files.len() * IMAGE_LEN];
    pixels
        .par_chunks_mut(IMAGE_LEN)
        .zip(files.par_iter())
        .try_for_each(|(slot, (path, _))| {
            let image = load_image(path).map_err(|source| DataError::UnreadableImage {
                path: path.clone(),
                source,
            })?;
            slot.copy_from_slice(&image.input);
            Ok(())
        })?;

    Ok(ImageSet {
        pixels,
        labels: files.iter().map(|&(_, label)| label).collect(),
        class_names,
    })
}

fn has_image_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|ext| ext.to_str())
        .is_some_and(|ext| {
            IMAGE_EXTENSIONS
                .iter()
                .any(|known| ext.eq_ignore_ascii_case(known))
        })
}

/// The non-hidden entries of `dir` that pass `keep`, as (file name, path), sorted by name.
fn sorted_entries(
    dir: &Path,
    keep: impl Fn(&Path) -> bool,
) -> Result<Vec<(String, PathBuf)>, DataError> {
    let io_error = |source| DataError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut entries = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_error)? {
        let path = entry.map_err(io_error)?.path();
        let name = path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !name.starts_with('.') && keep(&path) {
            entries.push((name, path));
        }
    }
    entries.sort();
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::test_support::ScratchDir;
    use image::{Rgb, RgbImage};

    /// Writes a flat-coloured PNG of the given size.
    fn write_png(path: &Path, width: u32, height: u32, colour: [u8; 3]) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        RgbImage::from_pixel(width, height, Rgb(colour))
            .save_with_format(path, image::ImageFormat::Png)
            .unwrap();
    }

    /// train/cat/{b.png, a.png}, train/airplane/X.PNG (64×64), plus files to ignore.
    fn tiny_tree(scratch: &ScratchDir) -> PathBuf {
        let root = scratch.path().to_path_buf();
        let train = root.join("train");
        write_png(&train.join("cat").join("b.png"), 32, 32, [2, 20, 200]);
        write_png(&train.join("cat").join("a.png"), 32, 32, [1, 10, 100]);
        write_png(&train.join("airplane").join("X.PNG"), 64, 64, [7, 70, 170]);
        fs::write(train.join("cat").join("notes.txt"), "not an image").unwrap();
        fs::create_dir_all(train.join(".cache")).unwrap();
        root
    }

    fn first_pixel(set: &ImageSet, index: usize) -> [u8; 3] {
        let image = set.image(index);
        [image[0], image[1024], image[2048]]
    }

    #[test]
    fn alphabetical_classes_and_sorted_files() {
        let scratch = ScratchDir::new("folder-alpha");
        let root = tiny_tree(&scratch);
        let set = load_split(&root, Split::Train, None).unwrap();

        assert_eq!(
            set.class_names,
            vec!["airplane".to_string(), "cat".to_string()]
        );
        assert_eq!(set.labels, vec![0, 1, 1]);
        // airplane/X.PNG (64×64 flat colour, resized), then cat/a.png, then cat/b.png.
        assert_eq!(first_pixel(&set, 0), [7, 70, 170]);
        assert_eq!(first_pixel(&set, 1), [1, 10, 100]);
        assert_eq!(first_pixel(&set, 2), [2, 20, 200]);
        // Every pixel of a flat image is that colour, in all three planes.
        assert!(set.image(2)[..1024].iter().all(|&b| b == 2));
        assert!(set.image(2)[1024..2048].iter().all(|&b| b == 20));
        assert!(set.image(2)[2048..].iter().all(|&b| b == 200));
    }

    #[test]
    fn model_classes_fix_the_labels() {
        let scratch = ScratchDir::new("folder-model");
        let root = tiny_tree(&scratch);
        let cifar: Vec<String> = crate::data::CIFAR10_CLASSES
            .iter()
            .map(|s| s.to_string())
            .collect();
        let set = load_split(&root, Split::Train, Some(cifar.as_slice())).unwrap();
        assert_eq!(set.labels, vec![0, 3, 3]);
        assert_eq!(set.class_names.len(), 10);
    }

    #[test]
    fn unknown_class_folder_is_named() {
        let scratch = ScratchDir::new("folder-unknown");
        let root = tiny_tree(&scratch);
        let classes = vec!["cat".to_string(), "dog".to_string()];
        let err = load_split(&root, Split::Train, Some(classes.as_slice())).unwrap_err();
        assert!(
            matches!(&err, DataError::UnknownClass { folder, .. } if folder == "airplane"),
            "{err:?}"
        );
        assert!(err.to_string().contains("`airplane`"), "{err}");
        assert!(err.to_string().contains("cat, dog"), "{err}");
    }

    #[test]
    fn unreadable_image_is_named() {
        let scratch = ScratchDir::new("folder-corrupt");
        let root = tiny_tree(&scratch);
        let bad = root.join("train").join("cat").join("c.png");
        fs::write(&bad, "garbage, not a PNG").unwrap();
        let err = load_split(&root, Split::Train, None).unwrap_err();
        assert!(matches!(err, DataError::UnreadableImage { .. }), "{err:?}");
        assert!(err.to_string().contains("c.png"), "{err}");
        assert!(err.to_string().contains("not an image"), "{err}");
    }

    #[test]
    fn missing_split_and_empty_classes_are_errors() {
        let scratch = ScratchDir::new("folder-empty");
        let root = tiny_tree(&scratch);
        let err = load_split(&root, Split::Test, None).unwrap_err();
        assert!(matches!(err, DataError::NotFound { .. }), "{err:?}");

        let empty_class = root.join("test").join("cat");
        fs::create_dir_all(&empty_class).unwrap();
        fs::write(empty_class.join("readme.md"), "no images here").unwrap();
        let err = load_split(&root, Split::Test, None).unwrap_err();
        assert!(matches!(err, DataError::NoImages { .. }), "{err:?}");
    }

    #[test]
    fn extensions_match_case_insensitively() {
        for (name, expected) in [
            ("a.png", true),
            ("b.JPG", true),
            ("c.Jpeg", true),
            ("d.webp", true),
            ("e.BMP", true),
            ("f.gif", false),
            ("g.txt", false),
            ("png", false),
        ] {
            assert_eq!(has_image_extension(Path::new(name)), expected, "{name}");
        }
    }
}
