//! Camera-like pictures for the tests and benchmarks, made at run time.
//!
//! The test pattern is mostly flat colour: 30 KB a 720p frame at quality 80,
//! where a camera's frame is 60-100 KB. Codec costs grow with the data, so
//! figures measured on the pattern alone flatter the codecs. These clips
//! are ffmpeg's `testsrc2` (moving shapes, gradients, text) with sensor-like
//! temporal noise added (luma σ≈4, chroma σ≈1, new every frame), written as
//! Y4M (raw 4:2:0, which the sender encodes like a camera's frames) or as
//! MJPEG with a restart marker every MCU row (as ffmpeg writes it with slice
//! threads, and as some cameras do). Nothing large is kept in the
//! repository: each clip is made once under `target/content/` and reused.

use std::path::PathBuf;
use std::process::Command;

use framewire_sender::capture::file::FileSource;
use framewire_sender::capture::{Picture, PlanarImage, Source};

use crate::target_dir;

/// What a clip holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clip {
    /// Raw 4:2:0 frames (Y4M), for the sender's encoder.
    Raw,
    /// JPEG frames with restart intervals of one MCU row, passed through.
    MjpegWithRestarts,
}

/// The filter that makes a clean synthetic source look like a sensor.
const SENSOR_NOISE: &str = "noise=c0s=4:c1s=1:c2s=1:allf=t";

/// A camera-like clip of `frames` frames of `width` x `height` at 30 fps,
/// made with ffmpeg the first time it is asked for.
pub fn camera_like(clip: Clip, width: u32, height: u32, frames: u32) -> PathBuf {
    let dir = target_dir().join("content");
    std::fs::create_dir_all(&dir).unwrap();
    let extension = match clip {
        Clip::Raw => "y4m",
        Clip::MjpegWithRestarts => "mjpeg",
    };
    let path = dir.join(format!("camera-like-{width}x{height}-{frames}.{extension}"));
    if path.exists() {
        return path;
    }
    // Tests run at once may make the same clip; each writes its own file.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.subsec_nanos());
    let partial = path.with_extension(format!("{}-{nanos}.partial", std::process::id()));
    let source = format!("testsrc2=size={width}x{height}:rate=30");
    let mut ffmpeg = Command::new("ffmpeg");
    ffmpeg.args(["-loglevel", "error", "-y", "-f", "lavfi", "-i", &source]);
    match clip {
        Clip::Raw => ffmpeg.args(["-vf", &format!("{SENSOR_NOISE},format=yuv420p")]),
        Clip::MjpegWithRestarts => ffmpeg.args([
            "-vf",
            &format!("{SENSOR_NOISE},format=yuvj420p"),
            "-c:v",
            "mjpeg",
            "-q:v",
            "4",
            "-threads",
            "4",
            "-thread_type",
            "slice",
        ]),
    };
    let format = match clip {
        Clip::Raw => "yuv4mpegpipe",
        Clip::MjpegWithRestarts => "mjpeg",
    };
    let status = ffmpeg
        .args(["-frames:v", &frames.to_string(), "-f", format])
        .arg(&partial)
        .status()
        .expect("ffmpeg runs (apt-get install ffmpeg)");
    assert!(status.success(), "ffmpeg could not make {}", path.display());
    std::fs::rename(&partial, &path).unwrap();
    path
}

/// The first frame of a raw camera-like clip, as the sender's planes.
pub fn camera_like_picture(width: u32, height: u32) -> PlanarImage {
    let path = camera_like(Clip::Raw, width, height, 2);
    let mut source = FileSource::open(&path).unwrap();
    match source.next_frame().unwrap().unwrap().picture {
        Picture::Planar(image) => image,
        Picture::Jpeg { .. } => unreachable!("a Y4M clip holds raw frames"),
    }
}
