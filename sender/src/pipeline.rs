//! The capture thread and the encoder workers: which picture gets encoded,
//! and in what order frames leave.
//!
//! One capture thread takes pictures from the source (paced when the source
//! has no clock of its own, repeated pictures skipped with
//! `--drop-same-frames`) only when an encoder worker is free to take them,
//! so nothing waits in a queue and every picture encoded is the newest the
//! source has (a camera hands out the newest of its ready frames).
//! `--workers` encoders run in parallel, each frame tagged with a ticket in
//! capture order, and a finished frame waits for the ones before it, so
//! frames leave in capture order. They go into the
//! transport's latest-frame slot, where a newer frame replaces one the
//! network had no time to send. How a picture becomes a JPEG is the
//! [`crate::encoder`]'s business; a camera's JPEG is passed through.
//!
//! While no receiver is connected or the receiver has paused the stream
//! (the [`Audience`] says), nothing is captured or encoded; after
//! `idle_close` without a receiver the source lets go of its camera, and
//! the first frame after a connection or a resume is a fresh one.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use framewire_proto::Frame;
use framewire_proto::lock::lock;
use framewire_proto::shutdown::StopSignal;
use framewire_proto::slot::SlotSender;

use crate::adapt::ladder::MIN_HALVED_WIDTH;
use crate::adapt::{Adaptation, FrameGate, Rung};
use crate::audience::Audience;
use crate::capture::same_frames::SameFrameFilter;
use crate::capture::{Pacer, Picture, RawFrame, Source};
use crate::encoder::JpegEncoder;
use crate::halve::halved;
use crate::stats::SenderStats;

/// How often the capture thread, waiting for a free worker, looks at the
/// stop signal.
const WORKER_POLL: Duration = Duration::from_millis(5);
/// How often the capture thread, holding back a picture for a frame rate
/// limit, looks at the limit, the audience and the stop signal.
const GATE_POLL: Duration = Duration::from_millis(50);
/// How often the capture thread, waiting for a receiver, looks at the
/// stop signal and the idle time.
const AUDIENCE_POLL: Duration = Duration::from_millis(100);

/// Where and how capture and encoding run.
pub struct Pipeline<'a> {
    pub encoder: JpegEncoder,
    /// Encoder threads; frames still leave in capture order.
    pub workers: usize,
    pub stream_name: String,
    /// Stop after this many pictures (`--frames`).
    pub frame_limit: Option<u64>,
    /// Paces sources that have no clock of their own.
    pub pacer: Pacer,
    /// `--drop-same-frames`.
    pub same_frames: Option<SameFrameFilter>,
    /// Whether a receiver is connected: nothing is captured without one.
    pub audience: &'a Audience,
    /// Without a receiver for this long, the source releases its camera.
    pub idle_close: Duration,
    /// The quality, size and frame rate the link and the receiver take.
    pub adaptation: &'a Adaptation,
    pub stats: &'a SenderStats,
    pub stop: &'a StopSignal,
}

