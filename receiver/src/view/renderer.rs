//! Drawing pictures and labels on the GPU (wgpu, on the device that
//! [`super::surface`] opened).
//!
//! Every stream's picture lives in its own textures at its native size,
//! uploaded once per new frame: one RGBA texture, or (the usual case) its
//! YCbCr planes as three one-byte textures, 1.5 bytes a pixel at 4:2:0
//! instead of 4, which the shader upsamples (the chroma with the same
//! linear filter) and converts to RGB. A redraw places each one in its
//! rectangle by setting the viewport and lets the shader (`picture.wgsl`)
//! scale it with linear filtering, up or down, at any fractional scale.
//! Labels are small textures blended on top. Textures and target are plain 8-bit (see
//! [`super::surface`]): filtering happens on the pictures' own gamma-encoded
//! values, as in video players. Nothing here knows about streams.

use super::layout::Rect;
use crate::picture::Planes;

/// A picture's textures on the GPU with what it takes to draw them.
pub struct GpuImage {
    /// One RGBA texture, or luma, blue and red chroma.
    textures: Vec<wgpu::Texture>,
    bind_group: wgpu::BindGroup,
    params: wgpu::Buffer,
    pub width: u32,
    pub height: u32,
    /// Luma pixels per chroma sample, for planes; `None` for RGBA.
    pub chroma_step: Option<(u32, u32)>,
}

/// One thing to draw this frame.
pub struct Draw<'a> {
    pub image: &'a GpuImage,
    pub rect: Rect,
    /// 1.0 as is; lower dims (stale pictures).
    pub brightness: f32,
    /// Blend by alpha (labels) instead of replacing (pictures).
    pub blend: bool,
}

pub struct Renderer {
    layout: wgpu::BindGroupLayout,
    sampler: wgpu::Sampler,
    opaque: wgpu::RenderPipeline,
    blended: wgpu::RenderPipeline,
    /// Pictures in planes, converted to RGB as they are drawn.
    planar: wgpu::RenderPipeline,
}

/// The shader's `Params`: brightness, the number of taps on each axis, and
/// the chroma textures' share of a planar picture.
const PARAMS_BYTES: u64 = 32;
/// At most this many taps per axis when shrinking. Each bilinear tap
/// averages about two texels per axis, so two taps spread over a pixel's
/// footprint cover a 4x reduction, for 4 samples a pixel (a software
/// rasteriser pays for every one).
const MAX_TAPS: u32 = 2;

