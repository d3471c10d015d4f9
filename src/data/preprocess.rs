//! User images of any size and format → the 32×32 model input.
//!
//! The rules, in the order they apply:
//! 1. The format is guessed from the content, never from the file name, so a PNG saved as
//!    `.jpg` still opens and a text file named `.png` is reported as "not an image".
//!    PNG, JPEG, WebP, BMP, GIF and TIFF are supported.
//! 2. Decoding runs under limits (at most [`MAX_SIDE`]×[`MAX_SIDE`] pixels and
//!    [`MAX_DECODE_BYTES`] of decoded pixels), so a decompression bomb fails with a clear error
//!    instead of exhausting memory.
//! 3. The EXIF orientation is applied, so phone photos appear upright. An unreadable EXIF block
//!    is ignored rather than making the whole image unreadable.
//! 4. Everything becomes 8-bit RGB: grayscale is replicated into three channels, 16-bit and
//!    float samples are rounded to 8 bits, and transparency is composited over white (the usual
//!    background of icons and cut-outs; black would turn them into silhouettes).
//!    Of an animated GIF (or multi-page TIFF) only the first frame is used.
//! 5. The image is centre-cropped to a square of its shorter side (objects are usually centred,
//!    and squashing would distort them), then resized to 32×32 with a triangle (bilinear)
//!    filter, which averages over the source pixels each output pixel covers when shrinking.
//!    A 32×32 image skips the resize, so CIFAR images pass through bit-exactly.
//! 6. The result is stored channel-planar (R plane, G plane, B plane), like CIFAR records.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Cursor, Seek};
use std::path::{Path, PathBuf};

use image::imageops::{self, FilterType};
use image::{
    DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader, Limits, Rgb, RgbImage,
    metadata::Orientation,
};

use super::{IMAGE_LEN, IMAGE_SIZE};

/// Largest accepted width or height, in pixels.
pub const MAX_SIDE: u32 = 16_384;
/// Largest accepted decoded image, in bytes (a 16384×16384 RGBA image would need 1 GiB).
pub const MAX_DECODE_BYTES: u64 = 512 * 1024 * 1024;

const PLANE_LEN: usize = IMAGE_SIZE * IMAGE_SIZE;

/// A decoded user image and the model input made from it.
#[derive(Clone, Debug)]
pub struct UserImage {
    /// The whole picture, upright, 8-bit RGB with transparency flattened: what to display.
    pub original: RgbImage,
    /// The 3×32×32 planar model input.
    pub input: Vec<u8>,
}

/// Why an image could not be used. Messages are one line and name the problem, not the file;
/// callers that know the file name put it in front.
#[derive(Debug, thiserror::Error)]
pub enum ImageLoadError {
    #[error("cannot read {}: {source}", .path.display())]
    Io { path: PathBuf, source: io::Error },

    #[error("the file is empty")]
    Empty,

    #[error("not an image in a supported format (PNG, JPEG, WebP, BMP, GIF, TIFF)")]
    NotAnImage,

    #[error(
        "the image is too large to decode safely (limits: {}×{} pixels, {} MiB): {reason}",
        MAX_SIDE,
        MAX_SIDE,
        MAX_DECODE_BYTES / (1024 * 1024)
    )]
    TooLarge { reason: String },

    #[error("unsupported image: {reason}")]
    Unsupported { reason: String },

    #[error("the image is truncated or corrupt: {reason}")]
    Corrupt { reason: String },
}

/// Decodes an image file and prepares its model input (see the module docs for the rules).
pub fn load_image(path: &Path) -> Result<UserImage, ImageLoadError> {
    let io_error = |source| ImageLoadError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io_error)?;
    if file.metadata().map_err(io_error)?.len() == 0 {
        return Err(ImageLoadError::Empty);
    }
    decode_reader(BufReader::new(file))
}

/// Decodes an image held in memory (drag and drop, the bundled gallery) and prepares its model
/// input (see the module docs for the rules).
pub fn decode_image(bytes: &[u8]) -> Result<UserImage, ImageLoadError> {
    if bytes.is_empty() {
        return Err(ImageLoadError::Empty);
    }
    decode_reader(Cursor::new(bytes))
}

fn decoding_limits() -> Limits {
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    limits
}