impl Pipeline<'_> {
    /// Takes pictures from `source`, encodes each and puts it in `output`,
    /// until stopped, the frame limit is reached or the source fails.
    /// A picture that fails to encode is logged, counted and skipped.
    pub fn run(
        &mut self,
        source: &mut dyn Source,
        output: SlotSender<Frame>,
    ) -> anyhow::Result<()> {
        log::info!("source: {}", source.describe());
        let handoff = Handoff::default();
        let workers = self.workers.max(1);
        handoff.lock().live_workers = workers;
        std::thread::scope(|scope| {
            for _ in 0..workers {
                let (handoff, output) = (&handoff, output.clone());
                let worker = Worker {
                    encoder: self.encoder.clone(),
                    stream_name: self.stream_name.clone(),
                    adaptation: self.adaptation,
                    stats: self.stats,
                    stop: self.stop,
                };
                scope.spawn(move || worker.run(handoff, &output));
            }
            drop(output);
            let result = self.capture(source, &handoff);
            handoff.close();
            result
        })
    }

    /// The capture thread: one picture each time a worker is free.
    fn capture(&mut self, source: &mut dyn Source, handoff: &Handoff) -> anyhow::Result<()> {
        let mut taken = 0;
        let mut gate = FrameGate::default();
        while !self.stop.is_stopped() && self.frame_limit.is_none_or(|limit| taken < limit) {
            if !self.wait_for_audience(source) {
                break; // stopping
            }
            if source.needs_pacing() {
                self.pacer.wait();
                self.wait_for_gate(&gate);
            }
            if !handoff.wait_for_free_worker(self.stop) {
                break; // the workers are gone: the transport ended
            }
            let started = Instant::now();
            let Some(raw) = source.next_frame()? else {
                break;
            };
            self.stats.captured(started.elapsed());
            if !self.adaptation.admit(&mut gate, Instant::now()) {
                self.stats.rate_skipped();
                continue;
            }
            if let Some(filter) = &mut self.same_frames
                && !filter.should_send(&raw.picture, Instant::now())
            {
                self.stats.same_skipped();
                continue;
            }
            taken += 1;
            handoff.give(raw);
        }
        Ok(())
    }

    /// Sleeps until the gate lets the next picture through at the limit
    /// that holds now, looking every [`GATE_POLL`] whether the limit
    /// changed, the receiver went or paused, or the sender stops: a limit
    /// lifted or raised meanwhile takes effect within that time.
    fn wait_for_gate(&self, gate: &FrameGate) {
        loop {
            let Some(due) = gate.due(self.adaptation.status().max_fps) else {
                return;
            };
            let now = Instant::now();
            if due <= now || self.stop.is_stopped() || !self.audience.wants_frames() {
                return;
            }
            std::thread::sleep((due - now).min(GATE_POLL));
        }
    }

    /// Returns at once while a receiver wants frames; else captures nothing
    /// until one does, releasing the source after `idle_close` without a
    /// receiver (a paused stream keeps it, to resume at once). False when
    /// the sender stops meanwhile.
    fn wait_for_audience(&mut self, source: &mut dyn Source) -> bool {
        if self.audience.wants_frames() {
            return true;
        }
        if self.audience.is_paused() {
            log::info!(
                "the receiver paused the stream (nobody sees it): capturing nothing until it resumes"
            );
        } else {
            log::info!("no receiver connected: capturing nothing until one is");
        }
        let mut released = false;
        while !self.audience.wait_until_wanted(AUDIENCE_POLL) {
            if self.stop.is_stopped() {
                return false;
            }
            let unwatched = self.audience.unwatched_for();
            if !released && unwatched.is_some_and(|unwatched| unwatched >= self.idle_close) {
                log::info!(
                    "no receiver for {:.0} s (--idle-close): releasing the source",
                    self.idle_close.as_secs_f64()
                );
                source.release();
                released = true;
            }
        }
        log::info!("a receiver wants frames: capturing");
        if !released {
            // A camera went on filling its buffers meanwhile: start fresh.
            self.stats.camera_skipped(source.discard_stale());
        }
        true
    }
}

/// Hands pictures from the capture thread to idle workers and lets
/// finished frames out in the order they were captured.
#[derive(Default)]
struct Handoff {
    state: Mutex<HandoffState>,
    changed: Condvar,
}

#[derive(Default)]
struct HandoffState {
    /// Workers waiting for a picture.
    idle_workers: usize,
    /// Workers that are still running.
    live_workers: usize,
    waiting: Option<RawFrame>,
    closed: bool,
    /// Ticket of the next picture given to a worker.
    next_ticket: u64,
    /// Ticket of the next frame allowed out.
    next_out: u64,
}

impl Handoff {
    fn lock(&self) -> MutexGuard<'_, HandoffState> {
        lock(&self.state)
    }

    /// Blocks until a worker is idle and no picture is waiting for it.
    /// False when no worker is left or the sender stops.
    fn wait_for_free_worker(&self, stop: &StopSignal) -> bool {
        loop {
            let state = self.lock();
            let (state, _) = self
                .changed
                .wait_timeout_while(state, WORKER_POLL, |state| {
                    state.waiting.is_some() || (state.idle_workers == 0 && state.live_workers > 0)
                })
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if state.live_workers == 0 || stop.is_stopped() {
                return false;
            }
            if state.waiting.is_none() && state.idle_workers > 0 {
                return true;
            }
        }
    }

    fn give(&self, frame: RawFrame) {
        self.lock().waiting = Some(frame);
        self.changed.notify_all();
    }

    /// No more pictures: idle workers finish.
    fn close(&self) {
        self.lock().closed = true;
        self.changed.notify_all();
    }

    /// A worker's wait for its next picture, with its ticket; `None` once closed.
    fn take(&self) -> Option<(RawFrame, u64)> {
        let mut state = self.lock();
        state.idle_workers += 1;
        self.changed.notify_all();
        let mut state = self
            .changed
            .wait_while(state, |state| state.waiting.is_none() && !state.closed)
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        state.idle_workers -= 1;
        let frame = state.waiting.take()?;
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        Some((frame, ticket))
    }

    /// Waits until every frame captured before `ticket` has left, runs
    /// `send`, and lets the next one go.
    fn in_order(&self, ticket: u64, stop: &StopSignal, send: impl FnOnce()) {
        let mut state = self.lock();
        while state.next_out != ticket && !stop.is_stopped() {
            state = self
                .changed
                .wait_timeout(state, Duration::from_millis(100))
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
        }
        send();
        state.next_out = ticket + 1;
        drop(state);
        self.changed.notify_all();
    }
}

