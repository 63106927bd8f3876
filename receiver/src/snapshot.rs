//! Saving decoded pictures as PNG files, at their native resolution.
//!
//! With `--snapshot-dir`, each stream keeps the newest JPEG that decoded
//! (compressed, charged to the memory budget: a closed stream holds no
//! decoded pixels), and on exit each one is decoded again and written to
//! `DIR/stream-<id>-<name>.png`, on a thread per core, for as long as the
//! exit's deadline allows (an 8K picture takes a few hundred milliseconds:
//! dozens would hold the exit up for seconds); the ones left then are
//! written as the JPEG received, `DIR/stream-<id>-<name>.jpg`. The window's
//! S key saves what a tile shows
//! to `DIR/<name>-<UTC time>.png` ([`save_shots`], on the window's snapshot
//! thread: a stream its sender has reduced is saved from the full-quality
//! frame the window asked for, decoded here, when it comes in time). This module only writes files; it does
//! not decide when.

use std::collections::VecDeque;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use anyhow::Context;
use framewire_proto::lock::lock;

use crate::decode::{DEFAULT_MAX_PIXELS, decode_rgba};
use crate::files::{create_new_file, safe_stem, utc_stamp};
use crate::picture::{Picture, Pixels};
use crate::stream::Stream;

/// How long an S snapshot waits for the full-quality frame it asked for.
const FULL_FRAME_WAIT: Duration = Duration::from_secs(5);

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

/// A picture the window's S key saves: the stream's name, the picture on
/// screen, and the stream when its sender was asked for a full-quality
/// frame to save instead.
pub struct Shot {
    pub name: String,
    pub shown: Picture,
    pub full_quality_from: Option<Arc<Stream>>,
}

/// Saves each of `shots` as a new PNG in `directory` (the full-quality
/// frame when one was asked and came in time, else the picture on
/// screen); returns what the window tells the user. Blocks: the window
/// runs it on a thread of its own.
pub fn save_shots(directory: &Path, shots: Vec<Shot>) -> String {
    let mut saved = Vec::new();
    for Shot {
        name,
        shown,
        full_quality_from,
    } in shots
    {
        let full = full_quality_from.and_then(|stream| full_quality_picture(&stream, &name));
        let (picture, kind) = match &full {
            Some(full) => (full, "a full-quality snapshot"),
            None => (&shown, "a snapshot"),
        };
        match save_new(directory, &name, picture) {
            Ok(path) => {
                log::info!("saved {kind} of '{name}' to {}", path.display());
                saved.push(path.display().to_string());
            }
            Err(error) => {
                log::warn!("cannot save a snapshot of '{name}': {error:#}");
                saved.push(format!("FAILED: {error}"));
            }
        }
    }
    match saved.as_slice() {
        [one] => format!("saved {one}"),
        many => format!("saved {} snapshots in {}", many.len(), directory.display()),
    }
}

