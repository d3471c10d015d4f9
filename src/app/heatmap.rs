//! The live perturbation heatmap: `shaders/heatmap.wgsl` drawn by an egui paint callback.
//!
//! The shader repeats [`crate::colormap`]'s formulas, so the screen matches the CPU reference
//! (and PNG export) to 1/255; [`render_offscreen`] draws into a texture and reads it back so
//! that tests can check that. The perturbation is uploaded as a small texture, which works
//! whichever burn backend produced it.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use eframe::egui;
use eframe::egui_wgpu;
use eframe::wgpu;

use crate::colormap::{Colormap, HeatmapMode, HeatmapParams};
use crate::device::block_on;

const SHADER: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/shaders/heatmap.wgsl"));

/// The shader's `Params` uniform, field for field (`shaders/heatmap.wgsl`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
struct ParamsUniform {
    /// A [`ShaderMode`].
    mode: u32,
    /// The channel `ShaderMode::Channel` reads (0 = R, 1 = G, 2 = B).
    channel: u32,
    /// A [`ShaderColormap`].
    colormap: u32,
    /// 1 when the target format is sRGB: the hardware then encodes what the shader writes.
    linear_output: u32,
    amplification: f32,
    eps: f32,
    opacity: f32,
    /// Uniform structs are padded to 16 bytes.
    _pad: u32,
}

/// `Params.mode` in the shader.
#[repr(u32)]
enum ShaderMode {
    MaxAbs = 0,
    L2 = 1,
    Channel = 2,
}

/// `Params.colormap` in the shader.
#[repr(u32)]
enum ShaderColormap {
    Viridis = 0,
    Magma = 1,
    Diverging = 2,
}

const UNIFORM_SIZE: u64 = std::mem::size_of::<ParamsUniform>() as u64;
const _: () = assert!(UNIFORM_SIZE == 32, "the WGSL Params struct is 32 bytes");

/// One perturbation and the image it was added to, checked when built.
pub struct HeatmapInput {
    /// Planar `[3, H, W]`, pixel units.
    delta: Vec<f32>,
    /// Planar `[3, H, W]`.
    image: Vec<u8>,
    width: u32,
    height: u32,
}

impl HeatmapInput {
    /// `delta` (pixel units) and `image` are planar `[3, height, width]`.
    pub fn new(
        delta: Vec<f32>,
        image: Vec<u8>,
        width: usize,
        height: usize,
    ) -> Result<Self, String> {
        let plane = width * height;
        if plane == 0 {
            return Err(format!("empty heatmap ({width}×{height})"));
        }
        if delta.len() != 3 * plane || image.len() != 3 * plane {
            return Err(format!(
                "heatmap {width}×{height} needs 3·{plane} values, got δ {} and image {}",
                delta.len(),
                image.len()
            ));
        }
        let (Ok(w), Ok(h)) = (u32::try_from(width), u32::try_from(height)) else {
            return Err(format!("heatmap {width}×{height} is too large"));
        };
        Ok(Self {
            delta,
            image,
            width: w,
            height: h,
        })
    }

    pub fn width(&self) -> usize {
        self.width as usize
    }

    pub fn height(&self) -> usize {
        self.height as usize
    }

    fn extent(&self) -> wgpu::Extent3d {
        wgpu::Extent3d {
            width: self.width,
            height: self.height,
            depth_or_array_layers: 1,
        }
    }

    /// Identifies the data, so that textures are re-uploaded only when it changed: callers
    /// may rebuild the input every frame.
    fn fingerprint(&self) -> u64 {
        let mut hasher = std::hash::DefaultHasher::new();
        (self.width, self.height).hash(&mut hasher);
        for v in &self.delta {
            hasher.write_u32(v.to_bits());
        }
        hasher.write(&self.image);
        hasher.finish()
    }

