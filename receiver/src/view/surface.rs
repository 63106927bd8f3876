//! The window's GPU surface (wgpu): the device and queue the renderer uses,
//! and each frame's target, always at the window's real size.
//!
//! A window can change size at any moment, and the `Resized` event that says
//! so arrives later. A surface configured for the old size is out of date,
//! and one reconfigured from a stale size stays out of date. So before every
//! frame the size is read from the window itself, and a frame that cannot be
//! had after a few tries is skipped (the next redraw tries again) instead of
//! being retried forever. `pixels` 0.17 retries forever: under Xvfb that
//! froze the window for good when it was resized mid-frame, and each retry
//! leaked X resources until the X server itself choked.
//!
//! The surface is plain 8-bit BGRA where the driver offers it, not sRGB:
//! filtering then happens on the pictures' gamma-encoded values, as video
//! players do, and a software renderer (Mesa's lavapipe) does not pay for an
//! sRGB encode per pixel, half the cost of a 720p frame there.

use std::sync::Arc;

use anyhow::{Context, anyhow};
use winit::window::Window;

/// How many times a frame is asked for before this redraw is given up.
const ATTEMPTS: usize = 3;

pub struct WindowSurface {
    window: Arc<Window>,
    surface: wgpu::Surface<'static>,
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    config: wgpu::SurfaceConfiguration,
    /// The last frame was usable but not optimal: configure afresh first.
    reconfigure: bool,
    /// The adapter is a software renderer (Mesa's lavapipe, WARP).
    pub software: bool,
}

impl WindowSurface {
    /// Opens a device that can draw in `window` (honouring wgpu's
    /// `WGPU_BACKEND`, `WGPU_ADAPTER_NAME` and `WGPU_POWER_PREF`).
    pub fn open(window: Arc<Window>) -> anyhow::Result<WindowSurface> {
        let instance =
            wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle().with_env());
        let surface = instance
            .create_surface(window.clone())
            .context("cannot create a surface for the window")?;
        let adapter = smol::block_on(async {
            match wgpu::util::initialize_adapter_from_env(&instance, Some(&surface)).await {
                Ok(adapter) => Ok(adapter),
                Err(_) => {
                    instance
                        .request_adapter(&wgpu::RequestAdapterOptions {
                            power_preference: wgpu::PowerPreference::from_env().unwrap_or_default(),
                            force_fallback_adapter: false,
                            compatible_surface: Some(&surface),
                        })
                        .await
                }
            }
        })
        .context("no graphics adapter can draw in the window")?;
        let (device, queue) = smol::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("framewire window"),
            required_limits: adapter.limits(),
            ..Default::default()
        }))
        .context("cannot open the graphics device")?;
        let info = adapter.get_info();
        log::info!("drawing with {} ({:?})", info.name, info.backend);
        let capabilities = surface.get_capabilities(&adapter);
        let format = [
            wgpu::TextureFormat::Bgra8Unorm,
            wgpu::TextureFormat::Rgba8Unorm,
        ]
        .into_iter()
        .find(|format| capabilities.formats.contains(format))
        .or_else(|| capabilities.formats.first().copied())
        .ok_or_else(|| anyhow!("the graphics adapter cannot draw in this window"))?;
        let alpha_mode = capabilities
            .alpha_modes
            .first()
            .copied()
            .unwrap_or(wgpu::CompositeAlphaMode::Auto);
        let size = window.inner_size();
        let config = wgpu::SurfaceConfiguration {
            usage: wgpu::TextureUsages::RENDER_ATTACHMENT,
            format,
            width: size.width.max(1),
            height: size.height.max(1),
            present_mode: wgpu::PresentMode::AutoVsync,
            desired_maximum_frame_latency: 2,
            alpha_mode,
            view_formats: Vec::new(),
        };
        surface.configure(&device, &config);
        Ok(WindowSurface {
            window,
            surface,
            device,
            queue,
            config,
            reconfigure: false,
            software: info.device_type == wgpu::DeviceType::Cpu,
        })
    }

    pub fn format(&self) -> wgpu::TextureFormat {
        self.config.format
    }

    /// The target for the next frame and its size, or None when there is
    /// nothing to draw on now (the window is minimised or hidden, or its size
    /// changed under every try): the next redraw tries again.
    pub fn next_frame(&mut self) -> anyhow::Result<Option<(wgpu::SurfaceTexture, (u32, u32))>> {
        for _ in 0..ATTEMPTS {
            let size = self.window.inner_size();
            if size.width == 0 || size.height == 0 {
                return Ok(None);
            }
            if self.reconfigure || (size.width, size.height) != self.size() {
                self.config.width = size.width;
                self.config.height = size.height;
                self.surface.configure(&self.device, &self.config);
                self.reconfigure = false;
            }
            match self.surface.get_current_texture() {
                wgpu::CurrentSurfaceTexture::Success(frame) => {
                    return Ok(Some((frame, self.size())));
                }
                wgpu::CurrentSurfaceTexture::Suboptimal(frame) => {
                    self.reconfigure = true;
                    return Ok(Some((frame, self.size())));
                }
                wgpu::CurrentSurfaceTexture::Outdated | wgpu::CurrentSurfaceTexture::Lost => {
                    self.reconfigure = true;
                }
                wgpu::CurrentSurfaceTexture::Occluded | wgpu::CurrentSurfaceTexture::Timeout => {
                    return Ok(None);
                }
                wgpu::CurrentSurfaceTexture::Validation => {
                    return Err(anyhow!("the graphics driver refused the window's surface"));
                }
            }
        }
        log::debug!("no frame after {ATTEMPTS} tries: the window keeps changing size");
        Ok(None)
    }

    fn size(&self) -> (u32, u32) {
        (self.config.width, self.config.height)
    }
}
