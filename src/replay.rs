//! An attack's replay as an animation for slides: one frame per trace step with the clean image,
//! the iterate and its heatmap, captioned with what the attacker's path says at that step; the
//! last frame is the result as saved, with the defender's verdict. APNG keeps every pixel;
//! GIF, which every slide program plays, reduces each frame to 256 colours.

use std::path::Path;
use std::sync::OnceLock;

use image::{GrayImage, Rgba, RgbaImage};

use crate::attack::describe_attack;
use crate::attack::image::{ImageAttack, delta_between};
use crate::base::write_atomically;
use crate::colormap::{self, HeatmapParams};
use crate::data::preprocess::input_to_rgb_image;

/// Screen pixels per image pixel: 32×32 inputs become 256×256 panels.
pub const SCALE: u32 = 8;
const MARGIN: u32 = 8;
const GAP: u32 = 8;
const LINE: u32 = 20;
const GLYPH_WIDTH: u32 = 10;
const BACKGROUND: Rgba<u8> = Rgba([24, 24, 24, 255]);
const TEXT: Rgba<u8> = Rgba([235, 235, 235, 255]);
/// Each step shows this long; the result stays longer.
const STEP_MS: u32 = 400;
const RESULT_MS: u32 = 2500;
/// Lines the step's caption may take under the images (the true class, the colour key and the
/// protocol follow).
const STEP_LINES: usize = 2;

/// How a replay file is encoded, from its extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnimationFormat {
    Gif,
    Apng,
}

impl AnimationFormat {
    pub fn of(path: &Path) -> Result<Self, String> {
        let extension = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase());
        match extension.as_deref() {
            Some("gif") => Ok(AnimationFormat::Gif),
            Some("png" | "apng") => Ok(AnimationFormat::Apng),
            _ => Err(format!(
                "{}: a replay is written as .gif (for slides, 256 colours a frame) or .png/.apng \
                 (animated PNG, every pixel kept)",
                path.display()
            )),
        }
    }
}

/// One frame of the replay, with how long it shows.
pub struct ReplayFrame {
    pub image: RgbaImage,
    pub millis: u32,
}

/// Where panel `index` (0 clean, 1 iterate, 2 heatmap) of a frame starts, and its side.
pub fn panel_rect(side: u32, index: u32) -> (u32, u32, u32) {
    let panel = side * SCALE;
    (MARGIN + index * (panel + GAP), MARGIN + LINE, panel)
}

/// Every frame of the replay of `attack`, the heatmap drawn with `heatmap` (its ε set to the
/// attack's own scale, as the app does).
pub fn replay_frames(
    attack: &ImageAttack,
    class_names: &[String],
    heatmap: &HeatmapParams,
) -> Vec<ReplayFrame> {
    let heatmap = &HeatmapParams {
        eps: attack.pixel_scale(),
        ..*heatmap
    };
    let side = ((attack.clean.len() / 3) as f64).sqrt() as u32;
    let (_, top, panel) = panel_rect(side, 0);
    let width = 2 * MARGIN + 3 * panel + 2 * GAP;
    let columns = ((width - 2 * MARGIN) / GLYPH_WIDTH) as usize;
    let name = |c: usize| class_names.get(c).map_or("?", String::as_str);
    let steps = attack.iterates.len();
    let mut fixed = wrap(
        &format!(
            "true class {}; heatmap: {}",
            name(attack.label),
            heatmap.mode.meaning()
        ),
        columns,
    );
    fixed.extend(wrap(&describe_attack(&attack.config), columns));
    let lines = STEP_LINES + fixed.len();
    let height = top + panel + GAP + lines as u32 * LINE + MARGIN;
    attack
        .iterates
        .iter()
        .enumerate()
        .map(|(i, iterate)| {
            let mut frame = RgbaImage::from_pixel(width, height, BACKGROUND);
            let last = i + 1 == steps;
            let titles = [
                "clean",
                if last {
                    "adversarial (8-bit)"
                } else {
                    "adversarial"
                },
                "heatmap",
            ];
            for (p, title) in titles.iter().enumerate() {
                let (x, _, _) = panel_rect(side, p as u32);
                draw_text(&mut frame, x, MARGIN, title);
            }
            blit_input(&mut frame, &attack.clean, panel_rect(side, 0));
            blit_input(&mut frame, iterate, panel_rect(side, 1));
            let delta = delta_between(iterate, &attack.clean);
            let rgba = colormap::render_heatmap(
                &delta,
                &attack.clean,
                side as usize,
                side as usize,
                SCALE as usize,
                heatmap,
            );
            let (hx, hy, _) = panel_rect(side, 2);
            if let Some(map) = RgbaImage::from_raw(panel, panel, rgba) {
                image::imageops::overlay(&mut frame, &map, hx.into(), hy.into());
            }
            let step = match attack.trace.get(i) {
                Some(t) if !last => format!(
                    "step {i} of {}: the attacker's path says {} ({:.0}% on the true class)",
                    steps - 1,
                    name(t.predicted),
                    100.0 * t.p_true,
                ),
                _ => format!(
                    "result: the defender's path says {} ({})",
                    name(attack.eight_bit_prediction),
                    attack.verdict().describe()
                ),
            };
            let mut lines = wrap(&step, columns);
            lines.truncate(STEP_LINES);
            lines.resize(STEP_LINES, String::new());
            lines.extend(fixed.iter().cloned());
            let caption_top = top + panel + GAP;
            for (n, line) in lines.iter().enumerate() {
                draw_text(&mut frame, MARGIN, caption_top + n as u32 * LINE, line);
            }
            ReplayFrame {
                image: frame,
                millis: if last { RESULT_MS } else { STEP_MS },
            }
        })
        .collect()
}