    /// δ interleaved as RGBA32F (alpha unused), the layout the shader's texture has.
    fn delta_texels(&self) -> Vec<u8> {
        let plane = self.width() * self.height();
        (0..plane)
            .flat_map(|i| {
                let d = [
                    self.delta[i],
                    self.delta[plane + i],
                    self.delta[2 * plane + i],
                    0.0,
                ];
                d.into_iter().flat_map(f32::to_ne_bytes)
            })
            .collect()
    }

    /// The image interleaved as RGBA8.
    fn image_texels(&self) -> Vec<u8> {
        let plane = self.width() * self.height();
        (0..plane)
            .flat_map(|i| {
                [
                    self.image[i],
                    self.image[plane + i],
                    self.image[2 * plane + i],
                    255,
                ]
            })
            .collect()
    }
}

/// GPU copies of one [`HeatmapInput`] and its parameters.
struct Slot {
    /// The fingerprint of the data the textures hold; `None` until the first upload.
    fingerprint: Option<u64>,
    extent: wgpu::Extent3d,
    delta: wgpu::Texture,
    image: wgpu::Texture,
    uniforms: wgpu::Buffer,
    bind_group: wgpu::BindGroup,
}

impl Slot {
    fn new(device: &wgpu::Device, layout: &wgpu::BindGroupLayout, extent: wgpu::Extent3d) -> Self {
        let texture = |label, format| {
            device.create_texture(&wgpu::TextureDescriptor {
                label: Some(label),
                size: extent,
                mip_level_count: 1,
                sample_count: 1,
                dimension: wgpu::TextureDimension::D2,
                format,
                usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
                view_formats: &[],
            })
        };
        let delta = texture("heatmap δ", wgpu::TextureFormat::Rgba32Float);
        let image = texture("heatmap image", wgpu::TextureFormat::Rgba8Unorm);
        let uniforms = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("heatmap params"),
            size: UNIFORM_SIZE,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("heatmap"),
            layout,
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: uniforms.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: wgpu::BindingResource::TextureView(
                        &delta.create_view(&Default::default()),
                    ),
                },
                wgpu::BindGroupEntry {
                    binding: 2,
                    resource: wgpu::BindingResource::TextureView(
                        &image.create_view(&Default::default()),
                    ),
                },
            ],
        });
        Self {
            fingerprint: None,
            extent,
            delta,
            image,
            uniforms,
            bind_group,
        }
    }

    /// Uploads the input's data unless these textures already hold it.
    /// `input` must have this slot's extent.
    fn upload(&mut self, queue: &wgpu::Queue, input: &HeatmapInput) {
        let fingerprint = input.fingerprint();
        if self.fingerprint == Some(fingerprint) {
            return;
        }
        let write = |texture: &wgpu::Texture, data: &[u8], bytes_per_texel: u32| {
            queue.write_texture(
                texture.as_image_copy(),
                data,
                wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(self.extent.width * bytes_per_texel),
                    rows_per_image: None,
                },
                self.extent,
            );
        };
        write(&self.delta, &input.delta_texels(), 16);
        write(&self.image, &input.image_texels(), 4);
        self.fingerprint = Some(fingerprint);
    }
}

/// Where a heatmap is shown: each place keeps its own GPU copy (textures and uniforms), so
/// two heatmaps on screen at once never overwrite each other's data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HeatmapSlot {
    /// The Attack view's.
    Attack,
    /// The Compare view's official side.
    CompareOfficial,
    /// The Compare view's EOT side.
    CompareEot,
}

/// The heatmap's render pipeline for one target format, and the GPU copies of the heatmaps
/// currently shown, one per [`HeatmapSlot`].
pub struct HeatmapPipeline {
    pipeline: wgpu::RenderPipeline,
    bind_group_layout: wgpu::BindGroupLayout,
    target_format: wgpu::TextureFormat,
    /// The device's `max_texture_dimension_2d`, which bounds the viewports we may set.
    max_dimension: u32,
    slots: HashMap<HeatmapSlot, Slot>,
    /// Errors met while preparing frames, each kept once until the app shows it: a failing
    /// heatmap fails again every frame.
    errors: ErrorLog,
}

