//! Quality follows the link and the receiver: what the encoder makes each
//! picture with, and how many pictures a second the capture thread takes.
//!
//! The transport hands the [`Adaptation`] a [`LinkReading`] ten times a
//! second and the receiver's rate limit when one comes; the [`control`]
//! law turns the readings into an allowed rate, and the [`ladder`] turns
//! that rate into a quality and a picture size for raw pictures (frames
//! the encoder workers report back keep its size figures current). A
//! camera's JPEG cannot be made smaller without encoding it again, so for
//! those the allowed rate becomes a frame rate instead, as the receiver's
//! limit does for every source: the capture thread takes pictures evenly
//! at that rate ([`FrameGate`]). Every change is logged with its reason;
//! changes the receiver causes (its rate limit, its asks for a full
//! frame) at most once per [`PEER_LOG_INTERVAL`], so a receiver that floods
//! them cannot fill a board's disk. The receiver's rate limit is checked
//! where it enters ([`receiver_limit`](Adaptation::receiver_limit)): below
//! [`MIN_FPS`] it is that floor. The state is shared by the transport, the
//! capture thread and the workers, behind the methods of one mutex-guarded
//! type.

pub mod control;
pub mod ladder;

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use framewire_proto::Limit;
use framewire_proto::lock::lock;
use framewire_proto::rate::{LogThrottle, held_back_note};

pub use control::{LinkReading, RateControl, Step};
use ladder::smoothed;
pub use ladder::{Ladder, Rung, SizeModel};

/// The frame rate assumed until the source has shown its own.
const ASSUMED_FPS: f64 = 30.0;
/// The weight of the newest frame interval in the running frame rate.
const FPS_SMOOTHING: f64 = 0.1;
/// Two pictures further apart than this are a pause in capture (no
/// receiver, or a paused stream), not the source's rhythm.
const LONGEST_SOURCE_INTERVAL: f64 = 5.0;
/// The weight of the newest passed-through JPEG in the running size.
const JPEG_SMOOTHING: f64 = 0.2;
/// A frame rate limit this close to the source's is no limit.
const NEGLIGIBLE_LIMIT: f64 = 0.95;
/// A climb followed this soon by a step down failed: the rung is barred.
const FAILED_CLIMB: Duration = Duration::from_secs(3);
/// How long a rung that failed is first barred; it doubles with each
/// failure, up to [`LONGEST_BAR`], and starts again once the link has no
/// limit.
const FIRST_BAR: Duration = Duration::from_secs(10);
const LONGEST_BAR: Duration = Duration::from_secs(80);
/// The lowest frame rate anything may hold a stream to: one picture a
/// minute. A receiver's limit below it is this floor, so no wait for the
/// next picture is ever longer than a minute.
pub const MIN_FPS: f64 = 1.0 / 60.0;
/// Log lines about what the receiver asked come at most this often.
pub const PEER_LOG_INTERVAL: Duration = Duration::from_secs(5);

/// The ceiling and the floor the user set.
#[derive(Clone, Copy, Debug)]
pub struct Bounds {
    /// `--quality`.
    pub ceiling: u8,
    /// `--min-quality`: below it, raw pictures are halved instead.
    pub floor: u8,
    /// False with `--fixed-quality`: the link's readings change nothing.
    pub follow_link: bool,
}

/// What the stream is made with now, and why.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Status {
    pub rung: Rung,
    /// Pictures a second the capture thread takes; `None`: all.
    pub max_fps: Option<f64>,
    pub limit: Limit,
}

/// The shared state of the adaptation.
pub struct Adaptation {
    state: Mutex<State>,
}

struct State {
    follow_link: bool,
    ladder: Ladder,
    control: RateControl,
    raw_sizes: SizeModel,
    /// The running size of passed-through JPEGs.
    jpeg_bytes: Option<f64>,
    /// The latest picture was a camera's JPEG.
    passthrough: bool,
    /// The source's frame rate, measured while no limit holds it back.
    source_fps: Option<f64>,
    last_capture: Option<Instant>,
    /// What the receiver said it can decode.
    receiver_fps: Option<f64>,
    status: Status,
    /// The latest climb to a higher rung, and when.
    climbed: Option<(Rung, Instant)>,
    /// A rung that congested the link right after a climb to it, not
    /// climbed to again until the given time.
    barred: Option<(Rung, Instant)>,
    /// How long the next failed rung is barred.
    bar_for: Duration,
    /// The receiver asked for a frame at the ceiling and full size, and
    /// none has been sent yet.
    full_frame_wanted: bool,
    /// Lines about the receiver's limit and asks, and the changes they make.
    peer_log: LogThrottle,
}

