//! The camera pixel formats framewire can stream, as V4L2 names them and as
//! `--format` takes them.
//!
//! A leaf: the mode negotiation, the device, the raw-frame rearranging and
//! the command line all name formats through [`PixelFormat`], and it needs
//! none of them.

use std::fmt;

/// The pixel formats framewire can stream, in the order `auto` prefers them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum)]
pub enum PixelFormat {
    /// Motion JPEG: every frame is a JPEG already; passed through.
    Mjpeg,
    /// 4:2:0 with a luma plane and one interleaved CbCr plane: the
    /// cheapest to encode (half the chroma of 4:2:2).
    Nv12,
    /// 4:2:0 with three planes (I420).
    Yu12,
    /// Packed 4:2:2, Y0 Cb Y1 Cr.
    Yuyv,
    /// Packed 4:2:2, Cb Y0 Cr Y1.
    Uyvy,
    /// Packed 8-bit R G B (converted to YCbCr before encoding).
    #[value(name = "rgb24")]
    Rgb24,
    /// 8-bit luma only: no colour, so the last choice.
    Grey,
}

impl PixelFormat {
    pub const ALL: [PixelFormat; 7] = [
        PixelFormat::Mjpeg,
        PixelFormat::Nv12,
        PixelFormat::Yu12,
        PixelFormat::Yuyv,
        PixelFormat::Uyvy,
        PixelFormat::Rgb24,
        PixelFormat::Grey,
    ];

    /// The V4L2 four-character code.
    pub fn fourcc(self) -> [u8; 4] {
        *match self {
            PixelFormat::Mjpeg => b"MJPG",
            PixelFormat::Yuyv => b"YUYV",
            PixelFormat::Uyvy => b"UYVY",
            PixelFormat::Nv12 => b"NV12",
            PixelFormat::Yu12 => b"YU12",
            PixelFormat::Rgb24 => b"RGB3",
            PixelFormat::Grey => b"GREY",
        }
    }

    /// The format with this four-character code; `JPEG` counts as MJPEG
    /// (some cameras and grabbers announce their MJPEG that way).
    pub fn from_fourcc(code: [u8; 4]) -> Option<PixelFormat> {
        if &code == b"JPEG" {
            return Some(PixelFormat::Mjpeg);
        }
        PixelFormat::ALL
            .into_iter()
            .find(|format| format.fourcc() == code)
    }

    pub fn is_compressed(self) -> bool {
        self == PixelFormat::Mjpeg
    }
}

impl fmt::Display for PixelFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            PixelFormat::Mjpeg => "MJPEG",
            PixelFormat::Yuyv => "YUYV",
            PixelFormat::Uyvy => "UYVY",
            PixelFormat::Nv12 => "NV12",
            PixelFormat::Yu12 => "YU12",
            PixelFormat::Rgb24 => "RGB24",
            PixelFormat::Grey => "GREY",
        };
        f.write_str(name)
    }
}
