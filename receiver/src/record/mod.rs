//! `--record DIR`: every stream written to its own MKV files, as received.
//!
//! Each connection that is recorded gets a thread that owns its files, fed
//! through a queue bounded in bytes (per stream, and by the receiver's
//! memory budget) that holds only the JPEG bytes, so neither a slow or stuck
//! disk nor a peer's padding can grow the receiver: when the queue is full
//! the frame is left out of the recording and counted. The JPEGs go to disk
//! unchanged (no re-encoding), stamped with their capture time. A recording
//! is cut into segments of `--segment-minutes`, and whenever the picture
//! size changes or the sender's clock jumps, but a stream starts a new file
//! at most every [`MIN_SEGMENT_GAP`]: frames that do not fit the current file
//! meanwhile are left out and counted. After a write error (a full disk, an
//! I/O error, a removed directory) the recorder tries a new file every
//! [`RETRY_INTERVAL`] and logs when it records again. Each segment is a
//! complete file once closed, and even a segment cut short by a crash plays
//! up to its last second (see [`matroska`]). On exit [`Recorder::finish`]
//! closes every open segment, waiting a bounded time for a stuck disk.

pub mod matroska;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use framewire_proto::Frame;
use framewire_proto::jpeg::read_header;
use framewire_proto::lock::lock;

use crate::budget::{Charge, MemoryBudget};
use crate::files::{create_new_file, safe_stem, utc_stamp};
use crate::stream::{Stream, worth_a_log_line};
use matroska::{MatroskaWriter, VideoTrack};

/// Bytes of JPEG waiting for the disk, per stream (seconds of video at
/// camera bit rates).
const QUEUE_BYTES: usize = 32 * 1024 * 1024;
/// What one queued frame costs besides its JPEG bytes.
const QUEUED_FRAME_OVERHEAD: usize = 256;
/// Frames held in memory are written out after this long without a new one.
const IDLE_FLUSH: Duration = Duration::from_secs(1);
/// A capture-time jump bigger than this (a clock step) starts a new segment.
const CLOCK_JUMP_US: u64 = 60_000_000;
/// A stream starts a new file at most this often.
pub const MIN_SEGMENT_GAP: Duration = Duration::from_secs(5);
/// After a write error, a new file is tried this often.
pub const RETRY_INTERVAL: Duration = Duration::from_secs(5);

/// Starts and finishes the recordings of all streams.
pub struct Recorder {
    directory: PathBuf,
    segment_length: Duration,
    budget: Arc<MemoryBudget>,
    closing: Arc<AtomicBool>,
    /// Cloned into every writer thread, which drops it when it ends; taken
    /// away by [`Recorder::finish`], so `all_finished` then disconnects once
    /// every writer is done.
    writers: Mutex<Option<Sender<()>>>,
    all_finished: Mutex<Receiver<()>>,
}

/// A frame on its way to the disk: its JPEG bytes only, paid for twice
/// (the stream's queue and the receiver's budget).
struct Queued {
    jpeg: Bytes,
    capture_time_us: u64,
    _in_queue: Charge,
    _in_budget: Charge,
}

/// One connection's end of its recording.
pub struct StreamRecording {
    queue: Sender<Queued>,
    queue_budget: Arc<MemoryBudget>,
    budget: Arc<MemoryBudget>,
    stream: Arc<Stream>,
    left_out: u64,
}

impl Recorder {
    /// Records into `directory` (created if needed), in segments of
    /// `segment_length`, with queued frames charged to `budget`.
    pub fn new(
        directory: &Path,
        segment_length: Duration,
        budget: Arc<MemoryBudget>,
    ) -> anyhow::Result<Recorder> {
        std::fs::create_dir_all(directory).with_context(|| {
            format!(
                "cannot create the recording directory {}",
                directory.display()
            )
        })?;
        let (writers, all_finished) = channel();
        Ok(Recorder {
            directory: directory.to_path_buf(),
            segment_length,
            budget,
            closing: Arc::new(AtomicBool::new(false)),
            writers: Mutex::new(Some(writers)),
            all_finished: Mutex::new(all_finished),
        })
    }

    /// Starts recording `stream` on its own thread.
    pub fn start(&self, stream: Arc<Stream>) -> anyhow::Result<StreamRecording> {
        let (queue, frames) = channel();
        let mut writer = SegmentWriter {
            directory: self.directory.clone(),
            segment_length: self.segment_length,
            stream: stream.clone(),
            segment: None,
            last_opened: None,
            failed: None,
            left_out: 0,
        };
        let closing = self.closing.clone();
        let running = lock(&self.writers)
            .clone()
            .context("the receiver is stopping")?;
        std::thread::Builder::new()
            .name(format!("record-{}", stream.id()))
            .spawn(move || {
                writer.run(frames, &closing);
                drop(running);
            })
            .context("cannot start a recording thread")?;
        Ok(StreamRecording {
            queue,
            queue_budget: MemoryBudget::new(QUEUE_BYTES),
            budget: self.budget.clone(),
            stream,
            left_out: 0,
        })
    }