/// Distinct messages, each handed out once.
#[derive(Default)]
struct ErrorLog {
    seen: std::collections::HashSet<String>,
    unshown: Vec<String>,
}

impl ErrorLog {
    fn record(&mut self, message: String) {
        if self.seen.insert(message.clone()) {
            self.unshown.push(message);
        }
    }

    fn take(&mut self) -> Vec<String> {
        std::mem::take(&mut self.unshown)
    }
}

impl HeatmapPipeline {
    /// Builds the pipeline for `target_format` (single-sampled, no depth buffer: what eframe
    /// uses unless its `multisampling` or `depth_buffer` options are set). Shader or pipeline
    /// validation errors are returned.
    pub fn new(device: &wgpu::Device, target_format: wgpu::TextureFormat) -> Result<Self, String> {
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let shader = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("heatmap.wgsl"),
            source: wgpu::ShaderSource::Wgsl(SHADER.into()),
        });
        let texture_entry = |binding| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::FRAGMENT,
            ty: wgpu::BindingType::Texture {
                sample_type: wgpu::TextureSampleType::Float { filterable: false },
                view_dimension: wgpu::TextureViewDimension::D2,
                multisampled: false,
            },
            count: None,
        };
        let bind_group_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("heatmap"),
            entries: &[
                wgpu::BindGroupLayoutEntry {
                    binding: 0,
                    visibility: wgpu::ShaderStages::FRAGMENT,
                    ty: wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Uniform,
                        has_dynamic_offset: false,
                        min_binding_size: wgpu::BufferSize::new(UNIFORM_SIZE),
                    },
                    count: None,
                },
                texture_entry(1),
                texture_entry(2),
            ],
        });
        let layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("heatmap"),
            bind_group_layouts: &[Some(&bind_group_layout)],
            immediate_size: 0,
        });
        let pipeline = device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
            label: Some("heatmap"),
            layout: Some(&layout),
            vertex: wgpu::VertexState {
                module: &shader,
                entry_point: Some("vs_main"),
                compilation_options: Default::default(),
                buffers: &[],
            },
            primitive: wgpu::PrimitiveState {
                topology: wgpu::PrimitiveTopology::TriangleStrip,
                ..Default::default()
            },
            depth_stencil: None,
            multisample: wgpu::MultisampleState::default(),
            fragment: Some(wgpu::FragmentState {
                module: &shader,
                entry_point: Some("fs_main"),
                compilation_options: Default::default(),
                targets: &[Some(wgpu::ColorTargetState {
                    format: target_format,
                    blend: None,
                    write_mask: wgpu::ColorWrites::ALL,
                })],
            }),
            multiview_mask: None,
            cache: None,
        });
        if let Some(error) = block_on(scope.pop()) {
            return Err(format!("heatmap pipeline ({target_format:?}): {error}"));
        }
        Ok(Self {
            pipeline,
            bind_group_layout,
            target_format,
            max_dimension: device.limits().max_texture_dimension_2d,
            slots: HashMap::new(),
            errors: ErrorLog::default(),
        })
    }

    /// Errors not yet shown to the user, each distinct message once.
    pub fn take_errors(&mut self) -> Vec<String> {
        self.errors.take()
    }

    pub fn target_format(&self) -> wgpu::TextureFormat {
        self.target_format
    }

    /// Makes the heatmap `key` ready to paint: uploads `input` unless its data is already on
    /// the GPU for this key, and writes `params` every time (they change with every slider).
    /// An input too large for the device is an error, and `key` then paints nothing.
    pub fn prepare(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        key: HeatmapSlot,
        input: &HeatmapInput,
        params: &HeatmapParams,
    ) -> Result<(), String> {
        let extent = match self.texture_extent(input) {
            Ok(extent) => extent,
            Err(e) => {
                self.slots.remove(&key);
                return Err(e);
            }
        };
        let slot = match self.slots.entry(key) {
            Entry::Occupied(slot) if slot.get().extent == extent => slot.into_mut(),
            entry => {
                let slot = Slot::new(device, &self.bind_group_layout, extent);
                match entry {
                    Entry::Occupied(mut old) => {
                        old.insert(slot);
                        old.into_mut()
                    }
                    Entry::Vacant(vacant) => vacant.insert(slot),
                }
            }
        };
        slot.upload(queue, input);
        queue.write_buffer(
            &slot.uniforms,
            0,
            bytemuck::bytes_of(&ParamsUniform::new(params, self.target_format.is_srgb())),
        );
        Ok(())
    }

    /// Draws heatmap `key` over the render pass's whole viewport; nothing if `key` was never
    /// prepared.
    pub fn paint(&self, render_pass: &mut wgpu::RenderPass<'static>, key: HeatmapSlot) {
        if let Some(slot) = self.slots.get(&key) {
            self.draw(render_pass, slot);
        }
    }

    /// Frees the GPU copies of heatmap `key` (e.g. when its view closes).
    pub fn remove(&mut self, key: HeatmapSlot) {
        self.slots.remove(&key);
    }

    /// The input's texture size, checked against the device's limit.
    fn texture_extent(&self, input: &HeatmapInput) -> Result<wgpu::Extent3d, String> {
        let extent = input.extent();
        if extent.width.max(extent.height) > self.max_dimension {
            return Err(format!(
                "heatmap {}×{} exceeds the GPU's {} pixels a side",
                extent.width, extent.height, self.max_dimension
            ));
        }
        Ok(extent)
    }

    fn draw(&self, render_pass: &mut wgpu::RenderPass<'static>, slot: &Slot) {
        render_pass.set_pipeline(&self.pipeline);
        render_pass.set_bind_group(0, &slot.bind_group, &[]);
        render_pass.draw(0..4, 0..1);
    }

    /// Renders `input` at `scale`× into a texture of this pipeline's format, which must be
    /// `Rgba8Unorm` or `Rgba8UnormSrgb`, and returns its RGBA8 bytes, rows top to bottom.
    pub fn render_offscreen(
        &self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        input: &HeatmapInput,
        params: &HeatmapParams,
        scale: u32,
    ) -> Result<Vec<u8>, String> {
        use wgpu::TextureFormat::{Rgba8Unorm, Rgba8UnormSrgb};
        if !matches!(self.target_format, Rgba8Unorm | Rgba8UnormSrgb) {
            return Err(format!("cannot read back {:?}", self.target_format));
        }
        let input_extent = self.texture_extent(input)?;
        let size = |n: u32| {
            n.checked_mul(scale)
                .filter(|&s| s > 0 && s <= self.max_dimension)
        };
        let (Some(width), Some(height)) = (size(input_extent.width), size(input_extent.height))
        else {
            return Err(format!(
                "{}×{} at scale {scale} is outside 1..={} pixels a side",
                input.width, input.height, self.max_dimension
            ));
        };
        let extent = wgpu::Extent3d {
            width,
            height,
            depth_or_array_layers: 1,
        };

        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let mut slot = Slot::new(device, &self.bind_group_layout, input_extent);
        slot.upload(queue, input);
        queue.write_buffer(
            &slot.uniforms,
            0,
            bytemuck::bytes_of(&ParamsUniform::new(params, self.target_format.is_srgb())),
        );
        let target = device.create_texture(&wgpu::TextureDescriptor {
            label: Some("heatmap offscreen"),
            size: extent,
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: self.target_format,
            usage: wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::COPY_SRC,
            view_formats: &[],
        });
        // Buffer rows of a texture copy must start at multiples of 256 bytes.
        let row_bytes = width * 4;
        let padded_row_bytes = row_bytes.next_multiple_of(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT);
        let readback = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("heatmap readback"),
            size: u64::from(padded_row_bytes) * u64::from(height),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut encoder = device.create_command_encoder(&Default::default());
        {
            let view = target.create_view(&Default::default());
            let mut pass = encoder
                .begin_render_pass(&wgpu::RenderPassDescriptor {
                    label: Some("heatmap offscreen"),
                    color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                        view: &view,
                        depth_slice: None,
                        resolve_target: None,
                        ops: wgpu::Operations {
                            load: wgpu::LoadOp::Clear(wgpu::Color::TRANSPARENT),
                            store: wgpu::StoreOp::Store,
                        },
                    })],
                    ..Default::default()
                })
                .forget_lifetime();
            self.draw(&mut pass, &slot);
        }
        encoder.copy_texture_to_buffer(
            target.as_image_copy(),
            wgpu::TexelCopyBufferInfo {
                buffer: &readback,
                layout: wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(padded_row_bytes),
                    rows_per_image: None,
                },
            },
            extent,
        );
        queue.submit([encoder.finish()]);
        if let Some(error) = block_on(scope.pop()) {
            return Err(format!("heatmap offscreen render: {error}"));
        }

        let (sender, receiver) = std::sync::mpsc::channel();
        readback.map_async(wgpu::MapMode::Read, .., move |result| {
            // The receiver outlives the poll below, so the send cannot fail.
            sender.send(result).ok();
        });
        device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| format!("waiting for the heatmap readback: {e}"))?;
        receiver
            .recv()
            .map_err(|_| "the heatmap readback was never mapped".to_string())?
            .map_err(|e| format!("mapping the heatmap readback: {e}"))?;
        let mapped = readback
            .get_mapped_range(..)
            .map_err(|e| format!("reading the heatmap readback: {e}"))?;
        Ok(mapped
            .chunks_exact(padded_row_bytes as usize)
            .flat_map(|row| &row[..row_bytes as usize])
            .copied()
            .collect())
    }
}

