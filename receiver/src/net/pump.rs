//! The way in: every message of an admitted sender, read until the
//! connection ends. Each goes to the stream's counters (bytes, keep-alives,
//! names, sequence numbers, encoding, clock replies), to the recorder, and,
//! charged to the memory budget, into the decoder's latest-frame slot,
//! whose thread starts here. It does not write to the sender ([`super::talk`]
//! does) or decode.

use std::sync::Arc;
use std::time::{Duration, Instant};

use framewire_proto::codec::ReadError;
use framewire_proto::deadline::within;
use framewire_proto::slot::latest_slot;
use framewire_proto::{ClockReply, Frame, unix_time_us};
use futures_lite::FutureExt;

use super::admit::hint;
use super::flood::{Flood, SenderRates};
use super::{Admitted, Incoming, Server};
use crate::decode::Received;
use crate::stream::clock::Update;
use crate::stream::{Encoding, Stream, worth_a_log_line};

/// Why a connection ended.
enum Ending {
    /// The sender closed it between two messages.
    Closed,
    Broken(ReadError),
    Idle,
    /// It sent far more small messages than a sender does.
    Flooded(Flood),
    /// The receiver is stopping.
    Stopped,
}

impl Server {
    /// Opens the stream's decoder (and recording) and feeds them every frame
    /// until the connection ends.
    pub(super) async fn pump(
        &self,
        mut reader: Incoming,
        first: Frame,
        stream: Arc<Stream>,
        admitted: Arc<Admitted>,
    ) {
        let peer = stream.peer();
        let (frames_out, frames_in) = latest_slot();
        let decoder = self.decoder.clone();
        let decoder_stream = stream.clone();
        let decoder_admitted = admitted.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("decode-{}", stream.id()))
            .spawn(move || {
                decoder.run(frames_in, decoder_stream.clone());
                decoder_stream.decoder_done();
                drop(decoder_admitted);
            });
        if let Err(error) = spawned {
            log::error!("closing the connection from {peer}: cannot start its decoder: {error}");
            stream.connection_ended();
            stream.decoder_done();
            return;
        }
        let mut recording = match self.recorder.as_ref().map(|r| r.start(stream.clone())) {
            None => None,
            Some(Ok(recording)) => Some(recording),
            Some(Err(error)) => {
                log::error!("stream {} is not recorded: {error:#}", stream.label());
                None
            }
        };
        let idle_timeout = self.limits.idle_timeout;
        let mut rates = SenderRates::default();
        let mut read_before = 0;
        let mut first = Some(first);
        let ending = loop {
            let mut frame = match first.take() {
                Some(frame) => frame,
                None => {
                    // A socket that always has a message ready would never
                    // let this task go: every message gives the others a turn.
                    futures_lite::future::yield_now().await;
                    let next = async { Some(read_with_timeout(&mut reader, idle_timeout).await) }
                        .or(async {
                            self.stop.stopped().await;
                            None
                        })
                        .await;
                    match next {
                        None => break Ending::Stopped,
                        Some(Some(Ok(Some(frame)))) => frame,
                        Some(Some(Ok(None))) => break Ending::Closed,
                        Some(Some(Err(error))) => break Ending::Broken(error),
                        Some(None) => break Ending::Idle,
                    }
                }
            };
            let arrived_us = unix_time_us();
            let read = reader.bytes_read();
            unpin_image(&mut frame, read - read_before);
            read_before = read;
            stream.note_bytes(read);
            if let Some(reply) = &frame.clock_reply {
                note_clock_reply(&stream, reply, arrived_us);
            }
            if frame.is_keep_alive() {
                if let Err(flood) = rates.keep_alive(Instant::now()) {
                    break Ending::Flooded(flood);
                }
                stream.note_keep_alive();
                continue;
            }
            if stream.rename(&frame.stream_name) {
                if let Err(flood) = rates.renamed(Instant::now()) {
                    break Ending::Flooded(flood);
                }
                log::info!("stream {} from {peer} is '{}'", stream.id(), stream.name());
            }
            stream.note_frame(frame.sequence);
            stream.note_encoding(Encoding::of(frame.quality, frame.halvings, frame.limit));
            if frame.full_quality {
                stream.full_frame().arrived(&frame.image);
            }
            if let Some(recording) = &mut recording {
                recording.record(&frame);
            }
            let Some(charge) = self.budget.charge(frame.image.len()) else {
                let refused = stream.note_refused_over_budget();
                if worth_a_log_line(refused) {
                    log::warn!(
                        "stream {}: frame {} refused ({refused} so far): the receiver's memory \
                         budget (--max-memory) is spent",
                        stream.label(),
                        frame.sequence
                    );
                }
                continue;
            };
            let _ = frames_out.put(Received {
                frame,
                charge,
                handed_over: Instant::now(),
            }); // a replaced frame is counted just below
            stream.note_dropped_before_decode(frames_out.dropped());
        };
        drop(frames_out); // the decoder finishes the frame it holds, then ends
        stream.connection_ended();
        let received = stream.counters().received;
        let label = stream.label();
        match ending {
            Ending::Closed => log::info!("sender {label} disconnected after {received} frames"),
            Ending::Stopped => log::info!(
                "closed the connection from {label} after {received} frames: the receiver is stopping"
            ),
            Ending::Broken(error) => log::warn!(
                "closed the connection from {label} after {received} frames: {error}{}",
                hint(&error)
            ),
            Ending::Flooded(flood) => {
                log::warn!(
                    "closed the connection from {label} after {received} frames: {}",
                    flood.reason()
                );
                smol::Timer::after(self.gate.penalise(peer.ip())).await;
            }
            Ending::Idle => log::warn!(
                "closed the connection from {label} after {received} frames: no complete message for {:.1} s \
                 (--idle-timeout)",
                idle_timeout.as_secs_f64()
            ),
        }
    }
}

