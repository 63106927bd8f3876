//! The moving test pattern: a stand-in for a camera that makes stalls visible.
//!
//! The top two thirds are eight full-saturation colour bars (white, yellow,
//! cyan, green, magenta, red, blue, black); the bottom third is dark grey with
//! the frame number and the capture time (UTC) burned in, and a white block
//! that moves one step per frame. A repeated or stalled frame is therefore
//! obvious on screen. The pattern is drawn directly in YCbCr: the bars are
//! drawn once, and each frame only redraws the grey band's luma.

use super::{ChromaSampling, Picture, PlanarImage, RawFrame, Source, rgb_to_ycbcr};

/// The colour bars, left to right, as RGB.
pub const BARS: [[u8; 3]; 8] = [
    [255, 255, 255],
    [255, 255, 0],
    [0, 255, 255],
    [0, 255, 0],
    [255, 0, 255],
    [255, 0, 0],
    [0, 0, 255],
    [0, 0, 0],
];

/// The bottom band's grey, as RGB.
pub const BAND_GREY: u8 = 40;

/// Frames a block needs to cross the band once.
const BLOCK_CROSSING_FRAMES: u32 = 90;

pub struct PatternSource {
    background: PlanarImage,
    sequence: u64,
}

impl PatternSource {
    pub fn new(width: u32, height: u32) -> PatternSource {
        PatternSource {
            background: draw_background(width, height),
            sequence: 0,
        }
    }

    /// The pattern's first frame as planes: the input of encoder tests and
    /// benchmarks.
    pub fn still(width: u32, height: u32) -> PlanarImage {
        let mut image = draw_background(width, height);
        draw_band(&mut image, 0, 0);
        image
    }
}

impl Source for PatternSource {
    fn next_frame(&mut self) -> anyhow::Result<Option<RawFrame>> {
        let capture_time_us = framewire_proto::unix_time_us();
        let mut image = self.background.clone();
        draw_band(&mut image, self.sequence, capture_time_us);
        let sequence = self.sequence;
        self.sequence += 1;
        Ok(Some(RawFrame {
            picture: Picture::Planar(image),
            sequence,
            capture_time_us,
        }))
    }

    fn describe(&self) -> String {
        format!(
            "test pattern {}x{}",
            self.background.width, self.background.height
        )
    }

    fn needs_pacing(&self) -> bool {
        true
    }
}

/// First row of the bottom band.
fn band_top(height: u32) -> usize {
    (height as usize * 2 / 3) & !1
}

/// Bars over the top two thirds, achromatic grey below, padding included.
fn draw_background(width: u32, height: u32) -> PlanarImage {
    let mut image = PlanarImage::new(width, height, ChromaSampling::Yuv420);
    let band = band_top(height);
    for (plane_index, subsampling) in [(0, 1), (1, 2), (2, 2)] {
        let stride = image.strides[plane_index];
        for (row, line) in image.planes[plane_index]
            .chunks_exact_mut(stride)
            .enumerate()
        {
            let in_band = row * subsampling >= band;
            for (column, sample) in line.iter_mut().enumerate() {
                let x = (column * subsampling).min(width as usize - 1);
                let rgb = if in_band {
                    [BAND_GREY; 3]
                } else {
                    BARS[x * BARS.len() / width as usize]
                };
                *sample = rgb_to_ycbcr(rgb)[plane_index];
            }
        }
    }
    image
}

/// Draws the frame number, the time and the moving block into the band's
/// luma; the band is achromatic, so its chroma never changes.
fn draw_band(image: &mut PlanarImage, sequence: u64, capture_time_us: u64) {
    let (width, height) = (image.width as usize, image.height as usize);
    let band = band_top(image.height);
    let band_height = height - band;
    let stride = image.strides[0];
    let luma = &mut image.planes[0];

    let text = format!("#{sequence:06} {}", clock_time(capture_time_us));
    // Each character is 6 dots wide with its spacing; leave 2 characters of margin.
    let dot = (band_height / 20)
        .min(width / ((text.len() + 2) * 6))
        .max(1);
    draw_text(luma, stride, width, (dot * 2, band + dot * 2), dot, &text);

    let block = (band_height / 3).max(2);
    let travel = width.saturating_sub(block).max(1);
    let step = (sequence % BLOCK_CROSSING_FRAMES as u64) as usize;
    let left = step * travel / BLOCK_CROSSING_FRAMES as usize;
    let top = height.saturating_sub(block + band_height / 10);
    for row in luma.chunks_exact_mut(stride).skip(top).take(block) {
        row[left..(left + block).min(width)].fill(255);
    }
}

/// `HH:MM:SS.mmm` (UTC) of a Unix time in microseconds.
fn clock_time(unix_us: u64) -> String {
    let millis_of_day = (unix_us / 1000) % 86_400_000;
    let (hours, rest) = (millis_of_day / 3_600_000, millis_of_day % 3_600_000);
    let (minutes, rest) = (rest / 60_000, rest % 60_000);
    format!(
        "{hours:02}:{minutes:02}:{:02}.{:03}",
        rest / 1000,
        rest % 1000
    )
}