/// Renders `input` at `scale`× into an `Rgba8Unorm` texture with a fresh pipeline and returns
/// its RGBA8 bytes: the GPU counterpart of [`crate::colormap::render_heatmap`].
pub fn render_offscreen(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    input: &HeatmapInput,
    params: &HeatmapParams,
    scale: u32,
) -> Result<Vec<u8>, String> {
    HeatmapPipeline::new(device, wgpu::TextureFormat::Rgba8Unorm)?
        .render_offscreen(device, queue, input, params, scale)
}

impl ParamsUniform {
    fn new(params: &HeatmapParams, linear_output: bool) -> Self {
        let (mode, channel) = match params.mode {
            HeatmapMode::MaxAbs => (ShaderMode::MaxAbs, 0),
            HeatmapMode::L2 => (ShaderMode::L2, 0),
            HeatmapMode::Channel(c) => (ShaderMode::Channel, u32::from(c.min(2))),
        };
        let colormap = match params.colormap {
            Colormap::Viridis => ShaderColormap::Viridis,
            Colormap::Magma => ShaderColormap::Magma,
            Colormap::Diverging => ShaderColormap::Diverging,
        };
        Self {
            mode: mode as u32,
            channel,
            colormap: colormap as u32,
            linear_output: u32::from(linear_output),
            amplification: params.amplification,
            eps: params.eps,
            opacity: params.opacity,
            _pad: 0,
        }
    }
}

