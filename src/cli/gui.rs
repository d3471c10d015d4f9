use std::path::PathBuf;

use clap::Args;

use rna_lens::app::settings::Tab;
use rna_lens::app::{AppOptions, run};
use rna_lens::device::DeviceChoice;

use super::common::typed;

#[derive(Args, Default)]
pub struct GuiArgs {
    /// Model to open (rna-lens `.safetensors` or PyTorch `.pth`); default: the shipped RNA model.
    #[arg(long, short = 'm')]
    model: Option<PathBuf>,
    /// Image to open; default: the first gallery sample.
    #[arg(long, short = 'i')]
    image: Option<PathBuf>,
    /// View to show: attack, layers, paths, ensemble, transfer or compare.
    #[arg(long)]
    view: Option<Tab>,
    /// Once the model is loaded, run the view's job (attack, ensemble, transfer, comparison).
    #[arg(long)]
    attack_on_start: bool,
    /// Save a PNG of the window once everything asked for has finished.
    #[arg(long)]
    screenshot: Option<PathBuf>,
    /// Close the window after the screenshot (or once ready).
    #[arg(long)]
    exit: bool,
    /// Where to compute: auto (a real GPU if present, else CPU), cpu, wgpu, wgpu:N.
    #[arg(long, default_value = "auto", value_parser = typed::<DeviceChoice>)]
    device: DeviceChoice,
    /// Print frame-time statistics when the window closes (repaints continuously).
    #[arg(long)]
    frame_stats: bool,
    /// Start from default settings instead of the stored ones (scripts, screenshots).
    #[arg(long)]
    fresh_settings: bool,
    /// Open in the guided lesson for a class (resumes where it was left).
    #[arg(long)]
    lesson: bool,
    /// Open the lesson at this step (1 to 8).
    #[arg(long, value_name = "STEP", value_parser = clap::value_parser!(u8).range(1..=8))]
    lesson_step: Option<u8>,
    /// Zoom text, images and plots by this factor, e.g. 1.5 for a room (remembered, like Ctrl +/−;
    /// Ctrl 0 resets it).
    #[arg(long, value_name = "FACTOR", value_parser = zoom)]
    zoom: Option<f32>,
    /// White on black with heavier lines, for projectors (remembered; the status bar turns it off).
    #[arg(long)]
    high_contrast: bool,
    /// Start with the side panels hidden (remembered; F9 shows them).
    #[arg(long)]
    no_side_panels: bool,
}

fn zoom(text: &str) -> Result<f32, String> {
    match text.parse::<f32>() {
        Ok(z) if (0.5..=3.0).contains(&z) => Ok(z),
        _ => Err(format!("expected a factor from 0.5 to 3, got '{text}'")),
    }
}

pub fn run_gui(args: GuiArgs) -> anyhow::Result<()> {
    if let Some(path) = &args.screenshot
        && let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
    {
        anyhow::ensure!(
            dir.is_dir(),
            "screenshot folder {} does not exist",
            dir.display()
        );
    }
    run(AppOptions {
        model: args.model,
        image: args.image,
        attack_on_start: args.attack_on_start,
        screenshot: args.screenshot,
        exit: args.exit,
        view: args.view,
        device: args.device,
        frame_stats: args.frame_stats,
        fresh_settings: args.fresh_settings,
        lesson: (args.lesson || args.lesson_step.is_some())
            .then(|| args.lesson_step.map(|s| usize::from(s) - 1)),
        zoom: args.zoom,
        high_contrast: args.high_contrast,
        no_side_panels: args.no_side_panels,
        ..AppOptions::default()
    })
    .map_err(anyhow::Error::msg)
}
