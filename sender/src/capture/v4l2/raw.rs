//! Camera buffers in raw pixel formats, rearranged into the planar YCbCr the
//! JPEG encoder takes.
//!
//! The YUV formats keep their own chroma subsampling (YUYV and UYVY are
//! 4:2:2, NV12 and YU12 4:2:0) and never go through RGB: the bytes are only
//! moved, one pass over the buffer. GREY gets neutral chroma; RGB24 is the
//! one format that has to be converted. Planes are padded to whole JPEG
//! blocks by repeating the last column and row, so no grey seam appears at
//! the picture's edges. A buffer shorter than its format needs is an error.

use anyhow::bail;

use super::format::PixelFormat;
use crate::capture::{ChromaSampling, PlanarImage, rgb_to_ycbcr};

/// How a raw buffer is laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawLayout {
    pub format: PixelFormat,
    pub width: u32,
    pub height: u32,
    /// Bytes per row of the first plane (drivers may pad rows).
    pub bytes_per_line: usize,
}

impl RawLayout {
    /// A layout without row padding.
    pub fn packed(format: PixelFormat, width: u32, height: u32) -> RawLayout {
        let bytes_per_pixel = match format {
            PixelFormat::Yuyv | PixelFormat::Uyvy => 2,
            PixelFormat::Rgb24 => 3,
            _ => 1,
        };
        RawLayout {
            format,
            width,
            height,
            bytes_per_line: width as usize * bytes_per_pixel,
        }
    }

    /// Bytes a whole frame takes.
    pub fn frame_bytes(&self) -> usize {
        let luma = self.bytes_per_line * self.height as usize;
        match self.format {
            PixelFormat::Nv12 => luma + self.bytes_per_line * self.height.div_ceil(2) as usize,
            PixelFormat::Yu12 => {
                luma + 2 * self.bytes_per_line.div_ceil(2) * self.height.div_ceil(2) as usize
            }
            _ => luma,
        }
    }
}

/// Rearranges one raw frame into planes for the encoder.
pub fn to_planar(data: &[u8], layout: RawLayout) -> anyhow::Result<PlanarImage> {
    let RawLayout {
        format,
        width,
        height,
        bytes_per_line: stride,
    } = layout;
    let minimum_stride = RawLayout::packed(format, width, height).bytes_per_line;
    if width == 0 || height == 0 || stride < minimum_stride {
        bail!("{format} frame of {width}x{height} with {stride} bytes per row cannot be read");
    }
    if data.len() < layout.frame_bytes() {
        bail!(
            "{format} frame of {width}x{height} is {} bytes, {} expected: incomplete buffer",
            data.len(),
            layout.frame_bytes()
        );
    }
    let (w, h) = (width as usize, height as usize);
    let sampling = match format {
        PixelFormat::Yuyv | PixelFormat::Uyvy => ChromaSampling::Yuv422,
        _ => ChromaSampling::Yuv420,
    };
    let mut image = PlanarImage::new(width, height, sampling);
    let [luma_stride, chroma_stride, _] = image.strides;
    let [luma, cb, cr] = &mut image.planes;
    let rows = data.chunks(stride);
    match format {
        PixelFormat::Mjpeg => bail!("MJPEG frames are passed through, not rearranged"),
        PixelFormat::Yuyv | PixelFormat::Uyvy => {
            let (y_at, cb_at, cr_at) = if format == PixelFormat::Yuyv {
                (0, 1, 3)
            } else {
                (1, 0, 2)
            };
            for (row, source) in rows.take(h).enumerate() {
                let y_row = &mut luma[row * luma_stride..][..w];
                let cb_row = &mut cb[row * chroma_stride..][..w.div_ceil(2)];
                let cr_row = &mut cr[row * chroma_stride..][..w.div_ceil(2)];
                for (pair, pixels) in source[..minimum_stride].chunks_exact(4).enumerate() {
                    y_row[2 * pair] = pixels[y_at];
                    if let Some(second) = y_row.get_mut(2 * pair + 1) {
                        *second = pixels[y_at + 2];
                    }
                    cb_row[pair] = pixels[cb_at];
                    cr_row[pair] = pixels[cr_at];
                }
            }
        }
        PixelFormat::Nv12 | PixelFormat::Yu12 | PixelFormat::Grey => {
            for (row, source) in rows.take(h).enumerate() {
                luma[row * luma_stride..][..w].copy_from_slice(&source[..w]);
            }
            let chroma = &data[stride * h..];
            let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
            if format == PixelFormat::Nv12 {
                for (row, source) in chroma.chunks(stride).take(ch).enumerate() {
                    let cb_row = &mut cb[row * chroma_stride..][..cw];
                    let cr_row = &mut cr[row * chroma_stride..][..cw];
                    for (x, pair) in source[..2 * cw].chunks_exact(2).enumerate() {
                        cb_row[x] = pair[0];
                        cr_row[x] = pair[1];
                    }
                }
            } else if format == PixelFormat::Yu12 {
                let chroma_source_stride = stride.div_ceil(2);
                let (u_plane, v_plane) = chroma.split_at(chroma_source_stride * ch);
                for row in 0..ch {
                    let at = row * chroma_source_stride;
                    cb[row * chroma_stride..][..cw].copy_from_slice(&u_plane[at..at + cw]);
                    cr[row * chroma_stride..][..cw].copy_from_slice(&v_plane[at..at + cw]);
                }
            }
        }
        PixelFormat::Rgb24 => {
            let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
            for (row, source) in rows.take(h).enumerate() {
                for (x, rgb) in source[..3 * w].chunks_exact(3).enumerate() {
                    let [y, u, v] = rgb_to_ycbcr([rgb[0], rgb[1], rgb[2]]);
                    luma[row * luma_stride + x] = y;
                    // Chroma from the top-left pixel of each 2x2 block.
                    if row % 2 == 0 && x % 2 == 0 && row / 2 < ch && x / 2 < cw {
                        cb[row / 2 * chroma_stride + x / 2] = u;
                        cr[row / 2 * chroma_stride + x / 2] = v;
                    }
                }
            }
        }
    }
    let chroma_rows = h.div_ceil(sampling.vertical_factor());
    pad_edges(luma, luma_stride, w, h);
    pad_edges(cb, chroma_stride, w.div_ceil(2), chroma_rows);
    pad_edges(cr, chroma_stride, w.div_ceil(2), chroma_rows);
    Ok(image)
}