/// Registers the heatmap pipeline with egui's renderer; call once at start-up
/// (`CreationContext::wgpu_render_state`) before painting any [`HeatmapCallback`].
pub fn install(render_state: &egui_wgpu::RenderState) -> Result<(), String> {
    let pipeline = HeatmapPipeline::new(&render_state.device, render_state.target_format)?;
    render_state
        .renderer
        .write()
        .callback_resources
        .insert(pipeline);
    Ok(())
}

/// A heatmap to paint this frame. `key` names its GPU copies (one per place); the input may
/// be rebuilt every frame, as its textures are re-uploaded only when its data changes.
///
/// Painting panics if [`install`] has not run or the input exceeds the device's texture size.
pub struct HeatmapCallback {
    pub key: HeatmapSlot,
    pub input: Arc<HeatmapInput>,
    pub params: HeatmapParams,
}

impl egui_wgpu::CallbackTrait for HeatmapCallback {
    fn prepare(
        &self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        _screen_descriptor: &egui_wgpu::ScreenDescriptor,
        _egui_encoder: &mut wgpu::CommandEncoder,
        callback_resources: &mut egui_wgpu::CallbackResources,
    ) -> Vec<wgpu::CommandBuffer> {
        // Without the pipeline, or if the upload fails, the heatmap is left blank (and the
        // error logged) rather than taking the renderer down.
        if let Some(pipeline) = callback_resources.get_mut::<HeatmapPipeline>()
            && let Err(e) = pipeline.prepare(device, queue, self.key, &self.input, &self.params)
        {
            pipeline.errors.record(format!("heatmap not drawn: {e}"));
            pipeline.remove(self.key);
        }
        Vec::new()
    }