impl Renderer {
    pub fn new(device: &wgpu::Device, target_format: wgpu::TextureFormat) -> Renderer {
        let shader = device.create_shader_module(wgpu::include_wgsl!("picture.wgsl"));
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("framewire picture"),
            entries: &[
                texture_entry(0),
                wgpu::BindGroupLayoutEntry {
                    binding: 1,
                    visibility: wgpu::ShaderStages::FRAGMENT,
                    ty: wgpu::BindingType::Sampler(wgpu::SamplerBindingType::Filtering),
                    count: None,
                },
                wgpu::BindGroupLayoutEntry {
                    binding: 2,
                    visibility: wgpu::ShaderStages::FRAGMENT,
                    ty: wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Uniform,
                        has_dynamic_offset: false,
                        min_binding_size: wgpu::BufferSize::new(PARAMS_BYTES),
                    },
                    count: None,
                },
                texture_entry(3),
                texture_entry(4),
            ],
        });
        let sampler = device.create_sampler(&wgpu::SamplerDescriptor {
            label: Some("framewire linear"),
            address_mode_u: wgpu::AddressMode::ClampToEdge,
            address_mode_v: wgpu::AddressMode::ClampToEdge,
            address_mode_w: wgpu::AddressMode::ClampToEdge,
            mag_filter: wgpu::FilterMode::Linear,
            min_filter: wgpu::FilterMode::Linear,
            mipmap_filter: wgpu::MipmapFilterMode::Nearest,
            lod_min_clamp: 0.0,
            lod_max_clamp: 0.0,
            compare: None,
            anisotropy_clamp: 1,
            border_color: None,
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("framewire picture"),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let pipeline = |blend: wgpu::BlendState, fragment: &str| {
            device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
                label: Some("framewire picture"),
                layout: Some(&pipeline_layout),
                vertex: wgpu::VertexState {
                    module: &shader,
                    entry_point: Some("vs_main"),
                    buffers: &[],
                    compilation_options: wgpu::PipelineCompilationOptions::default(),
                },
                primitive: wgpu::PrimitiveState {
                    topology: wgpu::PrimitiveTopology::TriangleStrip,
                    ..wgpu::PrimitiveState::default()
                },
                depth_stencil: None,
                multisample: wgpu::MultisampleState::default(),
                fragment: Some(wgpu::FragmentState {
                    module: &shader,
                    entry_point: Some(fragment),
                    compilation_options: wgpu::PipelineCompilationOptions::default(),
                    targets: &[Some(wgpu::ColorTargetState {
                        format: target_format,
                        blend: Some(blend),
                        write_mask: wgpu::ColorWrites::ALL,
                    })],
                }),
                multiview_mask: None,
                cache: None,
            })
        };
        Renderer {
            opaque: pipeline(wgpu::BlendState::REPLACE, "fs_main"),
            blended: pipeline(wgpu::BlendState::ALPHA_BLENDING, "fs_main"),
            planar: pipeline(wgpu::BlendState::REPLACE, "fs_planes"),
            layout,
            sampler,
        }
    }

    /// A texture for `width` x `height` RGBA pixels.
    pub fn create_image(&self, device: &wgpu::Device, width: u32, height: u32) -> GpuImage {
        let rgba = texture(device, (width, height), wgpu::TextureFormat::Rgba8Unorm);
        self.image(device, vec![rgba], width, height, None)
    }

    /// Textures for the planes of a `width` x `height` picture whose chroma
    /// covers `chroma_step` luma pixels per sample.
    pub fn create_planar_image(
        &self,
        device: &wgpu::Device,
        width: u32,
        height: u32,
        chroma_step: (u32, u32),
    ) -> GpuImage {
        let chroma = (
            width.div_ceil(chroma_step.0),
            height.div_ceil(chroma_step.1),
        );
        let planes = vec![
            texture(device, (width, height), wgpu::TextureFormat::R8Unorm),
            texture(device, chroma, wgpu::TextureFormat::R8Unorm),
            texture(device, chroma, wgpu::TextureFormat::R8Unorm),
        ];
        self.image(device, planes, width, height, Some(chroma_step))
    }

    fn image(
        &self,
        device: &wgpu::Device,
        textures: Vec<wgpu::Texture>,
        width: u32,
        height: u32,
        chroma_step: Option<(u32, u32)>,
    ) -> GpuImage {
        let params = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("framewire picture params"),
            size: PARAMS_BYTES,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let views: Vec<wgpu::TextureView> = textures
            .iter()
            .map(|texture| texture.create_view(&wgpu::TextureViewDescriptor::default()))
            .collect();
        // An RGBA image binds its one texture in the chroma places too.
        let view = |index: usize| &views[index.min(views.len() - 1)];
        let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("framewire picture"),
            layout: &self.layout,
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: wgpu::BindingResource::TextureView(view(0)),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: wgpu::BindingResource::Sampler(&self.sampler),
                },
                wgpu::BindGroupEntry {
                    binding: 2,
                    resource: params.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 3,
                    resource: wgpu::BindingResource::TextureView(view(1)),
                },
                wgpu::BindGroupEntry {
                    binding: 4,
                    resource: wgpu::BindingResource::TextureView(view(2)),
                },
            ],
        });
        GpuImage {
            textures,
            bind_group,
            params,
            width,
            height,
            chroma_step,
        }
    }

    /// Copies `rgba` (exactly the image's size) into an RGBA image.
    pub fn upload(&self, queue: &wgpu::Queue, image: &GpuImage, rgba: &[u8]) {
        write_plane(queue, &image.textures[0], rgba, image.width as usize * 4);
    }

    /// Copies a picture's planes into a planar image made for its size.
    pub fn upload_planes(&self, queue: &wgpu::Queue, image: &GpuImage, planes: &Planes) {
        for (texture, (plane, stride)) in image
            .textures
            .iter()
            .zip(planes.planes.iter().zip(planes.strides))
        {
            write_plane(queue, texture, plane, stride);
        }
    }

    /// Clears `target` to black and draws `draws` in order. Rectangles are
    /// cut to the target (the viewport may not leave it).
    pub fn draw(
        &self,
        queue: &wgpu::Queue,
        encoder: &mut wgpu::CommandEncoder,
        target: &wgpu::TextureView,
        target_size: (u32, u32),
        draws: &[Draw],
    ) {
        for draw in draws {
            let taps = |source: u32, shown: f32| {
                ((source as f32 / shown.max(1.0) / 2.0).ceil() as u32).clamp(1, MAX_TAPS)
            };
            let mut params = [0u8; PARAMS_BYTES as usize];
            params[0..4].copy_from_slice(&draw.brightness.to_le_bytes());
            params[4..8].copy_from_slice(&taps(draw.image.width, draw.rect.width).to_le_bytes());
            params[8..12].copy_from_slice(&taps(draw.image.height, draw.rect.height).to_le_bytes());
            if let Some((step_x, step_y)) = draw.image.chroma_step {
                // The chroma planes may reach past the picture's last
                // column or row (odd sizes): sample only what it covers.
                let chroma = draw.image.textures[1].size();
                let scale_x = draw.image.width as f32 / (step_x * chroma.width) as f32;
                let scale_y = draw.image.height as f32 / (step_y * chroma.height) as f32;
                params[16..20].copy_from_slice(&scale_x.to_le_bytes());
                params[20..24].copy_from_slice(&scale_y.to_le_bytes());
            }
            queue.write_buffer(&draw.image.params, 0, &params);
        }
        let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
            label: Some("framewire tiles"),
            color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                view: target,
                resolve_target: None,
                ops: wgpu::Operations {
                    load: wgpu::LoadOp::Clear(wgpu::Color::BLACK),
                    store: wgpu::StoreOp::Store,
                },
                depth_slice: None,
            })],
            depth_stencil_attachment: None,
            timestamp_writes: None,
            occlusion_query_set: None,
            multiview_mask: None,
        });
        let (target_width, target_height) = (target_size.0 as f32, target_size.1 as f32);
        for draw in draws {
            let x = draw.rect.x.clamp(0.0, target_width);
            let y = draw.rect.y.clamp(0.0, target_height);
            let width = draw.rect.width.min(target_width - x);
            let height = draw.rect.height.min(target_height - y);
            if width < 1.0 || height < 1.0 {
                continue;
            }
            pass.set_pipeline(if draw.image.chroma_step.is_some() {
                &self.planar
            } else if draw.blend {
                &self.blended
            } else {
                &self.opaque
            });
            pass.set_viewport(x, y, width, height, 0.0, 1.0);
            pass.set_bind_group(0, &draw.image.bind_group, &[]);
            pass.draw(0..4, 0..1);
        }
    }
}

