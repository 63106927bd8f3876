//! Painting the window: the GPU surface and its renderer ([`Gpu`]), the
//! text labels rasterised into textures, and each redraw: the new pictures
//! of the visible tiles uploaded, the scene laid out ([`super::scene`]) and
//! drawn in one pass, then presented. It decides nothing about what is
//! visible or when to redraw (the event loop in `mod.rs` does).

use std::time::Instant;

use super::layout::{self, Rect};
use super::renderer::{Draw, Renderer};
use super::scene::{self, Layer, Scene, TileView, visible_tiles};
use super::surface::WindowSurface;
use super::text::{Label, Style};
use super::tiles::TextTexture;
use super::{App, OVERLAY_COLUMNS};
use crate::picture::Pixels;
use crate::stream::liveness::Status;

/// The surface and what draws on it.
pub(super) struct Gpu {
    pub(super) surface: WindowSurface,
    pub(super) renderer: Renderer,
}

impl Gpu {
    /// Keeps `slot` showing `lines`, re-rasterised only when they change; the
    /// scale is the largest up to `max_scale` that fits `max_width` (see
    /// [`Label::fitting`]).
    fn label(
        &self,
        slot: &mut Option<TextTexture>,
        lines: &[&str],
        min_columns: usize,
        max_scale: u32,
        max_width: f32,
        style: Style,
    ) {
        let text = lines.join("\n");
        let fitted_to = (max_scale, max_width as u32);
        if slot
            .as_ref()
            .is_some_and(|label| label.text == text && label.fitted_to == fitted_to)
        {
            return;
        }
        let label = Label::fitting(lines, min_columns, max_scale, fitted_to.1, style);
        let image = self
            .renderer
            .create_image(&self.surface.device, label.width, label.height);
        self.renderer
            .upload(&self.surface.queue, &image, &label.rgba);
        *slot = Some(TextTexture {
            text,
            fitted_to,
            image,
        });
    }
}

