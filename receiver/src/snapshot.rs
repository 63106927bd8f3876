//! Saving decoded pictures as PNG files, at their native resolution.
//!
//! With `--snapshot-dir`, each stream keeps the newest JPEG that decoded
//! (compressed, charged to the memory budget: a closed stream holds no
//! decoded pixels), and on exit each one is decoded again and written to
//! `DIR/stream-<id>-<name>.png`. The window's S key saves what a tile shows
//! to `DIR/<name>-<UTC time>.png`. This module only writes files; it does
//! not decide when.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::decode::{DEFAULT_MAX_PIXELS, decode_rgba};
use crate::files::{create_new_file, safe_stem, utc_stamp};
use crate::picture::{Picture, Pixels};
use crate::stream::Stream;

/// Writes `picture` as an 8-bit RGBA PNG.
pub fn write_png(path: &Path, picture: &Picture) -> anyhow::Result<()> {
    let file = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    write_png_to(file, path, picture)
}

/// Saves `picture` of the stream `name` as a new `<name>-<UTC time>.png` in
/// `directory`; returns its path.
pub fn save_new(directory: &Path, name: &str, picture: &Picture) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(directory)
        .with_context(|| format!("cannot create {}", directory.display()))?;
    let stem = format!(
        "{}-{}",
        safe_stem(name),
        utc_stamp(framewire_proto::unix_time_us() / 1_000_000)
    );
    let (path, file) = create_new_file(directory, &stem, "png")?;
    write_png_to(file, &path, picture)?;
    Ok(path)
}

fn write_png_to(file: File, path: &Path, picture: &Picture) -> anyhow::Result<()> {
    let mut encoder = png::Encoder::new(BufWriter::new(file), picture.width, picture.height);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::Fast);
    let mut writer = encoder.write_header()?;
    writer
        .write_image_data(&picture.to_rgba())
        .with_context(|| format!("cannot write {}", path.display()))?;
    writer.finish()?;
    Ok(())
}

/// Writes the last picture of `stream` into `directory`; returns the path,
/// or None when the stream never decoded a picture. The kept JPEG is let go
/// once saved.
pub fn save_last_picture(directory: &Path, stream: &Stream) -> anyhow::Result<Option<PathBuf>> {
    let Some(newest) = stream.newest() else {
        return Ok(None);
    };
    let mut rgba = Vec::new();
    let (width, height) = decode_rgba(&newest.jpeg, DEFAULT_MAX_PIXELS, &mut rgba)
        .with_context(|| format!("the last picture of {} does not decode", stream.label()))?;
    let picture = Picture {
        width,
        height,
        pixels: Pixels::Rgba(rgba),
    };
    std::fs::create_dir_all(directory)
        .with_context(|| format!("cannot create {}", directory.display()))?;
    let path = directory.join(file_name(stream.id(), &stream.name()));
    write_png(&path, &picture)?;
    stream.forget_newest();
    Ok(Some(path))
}

/// `stream-<id>-<name>.png`, safe whatever the sender calls itself.
fn file_name(id: u64, name: &str) -> String {
    format!("stream-{id}-{}.png", safe_stem(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_safe_whatever_the_sender_calls_itself() {
        assert_eq!(file_name(3, "porch"), "stream-3-porch.png");
        assert_eq!(
            file_name(0, "../../etc/passwd"),
            "stream-0-______etc_passwd.png"
        );
        assert_eq!(
            file_name(1, "127.0.0.1:5000"),
            "stream-1-127_0_0_1_5000.png"
        );
    }

    #[test]
    fn a_written_png_reads_back_with_the_same_pixels() {
        let picture = Picture {
            width: 3,
            height: 2,
            pixels: Pixels::Rgba((0..24).collect()),
        };
        let path = std::env::temp_dir().join(format!(
            "framewire-snapshot-test-{}.png",
            std::process::id()
        ));
        write_png(&path, &picture).unwrap();
        let decoder = png::Decoder::new(File::open(&path).unwrap());
        let mut reader = decoder.read_info().unwrap();
        let mut pixels = vec![0; reader.output_buffer_size()];
        reader.next_frame(&mut pixels).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(pixels, picture.to_rgba());
    }
}
