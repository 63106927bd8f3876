//! Halving a picture's width and height before it is encoded, for a link
//! too slow for the full size even at the lowest quality allowed.
//!
//! Each plane is averaged over 2x2 blocks (a box filter: cheap, and
//! free of the aliasing that dropping every other pixel shows on edges),
//! so the chroma planes keep their subsampling against the halved luma.
//! The padding of the result repeats the picture's last row and column.

use crate::capture::PlanarImage;

/// The picture at half its width and height (rounded up).
pub fn halved(image: &PlanarImage) -> PlanarImage {
    let mut half = PlanarImage::new(
        image.width.div_ceil(2),
        image.height.div_ceil(2),
        image.sampling,
    );
    for plane in 0..3 {
        let (source, source_stride) = (&image.planes[plane], image.strides[plane]);
        let source_rows = source.len() / source_stride;
        let stride = half.strides[plane];
        for (y, row) in half.planes[plane].chunks_exact_mut(stride).enumerate() {
            let top = &source[(2 * y).min(source_rows - 1) * source_stride..][..source_stride];
            let bottom =
                &source[(2 * y + 1).min(source_rows - 1) * source_stride..][..source_stride];
            for (x, out) in row.iter_mut().enumerate() {
                let left = (2 * x).min(source_stride - 1);
                let right = (2 * x + 1).min(source_stride - 1);
                let sum = u16::from(top[left])
                    + u16::from(top[right])
                    + u16::from(bottom[left])
                    + u16::from(bottom[right]);
                *out = ((sum + 2) / 4) as u8;
            }
        }
    }
    half
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::ChromaSampling;

    #[test]
    fn each_output_pixel_is_the_mean_of_four() {
        let mut image = PlanarImage::new(64, 32, ChromaSampling::Yuv420);
        for (i, value) in image.planes[0].iter_mut().enumerate() {
            *value = if i % 2 == 0 { 100 } else { 200 };
        }
        let half = halved(&image);
        assert_eq!((half.width, half.height), (32, 16));
        assert_eq!(half.strides, [32, 16, 16]);
        assert!(half.planes[0].iter().all(|v| *v == 150));
        assert!(half.planes[1].iter().all(|v| *v == 128));
    }

    #[test]
    fn odd_and_padded_sizes_stay_inside_the_source() {
        for sampling in [ChromaSampling::Yuv420, ChromaSampling::Yuv422] {
            let image = PlanarImage::new(1288, 726, sampling);
            let half = halved(&image);
            assert_eq!((half.width, half.height), (644, 363));
            assert_eq!(
                half,
                PlanarImage::new(644, 363, sampling),
                "mid-grey stays mid-grey"
            );
        }
    }
}
