//! Helpers shared by the test crates that read what the tool writes.
#![allow(dead_code)] // each test crate uses its own part

/// Decodes every frame of an animated PNG or a GIF.
pub fn animation_frames(path: &std::path::Path) -> Vec<image::RgbaImage> {
    use image::AnimationDecoder;
    let file = std::io::BufReader::new(std::fs::File::open(path).unwrap());
    let frames = if path.extension().unwrap() == "gif" {
        image::codecs::gif::GifDecoder::new(file)
            .unwrap()
            .into_frames()
    } else {
        image::codecs::png::PngDecoder::new(file)
            .unwrap()
            .apng()
            .unwrap()
            .into_frames()
    };
    frames
        .collect_frames()
        .unwrap()
        .into_iter()
        .map(|f| f.into_buffer())
        .collect()
}

/// The second panel of a replay frame, shrunk back to one pixel per image pixel.
pub fn adversarial_panel(frame: &image::RgbaImage) -> image::RgbImage {
    let (x, y, side) = rna_lens::replay::panel_rect(32, 1);
    let scale = rna_lens::replay::SCALE;
    assert_eq!(side, 32 * scale);
    image::RgbImage::from_fn(32, 32, |i, j| {
        let p = frame.get_pixel(x + i * scale + scale / 2, y + j * scale + scale / 2);
        image::Rgb([p[0], p[1], p[2]])
    })
}
