//! Capturing from a V4L2 camera, surviving everything a camera does.
//!
//! [`V4l2Source`] opens the device, applies `--ctrl` settings, chooses a
//! mode with [`negotiate`], and streams through [`stream::MappedStream`],
//! which always hands out the newest frame. MJPEG frames are repaired
//! ([`mjpeg_repair`]) and passed through; raw frames are
//! rearranged into planes ([`raw`]) for the encoder. Each
//! frame's capture time comes from the driver's monotonic timestamp,
//! converted to Unix time with one offset measured when streaming starts.
//!
//! When the camera is unplugged, fails or goes silent for
//! `frame_timeout`, the source logs it, closes the device and tries to
//! reopen the same path (a `/dev/v4l/by-id/...` path finds the same camera
//! after a replug) every half second, while the transport keeps the
//! connection to the receiver alive. Only a camera that is present but
//! unusable when the sender starts (no usable format, a bad `--ctrl`) is a
//! fatal error, because no amount of waiting fixes a wrong setting.

pub mod device;
pub mod format;
pub mod mjpeg_repair;
pub mod negotiate;
pub mod raw;
pub mod stream;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use framewire_proto::shutdown::StopSignal;
use framewire_proto::unix_time_us;

use self::device::{Mode, describe_rate};
use self::format::PixelFormat;
use self::mjpeg_repair::Rejected;
use self::negotiate::Request;
use self::stream::{FrameInfo, MappedStream};
use super::{Picture, RawFrame, Source};
use crate::stats::SenderStats;

/// Buffers mapped from the driver: one being read, the rest being filled.
pub const BUFFER_COUNT: u32 = 4;
/// How often a missing camera is looked for again.
const REOPEN_INTERVAL: Duration = Duration::from_millis(500);
/// The longest single wait for a frame, so a stop request is seen quickly.
const POLL_SLICE: Duration = Duration::from_millis(200);

/// Everything the user said about the camera.
#[derive(Clone, Debug)]
pub struct CameraSettings {
    pub path: PathBuf,
    pub request: Request,
    /// `--ctrl NAME=VALUE`, in order.
    pub controls: Vec<(String, String)>,
    /// Send truncated MJPEG frames (closed with an end marker) instead of dropping them.
    pub allow_truncated: bool,
    /// Reopen the camera when it delivers nothing for this long.
    pub frame_timeout: Duration,
}

pub struct V4l2Source {
    settings: CameraSettings,
    stats: Arc<SenderStats>,
    stop: StopSignal,
    session: Option<Session>,
    /// The first open worked: failures from now on are waited out.
    opened_once: bool,
    /// The current outage has been logged.
    outage_logged: bool,
    /// Closed on purpose while nobody watched: reopening is no outage.
    released: bool,
    last_frame: Instant,
    sequence: u64,
}

/// An open, streaming camera. The stream is declared first so that it is
/// stopped and unmapped before the device closes.
struct Session {
    stream: MappedStream,
    _device: v4l::Device,
    mode: Mode,
    /// Unix time minus monotonic time, in microseconds, when streaming began.
    clock_offset_us: i64,
}

/// Why a camera could not be opened.
enum OpenFailure {
    /// The device node is not there (yet, or any more).
    Absent(anyhow::Error),
    /// The device is there but cannot be used as asked.
    Unusable(anyhow::Error),
}

impl V4l2Source {
    pub fn new(settings: CameraSettings, stats: Arc<SenderStats>, stop: StopSignal) -> V4l2Source {
        V4l2Source {
            settings,
            stats,
            stop,
            session: None,
            opened_once: false,
            outage_logged: false,
            released: false,
            last_frame: Instant::now(),
            sequence: 0,
        }
    }

    /// Opens the camera once, so that a wrong setting is reported before
    /// anything else starts; a camera that is not plugged in yet is waited for.
    pub fn open_now(&mut self) -> anyhow::Result<()> {
        self.ensure_session().map(|_| ())
    }