/// One encoder worker: picture in, JPEG frame out, until the handoff closes.
struct Worker<'a> {
    encoder: JpegEncoder,
    stream_name: String,
    adaptation: &'a Adaptation,
    stats: &'a SenderStats,
    stop: &'a StopSignal,
}

impl Worker<'_> {
    fn run(&self, handoff: &Handoff, output: &SlotSender<Frame>) {
        let stats = self.stats;
        while let Some((raw, ticket)) = handoff.take() {
            #[cfg(debug_assertions)]
            fault_point(raw.sequence);
            let started = Instant::now();
            let (status, full_quality) = self.adaptation.for_next_picture();
            let encoded = self.encode(raw.picture, raw.sequence, status.rung);
            let took = started.elapsed();
            let mut transport_gone = false;
            handoff.in_order(ticket, self.stop, || {
                let Some(picture) = encoded else {
                    return;
                };
                stats.encoded(took);
                let frame = Frame {
                    image: picture.jpeg,
                    sequence: raw.sequence,
                    capture_time_us: raw.capture_time_us,
                    width: picture.width,
                    height: picture.height,
                    stream_name: self.stream_name.clone(),
                    quality: picture.rung.map_or(0, |rung| rung.quality.into()),
                    halvings: picture.rung.map_or(0, |rung| rung.halvings.into()),
                    limit: status.limit.into(),
                    full_quality,
                    ..Frame::default()
                };
                transport_gone = output.put(frame).is_err();
            });
            if transport_gone {
                break;
            }
        }
        handoff.lock().live_workers -= 1;
        handoff.changed.notify_all();
    }

    /// A raw picture encoded at `rung` (halved first as often as it says,
    /// and the picture's width allows), or a camera's JPEG as it is; `None`
    /// when encoding failed (logged and counted).
    fn encode(&self, picture: Picture, sequence: u64, rung: Rung) -> Option<Encoded> {
        match picture {
            Picture::Planar(mut image) => {
                let mut halvings = 0;
                while halvings < rung.halvings && image.width / 2 >= MIN_HALVED_WIDTH {
                    image = halved(&image);
                    halvings += 1;
                }
                let used = Rung { halvings, ..rung };
                let (width, height) = (image.width, image.height);
                match self.encoder.encode_at(Arc::new(image), rung.quality) {
                    Ok(jpeg) => {
                        self.adaptation.encoded(jpeg.len(), used);
                        Some(Encoded {
                            jpeg: jpeg.into(),
                            width,
                            height,
                            rung: Some(used),
                        })
                    }
                    Err(error) => {
                        log::warn!("frame {sequence} skipped: {error:#}");
                        self.stats.encode_failed();
                        None
                    }
                }
            }
            Picture::Jpeg {
                data,
                width,
                height,
            } => {
                self.adaptation.passed_through(data.len());
                Some(Encoded {
                    jpeg: data,
                    width,
                    height,
                    rung: None,
                })
            }
        }
    }
}

/// A frame's picture, ready to go.
struct Encoded {
    jpeg: bytes::Bytes,
    width: u32,
    height: u32,
    /// What it was encoded with; `None`: a camera's JPEG, passed through.
    rung: Option<Rung>,
}

/// Debug builds only (release builds have no such point): with
/// `FRAMEWIRE_FAULT_PANIC_AT_PICTURE=N`, the encoder worker that takes
/// picture N panics, so a test can see a panic in a sender thread end the
/// process for its supervisor.
#[cfg(debug_assertions)]
fn fault_point(sequence: u64) {
    static AT: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
    let at = AT.get_or_init(|| {
        std::env::var("FRAMEWIRE_FAULT_PANIC_AT_PICTURE")
            .ok()
            .and_then(|value| value.parse().ok())
    });
    if *at == Some(sequence) {
        panic!("fault point: picture {sequence} (FRAMEWIRE_FAULT_PANIC_AT_PICTURE)");
    }
}