impl Adaptation {
    pub fn new(bounds: Bounds) -> Adaptation {
        let ladder = Ladder::new(bounds.ceiling, bounds.floor, ladder::MAX_HALVINGS);
        let status = Status {
            rung: ladder.top(),
            max_fps: None,
            limit: Limit::None,
        };
        Adaptation {
            state: Mutex::new(State {
                follow_link: bounds.follow_link,
                ladder,
                control: RateControl::new(),
                raw_sizes: SizeModel::default(),
                jpeg_bytes: None,
                passthrough: false,
                source_fps: None,
                last_capture: None,
                receiver_fps: None,
                status,
                climbed: None,
                barred: None,
                bar_for: FIRST_BAR,
                full_frame_wanted: false,
                peer_log: LogThrottle::new(PEER_LOG_INTERVAL),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// What the stream is made with now.
    pub fn status(&self) -> Status {
        self.lock().status
    }

    /// What the next picture is made with: the status, or the ceiling when
    /// the receiver asked for a full-quality frame (then true).
    pub fn for_next_picture(&self) -> (Status, bool) {
        let state = self.lock();
        if state.full_frame_wanted {
            let full = Status {
                rung: state.ladder.top(),
                ..state.status
            };
            (full, true)
        } else {
            (state.status, false)
        }
    }

    /// The receiver asked for a frame at the ceiling and full size: every
    /// picture is made so until one is sent.
    pub fn full_frame_asked(&self) {
        let mut state = self.lock();
        if !state.full_frame_wanted
            && let Some(held_back) = state.peer_log.allow(Instant::now())
        {
            log::info!(
                "the receiver asked for a frame at full quality and size{}",
                held_back_note(held_back)
            );
        }
        state.full_frame_wanted = true;
    }

    /// A full-quality frame went out.
    pub fn full_frame_sent(&self) {
        self.lock().full_frame_wanted = false;
    }

    /// What the stream is made with now and why, for the log.
    pub fn describe(&self) -> String {
        let state = self.lock();
        describe_status(&state.status, state.passthrough)
    }

    /// The source delivered a picture at `at` (which measures its frame
    /// rate): whether the capture thread passes it on.
    pub fn admit(&self, gate: &mut FrameGate, at: Instant) -> bool {
        let mut state = self.lock();
        if let Some(last) = state.last_capture.replace(at)
            && state.status.max_fps.is_none()
        {
            let interval = (at - last).as_secs_f64();
            if interval > 0.0 && interval < LONGEST_SOURCE_INTERVAL {
                state.source_fps = Some(smoothed(state.source_fps, 1.0 / interval, FPS_SMOOTHING));
            }
        }
        gate.admit(at, state.status.max_fps, state.source_fps())
    }

    /// A raw picture was encoded at `rung` into `bytes`.
    pub fn encoded(&self, bytes: usize, rung: Rung) {
        let mut state = self.lock();
        state.raw_sizes.encoded(bytes, rung);
        if state.passthrough {
            state.passthrough = false;
            state.recompute(true);
        }
    }

    /// A camera's JPEG of `bytes` was passed through.
    pub fn passed_through(&self, bytes: usize) {
        let mut state = self.lock();
        let bytes = bytes as f64;
        state.jpeg_bytes = Some(smoothed(state.jpeg_bytes, bytes, JPEG_SMOOTHING));
        if !state.passthrough {
            state.passthrough = true;
            state.recompute(true);
        }
    }

    /// A new connection is up.
    pub fn connection_started(&self) {
        let mut state = self.lock();
        state.control.connection_started();
        state.receiver_fps = None;
        state.recompute(true);
    }

    /// The transport's reading of the link.
    pub fn link_reading(&self, reading: &LinkReading) {
        let mut state = self.lock();
        if !state.follow_link {
            return;
        }
        let ceiling_rate = state.ceiling_rate();
        let step = state.control.update(reading, ceiling_rate);
        if let Some(Step::Down { .. }) = step {
            state.bar_failed_climb(reading.at);
        }
        match step {
            Some(Step::Down { capacity }) => log::info!(
                "the link carries {:.2} Mbit/s (round trip {:.0} ms, {:.0} ms least; {} frames replaced): \
                 stepping down to {}",
                capacity * 8e-6,
                reading.tcp.rtt.as_secs_f64() * 1e3,
                reading.tcp.min_rtt.as_secs_f64() * 1e3,
                reading.replaced,
                describe_rate(state.control.allowed()),
            ),
            Some(Step::Up) => log::debug!(
                "the link has room: climbing to {}",
                describe_rate(state.control.allowed())
            ),
            None => return,
        }
        state.recompute(true);
    }

    /// The receiver can decode at most `fps` frames a second of this
    /// stream (`None`: no limit). The one rule for the value: not a
    /// positive finite number is no limit; below [`MIN_FPS`] is that floor;
    /// at or above the source's rate it holds nothing back.
    pub fn receiver_limit(&self, fps: Option<f64>) {
        let mut state = self.lock();
        let fps = fps
            .filter(|fps| fps.is_finite() && *fps > 0.0)
            .map(|fps| fps.max(MIN_FPS));
        if state.receiver_fps != fps {
            state.receiver_fps = fps;
            let logged = state.peer_log.allow(Instant::now());
            if let Some(held_back) = logged {
                let note = held_back_note(held_back);
                match fps {
                    Some(fps) => {
                        log::info!("the receiver decodes at most {fps:.2} fps of this stream{note}")
                    }
                    None => log::info!("the receiver lifted its frame rate limit{note}"),
                }
            }
            state.recompute(logged.is_some());
        }
    }
}

fn describe_rate(rate: Option<f64>) -> String {
    match rate {
        Some(rate) => format!("{:.2} Mbit/s", rate * 8e-6),
        None => "no limit".to_owned(),
    }
}

impl State {
    /// The link congested: a rung climbed to just before is barred.
    fn bar_failed_climb(&mut self, now: Instant) {
        let Some((rung, at)) = self.climbed.take() else {
            return;
        };
        if now - at <= FAILED_CLIMB {
            log::info!(
                "quality {}, {} was too much for the link: not tried again for {} s",
                rung.quality,
                size_name(rung.halvings),
                self.bar_for.as_secs()
            );
            self.barred = Some((rung, now + self.bar_for));
            self.bar_for = (self.bar_for * 2).min(LONGEST_BAR);
        }
    }

    fn source_fps(&self) -> f64 {
        self.source_fps.unwrap_or(ASSUMED_FPS)
    }

    /// The frame rate frames are budgeted for: the source's, or less when
    /// the receiver takes less.
    fn budget_fps(&self) -> f64 {
        let source = self.source_fps();
        self.receiver_fps.map_or(source, |fps| fps.min(source))
    }

    /// Bytes a second the stream uses at its ceiling (unknown: infinite).
    fn ceiling_rate(&self) -> f64 {
        let frame = if self.passthrough {
            self.jpeg_bytes
        } else {
            self.raw_sizes.predict(self.ladder.top())
        };
        frame.map_or(f64::INFINITY, |bytes| bytes * self.budget_fps())
    }

    /// Chooses the rung, frame rate and reason from the allowed rate and
    /// the receiver's limit, and logs what changed if `log` is set.
    fn recompute(&mut self, log: bool) {
        let source_fps = self.source_fps();
        let allowed = self.control.allowed();
        let receiver_fps = self
            .receiver_fps
            .filter(|fps| *fps < source_fps * NEGLIGIBLE_LIMIT);
        let (rung, link_fps) = if self.passthrough {
            let link_fps = allowed
                .zip(self.jpeg_bytes)
                .map(|(rate, bytes)| rate / bytes)
                .filter(|fps| *fps < source_fps * NEGLIGIBLE_LIMIT);
            (self.ladder.top(), link_fps)
        } else {
            let now = Instant::now();
            self.barred = self.barred.filter(|(_, until)| *until > now);
            let rung = match allowed {
                Some(rate) => self.ladder.choose(
                    &self.raw_sizes,
                    rate,
                    self.budget_fps(),
                    self.status.rung,
                    self.barred.map(|(rung, _)| rung),
                ),
                None => {
                    self.barred = None;
                    self.bar_for = FIRST_BAR;
                    self.ladder.top()
                }
            };
            if self.ladder.is_above(rung, self.status.rung) {
                self.climbed = Some((rung, now));
            }
            (rung, None)
        };
        let max_fps = match (link_fps, receiver_fps) {
            (Some(link), Some(receiver)) => Some(link.min(receiver)),
            (one, other) => one.or(other),
        };
        let limit =
            if rung != self.ladder.top() || link_fps.is_some_and(|link| Some(link) == max_fps) {
                Limit::Link
            } else if receiver_fps.is_some() {
                Limit::Receiver
            } else {
                Limit::None
            };
        let next = Status {
            rung,
            max_fps,
            limit,
        };
        if next != self.status {
            if log {
                log::info!(
                    "now {} (was {})",
                    describe_status(&next, self.passthrough),
                    describe_status(&self.status, self.passthrough)
                );
            }
            self.status = next;
        }
    }
}

/// "quality 40, half size, 30 fps (link)"-style text.
pub fn describe_status(status: &Status, passthrough: bool) -> String {
    let picture = if passthrough {
        "the camera's JPEG".to_owned()
    } else {
        format!(
            "quality {}, {}",
            status.rung.quality,
            size_name(status.rung.halvings)
        )
    };
    let rate = status
        .max_fps
        .map_or(String::new(), |fps| format!(", at most {fps:.1} fps"));
    format!("{picture}{rate} ({})", status.limit.word())
}

/// "full size", "1/2 size", "1/4 size".
pub fn size_name(halvings: u8) -> String {
    match halvings {
        0 => "full size".to_owned(),
        h => format!("1/{} size", 1u32 << h),
    }
}

/// Lets pictures through evenly at no more than a given rate.
#[derive(Debug, Default)]
pub struct FrameGate {
    /// When the next picture is due, at the gap it was reckoned with.
    next_due: Option<(Instant, Duration)>,
    slack: Duration,
}

/// The time between two pictures at `max_fps` (`None`, zero or less: no
/// limit), never more than one at [`MIN_FPS`] (an absurd rate cannot make
/// an absurd duration).
fn gap_at(max_fps: Option<f64>) -> Option<Duration> {
    let max_fps = max_fps.filter(|fps| *fps > 0.0)?;
    Some(Duration::from_secs_f64(1.0 / max_fps.max(MIN_FPS)))
}

impl FrameGate {
    /// Whether a picture delivered `at` goes on, with at most `max_fps` a
    /// second (`None`: every one) from a source delivering `source_fps`.
    /// A picture up to 0.6 of a source interval early still counts as on time, so
    /// 20 of 30 fps are two of every three, not one of two.
    pub fn admit(&mut self, at: Instant, max_fps: Option<f64>, source_fps: f64) -> bool {
        let Some(gap) = gap_at(max_fps) else {
            self.next_due = None;
            return true;
        };
        let slack = Duration::from_secs_f64(0.6 / source_fps.clamp(1.0, 1e6));
        self.slack = slack;
        let due = self.due_at(gap).unwrap_or(at);
        if at + slack < due {
            return false;
        }
        // Late pictures do not earn a burst afterwards.
        self.next_due = Some(((due + gap).max(at + gap - slack.min(gap)), gap));
        true
    }

    /// When the next picture is due at `gap`: one gap after the last, so a
    /// limit that changed since moves it at once.
    fn due_at(&self, gap: Duration) -> Option<Instant> {
        let (due, reckoned_with) = self.next_due?;
        Some(due.checked_sub(reckoned_with).unwrap_or(due) + gap)
    }

    /// The earliest time the next picture can go on under `max_fps` (the
    /// limit now, which may have changed since the last picture; `None`:
    /// at once). A source that makes pictures on demand waits for it
    /// instead of making pictures only to leave them out.
    pub fn due(&self, max_fps: Option<f64>) -> Option<Instant> {
        let due = self.due_at(gap_at(max_fps)?)?;
        Some(due.checked_sub(self.slack).unwrap_or(due))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tcp_info::TcpInfo;

    #[test]
    fn the_gate_lets_two_of_three_through_for_two_thirds_of_the_rate() {
        let mut gate = FrameGate::default();
        let start = Instant::now();
        let admitted = (0..300)
            .filter(|i| {
                let at = start + Duration::from_secs_f64(f64::from(*i) / 30.0);
                gate.admit(at, Some(20.0), 30.0)
            })
            .count();
        assert!((195..=205).contains(&admitted), "{admitted} of 300");
        assert!(gate.admit(start + Duration::from_secs(20), None, 30.0));
    }

    #[test]
    fn an_absurd_limit_is_a_picture_a_minute_and_a_lifted_one_frees_the_gate() {
        let adaptation = adaptive();
        adaptation.receiver_limit(Some(1e-30));
        assert_eq!(adaptation.status().max_fps, Some(MIN_FPS));
        let mut gate = FrameGate::default();
        let start = Instant::now();
        assert!(adaptation.admit(&mut gate, start));
        let due = gate.due(adaptation.status().max_fps).unwrap();
        assert!(due - start <= Duration::from_secs(60), "{:?}", due - start);
        // The gate never makes a duration out of the raw value either.
        assert!(gate.admit(start + Duration::from_secs(61), Some(1e-300), 30.0));
        assert!(!gate.admit(
            start + Duration::from_secs(62),
            Some(f64::MIN_POSITIVE),
            30.0
        ));
        // Raised to 10 fps: the next picture is due a tenth of a second
        // after the last, not a minute.
        let raised = gate.due(Some(10.0)).unwrap();
        assert!(raised <= start + Duration::from_secs(61) + Duration::from_millis(100));
        adaptation.receiver_limit(None);
        assert_eq!(gate.due(adaptation.status().max_fps), None);
    }

    /// Quality 80 to 30, following the link.
    fn adaptive() -> Adaptation {
        Adaptation::new(Bounds {
            ceiling: 80,
            floor: 30,
            follow_link: true,
        })
    }

    #[test]
    fn a_pause_in_capture_is_not_taken_for_the_sources_rate() {
        let adaptation = adaptive();
        let mut gate = FrameGate::default();
        let start = Instant::now();
        for i in 0..60 {
            adaptation.admit(
                &mut gate,
                start + Duration::from_secs_f64(f64::from(i) / 30.0),
            );
        }
        let fps = adaptation.lock().source_fps();
        assert!((29.0..31.0).contains(&fps), "{fps}");
        // Paused for a minute (nobody watched), then on at 30 fps.
        let resumed = start + Duration::from_secs(62);
        adaptation.admit(&mut gate, resumed);
        assert_eq!(adaptation.lock().source_fps(), fps);
    }

    fn congested_reading(at: Instant, bytes_acked: u64) -> LinkReading {
        LinkReading {
            at,
            replaced: 2,
            tcp: TcpInfo {
                rtt: Duration::from_millis(300),
                min_rtt: Duration::from_millis(2),
                bytes_acked,
                delivery_rate: 250_000,
                ..TcpInfo::default()
            },
        }
    }

    #[test]
    fn a_slow_link_lowers_the_quality_then_the_size_of_raw_pictures() {
        let adaptation = adaptive();
        let start = Instant::now();
        let mut gate = FrameGate::default();
        for i in 0..30 {
            assert!(adaptation.admit(&mut gate, start + Duration::from_millis(33 * i)));
        }
        adaptation.encoded(60_000, adaptation.status().rung);
        assert_eq!(adaptation.status().limit, Limit::None);
        adaptation.link_reading(&congested_reading(start, 0));
        adaptation.link_reading(&congested_reading(
            start + Duration::from_millis(500),
            125_000,
        ));
        let status = adaptation.status();
        assert_eq!(status.limit, Limit::Link);
        assert!(status.rung.halvings >= 1, "{status:?}");
        assert_eq!(status.max_fps, None, "raw pictures keep the frame rate");
    }

    #[test]
    fn passed_through_jpegs_are_taken_less_often_instead() {
        let adaptation = adaptive();
        let start = Instant::now();
        adaptation.passed_through(60_000);
        adaptation.link_reading(&congested_reading(start, 0));
        adaptation.link_reading(&congested_reading(
            start + Duration::from_millis(500),
            125_000,
        ));
        let status = adaptation.status();
        assert_eq!(
            status.rung,
            Rung {
                quality: 80,
                halvings: 0
            }
        );
        let fps = status.max_fps.unwrap();
        assert!(
            (1.0..4.0).contains(&fps),
            "0.8 x 250 KB/s of 60 KB frames: {fps}"
        );
        assert_eq!(status.limit, Limit::Link);
    }

    #[test]
    fn the_receivers_limit_holds_the_frame_rate_down() {
        let adaptation = adaptive();
        adaptation.receiver_limit(Some(12.0));
        let status = adaptation.status();
        assert_eq!(status.max_fps, Some(12.0));
        assert_eq!(status.limit, Limit::Receiver);
        adaptation.receiver_limit(Some(f64::NAN));
        assert_eq!(
            adaptation.status().limit,
            Limit::None,
            "nonsense is no limit"
        );
    }
}
