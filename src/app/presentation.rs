//! Presentation mode, for a room: zoom (egui's Ctrl +/−/0, remembered between runs), F11 for
//! full screen, F9 to hide the side panels so the view gets the whole width, and a
//! high-contrast theme for projectors.

use egui::{Color32, Key, Stroke, Ui, ViewportCommand, Visuals};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Presentation {
    /// egui's zoom factor: text, images and plots scale together.
    pub zoom: f32,
    pub high_contrast: bool,
    /// The model/image and attack panels beside the view (F9 hides them).
    pub side_panels: bool,
}

impl Default for Presentation {
    fn default() -> Self {
        Self {
            zoom: 1.0,
            high_contrast: false,
            side_panels: true,
        }
    }
}

impl Presentation {
    /// egui's own keyboard zoom stays within these bounds.
    const ZOOM: std::ops::RangeInclusive<f32> = 0.2..=5.0;

    pub fn sanitize(&mut self) {
        if !(self.zoom.is_finite() && Self::ZOOM.contains(&self.zoom)) {
            self.zoom = 1.0;
        }
    }

    /// The stored look, applied once at start.
    pub fn restore(&self, ctx: &egui::Context) {
        ctx.set_zoom_factor(self.zoom);
        ctx.set_visuals(self.visuals());
    }

    /// Every frame: remembers a zoom changed with the keyboard; F11 toggles full screen, F9 the
    /// side panels.
    pub fn logic(&mut self, ctx: &egui::Context) {
        self.zoom = ctx.zoom_factor();
        if ctx.input(|i| i.key_pressed(Key::F9)) {
            self.side_panels = !self.side_panels;
        }
        if ctx.input(|i| i.key_pressed(Key::F11)) {
            let fullscreen = ctx.input(|i| i.viewport().fullscreen.unwrap_or(false));
            ctx.send_viewport_cmd(ViewportCommand::Fullscreen(!fullscreen));
        }
    }

    /// The status bar's controls.
    pub fn ui(&mut self, ui: &mut Ui) {
        ui.checkbox(&mut self.side_panels, "side panels")
            .on_hover_text(
                "F9: hide the model and attack panels, so the view gets the whole width",
            );
        if ui
            .checkbox(&mut self.high_contrast, "high contrast")
            .on_hover_text("White on black with heavier lines, for projectors")
            .changed()
        {
            ui.ctx().set_visuals(self.visuals());
        }
        ui.label(format!("zoom {:.0}%", 100.0 * self.zoom))
            .on_hover_text("Ctrl + / Ctrl − / Ctrl 0; F11 for full screen");
    }

    fn visuals(&self) -> Visuals {
        if self.high_contrast {
            high_contrast()
        } else {
            Visuals::dark()
        }
    }
}

fn high_contrast() -> Visuals {
    let mut v = Visuals::dark();
    let white = Stroke::new(1.5, Color32::WHITE);
    v.override_text_color = Some(Color32::WHITE);
    v.panel_fill = Color32::BLACK;
    v.window_fill = Color32::BLACK;
    // Bar tracks and text fields stay visible against the black panels.
    v.extreme_bg_color = Color32::from_gray(34);
    v.faint_bg_color = Color32::from_gray(24);
    v.widgets.noninteractive.fg_stroke = white;
    v.widgets.noninteractive.bg_stroke = Stroke::new(1.0, Color32::from_gray(170));
    for w in [
        &mut v.widgets.inactive,
        &mut v.widgets.hovered,
        &mut v.widgets.active,
        &mut v.widgets.open,
    ] {
        w.fg_stroke = white;
        w.bg_stroke = Stroke::new(1.0, Color32::from_gray(200));
    }
    v.widgets.inactive.weak_bg_fill = Color32::from_gray(55);
    v.widgets.inactive.bg_fill = Color32::from_gray(55);
    v.selection.bg_fill = Color32::from_rgb(0, 92, 210);
    v.selection.stroke = white;
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_zoom_out_of_range_is_reset() {
        for bad in [f32::NAN, 0.0, 40.0] {
            let mut p = Presentation {
                zoom: bad,
                ..Presentation::default()
            };
            p.sanitize();
            assert_eq!(p.zoom, 1.0);
        }
        let mut fine = Presentation {
            zoom: 1.5,
            high_contrast: true,
            side_panels: false,
        };
        fine.sanitize();
        assert_eq!(fine.zoom, 1.5);
    }
}
