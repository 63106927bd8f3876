//! A stream's timing: the sender's clock offset, probed over the
//! back-channel ([`super::clock`]), and the capture→decoded latency
//! histogram ([`super::latency`]) on the receiver's clock. A first or a new
//! estimate (after a clock step) starts the histogram again, so it never
//! mixes figures of two clock bases. It sends no probe (the connection's
//! way out does) and measures nothing itself.

use std::time::Duration;

use framewire_proto::ClockReply;
use framewire_proto::lock::lock;

use super::Stream;
use super::clock::{ClockEstimate, Update};
use super::latency::LatencyHistogram;

impl Stream {
    /// A clock probe stamped `t1_us` went to the sender; returns when the
    /// next one is due.
    pub fn clock_probe_sent(&self, t1_us: u64) -> Duration {
        Duration::from_micros(lock(&self.clock).probe_sent(t1_us))
    }

    /// The sender's answer to a probe, read at `t4_us`. A first or a new
    /// estimate (after a clock step) starts the latency histogram again, so
    /// it never mixes figures of two clock bases.
    pub fn clock_reply(&self, reply: &ClockReply, t4_us: u64) -> Update {
        let update = lock(&self.clock).reply(reply, t4_us);
        if matches!(update, Update::First | Update::Restarted) {
            lock(&self.latency).restart();
        }
        update
    }

    /// The sender's clock minus ours now, if it is measured (a v2 sender
    /// that has answered a probe).
    pub fn clock(&self) -> Option<ClockEstimate> {
        let now_us = framewire_proto::unix_time_us();
        lock(&self.clock).estimate(now_us)
    }

    /// How many times a clock step made the estimate start again.
    pub fn clock_restarts(&self) -> u64 {
        lock(&self.clock).restarts()
    }

    /// A capture time of the sender's clock on ours (0 stays unknown);
    /// unchanged while no offset is measured.
    pub fn receiver_time(&self, capture_time_us: u64) -> u64 {
        match (capture_time_us, self.clock()) {
            (0, _) | (_, None) => capture_time_us,
            (capture, Some(clock)) => capture.saturating_add_signed(-clock.offset_us),
        }
    }

    /// A copy of the latency histogram so far.
    pub fn latency(&self) -> LatencyHistogram {
        lock(&self.latency).clone()
    }
}
