//! The WGSL heatmap draws the same bytes as the CPU reference (`colormap::render_heatmap`), to
//! within 1/255, for every mode, colormap, opacity and amplification, into both a linear and an
//! sRGB target, and through egui's renderer as the app paints it.
//!
//! Runs wherever a wgpu adapter exists (on a machine without a GPU, Debian's
//! `mesa-vulkan-drivers` provides a software one). With `RNA_LENS_REQUIRE_WGPU=1` a missing
//! adapter fails the test instead of skipping it.
#![cfg(feature = "gui")]

use std::sync::Arc;

use eframe::{egui, egui_wgpu, wgpu};
use egui_kittest::Harness;
use egui_kittest::wgpu::{WgpuTestRenderer, create_render_state, default_wgpu_setup};
use rna_lens::app::heatmap::{
    HeatmapCallback, HeatmapInput, HeatmapPipeline, HeatmapSlot, heatmap_shape, install,
    render_offscreen,
};
use rna_lens::colormap::{Colormap, HeatmapMode, HeatmapParams, render_heatmap};
use rna_lens::device::block_on;
use rna_lens::rng::SeededRng;

const WIDTH: usize = 13;
const HEIGHT: usize = 7;
/// 13·3·4 = 156 bytes a row: not a multiple of 256, so the readback's row padding is exercised.
const SCALE: u32 = 3;
const EPS: f32 = 8.0 / 255.0;

/// A device on any adapter, or `None` (after saying why) when there is none and none is required.
fn device() -> Option<(wgpu::Device, wgpu::Queue)> {
    let instance =
        wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let adapter = match block_on(instance.request_adapter(&Default::default())) {
        Ok(adapter) => adapter,
        Err(e) if std::env::var_os("RNA_LENS_REQUIRE_WGPU").is_none() => {
            eprintln!("skipped: no wgpu adapter ({e})");
            return None;
        }
        Err(e) => panic!("RNA_LENS_REQUIRE_WGPU is set but wgpu is unavailable: {e}"),
    };
    let info = adapter.get_info();
    eprintln!("adapter: {} ({:?})", info.name, info.backend);
    Some(
        block_on(adapter.request_device(&Default::default()))
            .unwrap_or_else(|e| panic!("no device on {}: {e}", info.name)),
    )
}

/// Planar δ in ±1.5ε (so a third of it clamps) with a few exact zeros, and a planar image.
fn data() -> (Vec<f32>, Vec<u8>) {
    let mut rng = SeededRng::new(11);
    let n = 3 * WIDTH * HEIGHT;
    let delta = (0..n)
        .map(|i| {
            if i % 17 == 0 {
                0.0
            } else {
                (rng.next_f32() * 2.0 - 1.0) * 1.5 * EPS
            }
        })
        .collect();
    let image = (0..n).map(|_| rng.below(256) as u8).collect();
    (delta, image)
}

fn all_params() -> impl Iterator<Item = HeatmapParams> {
    HeatmapMode::ALL.into_iter().flat_map(|mode| {
        Colormap::ALL.into_iter().flat_map(move |colormap| {
            [1.0, 0.6].into_iter().flat_map(move |opacity| {
                [1.0, 4.0]
                    .into_iter()
                    .map(move |amplification| HeatmapParams {
                        mode,
                        colormap,
                        amplification,
                        eps: EPS,
                        opacity,
                    })
            })
        })
    })
}

/// Fails with the worst pixel when GPU and CPU differ by more than 1 in any channel.
fn assert_matches(gpu: &[u8], cpu: &[u8], what: &str) {
    assert_eq!(gpu.len(), cpu.len(), "{what}: sizes differ");
    let (worst, index) = gpu
        .iter()
        .zip(cpu)
        .enumerate()
        .map(|(i, (g, c))| (g.abs_diff(*c), i))
        .max()
        .unwrap();
    if worst > 1 {
        let pixel = index / 4;
        let width = WIDTH * SCALE as usize;
        let px = |bytes: &[u8]| bytes[pixel * 4..][..4].to_vec();
        panic!(
            "{what}: pixel ({}, {}) channel {} differs by {worst}: gpu {:?}, cpu {:?}",
            pixel % width,
            pixel / width,
            index % 4,
            px(gpu),
            px(cpu)
        );
    }
}

