//! The CIFAR-10 binary release, which is what users download from the CIFAR site.
//!
//! `data_batch_1.bin` … `data_batch_5.bin` hold the training set and `test_batch.bin` the test
//! set. Each record is 1 label byte followed by 3072 pixel bytes: the R, G and B planes of a
//! 32×32 image, row-major. `batches.meta.txt` lists the class names, one per line.
//!
//! The reader is strict: a file whose size is not a whole number of records, or a label with no
//! class, is an error rather than something to skip, since either means the wrong file.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::{CIFAR10_CLASSES, DataError, IMAGE_LEN, ImageSet, Split};

/// Bytes per record: one label byte, then the planar pixels.
pub const RECORD_LEN: usize = 1 + IMAGE_LEN;

/// The folder the official archive unpacks to.
pub const ARCHIVE_FOLDER: &str = "cifar-10-batches-bin";

const TRAIN_FILES: [&str; 5] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
];
const TEST_FILES: [&str; 1] = ["test_batch.bin"];
const META_FILE: &str = "batches.meta.txt";

/// The batch files of a split, in the order their records are concatenated.
pub fn split_files(split: Split) -> &'static [&'static str] {
    match split {
        Split::Train => &TRAIN_FILES,
        Split::Test => &TEST_FILES,
    }
}

/// The folder holding the batch files: `dir` itself or `dir/cifar-10-batches-bin`, whichever
/// contains `data_batch_1.bin` or `test_batch.bin`.
pub fn find_binary_dir(dir: &Path) -> Option<PathBuf> {
    [dir.to_path_buf(), dir.join(ARCHIVE_FOLDER)]
        .into_iter()
        .find(|candidate| {
            candidate.join(TRAIN_FILES[0]).is_file() || candidate.join(TEST_FILES[0]).is_file()
        })
}

/// Reads every batch file of `split` from `dir`.
///
/// Class names come from `batches.meta.txt` when present, else [`CIFAR10_CLASSES`]. With
/// `classes` (a model's class list), labels must index that list, and a meta file that names
/// different classes is an error.
pub fn load_split(
    dir: &Path,
    split: Split,
    classes: Option<&[String]>,
) -> Result<ImageSet, DataError> {
    let meta_path = dir.join(META_FILE);
    let file_names = read_class_names(&meta_path)?;
    let class_names = match (classes, file_names) {
        (Some(expected), Some(found)) if found != expected => {
            return Err(DataError::ClassMismatch {
                path: meta_path,
                found,
                expected: expected.to_vec(),
            });
        }
        (Some(expected), _) => expected.to_vec(),
        (None, Some(found)) => found,
        (None, None) => CIFAR10_CLASSES
            .iter()
            .map(|name| name.to_string())
            .collect(),
    };

    let mut set = ImageSet {
        pixels: Vec::new(),
        labels: Vec::new(),
        class_names,
    };
    for file in split_files(split) {
        read_batch(&dir.join(file), &mut set)?;
    }
    Ok(set)
}

/// Appends the records of one batch file to `set`, checking labels against its class names.
pub fn read_batch(path: &Path, set: &mut ImageSet) -> Result<(), DataError> {
    let bytes = fs::read(path).map_err(|source| match source.kind() {
        io::ErrorKind::NotFound => DataError::NotFound {
            path: path.to_path_buf(),
        },
        _ => DataError::Io {
            path: path.to_path_buf(),
            source,
        },
    })?;
    if bytes.is_empty() {
        return Err(DataError::NoImages {
            path: path.to_path_buf(),
            what: "the file is empty".into(),
        });
    }
    if bytes.len() % RECORD_LEN != 0 {
        return Err(DataError::BadSize {
            path: path.to_path_buf(),
            size: bytes.len() as u64,
        });
    }

    let num_classes = set.class_names.len();
    set.pixels.reserve(bytes.len() / RECORD_LEN * IMAGE_LEN);
    for (record, chunk) in bytes.chunks_exact(RECORD_LEN).enumerate() {
        let label = u16::from(chunk[0]);
        if usize::from(label) >= num_classes {
            return Err(DataError::LabelOutOfRange {
                path: path.to_path_buf(),
                record,
                label,
                num_classes,
            });
        }
        set.labels.push(label);
        set.pixels.extend_from_slice(&chunk[1..]);
    }
    Ok(())
}