    /// Closes every open segment (on exit) and waits until they are on disk,
    /// or `timeout` has passed (a stuck disk); true when all were closed.
    pub fn finish(&self, timeout: Duration) -> bool {
        self.closing.store(true, Ordering::Release);
        drop(lock(&self.writers).take());
        let all_finished = lock(&self.all_finished);
        // Nothing is sent: this returns when the last writer has ended.
        let finished = all_finished.recv_timeout(timeout) == Err(RecvTimeoutError::Disconnected);
        if !finished {
            log::error!(
                "a recording is still being written {timeout:?} after the stop (is the disk \
                 stuck?); exiting without it: its last file plays but may lack its index"
            );
        }
        finished
    }
}

impl StreamRecording {
    /// Queues `frame`'s JPEG for the disk; when the disk is behind (the
    /// queue or the memory budget is full), leaves it out.
    pub fn record(&mut self, frame: &Frame) {
        let cost = frame.image.len() + QUEUED_FRAME_OVERHEAD;
        let charges = self
            .queue_budget
            .charge(cost)
            .and_then(|in_queue| Some((in_queue, self.budget.charge(cost)?)));
        let Some((in_queue, in_budget)) = charges else {
            self.left_out += 1;
            log_left_out(&self.stream, self.left_out, "the disk is behind");
            return;
        };
        // A copy: the frame's bytes share the whole received message.
        let queued = Queued {
            jpeg: Bytes::copy_from_slice(&frame.image),
            capture_time_us: frame.capture_time_us,
            _in_queue: in_queue,
            _in_budget: in_budget,
        };
        let _ = self.queue.send(queued); // its writer may have ended: it said why
    }
}

/// Logs (throttled) that `stream`'s recording has left out `left_out`
/// frames so far, and why.
fn log_left_out(stream: &Stream, left_out: u64, why: &str) {
    if worth_a_log_line(left_out) {
        log::warn!(
            "recording of {}: {left_out} frames left out so far ({why})",
            stream.label()
        );
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
    stream: Arc<Stream>,
    segment: Option<Segment>,
    /// When the current (or last) file was opened.
    last_opened: Option<Instant>,
    /// Since when writing fails, and when to try again.
    failed: Option<Instant>,
    /// Frames left out since the last log line about them.
    left_out: u64,
}

impl SegmentWriter {
    fn run(&mut self, frames: Receiver<Queued>, closing: &AtomicBool) {
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
                self.fail(error);
            }
        }
        self.close_segment();
    }

    /// A write failed: the file is closed as far as it goes, and frames are
    /// left out until the next try.
    fn fail(&mut self, error: anyhow::Error) {
        if self.failed.is_none() {
            log::error!(
                "recording of {} paused: {error:#}; trying a new file every {} s",
                self.stream.label(),
                RETRY_INTERVAL.as_secs()
            );
        }
        self.failed = Some(Instant::now());
        if let Some(segment) = self.segment.take() {
            let _ = segment.writer.finish(); // whatever reached the disk still plays
        }
    }

    fn leave_out(&mut self, why: &str) {
        self.left_out += 1;
        log_left_out(&self.stream, self.left_out, why);
    }

    fn write(&mut self, frame: &Queued) -> anyhow::Result<()> {
        if self
            .failed
            .is_some_and(|since| since.elapsed() < RETRY_INTERVAL)
        {
            self.leave_out("the last write failed; trying again soon");
            return Ok(());
        }
        let Ok(header) = read_header(&frame.jpeg) else {
            return Ok(()); // not a JPEG: nothing a player could show either
        };
        let size = (header.width, header.height);
        let capture_us = match frame.capture_time_us {
            0 => framewire_proto::unix_time_us(), // the prototype sends none
            stamped => stamped,
        };
        if let Some(segment) = &self.segment {
            let span = capture_us.saturating_sub(segment.first_capture_us);
            let stepped = capture_us.saturating_add(CLOCK_JUMP_US) < segment.last_capture_us
                || capture_us > segment.last_capture_us.saturating_add(CLOCK_JUMP_US);
            let changed = segment.size != size || stepped;
            if changed && self.opened_recently() {
                self.leave_out("its picture size or clock changed too soon after the file began");
                return Ok(());
            }
            if changed || span >= self.segment_length.as_micros() as u64 {
                self.close_segment();
            }
        }
        let segment = match &mut self.segment {
            Some(segment) => segment,
            None => {
                let opened = self.open_segment(size, capture_us)?;
                self.last_opened = Some(Instant::now());
                if self.failed.take().is_some() {
                    log::info!(
                        "recording of {} resumed in {}",
                        self.stream.label(),
                        opened.path.display()
                    );
                }
                self.segment.insert(opened)
            }
        };
        let time_ms = capture_us.saturating_sub(segment.first_capture_us) / 1000;
        segment
            .writer
            .write_frame(time_ms, &frame.jpeg)
            .with_context(|| format!("cannot write to {}", segment.path.display()))?;
        segment.last_capture_us = capture_us;
        Ok(())
    }

    fn opened_recently(&self) -> bool {
        self.last_opened
            .is_some_and(|opened| opened.elapsed() < MIN_SEGMENT_GAP)
    }

    fn open_segment(&self, size: (u32, u32), capture_us: u64) -> anyhow::Result<Segment> {
        std::fs::create_dir_all(&self.directory)
            .with_context(|| format!("cannot create {}", self.directory.display()))?;
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