fn check_every_combination(format: wgpu::TextureFormat) {
    let Some((device, queue)) = device() else {
        return;
    };
    let (delta, image) = data();
    let input = HeatmapInput::new(delta.clone(), image.clone(), WIDTH, HEIGHT).unwrap();
    let pipeline = HeatmapPipeline::new(&device, format).unwrap();
    let mut count = 0;
    for params in all_params() {
        let cpu = render_heatmap(&delta, &image, WIDTH, HEIGHT, SCALE as usize, &params);
        let gpu = pipeline
            .render_offscreen(&device, &queue, &input, &params, SCALE)
            .unwrap();
        assert_matches(&gpu, &cpu, &format!("{format:?} {params:?}"));
        count += 1;
    }
    assert_eq!(count, 5 * 3 * 2 * 2);
}

#[test]
fn gpu_matches_cpu_on_a_linear_target() {
    check_every_combination(wgpu::TextureFormat::Rgba8Unorm);
}

#[test]
fn gpu_matches_cpu_on_an_srgb_target() {
    check_every_combination(wgpu::TextureFormat::Rgba8UnormSrgb);
}

#[test]
fn render_offscreen_builds_its_own_pipeline_and_rejects_bad_input() {
    let Some((device, queue)) = device() else {
        return;
    };
    let (delta, image) = data();
    let input = HeatmapInput::new(delta.clone(), image.clone(), WIDTH, HEIGHT).unwrap();
    let params = HeatmapParams {
        mode: HeatmapMode::Channel(1),
        colormap: Colormap::Diverging,
        opacity: 0.6,
        ..HeatmapParams::default()
    };
    let gpu = render_offscreen(&device, &queue, &input, &params, SCALE).unwrap();
    let cpu = render_heatmap(&delta, &image, WIDTH, HEIGHT, SCALE as usize, &params);
    assert_matches(&gpu, &cpu, "render_offscreen");
    assert!(render_offscreen(&device, &queue, &input, &params, 0).is_err());
    assert!(HeatmapInput::new(delta[1..].to_vec(), image, WIDTH, HEIGHT).is_err());
}

/// Through egui's renderer, as the app draws it: the paint callback's pixels are the CPU
/// reference's, also for a heatmap that hangs off the top-left corner of the screen.
#[test]
fn egui_paint_callback_matches_cpu() {
    if device().is_none() {
        return;
    }
    let render_state = create_render_state(
        default_wgpu_setup(),
        egui_wgpu::RendererOptions::PREDICTABLE,
    );
    install(&render_state).unwrap();
    let (delta, image) = data();
    let input = Arc::new(HeatmapInput::new(delta.clone(), image.clone(), WIDTH, HEIGHT).unwrap());
    let params = HeatmapParams {
        mode: HeatmapMode::MaxAbs,
        colormap: Colormap::Magma,
        opacity: 0.6,
        amplification: 4.0,
        ..HeatmapParams::default()
    };
    let size = egui::vec2(
        (WIDTH as u32 * SCALE) as f32,
        (HEIGHT as u32 * SCALE) as f32,
    );
    let origins = [egui::pos2(50.0, 4.0), egui::pos2(-10.0, -5.0)];
    let screen = (100, 40);
    let mut harness = Harness::builder()
        .with_size(egui::vec2(screen.0 as f32, screen.1 as f32))
        .renderer(WgpuTestRenderer::from_render_state(render_state))
        .build_ui(|ui| {
            let painter = ui.ctx().layer_painter(egui::LayerId::new(
                egui::Order::Foreground,
                egui::Id::unique("heatmaps"),
            ));
            let slots = [HeatmapSlot::CompareOfficial, HeatmapSlot::CompareEot];
            for (key, origin) in slots.into_iter().zip(&origins) {
                painter.add(heatmap_shape(
                    egui::Rect::from_min_size(*origin, size),
                    HeatmapCallback {
                        key,
                        input: Arc::clone(&input),
                        params,
                    },
                ));
            }
        });
    let shot = harness.render().unwrap();

    let cpu = render_heatmap(&delta, &image, WIDTH, HEIGHT, SCALE as usize, &params);
    let cpu_width = WIDTH * SCALE as usize;
    for origin in origins {
        let mut compared = 0;
        for (i, expected) in cpu.chunks_exact(4).enumerate() {
            let x = origin.x as i64 + (i % cpu_width) as i64;
            let y = origin.y as i64 + (i / cpu_width) as i64;
            if !(0..screen.0).contains(&x) || !(0..screen.1).contains(&y) {
                continue;
            }
            let got = shot.get_pixel(x as u32, y as u32).0;
            let worst = got.iter().zip(expected).map(|(g, e)| g.abs_diff(*e)).max();
            assert!(
                worst <= Some(1),
                "heatmap at {origin:?}, screen pixel ({x}, {y}): egui {got:?}, cpu {expected:?}"
            );
            compared += 1;
        }
        assert!(
            compared > 100,
            "only {compared} pixels of the heatmap at {origin:?} on screen"
        );
    }
}