/// Class names from `batches.meta.txt` (one per line, blank lines ignored); `None` if the file
/// does not exist.
fn read_class_names(path: &Path) -> Result<Option<Vec<String>>, DataError> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(
            text.lines()
                .map(str::trim)
                .filter(|line| !line.is_empty())
                .map(String::from)
                .collect(),
        )),
        Err(source) if source.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(DataError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Writes `set` as one CIFAR-10 binary batch file (tests use it to make fixtures; users can use
/// it to export adversarial examples in the format other tools read).
pub fn write_cifar_binary(path: &Path, set: &ImageSet) -> io::Result<()> {
    let mut out = io::BufWriter::new(fs::File::create(path)?);
    for index in 0..set.len() {
        let label = u8::try_from(set.labels[index]).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "label {} of image {index} does not fit in CIFAR's one label byte",
                    set.labels[index]
                ),
            )
        })?;
        out.write_all(&[label])?;
        out.write_all(set.image(index))?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::test_support::ScratchDir;

    fn names() -> Vec<String> {
        CIFAR10_CLASSES.iter().map(|s| s.to_string()).collect()
    }

    /// A record written by hand: label, then pixel byte k = (k * 7 + seed) mod 256.
    fn hand_record(label: u8, seed: u8) -> Vec<u8> {
        let mut record = vec![label];
        record.extend((0..IMAGE_LEN).map(|k| (k as u8).wrapping_mul(7).wrapping_add(seed)));
        record
    }

    #[test]
    fn reads_hand_written_records() {
        let scratch = ScratchDir::new("cifar-hand");
        let mut bytes = hand_record(9, 0);
        bytes.extend(hand_record(0, 3));
        fs::write(scratch.path().join("test_batch.bin"), &bytes).unwrap();

        let set = load_split(scratch.path(), Split::Test, None).unwrap();
        assert_eq!(set.labels, vec![9, 0]);
        assert_eq!(set.class_names[9], "truck");
        let first = set.image(0);
        // R plane, pixel (y=0, x=1) is byte k=1: 7. G plane starts at k=1024: 1024*7 mod 256 = 0.
        assert_eq!(first[1], 7);
        assert_eq!(first[1024], 0);
        // B plane, last pixel, k=3071: 3071*7 = 21497 = 83*256 + 249.
        assert_eq!(first[3071], 249);
        // Second record is offset by 3.
        assert_eq!(set.image(1)[0], 3);
        assert_eq!(set.image(1)[1], 10);
    }

    #[test]
    fn writer_produces_the_record_layout() {
        let scratch = ScratchDir::new("cifar-write");
        let set = ImageSet {
            pixels: [vec![5u8; IMAGE_LEN], vec![6u8; IMAGE_LEN]].concat(),
            labels: vec![4, 8],
            class_names: names(),
        };
        let path = scratch.path().join("out.bin");
        write_cifar_binary(&path, &set).unwrap();
        let bytes = fs::read(&path).unwrap();
        assert_eq!(bytes.len(), 2 * 3073);
        assert_eq!(bytes[0], 4);
        assert!(bytes[1..3073].iter().all(|&b| b == 5));
        assert_eq!(bytes[3073], 8);
        assert!(bytes[3074..].iter().all(|&b| b == 6));

        let mut read = ImageSet {
            pixels: Vec::new(),
            labels: Vec::new(),
            class_names: names(),
        };
        read_batch(&path, &mut read).unwrap();
        assert_eq!(read, set);
    }

    #[test]
    fn train_split_concatenates_five_batches_in_order() {
        let scratch = ScratchDir::new("cifar-train");
        for (i, file) in TRAIN_FILES.iter().enumerate() {
            let mut bytes = hand_record(i as u8, i as u8);
            bytes.extend(hand_record(i as u8 + 5, 100));
            fs::write(scratch.path().join(file), bytes).unwrap();
        }
        let set = load_split(scratch.path(), Split::Train, None).unwrap();
        assert_eq!(set.labels, vec![0, 5, 1, 6, 2, 7, 3, 8, 4, 9]);
        assert_eq!(set.image(4)[0], 2);
        assert_eq!(set.image(5)[0], 100);
    }

    #[test]
    fn missing_train_batch_is_named() {
        let scratch = ScratchDir::new("cifar-missing");
        fs::write(scratch.path().join("data_batch_1.bin"), hand_record(1, 1)).unwrap();
        let err = load_split(scratch.path(), Split::Train, None).unwrap_err();
        assert!(matches!(err, DataError::NotFound { .. }));
        assert!(err.to_string().contains("data_batch_2.bin"), "{err}");
    }

    #[test]
    fn truncated_file_is_rejected_with_its_size() {
        let scratch = ScratchDir::new("cifar-truncated");
        let mut bytes = hand_record(1, 0);
        bytes.extend(&hand_record(2, 0)[..1000]);
        fs::write(scratch.path().join("test_batch.bin"), &bytes).unwrap();

        let err = load_split(scratch.path(), Split::Test, None).unwrap_err();
        assert!(
            matches!(err, DataError::BadSize { size: 4073, .. }),
            "{err:?}"
        );
        let message = err.to_string();
        assert!(
            message.contains("is 4073 bytes, not a multiple of 3073"),
            "{message}"
        );
        assert!(message.contains("test_batch.bin"), "{message}");
    }

    #[test]
    fn empty_file_is_rejected() {
        let scratch = ScratchDir::new("cifar-empty");
        fs::write(scratch.path().join("test_batch.bin"), b"").unwrap();
        let err = load_split(scratch.path(), Split::Test, None).unwrap_err();
        assert!(matches!(err, DataError::NoImages { .. }), "{err:?}");
    }

    #[test]
    fn label_beyond_the_classes_is_rejected() {
        let scratch = ScratchDir::new("cifar-label");
        let mut bytes = hand_record(3, 0);
        bytes.extend(hand_record(10, 0));
        fs::write(scratch.path().join("test_batch.bin"), &bytes).unwrap();

        let err = load_split(scratch.path(), Split::Test, None).unwrap_err();
        assert!(
            matches!(
                err,
                DataError::LabelOutOfRange {
                    record: 1,
                    label: 10,
                    num_classes: 10,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn meta_file_names_classes_and_must_match_the_model() {
        let scratch = ScratchDir::new("cifar-meta");
        fs::write(scratch.path().join("test_batch.bin"), hand_record(1, 0)).unwrap();
        fs::write(scratch.path().join(META_FILE), "left\nright\n\n").unwrap();

        let set = load_split(scratch.path(), Split::Test, None).unwrap();
        assert_eq!(
            set.class_names,
            vec!["left".to_string(), "right".to_string()]
        );

        let err = load_split(scratch.path(), Split::Test, Some(names().as_slice())).unwrap_err();
        assert!(matches!(err, DataError::ClassMismatch { .. }), "{err:?}");
        assert!(err.to_string().contains("left, right"), "{err}");
    }

    #[test]
    fn model_classes_bound_the_labels() {
        let scratch = ScratchDir::new("cifar-model-classes");
        fs::write(scratch.path().join("test_batch.bin"), hand_record(2, 0)).unwrap();
        let two = vec!["a".to_string(), "b".to_string()];
        let err = load_split(scratch.path(), Split::Test, Some(two.as_slice())).unwrap_err();
        assert!(
            matches!(err, DataError::LabelOutOfRange { num_classes: 2, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn finds_the_archive_subfolder() {
        let scratch = ScratchDir::new("cifar-find");
        assert_eq!(find_binary_dir(scratch.path()), None);
        let inner = scratch.path().join(ARCHIVE_FOLDER);
        fs::create_dir_all(&inner).unwrap();
        fs::write(inner.join("data_batch_1.bin"), hand_record(0, 0)).unwrap();
        assert_eq!(find_binary_dir(scratch.path()), Some(inner));
    }

    #[test]
    fn label_too_wide_for_a_byte_cannot_be_written() {
        let scratch = ScratchDir::new("cifar-wide-label");
        let set = ImageSet {
            pixels: vec![0; IMAGE_LEN],
            labels: vec![300],
            class_names: (0..301).map(|i| i.to_string()).collect(),
        };
        let err = write_cifar_binary(&scratch.path().join("x.bin"), &set).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }
}