    /// Makes sure a session is open; `Ok(false)` while waiting for the camera.
    fn ensure_session(&mut self) -> anyhow::Result<bool> {
        if self.session.is_some() {
            return Ok(true);
        }
        match Session::open(&self.settings) {
            Ok(session) => {
                let mode = session.mode;
                log::info!(
                    "camera: {} streaming {} {}x{} at {} ({} buffers)",
                    self.settings.path.display(),
                    mode.format,
                    mode.layout.width,
                    mode.layout.height,
                    describe_rate(mode.fps),
                    session.stream.buffer_count()
                );
                if self.opened_once && !self.released {
                    self.stats.camera_reopened();
                }
                self.released = false;
                self.session = Some(session);
                self.opened_once = true;
                self.outage_logged = false;
                self.last_frame = Instant::now();
                Ok(true)
            }
            Err(OpenFailure::Unusable(error)) if !self.opened_once => Err(error),
            Err(OpenFailure::Absent(error) | OpenFailure::Unusable(error)) => {
                if !self.outage_logged {
                    log::warn!(
                        "camera: {error:#}; waiting for it (trying again every {} ms)",
                        REOPEN_INTERVAL.as_millis()
                    );
                    self.outage_logged = true;
                }
                Ok(false)
            }
        }
    }

    fn close(&mut self, why: &str) {
        log::warn!(
            "camera: {why}; closing {} and waiting for it to come back",
            self.settings.path.display()
        );
        self.session = None;
        self.outage_logged = true;
    }

    /// Sleeps up to `duration`, waking early when the sender stops.
    fn pause(&self, duration: Duration) {
        let until = Instant::now() + duration;
        while !self.stop.is_stopped() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(20).min(until - Instant::now()));
        }
    }
}

impl Source for V4l2Source {
    fn next_frame(&mut self) -> anyhow::Result<Option<RawFrame>> {
        loop {
            if self.stop.is_stopped() {
                return Ok(None);
            }
            if !self.ensure_session()? {
                self.pause(REOPEN_INTERVAL);
                continue;
            }
            let allow_truncated = self.settings.allow_truncated;
            let session = self.session.as_mut().expect("opened above");
            let (mode, offset) = (session.mode, session.clock_offset_us);
            let taken = session.stream.with_newest(POLL_SLICE, |data, info| {
                (info, read_picture(data, info, mode, allow_truncated))
            });
            match taken {
                Ok(Some((info, picture))) => {
                    self.last_frame = Instant::now();
                    self.stats.camera_skipped(info.skipped as u64);
                    self.sequence += 1 + info.skipped as u64;
                    match picture {
                        Ok(picture) => {
                            return Ok(Some(RawFrame {
                                picture,
                                sequence: self.sequence - 1,
                                capture_time_us: capture_time(info, offset),
                            }));
                        }
                        Err(problem) => {
                            let count = self.stats.camera_rejected();
                            if count.is_power_of_two() {
                                log::warn!("camera: frame dropped ({count} so far): {problem}");
                            }
                        }
                    }
                }
                Ok(None) => {
                    let silent = self.last_frame.elapsed();
                    if silent >= self.settings.frame_timeout {
                        self.close(&format!("no frame for {:.1} s", silent.as_secs_f64()));
                    }
                }
                Err(error) => self.close(&format!("capture failed: {error}")),
            }
        }
    }

    fn discard_stale(&mut self) -> u64 {
        let Some(session) = &mut self.session else {
            return 0;
        };
        match session.stream.discard_ready() {
            Ok(discarded) => discarded,
            Err(error) => {
                self.close(&format!("capture failed: {error}"));
                0
            }
        }
    }

    fn release(&mut self) {
        if self.session.take().is_some() {
            log::info!("camera: closed {}", self.settings.path.display());
            self.released = true;
        }
    }

    fn describe(&self) -> String {
        match &self.session {
            Some(session) => format!(
                "camera {} ({} {}x{})",
                self.settings.path.display(),
                session.mode.format,
                session.mode.layout.width,
                session.mode.layout.height
            ),
            None => format!("camera {}", self.settings.path.display()),
        }
    }

    fn needs_pacing(&self) -> bool {
        false
    }
}