    fn paint(
        &self,
        info: egui::PaintCallbackInfo,
        render_pass: &mut wgpu::RenderPass<'static>,
        callback_resources: &egui_wgpu::CallbackResources,
    ) {
        let Some(pipeline) = callback_resources.get::<HeatmapPipeline>() else {
            return;
        };
        // egui clamps the viewport to the screen, which would squeeze a heatmap that is partly
        // scrolled out of view; the whole rect keeps pixels square (the scissor still clips).
        let ppp = info.pixels_per_point;
        let (left, top) = (
            (info.viewport.min.x * ppp).round(),
            (info.viewport.min.y * ppp).round(),
        );
        let width = (info.viewport.max.x * ppp).round() - left;
        let height = (info.viewport.max.y * ppp).round() - top;
        let max = pipeline.max_dimension as f32;
        let fits = |start: f32, len: f32| {
            len <= max && start >= -2.0 * max && start + len <= 2.0 * max - 1.0
        };
        if width > 0.0 && height > 0.0 && fits(left, width) && fits(top, height) {
            render_pass.set_viewport(left, top, width, height, 0.0, 1.0);
        }
        pipeline.paint(render_pass, self.key);
    }
}

/// The shape that paints `callback` into `rect`.
pub fn heatmap_shape(rect: egui::Rect, callback: HeatmapCallback) -> egui::Shape {
    egui::Shape::Callback(egui_wgpu::Callback::new_paint_callback(rect, callback))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The WGSL struct's fields in order, as `name: type`, read from the shader source.
    fn wgsl_params_fields() -> Vec<String> {
        let start = SHADER.find("struct Params {").expect("a Params struct") + 15;
        let body = &SHADER[start..start + SHADER[start..].find("};").unwrap()];
        body.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("//"))
            .map(|l| l.trim_end_matches(',').replace(' ', ""))
            .collect()
    }

    #[test]
    fn an_error_repeated_every_frame_is_reported_once() {
        let mut log = ErrorLog::default();
        for _ in 0..3 {
            log.record("texture too large".into());
        }
        log.record("device lost".into());
        assert_eq!(log.take(), ["texture too large", "device lost"]);
        log.record("texture too large".into());
        assert!(log.take().is_empty());
    }

    #[test]
    fn the_uniform_mirrors_the_shader_params_field_for_field() {
        assert_eq!(
            wgsl_params_fields(),
            [
                "mode:u32",
                "channel:u32",
                "colormap:u32",
                "linear_output:u32",
                "amplification:f32",
                "eps:f32",
                "opacity:f32",
                "_pad:u32"
            ]
        );
        let params = HeatmapParams {
            mode: HeatmapMode::Channel(1),
            colormap: Colormap::Diverging,
            amplification: 2.5,
            eps: 0.25,
            opacity: 0.75,
        };
        let bytes = bytemuck::bytes_of(&ParamsUniform::new(&params, true)).to_vec();
        let word = |i: usize| u32::from_ne_bytes(bytes[4 * i..4 * i + 4].try_into().unwrap());
        assert_eq!(bytes.len(), 32);
        assert_eq!((word(0), word(1), word(2), word(3)), (2, 1, 2, 1));
        assert_eq!(f32::from_bits(word(4)), 2.5);
        assert_eq!(f32::from_bits(word(5)), 0.25);
        assert_eq!(f32::from_bits(word(6)), 0.75);
    }
}
