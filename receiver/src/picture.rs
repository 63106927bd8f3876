//! A decoded picture: its size and its pixels, either the YCbCr planes a
//! JPEG holds (the usual case: no colour conversion or chroma upsampling on
//! the CPU; the window's shader does both) or RGBA (JPEGs the planar path
//! does not take: greyscale, CMYK, unusual samplings). A leaf type that the
//! decoder makes, the window shows and the snapshot writer saves; it knows
//! nothing of streams, budgets or files. [`Picture::to_rgba`] converts
//! planes on the CPU, for the rare consumer that needs RGBA (a snapshot).

/// A decoded picture.
#[derive(Default, Clone)]
pub struct Picture {
    pub width: u32,
    pub height: u32,
    pub pixels: Pixels,
}

/// A picture's pixels.
#[derive(Clone)]
pub enum Pixels {
    /// `width * height` RGBA pixels, row by row.
    Rgba(Vec<u8>),
    /// Full-range BT.601 YCbCr planes, as JPEG (JFIF) defines them.
    YCbCr(Planes),
}

impl Default for Pixels {
    fn default() -> Pixels {
        Pixels::Rgba(Vec::new())
    }
}

/// Luma, blue-difference and red-difference planes, each padded to whole
/// 8x8 blocks (its rows are `stride` bytes, at least as many as it shows).
#[derive(Clone, Default)]
pub struct Planes {
    pub planes: [Vec<u8>; 3],
    pub strides: [usize; 3],
    /// Luma pixels per chroma sample across (1 or 2) and down (1 or 2).
    pub chroma_step: (u32, u32),
}

impl Planes {
    /// The chroma planes' size in samples, for a picture of `width` x `height`.
    pub fn chroma_size(&self, width: u32, height: u32) -> (u32, u32) {
        (
            width.div_ceil(self.chroma_step.0),
            height.div_ceil(self.chroma_step.1),
        )
    }

    /// Whether the planes hold a `width` x `height` picture.
    pub fn fit(&self, width: u32, height: u32) -> bool {
        let (chroma_width, chroma_height) = self.chroma_size(width, height);
        let sizes = [
            (width, height),
            (chroma_width, chroma_height),
            (chroma_width, chroma_height),
        ];
        sizes.iter().enumerate().all(|(index, &(w, h))| {
            self.strides[index] >= w as usize
                && self.planes[index].len() >= self.strides[index] * h as usize
        })
    }
}

impl Picture {
    /// The picture as `width * height` RGBA pixels: its own, or converted
    /// from its planes (each chroma sample taken for the luma pixels it
    /// covers). Empty if the planes are shorter than the picture.
    pub fn to_rgba(&self) -> Vec<u8> {
        let planes = match &self.pixels {
            Pixels::Rgba(rgba) => return rgba.clone(),
            Pixels::YCbCr(planes) => planes,
        };
        if !planes.fit(self.width, self.height) {
            return Vec::new();
        }
        let (step_x, step_y) = (planes.chroma_step.0 as usize, planes.chroma_step.1 as usize);
        let mut rgba = Vec::with_capacity(self.width as usize * self.height as usize * 4);
        for row in 0..self.height as usize {
            let luma = &planes.planes[0][row * planes.strides[0]..];
            let chroma_row = row / step_y;
            let cb = &planes.planes[1][chroma_row * planes.strides[1]..];
            let cr = &planes.planes[2][chroma_row * planes.strides[2]..];
            for x in 0..self.width as usize {
                let [r, g, b] = ycbcr_to_rgb(luma[x], cb[x / step_x], cr[x / step_x]);
                rgba.extend_from_slice(&[r, g, b, 255]);
            }
        }
        rgba
    }
}

/// JFIF's full-range BT.601 YCbCr to RGB (the shader does the same).
pub fn ycbcr_to_rgb(y: u8, cb: u8, cr: u8) -> [u8; 3] {
    let (y, cb, cr) = (y as f32, cb as f32 - 128.0, cr as f32 - 128.0);
    let r = y + 1.402 * cr;
    let g = y - 0.344_136 * cb - 0.714_136 * cr;
    let b = y + 1.772 * cb;
    [r, g, b].map(|v| v.round().clamp(0.0, 255.0) as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn planes_convert_to_the_colours_they_encode() {
        // 4x2 pixels of 4:2:0: the left half red, the right half blue.
        let planes = Planes {
            planes: [
                vec![76, 76, 29, 29, 76, 76, 29, 29],
                vec![85, 255],
                vec![255, 107],
            ],
            strides: [4, 2, 2],
            chroma_step: (2, 2),
        };
        let picture = Picture {
            width: 4,
            height: 2,
            pixels: Pixels::YCbCr(planes),
        };
        let rgba = picture.to_rgba();
        assert_eq!(rgba.len(), 4 * 2 * 4);
        let near =
            |got: &[u8], want: [u8; 3]| got.iter().zip(want).all(|(g, w)| g.abs_diff(w) <= 2);
        assert!(near(&rgba[0..3], [255, 0, 0]), "{:?}", &rgba[0..4]);
        assert!(near(&rgba[12..15], [0, 0, 255]), "{:?}", &rgba[12..16]);
        assert!(near(&rgba[16..19], [255, 0, 0]), "second row");
    }

    #[test]
    fn planes_shorter_than_the_picture_convert_to_nothing() {
        let picture = Picture {
            width: 64,
            height: 64,
            pixels: Pixels::YCbCr(Planes {
                planes: [vec![0; 10], vec![], vec![]],
                strides: [64, 32, 32],
                chroma_step: (2, 2),
            }),
        };
        assert!(picture.to_rgba().is_empty());
    }
}