/// Draws `text` in white with a 5x7 font, each font dot `dot` pixels square,
/// clipped to the image.
fn draw_text(
    luma: &mut [u8],
    stride: usize,
    width: usize,
    origin: (usize, usize),
    dot: usize,
    text: &str,
) {
    let rows = luma.len() / stride;
    for (index, character) in text.chars().enumerate() {
        let glyph = glyph(character);
        let glyph_left = origin.0 + index * 6 * dot;
        for (glyph_row, bits) in glyph.iter().enumerate() {
            for glyph_column in 0..5 {
                if bits & (0b10000 >> glyph_column) == 0 {
                    continue;
                }
                let x = glyph_left + glyph_column * dot;
                let y = origin.1 + glyph_row * dot;
                for row in y..(y + dot).min(rows) {
                    let line = &mut luma[row * stride..row * stride + width];
                    if x < width {
                        line[x..(x + dot).min(width)].fill(255);
                    }
                }
            }
        }
    }
}

/// The 5x7 glyph of a character, one byte per row, high bit on the left.
fn glyph(character: char) -> [u8; 7] {
    match character {
        '0' => [0x0e, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0e],
        '1' => [0x04, 0x0c, 0x04, 0x04, 0x04, 0x04, 0x0e],
        '2' => [0x0e, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1f],
        '3' => [0x1f, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0e],
        '4' => [0x02, 0x06, 0x0a, 0x12, 0x1f, 0x02, 0x02],
        '5' => [0x1f, 0x10, 0x1e, 0x01, 0x01, 0x11, 0x0e],
        '6' => [0x06, 0x08, 0x10, 0x1e, 0x11, 0x11, 0x0e],
        '7' => [0x1f, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0e, 0x11, 0x11, 0x0e, 0x11, 0x11, 0x0e],
        '9' => [0x0e, 0x11, 0x11, 0x0f, 0x01, 0x02, 0x0c],
        ':' => [0x00, 0x0c, 0x0c, 0x00, 0x0c, 0x0c, 0x00],
        '.' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x0c],
        '#' => [0x0a, 0x0a, 0x1f, 0x0a, 0x1f, 0x0a, 0x0a],
        _ => [0; 7],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn planar(frame: RawFrame) -> PlanarImage {
        match frame.picture {
            Picture::Planar(image) => image,
            Picture::Jpeg { .. } => panic!("the pattern is drawn, not loaded"),
        }
    }

    fn luma_at(image: &PlanarImage, x: usize, y: usize) -> u8 {
        image.planes[0][y * image.strides[0] + x]
    }

    #[test]
    fn bars_have_their_colours_in_every_plane() {
        let image = draw_background(640, 480);
        for (bar, rgb) in BARS.iter().enumerate() {
            let x = bar * 80 + 40;
            let expected = rgb_to_ycbcr(*rgb);
            assert_eq!(luma_at(&image, x, 100), expected[0], "bar {bar}");
            assert_eq!(image.planes[1][50 * image.strides[1] + x / 2], expected[1]);
            assert_eq!(image.planes[2][50 * image.strides[2] + x / 2], expected[2]);
        }
    }

    #[test]
    fn consecutive_frames_differ_so_a_stall_is_visible() {
        let mut source = PatternSource::new(320, 240);
        let first = planar(source.next_frame().unwrap().unwrap());
        let second = planar(source.next_frame().unwrap().unwrap());
        assert_ne!(first.planes[0], second.planes[0]);
        // ... and only in the band: the bars stay put.
        let band_start = band_top(240) * first.strides[0];
        assert_eq!(
            first.planes[0][..band_start],
            second.planes[0][..band_start]
        );
        assert_eq!(first.planes[1], second.planes[1]);
    }

    #[test]
    fn the_block_moves_across_the_band() {
        let mut a = draw_background(640, 480);
        let mut b = a.clone();
        draw_band(&mut a, 0, 0);
        draw_band(&mut b, 45, 0);
        let row = 470;
        let white_columns = |image: &PlanarImage| {
            (0..640)
                .filter(|&x| luma_at(image, x, row - 10) == 255)
                .collect::<Vec<_>>()
        };
        assert_eq!(white_columns(&a).first(), Some(&0));
        assert!(white_columns(&b).first().unwrap() > &250);
    }

    #[test]
    fn the_text_fits_the_width() {
        let mut image = draw_background(640, 480);
        draw_band(&mut image, 123_456, 1_700_000_000_123_456);
        let text_row = band_top(480) + 2 * (160 / 20) + 3;
        let right_edge = (600..640).map(|x| luma_at(&image, x, text_row));
        assert!(
            right_edge.into_iter().all(|y| y < 100),
            "the text runs off the right edge"
        );
    }

    #[test]
    fn clock_time_is_utc_time_of_day() {
        // 2023-11-14T22:13:20.123Z
        assert_eq!(clock_time(1_700_000_000_123_456), "22:13:20.123");
    }

    #[test]
    fn odd_and_tiny_sizes_draw_without_panicking() {
        for (w, h) in [(1, 1), (2, 2), (17, 9), (1001, 3), (3, 1001)] {
            let mut source = PatternSource::new(w, h);
            source.next_frame().unwrap().unwrap();
        }
    }
}
