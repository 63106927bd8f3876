//! `/streams/{key}.mjpg`: the stream as multipart MJPEG
//! (`multipart/x-mixed-replace`), the frames as received, never
//! re-encoded, for VLC, ffmpeg, go2rtc, Frigate, Home Assistant or an
//! `<img>` tag.
//!
//! Each frame is followed at once by the next part's boundary: a browser
//! shows a part only once it sees the boundary after it, so a boundary sent
//! with the *next* frame would show every frame one frame late. The body is
//! produced only as fast as the client reads it, and each part takes the
//! newest frame then, so a slow client skips frames and holds one at most
//! (charged to the memory budget while it is on its way). A client that
//! takes no frame in 10 s is closed ([`Uptake`]).

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use futures_lite::Stream;
use hyper::body::Frame;

use crate::report::Registry;
use crate::web::follow::Follower;
use crate::web::uptake::Uptake;
use crate::web::viewers::{InFlight, Viewer};

pub const BOUNDARY: &str = "framewire-frame";

/// The response's `Content-Type`.
pub fn content_type() -> String {
    format!("multipart/x-mixed-replace; boundary={BOUNDARY}")
}

/// What the body holds between two parts.
struct Parts {
    registry: Arc<Registry>,
    follower: Follower,
    viewer: Viewer,
    /// Chunks of the current part not yet handed to the connection.
    chunks: VecDeque<Bytes>,
    /// The charge of the frame on its way; replaced with the next one.
    _in_flight: Option<InFlight>,
    uptake: Arc<Uptake>,
}

/// The body of `/streams/{key}.mjpg`, for as long as the client reads it.
pub fn body(
    registry: Arc<Registry>,
    key: String,
    viewer: Viewer,
    uptake: Arc<Uptake>,
) -> impl Stream<Item = Result<Frame<Bytes>, std::io::Error>> + Send + 'static {
    let parts = Parts {
        registry,
        follower: Follower::new(key),
        viewer,
        chunks: VecDeque::from([Bytes::from(format!("--{BOUNDARY}\r\n"))]),
        _in_flight: None,
        uptake,
    };
    futures_lite::stream::unfold(parts, |mut parts| async move {
        if parts.chunks.is_empty() {
            parts.uptake.taken();
        }
        while parts.chunks.is_empty() {
            let newest = parts.follower.next(&parts.registry).await;
            let Some(charge) = parts.viewer.charge_frame(newest.jpeg.len()) else {
                continue; // over the budget: this viewer skips the frame
            };
            parts._in_flight = Some(charge);
            let headers = format!(
                "Content-Type: image/jpeg\r\nContent-Length: {}\r\nX-Framewire-Sequence: {}\r\n\
                 X-Framewire-Capture-Time-Us: {}\r\n\r\n",
                newest.jpeg.len(),
                newest.sequence,
                newest.capture_time_us
            );
            parts.chunks.push_back(Bytes::from(headers));
            parts.chunks.push_back(newest.jpeg);
            parts
                .chunks
                .push_back(Bytes::from(format!("\r\n--{BOUNDARY}\r\n")));
            parts.uptake.handed();
        }
        let chunk = parts.chunks.pop_front()?;
        Some((Ok(Frame::data(chunk)), parts))
    })
}