/// `text` in ASCII (the label font's characters), broken into lines of at most `columns`.
fn wrap(text: &str, columns: usize) -> Vec<String> {
    let ascii = text
        .replace('ε', "eps")
        .replace('α', "alpha")
        .replace('η', "eta")
        .replace('δ', "delta")
        .replace('→', "->")
        .replace('×', "x")
        .replace('≤', "<=")
        .replace(['–', '—'], "-")
        .replace('’', "'");
    let mut lines = vec![String::new()];
    for word in ascii.split_whitespace() {
        let line = lines.last_mut().expect("one line at least");
        if !line.is_empty() && line.len() + 1 + word.len() > columns {
            lines.push(word.to_string());
        } else {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
    }
    lines
}

/// Writes `frames` as a looping animation, in the format the extension names.
pub fn write_replay(frames: &[ReplayFrame], path: &Path) -> Result<(), String> {
    let format = AnimationFormat::of(path)?;
    let first = frames.first().ok_or("the replay has no frames")?;
    let (width, height) = first.image.dimensions();
    let mut bytes = Vec::new();
    match format {
        AnimationFormat::Gif => {
            let mut encoder = image::codecs::gif::GifEncoder::new_with_speed(&mut bytes, 10);
            encoder
                .set_repeat(image::codecs::gif::Repeat::Infinite)
                .map_err(|e| e.to_string())?;
            for f in frames {
                let delay = image::Delay::from_numer_denom_ms(f.millis, 1);
                encoder
                    .encode_frame(image::Frame::from_parts(f.image.clone(), 0, 0, delay))
                    .map_err(|e| e.to_string())?;
            }
        }
        AnimationFormat::Apng => {
            let mut encoder = png::Encoder::new(&mut bytes, width, height);
            encoder.set_color(png::ColorType::Rgba);
            encoder.set_depth(png::BitDepth::Eight);
            let png_error = |e: png::EncodingError| e.to_string();
            encoder
                .set_animated(frames.len() as u32, 0)
                .map_err(png_error)?;
            let mut writer = encoder.write_header().map_err(png_error)?;
            for f in frames {
                writer
                    .set_frame_delay(u16::try_from(f.millis).unwrap_or(u16::MAX), 1000)
                    .map_err(png_error)?;
                writer
                    .write_image_data(f.image.as_raw())
                    .map_err(png_error)?;
            }
            writer.finish().map_err(png_error)?;
        }
    }
    write_atomically(path, &bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// A planar 8-bit model input at `(x, y)`, each pixel a `SCALE`-square block.
fn blit_input(frame: &mut RgbaImage, input: &[u8], (x, y, side): (u32, u32, u32)) {
    let rgba = image::DynamicImage::ImageRgb8(input_to_rgb_image(input)).to_rgba8();
    let block = image::imageops::resize(&rgba, side, side, image::imageops::FilterType::Nearest);
    image::imageops::overlay(frame, &block, x.into(), y.into());
}

/// Printable ASCII of Hack Regular, one 10×20 cell per character from space to `~`
/// (`tools/label-font.py` renders it).
fn font() -> &'static GrayImage {
    static FONT: OnceLock<GrayImage> = OnceLock::new();
    FONT.get_or_init(|| {
        image::load_from_memory(include_bytes!("../assets/fonts/label-font.png"))
            .expect("the embedded label font decodes")
            .into_luma8()
    })
}

/// Draws one line of text with its top-left at `(x, y)`, clipped at the frame's edge. Other
/// characters than printable ASCII are drawn as `?`.
fn draw_text(frame: &mut RgbaImage, x: u32, y: u32, text: &str) {
    let font = font();
    let cell_height = font.height();
    for (n, c) in text.chars().enumerate() {
        let code = if (' '..='~').contains(&c) {
            c as u32
        } else {
            '?' as u32
        };
        let cell_x = (code - 32) * GLYPH_WIDTH;
        let left = x + n as u32 * GLYPH_WIDTH;
        for dy in 0..cell_height {
            for dx in 0..GLYPH_WIDTH {
                let (px, py) = (left + dx, y + dy);
                if px >= frame.width() || py >= frame.height() {
                    continue;
                }
                let coverage = u16::from(font.get_pixel(cell_x + dx, dy)[0]);
                if coverage == 0 {
                    continue;
                }
                let under = *frame.get_pixel(px, py);
                let mix = |i: usize| {
                    ((u16::from(TEXT[i]) * coverage + u16::from(under[i]) * (255 - coverage)) / 255)
                        as u8
                };
                frame.put_pixel(px, py, Rgba([mix(0), mix(1), mix(2), 255]));
            }
        }
    }
}
