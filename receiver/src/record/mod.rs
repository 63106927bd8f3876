//! `--record DIR`: every stream written to its own MKV files, as received.
//!
//! Each connection that is recorded gets a thread that owns its files, fed
//! through a bounded queue, so a slow disk never stalls the socket or the
//! view: when the queue is full the frame is left out of the recording and
//! counted. The JPEGs go to disk unchanged (no re-encoding), stamped with
//! their capture time. A recording is cut into segments of
//! `--segment-minutes` (and whenever the picture size changes or the
//! sender's clock jumps); each segment is a complete file once closed, and
//! even a segment cut short by a crash plays up to its last second (see
//! [`matroska`]). On exit [`Recorder::finish`] closes every open segment.

pub mod matroska;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;
use framewire_proto::Frame;
use framewire_proto::jpeg::read_header;

use crate::files::{create_new_file, safe_stem, utc_stamp};
use crate::stats::StreamStats;
use matroska::{MatroskaWriter, VideoTrack};

/// Frames waiting for the disk, per stream (about 4 s at 30 fps).
const QUEUE_FRAMES: usize = 120;
/// Frames held in memory are written out after this long without a new one.
const IDLE_FLUSH: Duration = Duration::from_secs(1);
/// A capture-time jump bigger than this (a clock step) starts a new segment.
const CLOCK_JUMP_US: u64 = 60_000_000;

/// Starts and finishes the recordings of all streams.
pub struct Recorder {
    directory: PathBuf,
    segment_length: Duration,
    closing: Arc<AtomicBool>,
    writers: Mutex<Vec<JoinHandle<()>>>,
}

/// One connection's end of its recording.
pub struct StreamRecording {
    queue: SyncSender<Frame>,
    stream: Arc<StreamStats>,
    left_out: u64,
}

impl Recorder {
    /// Records into `directory` (created if needed), in segments of `segment_length`.
    pub fn new(directory: &Path, segment_length: Duration) -> anyhow::Result<Recorder> {
        std::fs::create_dir_all(directory).with_context(|| {
            format!(
                "cannot create the recording directory {}",
                directory.display()
            )
        })?;
        Ok(Recorder {
            directory: directory.to_path_buf(),
            segment_length,
            closing: Arc::new(AtomicBool::new(false)),
            writers: Mutex::new(Vec::new()),
        })
    }

    /// Starts recording `stream` on its own thread.
    pub fn start(&self, stream: Arc<StreamStats>) -> anyhow::Result<StreamRecording> {
        let (queue, frames) = sync_channel(QUEUE_FRAMES);
        let mut writer = SegmentWriter {
            directory: self.directory.clone(),
            segment_length: self.segment_length,
            stream: stream.clone(),
            segment: None,
        };
        let closing = self.closing.clone();
        let handle = std::thread::Builder::new()
            .name(format!("record-{}", stream.id))
            .spawn(move || writer.run(frames, &closing))
            .context("cannot start a recording thread")?;
        if let Ok(mut writers) = self.writers.lock() {
            writers.retain(|writer| !writer.is_finished());
            writers.push(handle);
        }
        Ok(StreamRecording {
            queue,
            stream,
            left_out: 0,
        })
    }

    /// Closes every open segment (on exit) and waits until they are on disk.
    pub fn finish(&self) {
        self.closing.store(true, Ordering::Release);
        let writers = self
            .writers
            .lock()
            .map(|mut writers| std::mem::take(&mut *writers))
            .unwrap_or_default();
        for writer in writers {
            let _ = writer.join();
        }
    }
}

impl StreamRecording {
    /// Queues `frame` for the disk; when the disk is behind, leaves it out.
    pub fn record(&mut self, frame: &Frame) {
        match self.queue.try_send(frame.clone()) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.left_out += 1;
                if self.left_out == 1 || self.left_out.is_multiple_of(100) {
                    log::warn!(
                        "recording of {}: the disk is behind, {} frames left out so far",
                        self.stream.label(),
                        self.left_out
                    );
                }
            }
            Err(TrySendError::Disconnected(_)) => {} // its writer failed and said why
        }
    }
}