impl Session {
    fn open(settings: &CameraSettings) -> Result<Session, OpenFailure> {
        let path = &settings.path;
        if !path.exists() {
            return Err(OpenFailure::Absent(anyhow::anyhow!(
                "{} does not exist (see `framewire-sender --list-devices`)",
                path.display()
            )));
        }
        let camera = device::open_capture(path).map_err(OpenFailure::Absent)?;
        let unusable = OpenFailure::Unusable;
        device::set_controls(&camera, &settings.controls).map_err(unusable)?;
        let request = settings.request;
        let offers = device::read_offers(&camera, (request.width, request.height))
            .with_context(|| format!("cannot list the formats of {}", path.display()))
            .map_err(unusable)?;
        let choice = negotiate::choose(&offers, request)
            .with_context(|| format!("{} cannot stream as asked", path.display()))
            .map_err(unusable)?;
        log::info!("camera: chose {}: {}", choice.describe(), choice.reason);
        let mode = device::configure(&camera, &choice).map_err(unusable)?;
        let stream = MappedStream::start(&camera, BUFFER_COUNT)
            .with_context(|| format!("cannot start streaming from {}", path.display()))
            .map_err(unusable)?;
        Ok(Session {
            stream,
            _device: camera,
            mode,
            clock_offset_us: unix_time_us() as i64 - monotonic_us() as i64,
        })
    }
}

/// Turns one camera buffer into a picture, copying it out of the buffer.
fn read_picture(
    data: &[u8],
    info: FrameInfo,
    mode: Mode,
    allow_truncated: bool,
) -> anyhow::Result<Picture> {
    if info.damaged {
        anyhow::bail!("the driver marked frame {} as damaged", info.sequence);
    }
    if mode.format == PixelFormat::Mjpeg {
        let repaired =
            mjpeg_repair::repair(data, allow_truncated).map_err(|rejected| match rejected {
                Rejected::Truncated(_) => {
                    anyhow::anyhow!("{rejected} (--allow-truncated sends such frames)")
                }
                other => anyhow::anyhow!("{other}"),
            })?;
        return Ok(Picture::Jpeg {
            data: repaired.jpeg,
            width: repaired.width,
            height: repaired.height,
        });
    }
    raw::to_planar(data, mode.layout).map(Picture::Planar)
}

/// The frame's capture time in Unix microseconds: the driver's monotonic
/// stamp moved by the stream's clock offset, or now when the driver gives
/// no usable stamp.
fn capture_time(info: FrameInfo, clock_offset_us: i64) -> u64 {
    let now = unix_time_us();
    match info.monotonic_us {
        Some(stamp) => {
            let unix = (stamp as i64 + clock_offset_us) as u64;
            // A stamp from the future or over 10 s old is a driver bug.
            if unix > now || now - unix > 10_000_000 {
                now
            } else {
                unix
            }
        }
        None => now,
    }
}

/// The monotonic clock, in microseconds, as V4L2 stamps buffers with it.
fn monotonic_us() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    now.tv_sec as u64 * 1_000_000 + now.tv_nsec as u64 / 1000
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(monotonic_us: Option<u64>) -> FrameInfo {
        FrameInfo {
            bytes_used: 0,
            sequence: 0,
            monotonic_us,
            damaged: false,
            skipped: 0,
        }
    }

    #[test]
    fn capture_times_come_from_the_driver_stamp() {
        // The wall clock may be stepped or slewed between two readings (CI
        // once saw it go back 1 µs), so the ages allow a millisecond of it.
        const CLOCK_SLACK: i64 = 1_000;
        let offset = unix_time_us() as i64 - monotonic_us() as i64;
        let taken_20ms_ago = monotonic_us() - 20_000;
        let unix = capture_time(info(Some(taken_20ms_ago)), offset);
        let age = unix_time_us() as i64 - unix as i64;
        assert!(
            (20_000 - CLOCK_SLACK..1_000_000).contains(&age),
            "age {age} µs"
        );
        // No stamp, or a nonsense one: the time of reading.
        for stamp in [None, Some(1), Some(taken_20ms_ago + 60_000_000)] {
            let age = unix_time_us() as i64 - capture_time(info(stamp), offset) as i64;
            assert!(
                (-CLOCK_SLACK..1_000_000).contains(&age),
                "{stamp:?}: age {age} µs"
            );
        }
    }
}