fn decode_reader<R: BufRead + Seek>(reader: R) -> Result<UserImage, ImageLoadError> {
    let mut reader = ImageReader::new(reader)
        .with_guessed_format()
        .map_err(|source| ImageLoadError::Corrupt {
            reason: source.to_string(),
        })?;
    if reader.format().is_none() {
        return Err(ImageLoadError::NotAnImage);
    }
    reader.limits(decoding_limits());
    let mut decoder = reader.into_decoder().map_err(classify)?;
    // `into_decoder` checks the dimensions; the pixel buffer itself is checked here, as
    // `ImageReader::decode` would.
    decoding_limits()
        .reserve(decoder.total_bytes())
        .map_err(classify)?;
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let mut decoded = DynamicImage::from_decoder(decoder).map_err(classify)?;
    decoded.apply_orientation(orientation);
    if decoded.width() == 0 || decoded.height() == 0 {
        return Err(ImageLoadError::Corrupt {
            reason: "the image has no pixels".into(),
        });
    }

    let original = flatten_onto_white(&decoded);
    let input = to_model_input(&original);
    Ok(UserImage { original, input })
}

fn classify(error: ImageError) -> ImageLoadError {
    match error {
        ImageError::Limits(limit) => ImageLoadError::TooLarge {
            reason: limit.to_string(),
        },
        ImageError::Unsupported(unsupported) => ImageLoadError::Unsupported {
            reason: unsupported.to_string(),
        },
        ImageError::IoError(io) if io.kind() == io::ErrorKind::UnexpectedEof => {
            ImageLoadError::Corrupt {
                reason: format!("the data ends early ({io})"),
            }
        }
        other => ImageLoadError::Corrupt {
            reason: other.to_string(),
        },
    }
}

/// 8-bit RGB; any transparency is composited over white.
fn flatten_onto_white(image: &DynamicImage) -> RgbImage {
    if !image.color().has_alpha() {
        return image.to_rgb8();
    }
    let rgba = image.to_rgba8();
    RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let [r, g, b, alpha] = rgba.get_pixel(x, y).0;
        Rgb([r, g, b].map(|channel| over_white(channel, alpha)))
    })
}

/// `channel·α + 255·(1 − α)` with α = alpha/255, rounded to nearest.
fn over_white(channel: u8, alpha: u8) -> u8 {
    let (channel, alpha) = (u32::from(channel), u32::from(alpha));
    ((channel * alpha + 255 * (255 - alpha) + 127) / 255) as u8
}

/// Centre-crops to a square, resizes to 32×32 (skipped when already 32×32) and lays the
/// pixels out planar.
///
/// # Panics
/// If the image has no pixels.
pub fn to_model_input(image: &RgbImage) -> Vec<u8> {
    let (width, height) = image.dimensions();
    let side = width.min(height);
    assert!(side > 0, "cannot make a model input from an empty image");
    let square =
        imageops::crop_imm(image, (width - side) / 2, (height - side) / 2, side, side).to_image();
    let target = IMAGE_SIZE as u32;
    let small = if side == target {
        square
    } else {
        imageops::resize(&square, target, target, FilterType::Triangle)
    };

    let mut input = vec![0u8; IMAGE_LEN];
    for (x, y, pixel) in small.enumerate_pixels() {
        let offset = y as usize * IMAGE_SIZE + x as usize;
        for (channel, &value) in pixel.0.iter().enumerate() {
            input[channel * PLANE_LEN + offset] = value;
        }
    }
    input
}

/// A planar 3×32×32 input as an interleaved 32×32 RGB image, for display and saving.
///
/// # Panics
/// If `input` is not [`IMAGE_LEN`] bytes.
pub fn input_to_rgb_image(input: &[u8]) -> RgbImage {
    assert_eq!(input.len(), IMAGE_LEN, "a model input is 3×32×32 bytes");
    let side = IMAGE_SIZE as u32;
    RgbImage::from_fn(side, side, |x, y| {
        let offset = y as usize * IMAGE_SIZE + x as usize;
        Rgb([
            input[offset],
            input[PLANE_LEN + offset],
            input[2 * PLANE_LEN + offset],
        ])
    })
}

/// Saves a planar model input (e.g. an adversarial example) as a lossless 32×32 PNG.
pub fn save_png(input: &[u8], path: &Path) -> io::Result<()> {
    write_png(&DynamicImage::ImageRgb8(input_to_rgb_image(input)), path)
}