/// A sampled texture at `binding` of the picture's bind group.
fn texture_entry(binding: u32) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::FRAGMENT,
        ty: wgpu::BindingType::Texture {
            sample_type: wgpu::TextureSampleType::Float { filterable: true },
            multisampled: false,
            view_dimension: wgpu::TextureViewDimension::D2,
        },
        count: None,
    }
}

/// A texture of `size` a picture can be uploaded to and drawn from.
fn texture(device: &wgpu::Device, size: (u32, u32), format: wgpu::TextureFormat) -> wgpu::Texture {
    device.create_texture(&wgpu::TextureDescriptor {
        label: Some("framewire picture"),
        size: wgpu::Extent3d {
            width: size.0,
            height: size.1,
            depth_or_array_layers: 1,
        },
        mip_level_count: 1,
        sample_count: 1,
        dimension: wgpu::TextureDimension::D2,
        format,
        usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
        view_formats: &[],
    })
}

/// Copies rows of `bytes_per_row` bytes from `data` into the whole texture.
fn write_plane(queue: &wgpu::Queue, texture: &wgpu::Texture, data: &[u8], bytes_per_row: usize) {
    queue.write_texture(
        wgpu::TexelCopyTextureInfo {
            texture,
            mip_level: 0,
            origin: wgpu::Origin3d::ZERO,
            aspect: wgpu::TextureAspect::All,
        },
        data,
        wgpu::TexelCopyBufferLayout {
            offset: 0,
            bytes_per_row: Some(bytes_per_row as u32),
            rows_per_image: Some(texture.height()),
        },
        texture.size(),
    );
}