/// The file being written and what it needs to place frames in time.
struct Segment {
    path: PathBuf,
    writer: MatroskaWriter<File>,
    first_capture_us: u64,
    last_capture_us: u64,
    size: (u32, u32),
}

/// The recording thread of one stream.
struct SegmentWriter {
    directory: PathBuf,
    segment_length: Duration,
    stream: Arc<StreamStats>,
    segment: Option<Segment>,
}

impl SegmentWriter {
    fn run(&mut self, frames: Receiver<Frame>, closing: &AtomicBool) {
        let mut last_frame_at = Instant::now();
        while !closing.load(Ordering::Acquire) {
            let result = match frames.recv_timeout(Duration::from_millis(200)) {
                Ok(frame) => {
                    last_frame_at = Instant::now();
                    self.write(&frame)
                }
                Err(RecvTimeoutError::Timeout) if last_frame_at.elapsed() >= IDLE_FLUSH => self
                    .segment
                    .as_mut()
                    .map_or(Ok(()), |segment| Ok(segment.writer.write_cluster()?)),
                Err(RecvTimeoutError::Timeout) => Ok(()),
                Err(RecvTimeoutError::Disconnected) => break,
            };
            if let Err(error) = result {
                log::error!("recording of {} stopped: {error:#}", self.stream.label());
                break;
            }
        }
        self.close_segment();
    }

    fn write(&mut self, frame: &Frame) -> anyhow::Result<()> {
        let Ok(header) = read_header(&frame.image) else {
            return Ok(()); // not a JPEG: nothing a player could show either
        };
        let size = (header.width, header.height);
        let capture_us = match frame.capture_time_us {
            0 => framewire_proto::unix_time_us(), // the prototype sends none
            stamped => stamped,
        };
        if let Some(segment) = &self.segment {
            let span = capture_us.saturating_sub(segment.first_capture_us);
            let stepped = capture_us + CLOCK_JUMP_US < segment.last_capture_us
                || capture_us > segment.last_capture_us + CLOCK_JUMP_US;
            if segment.size != size || stepped || span >= self.segment_length.as_micros() as u64 {
                self.close_segment();
            }
        }
        let segment = match &mut self.segment {
            Some(segment) => segment,
            None => self.segment.insert(self.open_segment(size, capture_us)?),
        };
        let time_ms = capture_us.saturating_sub(segment.first_capture_us) / 1000;
        segment
            .writer
            .write_frame(time_ms, &frame.image)
            .with_context(|| format!("cannot write to {}", segment.path.display()))?;
        segment.last_capture_us = capture_us;
        Ok(())
    }

    fn open_segment(&self, size: (u32, u32), capture_us: u64) -> anyhow::Result<Segment> {
        let name = self.stream.name();
        let stem = format!(
            "{}-{}",
            safe_stem(&name),
            utc_stamp(framewire_proto::unix_time_us() / 1_000_000)
        );
        let (path, file) = create_new_file(&self.directory, &stem, "mkv")?;
        let track = VideoTrack {
            width: size.0,
            height: size.1,
            title: &name,
            start_unix_us: capture_us,
        };
        let writer = MatroskaWriter::create(file, &track)
            .with_context(|| format!("cannot write to {}", path.display()))?;
        log::info!("recording {} to {}", self.stream.label(), path.display());
        Ok(Segment {
            path,
            writer,
            first_capture_us: capture_us,
            last_capture_us: capture_us,
            size,
        })
    }

    fn close_segment(&mut self) {
        let Some(segment) = self.segment.take() else {
            return;
        };
        let frames = segment.writer.frames();
        let closed = segment
            .writer
            .finish()
            .and_then(|(file, duration_ms)| file.sync_data().map(|()| duration_ms));
        match closed {
            Ok(duration_ms) => log::info!(
                "closed {}: {frames} frames, {:.1} s",
                segment.path.display(),
                duration_ms / 1000.0
            ),
            Err(error) => log::error!(
                "cannot complete {} (it plays, without an index): {error}",
                segment.path.display()
            ),
        }
    }
}