/// Repeats the last column and the last row of a `width` x `height` picture
/// into the rest of its padded plane.
fn pad_edges(plane: &mut [u8], stride: usize, width: usize, height: usize) {
    if width < stride {
        for row in plane.chunks_exact_mut(stride).take(height) {
            let last = row[width - 1];
            row[width..].fill(last);
        }
    }
    let (filled, padding) = plane.split_at_mut(stride * height);
    let last_row = &filled[stride * (height - 1)..];
    for row in padding.chunks_exact_mut(stride) {
        row.copy_from_slice(last_row);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoder::JpegEncoder;

    const WIDTH: usize = 320;
    const HEIGHT: usize = 240;

    /// The test picture, as full-range YCbCr at each pixel: smooth
    /// gradients, with chroma constant over each 2x2 block so that
    /// subsampling loses nothing and the encoder alone is measured.
    fn ycbcr_at(x: usize, y: usize) -> [u8; 3] {
        let (bx, by) = (x / 2 * 2, y / 2 * 2);
        [
            (16 + (x + y) * 220 / (WIDTH + HEIGHT)) as u8,
            (64 + bx * 128 / WIDTH) as u8,
            (192 - by * 128 / HEIGHT) as u8,
        ]
    }

    /// A frame of `format` holding the test picture, laid out as a camera would.
    fn camera_buffer(format: PixelFormat) -> Vec<u8> {
        let mut buffer = Vec::new();
        let pixel = |x, y| ycbcr_at(x, y);
        match format {
            PixelFormat::Yuyv | PixelFormat::Uyvy => {
                for y in 0..HEIGHT {
                    for x in (0..WIDTH).step_by(2) {
                        let [y0, u, v] = pixel(x, y);
                        let y1 = pixel(x + 1, y)[0];
                        buffer.extend_from_slice(&if format == PixelFormat::Yuyv {
                            [y0, u, y1, v]
                        } else {
                            [u, y0, v, y1]
                        });
                    }
                }
            }
            PixelFormat::Nv12 | PixelFormat::Yu12 | PixelFormat::Grey => {
                for y in 0..HEIGHT {
                    buffer.extend((0..WIDTH).map(|x| pixel(x, y)[0]));
                }
                let chroma = |channel: usize| -> Vec<u8> {
                    (0..HEIGHT / 2)
                        .flat_map(|y| (0..WIDTH / 2).map(move |x| pixel(2 * x, 2 * y)[channel]))
                        .collect()
                };
                if format == PixelFormat::Nv12 {
                    let (u, v) = (chroma(1), chroma(2));
                    buffer.extend(u.iter().zip(&v).flat_map(|(u, v)| [*u, *v]));
                } else if format == PixelFormat::Yu12 {
                    buffer.extend(chroma(1));
                    buffer.extend(chroma(2));
                }
            }
            PixelFormat::Rgb24 | PixelFormat::Mjpeg => unreachable!("not a YUV format"),
        }
        buffer
    }

    /// PSNR over Y, Cb and Cr of the decoded JPEG against the test picture
    /// (neutral chroma expected for greyscale).
    fn psnr_after_round_trip(jpeg: &[u8], grey: bool) -> f64 {
        let decompress = mozjpeg::Decompress::new_mem(jpeg).unwrap();
        assert_eq!(decompress.size(), (WIDTH, HEIGHT));
        let mut decoded = decompress
            .to_colorspace(mozjpeg::ColorSpace::JCS_YCbCr)
            .unwrap();
        let pixels: Vec<[u8; 3]> = decoded.read_scanlines().unwrap();
        let mut squared_error = 0.0;
        for (i, got) in pixels.iter().enumerate() {
            let mut expected = ycbcr_at(i % WIDTH, i / WIDTH);
            if grey {
                expected[1..].fill(128);
            }
            for channel in 0..3 {
                let difference = got[channel] as f64 - expected[channel] as f64;
                squared_error += difference * difference;
            }
        }
        let mean = squared_error / (pixels.len() * 3) as f64;
        10.0 * (255.0 * 255.0 / mean.max(1e-9)).log10()
    }

    #[test]
    fn yuv_formats_encode_and_decode_back_at_38_db_or_better() {
        for format in [
            PixelFormat::Yuyv,
            PixelFormat::Uyvy,
            PixelFormat::Nv12,
            PixelFormat::Yu12,
            PixelFormat::Grey,
        ] {
            let buffer = camera_buffer(format);
            let layout = RawLayout::packed(format, WIDTH as u32, HEIGHT as u32);
            assert_eq!(buffer.len(), layout.frame_bytes(), "{format}");
            let image = to_planar(&buffer, layout).unwrap();
            let expected_sampling = match format {
                PixelFormat::Yuyv | PixelFormat::Uyvy => ChromaSampling::Yuv422,
                _ => ChromaSampling::Yuv420,
            };
            assert_eq!(image.sampling, expected_sampling, "{format}");
            let jpeg = JpegEncoder::new(90).encode(image.clone().into()).unwrap();
            let psnr = psnr_after_round_trip(&jpeg, format == PixelFormat::Grey);
            assert!(psnr >= 38.0, "{format}: {psnr:.1} dB");
        }
    }

    #[test]
    fn rgb24_is_converted_with_its_colours() {
        let red_then_blue: Vec<u8> = (0..16 * 16)
            .flat_map(|i| if i % 16 < 8 { [255, 0, 0] } else { [0, 0, 255] })
            .collect();
        let image = to_planar(
            &red_then_blue,
            RawLayout::packed(PixelFormat::Rgb24, 16, 16),
        )
        .unwrap();
        let red = rgb_to_ycbcr([255, 0, 0]);
        let blue = rgb_to_ycbcr([0, 0, 255]);
        assert_eq!(image.planes[0][0], red[0]);
        assert_eq!(image.planes[0][15], blue[0]);
        assert_eq!([image.planes[1][0], image.planes[2][0]], [red[1], red[2]]);
        assert_eq!([image.planes[1][7], image.planes[2][7]], [blue[1], blue[2]]);
    }

    #[test]
    fn padded_rows_are_read_and_short_buffers_refused() {
        // YUYV with 16 bytes of padding at the end of each row.
        let (width, height) = (8u32, 2u32);
        let stride = 8 * 2 + 16;
        let mut buffer = vec![0u8; stride * 2];
        for row in 0..2 {
            for x in 0..4 {
                buffer[row * stride + 4 * x..][..4].copy_from_slice(&[100, 90, 101, 80]);
            }
        }
        let layout = RawLayout {
            format: PixelFormat::Yuyv,
            width,
            height,
            bytes_per_line: stride,
        };
        let image = to_planar(&buffer, layout).unwrap();
        assert_eq!(
            &image.planes[0][..8],
            &[100, 101, 100, 101, 100, 101, 100, 101]
        );
        assert_eq!(image.planes[1][0], 90);
        assert_eq!(image.planes[2][3], 80);
        // The padding repeats the edge: row 7 equals row 1.
        assert_eq!(image.planes[0][7 * 8..8 * 8], image.planes[0][8..16]);

        let error = to_planar(&buffer[..40], layout).unwrap_err().to_string();
        assert!(error.contains("incomplete buffer"), "{error}");
        let narrow = RawLayout {
            bytes_per_line: 4,
            ..layout
        };
        assert!(to_planar(&buffer, narrow).is_err());
    }
}