/// Encodes a PNG in memory, then writes it atomically: a failed export (disk full, read-only
/// folder) leaves no half-written file behind.
pub fn write_png(image: &DynamicImage, path: &Path) -> io::Result<()> {
    let mut bytes = Cursor::new(Vec::new());
    image
        .write_to(&mut bytes, ImageFormat::Png)
        .map_err(io::Error::other)?;
    crate::base::write_atomically(path, bytes.get_ref())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::test_support::ScratchDir;
    use image::codecs::gif::GifEncoder;
    use image::codecs::png::PngEncoder;
    use image::{ExtendedColorType, Frame, ImageBuffer, ImageEncoder, Luma, Rgba, RgbaImage};

    fn encode(image: &DynamicImage, format: ImageFormat) -> Vec<u8> {
        let mut bytes = Cursor::new(Vec::new());
        image.write_to(&mut bytes, format).unwrap();
        bytes.into_inner()
    }

    /// The (r, g, b) of model-input pixel (x, y).
    fn input_pixel(input: &[u8], x: usize, y: usize) -> [u8; 3] {
        let offset = y * 32 + x;
        [input[offset], input[1024 + offset], input[2048 + offset]]
    }

    /// 32×32 with quadrants: top-left red, top-right green, bottom-left blue, bottom-right white.
    fn quadrants() -> RgbImage {
        RgbImage::from_fn(32, 32, |x, y| match (x < 16, y < 16) {
            (true, true) => Rgb([255, 0, 0]),
            (false, true) => Rgb([0, 255, 0]),
            (true, false) => Rgb([0, 0, 255]),
            (false, false) => Rgb([255, 255, 255]),
        })
    }

    #[test]
    fn a_32x32_png_passes_through_bit_exactly() {
        // Every pixel distinct per channel: r = x*8, g = y*8, b = (x + y) * 4 + 1.
        let image = RgbImage::from_fn(32, 32, |x, y| {
            Rgb([(x * 8) as u8, (y * 8) as u8, ((x + y) * 4 + 1) as u8])
        });
        let png = encode(&DynamicImage::ImageRgb8(image), ImageFormat::Png);
        let loaded = decode_image(&png).unwrap();
        assert_eq!(loaded.original.dimensions(), (32, 32));
        for (x, y) in [(0, 0), (1, 0), (0, 1), (31, 31), (17, 5)] {
            let expected = [(x * 8) as u8, (y * 8) as u8, ((x + y) * 4 + 1) as u8];
            assert_eq!(
                input_pixel(&loaded.input, x, y),
                expected,
                "pixel ({x}, {y})"
            );
        }
        // Planar layout: byte 1 is R of (1, 0); byte 1024 + 32 is G of (0, 1).
        assert_eq!(loaded.input[1], 8);
        assert_eq!(loaded.input[1024 + 32], 8);
    }

    #[test]
    fn wide_image_is_centre_cropped() {
        // 64×32: columns 0..16 and 48..64 green, 16..32 red, 32..48 blue. The centred 32×32
        // square is columns 16..48, so the input is red on the left half, blue on the right,
        // with no green and no resampling.
        let image = RgbImage::from_fn(64, 32, |x, _| match x {
            16..=31 => Rgb([255, 0, 0]),
            32..=47 => Rgb([0, 0, 255]),
            _ => Rgb([0, 255, 0]),
        });
        let loaded =
            decode_image(&encode(&DynamicImage::ImageRgb8(image), ImageFormat::Png)).unwrap();
        assert_eq!(loaded.original.dimensions(), (64, 32));
        for y in 0..32 {
            for x in 0..32 {
                let expected = if x < 16 { [255, 0, 0] } else { [0, 0, 255] };
                assert_eq!(
                    input_pixel(&loaded.input, x, y),
                    expected,
                    "pixel ({x}, {y})"
                );
            }
        }
    }

    #[test]
    fn tall_image_is_centre_cropped() {
        // 32×96: rows 32..64 are the centre square; mark them by a blue top half.
        let image = RgbImage::from_fn(32, 96, |_, y| match y {
            32..=47 => Rgb([0, 0, 255]),
            48..=63 => Rgb([255, 255, 0]),
            _ => Rgb([0, 0, 0]),
        });
        let input = to_model_input(&image);
        assert_eq!(input_pixel(&input, 3, 0), [0, 0, 255]);
        assert_eq!(input_pixel(&input, 3, 15), [0, 0, 255]);
        assert_eq!(input_pixel(&input, 3, 16), [255, 255, 0]);
        assert_eq!(input_pixel(&input, 3, 31), [255, 255, 0]);
    }

    #[test]
    fn downscaling_averages_only_near_an_edge() {
        // 64×64, left half black, right half white. Halving with a triangle filter of radius
        // 2 source pixels: output column x is centred on source 2x + 1, so columns 0..=14 see
        // only black, 17..=31 only white, and 15, 16 straddle the edge.
        let image = RgbImage::from_fn(64, 64, |x, _| {
            if x < 32 {
                Rgb([0, 0, 0])
            } else {
                Rgb([255, 255, 255])
            }
        });
        let input = to_model_input(&image);
        for y in [0, 13, 31] {
            for x in 0..=14 {
                assert_eq!(input_pixel(&input, x, y), [0, 0, 0], "pixel ({x}, {y})");
            }
            for x in 17..=31 {
                assert_eq!(
                    input_pixel(&input, x, y),
                    [255, 255, 255],
                    "pixel ({x}, {y})"
                );
            }
            for x in [15, 16] {
                let [r, _, _] = input_pixel(&input, x, y);
                assert!(r > 0 && r < 255, "pixel ({x}, {y}) = {r}");
            }
        }
    }

    #[test]
    fn uniform_large_image_stays_uniform() {
        let image = RgbImage::from_pixel(300, 200, Rgb([200, 100, 50]));
        let input = to_model_input(&image);
        for (x, y) in [(0, 0), (31, 0), (15, 16), (31, 31)] {
            assert_eq!(input_pixel(&input, x, y), [200, 100, 50]);
        }
    }

    #[test]
    fn transparency_is_composited_over_white() {
        // Opaque black, fully transparent red, half-transparent (128) black, opaque blue.
        // Half-transparent black: 0·128/255 + 255·127/255 = 127.
        let image = RgbaImage::from_fn(32, 32, |x, _| match x {
            0 => Rgba([0, 0, 0, 255]),
            1 => Rgba([255, 0, 0, 0]),
            2 => Rgba([0, 0, 0, 128]),
            _ => Rgba([0, 0, 255, 255]),
        });
        let png = encode(&DynamicImage::ImageRgba8(image), ImageFormat::Png);
        let loaded = decode_image(&png).unwrap();
        assert_eq!(input_pixel(&loaded.input, 0, 4), [0, 0, 0]);
        assert_eq!(input_pixel(&loaded.input, 1, 4), [255, 255, 255]);
        assert_eq!(input_pixel(&loaded.input, 2, 4), [127, 127, 127]);
        assert_eq!(input_pixel(&loaded.input, 3, 4), [0, 0, 255]);
        assert_eq!(loaded.original.get_pixel(1, 0).0, [255, 255, 255]);
    }

    #[test]
    fn sixteen_bit_gray_becomes_8_bit_rgb() {
        // v16 = v8 · 257 maps exactly to v8.
        let image: ImageBuffer<Luma<u16>, Vec<u16>> = ImageBuffer::from_fn(32, 32, |x, _| {
            Luma([if x < 16 { 10 * 257 } else { 200 * 257 }])
        });
        let png = encode(&DynamicImage::ImageLuma16(image), ImageFormat::Png);
        let loaded = decode_image(&png).unwrap();
        assert_eq!(input_pixel(&loaded.input, 0, 0), [10, 10, 10]);
        assert_eq!(input_pixel(&loaded.input, 31, 31), [200, 200, 200]);
    }

    #[test]
    fn exif_orientation_is_applied() {
        // A TIFF-style EXIF block (little endian) with one IFD entry: Orientation (0x0112),
        // type SHORT (3), count 1, value 3 = rotate 180°.
        let exif: Vec<u8> = [
            &b"II*\0"[..],
            &8u32.to_le_bytes(),
            &1u16.to_le_bytes(),
            &0x0112u16.to_le_bytes(),
            &3u16.to_le_bytes(),
            &1u32.to_le_bytes(),
            &3u16.to_le_bytes(),
            &0u16.to_le_bytes(),
            &0u32.to_le_bytes(),
        ]
        .concat();
        let mut png = Vec::new();
        let mut encoder = PngEncoder::new(&mut png);
        encoder.set_exif_metadata(exif).unwrap();
        encoder
            .write_image(quadrants().as_raw(), 32, 32, ExtendedColorType::Rgb8)
            .unwrap();

        // Rotated 180°: top-left white, top-right blue, bottom-left green, bottom-right red.
        let loaded = decode_image(&png).unwrap();
        assert_eq!(input_pixel(&loaded.input, 0, 0), [255, 255, 255]);
        assert_eq!(input_pixel(&loaded.input, 31, 0), [0, 0, 255]);
        assert_eq!(input_pixel(&loaded.input, 0, 31), [0, 255, 0]);
        assert_eq!(input_pixel(&loaded.input, 31, 31), [255, 0, 0]);
    }

    #[test]
    fn lossless_formats_decode_exactly() {
        let image = DynamicImage::ImageRgb8(quadrants());
        for format in [
            ImageFormat::Png,
            ImageFormat::WebP,
            ImageFormat::Bmp,
            ImageFormat::Tiff,
        ] {
            let loaded = decode_image(&encode(&image, format)).unwrap();
            assert_eq!(input_pixel(&loaded.input, 0, 0), [255, 0, 0], "{format:?}");
            assert_eq!(input_pixel(&loaded.input, 31, 0), [0, 255, 0], "{format:?}");
            assert_eq!(input_pixel(&loaded.input, 0, 31), [0, 0, 255], "{format:?}");
            assert_eq!(
                input_pixel(&loaded.input, 31, 31),
                [255, 255, 255],
                "{format:?}"
            );
        }
    }

    #[test]
    fn jpeg_decodes_close_to_the_original() {
        // JPEG is lossy; a flat colour survives within a few levels.
        let image = DynamicImage::ImageRgb8(RgbImage::from_pixel(32, 32, Rgb([200, 100, 50])));
        let loaded = decode_image(&encode(&image, ImageFormat::Jpeg)).unwrap();
        for (x, y) in [(0, 0), (16, 16), (31, 31)] {
            let got = input_pixel(&loaded.input, x, y);
            for (g, e) in got.iter().zip([200u8, 100, 50]) {
                assert!(g.abs_diff(e) <= 4, "pixel ({x}, {y}) = {got:?}");
            }
        }
    }

    #[test]
    fn animated_gif_uses_the_first_frame() {
        let mut gif = Vec::new();
        {
            let mut encoder = GifEncoder::new(&mut gif);
            for colour in [[255, 0, 0, 255], [0, 0, 255, 255]] {
                let frame = Frame::new(RgbaImage::from_pixel(32, 32, Rgba(colour)));
                encoder.encode_frame(frame).unwrap();
            }
        }
        let loaded = decode_image(&gif).unwrap();
        assert_eq!(input_pixel(&loaded.input, 10, 10), [255, 0, 0]);
    }

    #[test]
    fn format_comes_from_content_not_extension() {
        let scratch = ScratchDir::new("preprocess-ext");
        let path = scratch.path().join("really_a_png.jpg");
        let png = encode(&DynamicImage::ImageRgb8(quadrants()), ImageFormat::Png);
        std::fs::write(&path, png).unwrap();
        let loaded = load_image(&path).unwrap();
        assert_eq!(input_pixel(&loaded.input, 0, 0), [255, 0, 0]);
    }

    #[test]
    fn bad_inputs_give_clear_errors() {
        assert!(matches!(decode_image(&[]), Err(ImageLoadError::Empty)));
        assert!(matches!(
            decode_image(b"definitely not an image, just some text"),
            Err(ImageLoadError::NotAnImage)
        ));

        let png = encode(&DynamicImage::ImageRgb8(quadrants()), ImageFormat::Png);
        let truncated = &png[..png.len() / 2];
        let err = decode_image(truncated).unwrap_err();
        assert!(matches!(err, ImageLoadError::Corrupt { .. }), "{err:?}");
        assert!(
            err.to_string()
                .starts_with("the image is truncated or corrupt"),
            "{err}"
        );

        let scratch = ScratchDir::new("preprocess-errors");
        let empty = scratch.path().join("empty.png");
        std::fs::write(&empty, b"").unwrap();
        assert!(matches!(load_image(&empty), Err(ImageLoadError::Empty)));
        let missing = scratch.path().join("missing.png");
        let err = load_image(&missing).unwrap_err();
        assert!(err.to_string().contains("missing.png"), "{err}");
    }

    #[test]
    fn oversized_image_is_refused() {
        // 16385×1 compresses to almost nothing but exceeds the width limit.
        let wide = RgbImage::new(MAX_SIDE + 1, 1);
        let png = encode(&DynamicImage::ImageRgb8(wide), ImageFormat::Png);
        let err = decode_image(&png).unwrap_err();
        assert!(matches!(err, ImageLoadError::TooLarge { .. }), "{err:?}");
        assert!(err.to_string().contains("too large"), "{err}");
    }

    fn fixture(name: &str) -> PathBuf {
        // Written by tests/python/make_image_fixtures.py.
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/images")
            .join(name)
    }

    #[test]
    fn a_decompression_bomb_is_refused_before_decoding() {
        // 48 KB of PNG that would decode to 20,000 × 20,000 pixels (1.2 GB as RGB).
        let err = load_image(&fixture("bomb.png")).unwrap_err();
        assert!(matches!(err, ImageLoadError::TooLarge { .. }), "{err:?}");
    }

    #[test]
    fn palette_png_and_cmyk_jpeg_decode_to_their_colours() {
        // Indexed colour: left half red, right half blue.
        let palette = load_image(&fixture("palette.png")).unwrap();
        assert_eq!(input_pixel(&palette.input, 0, 0), [255, 0, 0]);
        assert_eq!(input_pixel(&palette.input, 31, 31), [0, 0, 255]);
        // CMYK: left half cyan (0, 255, 255), right half yellow (255, 255, 0); JPEG-lossy.
        let cmyk = load_image(&fixture("cmyk.jpg")).unwrap();
        let near = |got: [u8; 3], want: [u8; 3]| {
            got.iter()
                .zip(want)
                .all(|(&g, w)| (g as i32 - w as i32).abs() <= 12)
        };
        let (left, right) = (
            input_pixel(&cmyk.input, 2, 16),
            input_pixel(&cmyk.input, 29, 16),
        );
        assert!(near(left, [0, 255, 255]), "{left:?}");
        assert!(near(right, [255, 255, 0]), "{right:?}");
    }

    #[test]
    fn a_one_pixel_image_fills_the_input() {
        let one = RgbImage::from_pixel(1, 1, Rgb([12, 34, 56]));
        let loaded =
            decode_image(&encode(&DynamicImage::ImageRgb8(one), ImageFormat::Png)).unwrap();
        assert_eq!(loaded.input.len(), IMAGE_LEN);
        assert_eq!(input_pixel(&loaded.input, 0, 0), [12, 34, 56]);
        assert_eq!(input_pixel(&loaded.input, 31, 31), [12, 34, 56]);
        assert_eq!(loaded.original.dimensions(), (1, 1));
    }

    #[test]
    fn planar_input_converts_to_interleaved_and_saves() {
        // R plane = x, G plane = y, B plane = 9.
        let mut input = vec![9u8; IMAGE_LEN];
        for y in 0..32 {
            for x in 0..32 {
                input[y * 32 + x] = x as u8;
                input[1024 + y * 32 + x] = y as u8;
            }
        }
        let rgb = input_to_rgb_image(&input);
        assert_eq!(rgb.get_pixel(5, 7).0, [5, 7, 9]);
        assert_eq!(rgb.get_pixel(31, 0).0, [31, 0, 9]);

        let scratch = ScratchDir::new("preprocess-save");
        let path = scratch.path().join("adv.png");
        save_png(&input, &path).unwrap();
        assert_eq!(load_image(&path).unwrap().input, input);
        let entries = std::fs::read_dir(scratch.path()).unwrap().count();
        assert_eq!(entries, 1, "no temporary file is left behind");

        // A folder that does not exist: an error, and nothing written anywhere.
        let missing = scratch.path().join("no-such-dir").join("adv.png");
        assert!(save_png(&input, &missing).is_err());
        assert!(!missing.exists());
        assert_eq!(std::fs::read_dir(scratch.path()).unwrap().count(), 1);
    }
}
