//! What every layer of the engine shares and that depends on nothing else in the crate: CIFAR-10's
//! class names, the content checksum model files and evaluation journals carry, and atomic file
//! writes. Keeping them here lets `model` and `data` use them without depending on each other.

use std::io::{self, Write};
use std::path::Path;

/// CIFAR-10 class names in label order.
pub const CIFAR10_CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

/// The checksum as model files store it (`fnv1a64:` and 16 hex digits): it detects corrupted
/// weights; it is not a security measure.
pub fn checksum(bytes: &[u8]) -> String {
    format!("fnv1a64:{:016x}", crate::rng::fnv1a64(bytes))
}

/// Writes `bytes` to a temporary file beside `path`, syncs it and renames it over `path`: a crash
/// or a full disk leaves the old file or the new one, never half of one.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file name"))?;
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
