//! Small drawing helpers shared by the views.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use egui::{Color32, ColorImage, TextureHandle, TextureOptions, Ui, Vec2};

use crate::model::norm::NormKind;

/// Textures by name, re-uploaded only when their content changes, so drawing a frame costs no
/// uploads while nothing changes.
#[derive(Default)]
pub struct Textures {
    cache: HashMap<String, (u64, TextureHandle)>,
}

fn content_hash(bytes: &[u8], extra: usize) -> u64 {
    let mut h = DefaultHasher::new();
    bytes.hash(&mut h);
    extra.hash(&mut h);
    h.finish()
}

impl Textures {
    fn get(
        &mut self,
        ui: &Ui,
        name: &str,
        hash: u64,
        options: TextureOptions,
        make: impl FnOnce() -> ColorImage,
    ) -> TextureHandle {
        if let Some((h, t)) = self.cache.get(name)
            && *h == hash
        {
            return t.clone();
        }
        let texture = ui.ctx().load_texture(name, make(), options);
        self.cache.insert(name.to_string(), (hash, texture.clone()));
        texture
    }

    /// A planar `[3, size, size]` 8-bit image, sampled nearest so model pixels stay crisp.
    pub fn planar(&mut self, ui: &Ui, name: &str, planar: &[u8], size: usize) -> TextureHandle {
        self.get(
            ui,
            name,
            content_hash(planar, size),
            TextureOptions::NEAREST,
            || {
                let plane = size * size;
                let pixels = (0..plane)
                    .map(|i| Color32::from_rgb(planar[i], planar[plane + i], planar[2 * plane + i]))
                    .collect();
                ColorImage::new([size, size], pixels)
            },
        )
    }

    /// An RGB image at its own resolution (the original picture).
    pub fn rgb(&mut self, ui: &Ui, name: &str, rgb: &image::RgbImage) -> TextureHandle {
        let size = [rgb.width() as usize, rgb.height() as usize];
        self.get(
            ui,
            name,
            content_hash(rgb.as_raw(), size[0]),
            TextureOptions::LINEAR,
            || ColorImage::from_rgb(size, rgb.as_raw()),
        )
    }

    /// An RGBA8 buffer (CPU-rendered heatmaps, colour bars).
    pub fn rgba(
        &mut self,
        ui: &Ui,
        name: &str,
        rgba: &[u8],
        width: usize,
        height: usize,
    ) -> TextureHandle {
        self.get(
            ui,
            name,
            content_hash(rgba, width),
            TextureOptions::NEAREST,
            || ColorImage::from_rgba_unmultiplied([width, height], rgba),
        )
    }
}

/// One colour per normalization type, the same in every view.
pub fn norm_colour(kind: NormKind) -> Color32 {
    match kind {
        NormKind::Bn => Color32::from_rgb(66, 133, 244),
        NormKind::In => Color32::from_rgb(234, 134, 47),
        NormKind::Gn(_) => Color32::from_rgb(52, 168, 83),
        NormKind::Gnr(_) => Color32::from_rgb(230, 81, 0),
        NormKind::Gbn(_) => Color32::from_rgb(142, 68, 173),
        NormKind::Gbnr(_) => Color32::from_rgb(0, 150, 136),
    }
}

/// Horizontal bars of the `n` largest probabilities, with class names.
pub fn top_k_bars(
    ui: &mut Ui,
    probabilities: &[f32],
    names: &[String],
    truth: Option<usize>,
    n: usize,
) {
    let mut order: Vec<usize> = (0..probabilities.len()).collect();
    order.sort_by(|&a, &b| probabilities[b].total_cmp(&probabilities[a]));
    for &c in order.iter().take(n) {
        let p = if probabilities[c].is_finite() {
            probabilities[c]
        } else {
            0.0
        };
        let name = names.get(c).map_or("?", String::as_str);
        let colour = if Some(c) == truth {
            Color32::from_rgb(46, 160, 67)
        } else {
            Color32::from_rgb(200, 80, 80)
        };
        ui.horizontal(|ui| {
            ui.add_sized([80.0, 16.0], egui::Label::new(name).truncate());
            let (rect, _) = ui.allocate_exact_size(Vec2::new(140.0, 14.0), egui::Sense::hover());
            ui.painter()
                .rect_filled(rect, 2.0, ui.visuals().extreme_bg_color);
            let mut bar = rect;
            bar.set_width(rect.width() * p.clamp(0.0, 1.0));
            ui.painter().rect_filled(bar, 2.0, colour);
            ui.label(format!("{:5.1}%", 100.0 * p));
        });
    }
}

/// The mean of per-path probability vectors: the ensemble's averaged confidence.
pub fn mean_probabilities(rows: &[Vec<f32>]) -> Vec<f32> {
    let Some(first) = rows.first() else {
        return Vec::new();
    };
    let mut mean = vec![0.0f32; first.len()];
    for row in rows {
        for (m, p) in mean.iter_mut().zip(row) {
            *m += p;
        }
    }
    let n = rows.len() as f32;
    mean.iter_mut().for_each(|m| *m /= n);
    mean
}