impl App {
    /// Draws the window: the visible tiles' pictures and labels brought up
    /// to date on the GPU, the scene arranged, drawn and presented.
    pub(super) fn redraw(&mut self) {
        let Some(gpu) = self.gpu.as_mut() else {
            return;
        };
        let (frame, (width, height)) = match gpu.surface.next_frame() {
            Ok(Some(acquired)) => acquired,
            Ok(None) => return,
            Err(error) => {
                log::warn!("cannot draw the window: {error:#}");
                return;
            }
        };
        let Some(scale) = self.window.as_ref().map(|w| w.scale_factor() as f32) else {
            return;
        };
        let area = Rect {
            x: 0.0,
            y: 0.0,
            width: width as f32,
            height: height as f32,
        };
        let visible = visible_tiles(self.tiles.len(), self.selected, area);
        let scene = self.prepare(&visible, area, scale);
        let (Some(gpu), Some(window)) = (self.gpu.as_ref(), self.window.as_ref()) else {
            return;
        };
        let draws: Vec<Draw> = scene::arrange(&scene)
            .iter()
            .filter_map(|item| {
                let image = match item.layer {
                    Layer::Picture(index) => self.tiles[index].texture.as_ref()?,
                    Layer::Marker(index) => &self.tiles[index].marker.as_ref()?.image,
                    Layer::Overlay(index) => &self.tiles[index].overlay.as_ref()?.image,
                    Layer::Banner => &self.banner.as_ref()?.image,
                    Layer::Notice => &self.notice.as_ref()?.texture.as_ref()?.image,
                };
                Some(Draw {
                    image,
                    rect: item.rect,
                    brightness: item.brightness,
                    blend: item.blend,
                })
            })
            .collect();
        let target = frame
            .texture
            .create_view(&wgpu::TextureViewDescriptor::default());
        let mut encoder = gpu
            .surface
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor::default());
        gpu.renderer.draw(
            &gpu.surface.queue,
            &mut encoder,
            &target,
            (width, height),
            &draws,
        );
        gpu.surface.queue.submit([encoder.finish()]);
        window.pre_present_notify();
        frame.present();
        self.redraws += 1;
        let now_us = framewire_proto::unix_time_us();
        for (index, _) in visible {
            let tile = &mut self.tiles[index];
            if tile.unshown && tile.texture.is_some() {
                tile.note_shown(now_us);
            }
        }
    }

    /// Uploads the new pictures of the `visible` tiles and brings their
    /// labels, the banner and the notice up to date; returns the scene.
    fn prepare(&mut self, visible: &[(usize, Rect)], area: Rect, scale: f32) -> Scene {
        let mut scene = Scene {
            area,
            scale,
            tiles: Vec::with_capacity(visible.len()),
            banner: None,
            notice: None,
        };
        let Some(gpu) = self.gpu.as_ref() else {
            return scene;
        };
        let size = |label: Option<&TextTexture>| label.map(|l| (l.image.width, l.image.height));
        let now = Instant::now();
        for &(index, tile_rect) in visible {
            let tile = &mut self.tiles[index];
            if tile.unshown && tile.picture.width > 0 {
                let (width, height) = (tile.picture.width, tile.picture.height);
                let chroma_step = match &tile.picture.pixels {
                    Pixels::Rgba(_) => None,
                    Pixels::YCbCr(planes) => Some(planes.chroma_step),
                };
                if tile.texture.as_ref().is_none_or(|t| {
                    (t.width, t.height, t.chroma_step) != (width, height, chroma_step)
                }) {
                    let device = &gpu.surface.device;
                    tile.texture = Some(match chroma_step {
                        None => gpu.renderer.create_image(device, width, height),
                        Some(step) => gpu
                            .renderer
                            .create_planar_image(device, width, height, step),
                    });
                }
                if let Some(texture) = &tile.texture {
                    let queue = &gpu.surface.queue;
                    match &tile.picture.pixels {
                        Pixels::Rgba(rgba) => gpu.renderer.upload(queue, texture, rgba),
                        Pixels::YCbCr(planes) => gpu.renderer.upload_planes(queue, texture, planes),
                    }
                }
            }
            let picture = layout::fit(tile.picture.width, tile.picture.height, tile_rect);
            let status = tile.status(now);
            match status.marker() {
                Some(marker) => gpu.label(
                    &mut tile.marker,
                    &[&marker],
                    0,
                    (4.0 * scale).round() as u32,
                    picture.width * 0.9,
                    Style::WARNING,
                ),
                None => tile.marker = None,
            }
            if self.overlay_visible && !tile.figures.text.is_empty() {
                let lines: Vec<&str> = tile.figures.text.iter().map(String::as_str).collect();
                gpu.label(
                    &mut tile.overlay,
                    &lines,
                    OVERLAY_COLUMNS,
                    (2.0 * scale).round() as u32,
                    picture.width - 16.0 * scale,
                    Style::OVERLAY,
                );
            }
            scene.tiles.push(TileView {
                index,
                picture,
                live: status == Status::Live,
                has_picture: tile.texture.is_some(),
                marker: size(tile.marker.as_ref()),
                overlay: size(tile.overlay.as_ref().filter(|_| self.overlay_visible)),
            });
        }
        let banner = if self.tiles.is_empty() {
            Some(format!("waiting for senders on {}", self.listening_on))
        } else if self.paused {
            Some("paused (Space resumes)".to_owned())
        } else {
            None
        };
        match &banner {
            Some(text) => gpu.label(
                &mut self.banner,
                &[text],
                0,
                (3.0 * scale).round() as u32,
                area.width * 0.9,
                Style::OVERLAY,
            ),
            None => self.banner = None,
        }
        if let Some(notice) = &mut self.notice {
            gpu.label(
                &mut notice.texture,
                &[&notice.text],
                0,
                (2.0 * scale).round() as u32,
                area.width - 16.0,
                Style::OVERLAY,
            );
        }
        scene.banner = size(self.banner.as_ref());
        scene.notice = size(self.notice.as_ref().and_then(|n| n.texture.as_ref()));
        scene
    }
}
