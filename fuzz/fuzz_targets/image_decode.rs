//! Any bytes as an image file: decoding and preprocessing end in a model input or an error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rna_lens::data::IMAGE_LEN;
use rna_lens::data::preprocess::decode_image;

fuzz_target!(|data: &[u8]| {
    if let Ok(image) = decode_image(data) {
        assert_eq!(image.input.len(), IMAGE_LEN);
        assert!(image.original.width() > 0 && image.original.height() > 0);
    }
});