/// The full-quality frame asked of `stream`, decoded; `None` (logged) when
/// it does not come within [`FULL_FRAME_WAIT`] or does not decode.
fn full_quality_picture(stream: &Stream, name: &str) -> Option<Picture> {
    let Some(jpeg) = smol::block_on(stream.full_frame().wait(FULL_FRAME_WAIT)) else {
        log::warn!(
            "'{name}': no full-quality frame came within {} s: saving the picture on screen",
            FULL_FRAME_WAIT.as_secs()
        );
        return None;
    };
    let mut rgba = Vec::new();
    match decode_rgba(&jpeg, DEFAULT_MAX_PIXELS, &mut rgba) {
        Ok((width, height)) => Some(Picture {
            width,
            height,
            pixels: Pixels::Rgba(rgba),
        }),
        Err(error) => {
            log::warn!(
                "'{name}': the full-quality frame does not decode ({error}): saving the picture on screen"
            );
            None
        }
    }
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

/// What became of one stream's last picture on exit.
pub enum LastPicture {
    /// Decoded and written as PNG.
    Saved(PathBuf),
    /// The exit's deadline came first: the JPEG as received was written.
    SavedAsReceived(PathBuf),
    /// The stream never decoded a picture.
    None,
    Failed(anyhow::Error),
}

/// Saves the last picture of each of `streams` into `directory` as PNG, on
/// a thread per core, for as long as `deadline` allows; the pictures not
/// saved by then are written as the JPEG received (a file write), and the
/// PNG files still being written are let go (each is written under a
/// temporary name first, so none is left half written under its own).
/// Returns what became of each, in the order of `streams`.
pub fn save_last_pictures(
    directory: &Path,
    streams: &[Arc<Stream>],
    deadline: Instant,
) -> Vec<LastPicture> {
    if let Err(error) = std::fs::create_dir_all(directory) {
        return streams
            .iter()
            .map(|_| {
                LastPicture::Failed(anyhow::anyhow!(
                    "cannot create {}: {error}",
                    directory.display()
                ))
            })
            .collect();
    }
    let queue = Arc::new(Mutex::new((0..streams.len()).collect::<VecDeque<usize>>()));
    let (done, finished) = mpsc::channel();
    let workers = std::thread::available_parallelism()
        .map_or(1, |cores| cores.get())
        .min(streams.len());
    for _ in 0..workers {
        let (queue, done, streams, directory) = (
            queue.clone(),
            done.clone(),
            streams.to_vec(),
            directory.to_owned(),
        );
        std::thread::spawn(move || {
            loop {
                // Taken in a statement of its own: the lock is let go at
                // once, not held while the picture is written.
                let next = lock(&queue).pop_front();
                let Some(index) = next else {
                    return;
                };
                let outcome = match save_as_png(&directory, &streams[index]) {
                    Ok(Some(path)) => LastPicture::Saved(path),
                    Ok(None) => LastPicture::None,
                    Err(error) => LastPicture::Failed(error),
                };
                if done.send((index, outcome)).is_err() {
                    return; // the exit went on without it
                }
            }
        });
    }
    drop(done);
    let mut outcomes: Vec<Option<LastPicture>> = streams.iter().map(|_| None).collect();
    while let Ok((index, outcome)) =
        finished.recv_timeout(deadline.saturating_duration_since(Instant::now()))
    {
        outcomes[index] = Some(outcome);
    }
    // No worker begins another picture from now on.
    lock(&queue).clear();
    outcomes
        .into_iter()
        .zip(streams)
        .map(|(outcome, stream)| outcome.unwrap_or_else(|| save_as_received(directory, stream)))
        .collect()
}

/// Decodes the last picture of `stream` and writes it into `directory` as
/// PNG; returns the path, or None when the stream never decoded a picture.
fn save_as_png(directory: &Path, stream: &Stream) -> anyhow::Result<Option<PathBuf>> {
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
    let (path, partial) = png_paths(directory, stream);
    write_png(&partial, &picture)?;
    std::fs::rename(&partial, &path)
        .with_context(|| format!("cannot rename {} to {}", partial.display(), path.display()))?;
    Ok(Some(path))
}

/// Where the PNG of `stream`'s last picture goes, and where it is written
/// first.
fn png_paths(directory: &Path, stream: &Stream) -> (PathBuf, PathBuf) {
    let path = directory.join(file_name(stream.id(), &stream.name(), "png"));
    let partial = path.with_extension("png.partial");
    (path, partial)
}

/// Writes the JPEG `stream` last decoded into `directory` as received, and
/// removes its PNG begun but not finished, if any.
fn save_as_received(directory: &Path, stream: &Stream) -> LastPicture {
    let _ = std::fs::remove_file(png_paths(directory, stream).1);
    let Some(newest) = stream.newest() else {
        return LastPicture::None;
    };
    let path = directory.join(file_name(stream.id(), &stream.name(), "jpg"));
    match std::fs::write(&path, &newest.jpeg) {
        Ok(()) => LastPicture::SavedAsReceived(path),
        Err(error) => {
            LastPicture::Failed(anyhow::anyhow!("cannot write {}: {error}", path.display()))
        }
    }
}

/// `stream-<id>-<name>.<extension>`, safe whatever the sender calls itself.
fn file_name(id: u64, name: &str, extension: &str) -> String {
    format!("stream-{id}-{}.{extension}", safe_stem(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_safe_whatever_the_sender_calls_itself() {
        assert_eq!(file_name(3, "porch", "png"), "stream-3-porch.png");
        assert_eq!(
            file_name(0, "../../etc/passwd", "png"),
            "stream-0-______etc_passwd.png"
        );
        assert_eq!(
            file_name(1, "127.0.0.1:5000", "png"),
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
