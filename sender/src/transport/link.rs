//! Readings of the link for the adaptation: every
//! [`LINK_READING_INTERVAL`], the frames the slot replaced since the last
//! reading and the kernel's `TCP_INFO` of the connection. It decides
//! nothing from them (the [`crate::adapt`] control law does).

use std::time::{Duration, Instant};

use framewire_proto::Frame;
use framewire_proto::slot::SlotReceiver;
use smol::Timer;

use super::Transport;
use super::connect::Socket;
use crate::adapt::LinkReading;
use crate::tcp_info::TcpInfo;

/// How often the link is read for the adaptation.
pub const LINK_READING_INTERVAL: Duration = Duration::from_millis(100);

impl Transport<'_> {
    /// Hands the adaptation a reading of the link every
    /// [`LINK_READING_INTERVAL`], for as long as the connection lasts,
    /// except while the stream is paused: keep-alives alone say nothing of
    /// what the link carries.
    pub(super) async fn read_link(&self, socket: Socket, frames: &SlotReceiver<Frame>) {
        let mut replaced_before = frames.dropped();
        loop {
            Timer::after(LINK_READING_INTERVAL).await;
            let tcp = match TcpInfo::read(socket.0) {
                Ok(tcp) => tcp,
                Err(error) => {
                    log::warn!(
                        "cannot read the connection's TCP_INFO ({error}): quality stays as it is"
                    );
                    return;
                }
            };
            let replaced = frames.dropped();
            if self.audience.is_paused() {
                replaced_before = replaced;
                continue;
            }
            self.adaptation.link_reading(&LinkReading {
                at: Instant::now(),
                replaced: replaced - replaced_before,
                tcp,
            });
            replaced_before = replaced;
        }
    }
}
