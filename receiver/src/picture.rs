//! A decoded picture: its size and its RGBA pixels. A leaf type that the
//! decoder makes, the window shows and the snapshot writer saves; it knows
//! nothing of streams, budgets or files.

/// `width * height` RGBA pixels, row by row.
#[derive(Default, Clone)]
pub struct Picture {
    pub width: u32,
    pub height: u32,
    pub rgba: Vec<u8>,
}
