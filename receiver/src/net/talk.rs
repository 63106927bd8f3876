//! The way out: every control message the receiver sends a sender over
//! the v2 back-channel, written by one task beside the pump, one function
//! per message: clock probes (a burst first, then now and then; the
//! replies come back through the pump to the stream's clock), the frame
//! rate its decoder keeps up with ([`DecodeCapacity`]), an ask for a
//! full-quality frame ([`crate::stream::full_frame`]) and a pause or a resume
//! ([`crate::stream::pause`]). Only a sender whose hello announced the back-channel
//! gets any; one that stops taking them gets no more, and its frames go
//! on. What each message means is in `proto/frame.proto`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use framewire_proto::codec::write_control;
use framewire_proto::deadline::within;
use framewire_proto::{ClockProbe, Control, FullFrameRequest, Pause, RateLimit, unix_time_us};
use futures_lite::FutureExt;

use super::Outgoing;
use crate::decode::capacity::{CHECK_INTERVAL, Change, DecodeCapacity};
use crate::stream::Stream;

/// A sender that takes no control message for this long gets no more
/// probes; its frames go on.
const CONTROL_WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// Writes control messages to the sender until the connection ends (the
/// task is dropped) or it stops taking them: clock probes, a burst first,
/// then now and then; when the stream's decoder falls behind, the frame
/// rate it keeps up with ([`DecodeCapacity`]); an ask for a full-quality
/// frame the moment the view makes one; and a pause when nobody can see
/// the stream, a resume the moment somebody can ([`crate::stream::pause`]).
pub(super) async fn write_controls(mut outgoing: Outgoing, stream: Arc<Stream>) {
    let mut capacity = DecodeCapacity::default();
    let (mut next_probe, mut next_check) = (Instant::now(), Instant::now());
    let mut asked = false;
    loop {
        let now = Instant::now();
        let mut control = Control::default();
        if now >= next_check {
            next_check = now + CHECK_INTERVAL;
            control.rate_limit = capacity
                .check(now, stream.counters())
                .map(|change| rate_limit(&stream, change));
        }
        if now >= next_probe {
            let (probe, next) = clock_probe(&stream, now);
            control.clock_probe = Some(probe);
            next_probe = next;
        }
        if asked {
            control.full_frame = Some(FullFrameRequest {});
        }
        control.pause = stream
            .pause()
            .to_tell(now)
            .map(|paused| pause(&stream, paused));
        if control != Control::default() {
            match within(
                CONTROL_WRITE_TIMEOUT,
                write_control(&mut outgoing, &control),
            )
            .await
            {
                Some(Ok(_)) => {}
                Some(Err(error)) => {
                    log::debug!(
                        "stream {}: no more control messages: {error}",
                        stream.label()
                    );
                    return;
                }
                None => {
                    log::warn!(
                        "stream {}: the sender takes no control messages; its latency stays \
                         clock-based and it is told no frame rate limit",
                        stream.label()
                    );
                    return;
                }
            }
        }
        let wake_at = [
            Some(next_probe),
            Some(next_check),
            stream.pause().recheck_at(),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(next_probe);
        asked = async {
            smol::Timer::at(wake_at).await;
            false
        }
        .or(async {
            stream.pause().changed().await;
            false
        })
        .or(async {
            stream.full_frame().asked().await;
            true
        })
        .await;
    }
}

/// The message for a change of the stream's frame rate limit, logged.
fn rate_limit(stream: &Stream, change: Change) -> RateLimit {
    match change {
        Change::Limit(fps) => {
            log::info!(
                "stream {}: its decoder keeps up with {fps:.1} fps: asking the sender for no more",
                stream.label()
            );
            RateLimit {
                max_fps: fps as f32,
            }
        }
        Change::Lift => {
            log::info!("stream {}: lifting its frame rate limit", stream.label());
            RateLimit { max_fps: 0.0 }
        }
    }
}

/// A clock probe stamped now, and when the next one is due.
fn clock_probe(stream: &Stream, now: Instant) -> (ClockProbe, Instant) {
    let t1_us = unix_time_us();
    let next = now + stream.clock_probe_sent(t1_us);
    let probe = ClockProbe {
        receiver_send_time_us: t1_us,
    };
    (probe, next)
}

/// The message that pauses the stream's sender (nobody sees it) or
/// resumes it, logged.
fn pause(stream: &Stream, paused: bool) -> Pause {
    if paused {
        log::info!(
            "stream {}: nobody sees it: pausing its sender",
            stream.label()
        );
    } else {
        log::info!(
            "stream {}: somebody sees it again: resuming its sender",
            stream.label()
        );
    }
    Pause { paused }
}