/// Bytes a message may carry besides its image before the image is copied
/// out of it: the image shares the message's buffer, and what is kept of
/// it (the decoder's slot, the newest frame kept for the web view and
/// snapshots) would pin the whole message while the budget is charged for
/// the image alone.
const MAX_MESSAGE_OVERHEAD: u64 = 64 * 1024;

/// Copies `frame`'s image out of its message of `message_bytes` when the
/// message is padded (unknown fields, say) far beyond the image, so that
/// the message's buffer is freed now.
fn unpin_image(frame: &mut Frame, message_bytes: u64) {
    if message_bytes > frame.image.len() as u64 + MAX_MESSAGE_OVERHEAD {
        frame.image = bytes::Bytes::copy_from_slice(&frame.image);
    }
}

/// The next message, or `None` when none is complete within `timeout`.
async fn read_with_timeout(
    reader: &mut Incoming,
    timeout: Duration,
) -> Option<Result<Option<Frame>, ReadError>> {
    within(timeout, reader.read_frame()).await
}

/// Hands a clock reply to the stream, and says when the offset is first
/// known or starts again after a clock step.
fn note_clock_reply(stream: &Stream, reply: &ClockReply, arrived_us: u64) {
    let update = stream.clock_reply(reply, arrived_us);
    if !matches!(update, Update::First | Update::Restarted) {
        return; // most replies only refine the estimate: nothing to say
    }
    let Some(clock) = stream.clock() else {
        return;
    };
    let offset = clock.offset_us as f64 / 1000.0;
    let error = clock.error_us as f64 / 1000.0;
    match update {
        Update::First => log::info!(
            "stream {}: the sender's clock is {offset:+.1} ±{error:.1} ms from ours",
            stream.label()
        ),
        Update::Restarted if worth_a_log_line(stream.clock_restarts()) => log::warn!(
            "stream {}: a clock was stepped ({} times so far); the sender's clock is now \
             {offset:+.1} ±{error:.1} ms from ours, latency figures start again",
            stream.label(),
            stream.clock_restarts()
        ),
        Update::Restarted | Update::Ignored | Update::Refined => {}
    }
}
