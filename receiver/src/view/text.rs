//! Text for the window's overlays, rasterised by the receiver itself from
//! the public-domain 8x8 bitmap font (font8x8), so no system font is needed.
//!
//! A [`Label`] is a few lines of text drawn at an integer scale onto a
//! translucent dark box: white glyphs with a one-pixel-per-scale shadow,
//! readable on any picture. The result is an RGBA image with straight
//! alpha that the renderer blends over the video.

use font8x8::legacy::{BASIC_LEGACY, LATIN_LEGACY};

/// Glyph cell size in font pixels (the font is 8x8; rows get 2 more for air).
const GLYPH_WIDTH: usize = 8;
const LINE_HEIGHT: usize = 10;
/// Padding around the text inside the box, in font pixels.
const PADDING: usize = 3;

/// A rasterised text box.
pub struct Label {
    pub width: u32,
    pub height: u32,
    /// `width * height` RGBA pixels, straight alpha.
    pub rgba: Vec<u8>,
}

/// The colours of a label.
#[derive(Clone, Copy)]
pub struct Style {
    pub text: [u8; 3],
    /// Box colour and its opacity (0–255).
    pub background: [u8; 4],
}

impl Style {
    pub const OVERLAY: Style = Style {
        text: [255, 255, 255],
        background: [0, 0, 0, 150],
    };
    pub const WARNING: Style = Style {
        text: [255, 210, 80],
        background: [0, 0, 0, 190],
    };
}

impl Label {
    /// Draws `lines` at `scale` screen pixels per font pixel.
    pub fn new(lines: &[&str], scale: u32, style: Style) -> Label {
        let scale = scale.max(1) as usize;
        let columns = lines.iter().map(|l| l.chars().count()).max().unwrap_or(0);
        let width = (columns * GLYPH_WIDTH + 2 * PADDING) * scale;
        let height = (lines.len() * LINE_HEIGHT + 2 * PADDING - 2) * scale;
        let mut rgba = Vec::with_capacity(width * height * 4);
        for _ in 0..width * height {
            rgba.extend_from_slice(&style.background);
        }
        let mut label = Label {
            width: width as u32,
            height: height as u32,
            rgba,
        };
        for (row, line) in lines.iter().enumerate() {
            for (column, character) in line.chars().enumerate() {
                let x = (PADDING + column * GLYPH_WIDTH) * scale;
                let y = (PADDING + row * LINE_HEIGHT) * scale;
                // Shadow first, down and right by one font pixel.
                label.glyph(character, x + scale, y + scale, scale, [0, 0, 0]);
                label.glyph(character, x, y, scale, style.text);
            }
        }
        label
    }

    /// Draws `lines` at the largest scale up to `max_scale` whose box fits
    /// `max_width` pixels (at least scale 1), sized as if the longest line
    /// had at least `min_columns` characters, so labels whose text changes
    /// keep one size.
    pub fn fitting(
        lines: &[&str],
        min_columns: usize,
        max_scale: u32,
        max_width: u32,
        style: Style,
    ) -> Label {
        let columns = lines
            .iter()
            .map(|l| l.chars().count())
            .max()
            .unwrap_or(0)
            .max(min_columns);
        let width_at_one = (columns * GLYPH_WIDTH + 2 * PADDING) as u32;
        let scale = (max_width / width_at_one.max(1)).clamp(1, max_scale.max(1));
        Label::new(lines, scale, style)
    }

    fn glyph(&mut self, character: char, left: usize, top: usize, scale: usize, colour: [u8; 3]) {
        // ASCII, then Latin-1 (± of the latency, accented names), else '?'.
        let bitmap = match character as usize {
            code @ 0..0x80 => &BASIC_LEGACY[code],
            code @ 0xa0..0x100 => &LATIN_LEGACY[code - 0xa0],
            _ => &BASIC_LEGACY['?' as usize],
        };
        let width = self.width as usize;
        let height = self.height as usize;
        for (row, bits) in bitmap.iter().enumerate() {
            for column in 0..GLYPH_WIDTH {
                if bits & (1 << column) == 0 {
                    continue;
                }
                for dy in 0..scale {
                    let y = top + row * scale + dy;
                    for dx in 0..scale {
                        let x = left + column * scale + dx;
                        if x < width && y < height {
                            let at = (y * width + x) * 4;
                            self.rgba[at..at + 4]
                                .copy_from_slice(&[colour[0], colour[1], colour[2], 255]);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_label_is_sized_by_its_longest_line_and_scale() {
        let label = Label::new(&["abc", "a"], 2, Style::OVERLAY);
        assert_eq!(label.width, ((3 * 8 + 6) * 2) as u32);
        assert_eq!(label.height, ((2 * 10 + 4) * 2) as u32);
        assert_eq!(label.rgba.len(), (label.width * label.height * 4) as usize);
    }

    #[test]
    fn glyphs_are_drawn_in_the_text_colour_on_the_box() {
        let label = Label::new(&["H"], 1, Style::OVERLAY);
        let count = |colour: [u8; 4]| label.rgba.chunks_exact(4).filter(|p| *p == colour).count();
        // 'H' in font8x8 lights 30 pixels: two posts 2 wide, a bar between.
        assert_eq!(count([255, 255, 255, 255]), 30);
        assert!(count([0, 0, 0, 150]) > 0, "the translucent box shows");
        let fitted = Label::fitting(&["abc"], 0, 4, 100, Style::OVERLAY);
        assert_eq!(fitted.width, 90, "scale 3 is the largest under 100 pixels");
        // Sized for 6 columns (54 pixels at scale 1), so scale 2 in 120.
        let padded = Label::fitting(&["abc"], 6, 4, 120, Style::OVERLAY);
        assert_eq!((padded.width, padded.height), (60, 28));
        // Latin-1 has its glyphs (the latency's ±); beyond it, '?', not a gap.
        let question = Label::new(&["?"], 1, Style::OVERLAY);
        let plus_minus = Label::new(&["±"], 1, Style::OVERLAY);
        assert_ne!(plus_minus.rgba, question.rgba);
        assert_ne!(plus_minus.rgba, Label::new(&[" "], 1, Style::OVERLAY).rgba);
        let other = Label::new(&["→"], 1, Style::OVERLAY);
        assert_eq!(other.rgba, question.rgba);
    }
}
