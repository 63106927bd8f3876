//! `/ws`: the live page's one WebSocket, which carries the frames of the
//! tiles it shows and the figures of every stream.
//!
//! To the page: a text message with every stream's state
//! ([`StreamState`]) twice a second, and a binary message per frame: a
//! 4-byte big-endian length, that many bytes of JSON ([`FrameHeader`]), then
//! the JPEG as received. From the page: `{"show": ["porch"]}` (the keys it
//! shows; `null`: all) and `{"ack": "porch"}` once it has drawn that
//! stream's frame. A stream's next frame goes only after the page's ack,
//! and it is the newest frame then: a page on a slow link gets fewer
//! frames, never a backlog, and nobody else waits for it. Each frame on its
//! way is charged to the memory budget until it is acknowledged.
//!
//! A page is measured by what it takes, not by bytes: one that has not
//! acknowledged a frame, or answered the ping sent with the state (which a
//! browser does by itself), within [`MAX_STALL`] is closed, so a page that
//! reads nothing gives its viewer place back in seconds.
//!
//! An ack that frees a tile is what the page is for and costs it nothing,
//! as does the answer to our ping;
//! every other message from the page (a `show`, a ping, an ack of nothing)
//! takes from a rate of [`PAGE_MESSAGE_RATE`] a second, and a page over it
//! is closed: clicking through tiles or a browser's pings stay far below,
//! and a page that sends them back to back costs one thread a few messages
//! before it goes. Every message read gives the other tasks a turn.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use async_tungstenite::WebSocketStream;
use async_tungstenite::tungstenite::Message;
use bytes::Bytes;
use framewire_proto::rate::MessageRate;
use futures_lite::{AsyncRead, AsyncWrite, FutureExt, StreamExt};
use serde::{Deserialize, Serialize};

use crate::report::Registry;
use crate::stream::Newest;
use crate::web::figures::{StreamState, states};
use crate::web::follow::Follower;
use crate::web::stall::MAX_STALL;
use crate::web::viewers::{InFlight, Viewer};
use framewire_proto::deadline::within;

/// How often the page gets every stream's state.
const STATE_INTERVAL: Duration = Duration::from_millis(500);
/// A page that takes no message for this long is closed.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest message a page may send (its messages are a few bytes).
pub const MAX_PAGE_MESSAGE: usize = 16 * 1024;
/// Messages a second, on average, that a page may send besides the acks
/// of frames it was sent.
pub const PAGE_MESSAGE_RATE: f64 = 10.0;
/// Such messages back to back at most.
pub const PAGE_MESSAGE_BURST: u32 = 40;

/// What precedes each JPEG in a binary message.
#[derive(Serialize)]
struct FrameHeader<'a> {
    key: &'a str,
    sequence: u64,
    width: u32,
    height: u32,
    /// Capture time on the receiver's clock (0: unknown).
    capture_time_us: u64,
    /// Capture to now, when the frame leaves (receiver's clock).
    latency_ms: Option<f64>,
}

/// The state message.
#[derive(Serialize)]
struct StateMessage {
    r#type: &'static str,
    streams: Vec<StreamState>,
}

/// A message from the page.
#[derive(Deserialize)]
struct PageMessage {
    #[serde(default)]
    show: Option<Option<Vec<String>>>,
    #[serde(default)]
    ack: Option<String>,
}

/// One tile of the page.
struct Tile {
    follower: Follower,
    /// A frame was sent, when, and is not acknowledged yet; its charge is
    /// held for the budget.
    awaiting_ack: Option<(InFlight, Instant)>,
}

/// The ping on its way to the page: its payload and when it left.
struct PingOut {
    payload: Vec<u8>,
    sent: Instant,
}

/// What woke the session.
enum Wake {
    Page(Option<Result<Message, async_tungstenite::tungstenite::Error>>),
    Frame(usize, Newest),
    StateDue,
}

/// Runs one page's session until it closes, breaks or stops reading.
pub async fn run<S>(socket: WebSocketStream<S>, registry: Arc<Registry>, viewer: Viewer)
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let (mut to_page, mut from_page) = socket.split();
    let mut tiles: Vec<Tile> = Vec::new();
    let mut shown: Option<Vec<String>> = None;
    let mut state_due = Instant::now();
    let mut page_rate = MessageRate::new(PAGE_MESSAGE_RATE, PAGE_MESSAGE_BURST);
    let mut ping_out: Option<PingOut> = None;
    let mut pings_sent = 0u64;
    loop {
        if Instant::now() >= state_due {
            if let Some(what) = not_taken(&tiles, ping_out.as_ref()) {
                log::debug!("web page {what} in {} s; closing it", MAX_STALL.as_secs());
                return;
            }
            if ping_out.is_none() {
                pings_sent += 1;
                let payload = pings_sent.to_be_bytes().to_vec();
                if !send(&mut to_page, Message::Ping(payload.clone().into())).await {
                    return;
                }
                ping_out = Some(PingOut {
                    payload,
                    sent: Instant::now(),
                });
            }
            let streams = states(&registry);
            tiles.retain(|tile| streams.iter().any(|s| s.key == tile.follower.key));
            for state in &streams {
                if !tiles.iter().any(|tile| tile.follower.key == state.key) {
                    tiles.push(Tile {
                        follower: Follower::new(state.key.clone()),
                        awaiting_ack: None,
                    });
                }
            }
            let message = StateMessage {
                r#type: "state",
                streams,
            };
            let text = serde_json::to_string(&message).unwrap_or_default();
            if !send(&mut to_page, Message::text(text)).await {
                return;
            }
            state_due = Instant::now() + STATE_INTERVAL;
        }
        let wake = async { Wake::Page(from_page.next().await) }
            .or(async {
                let (index, newest) = next_frame(&mut tiles, shown.as_deref(), &registry).await;
                Wake::Frame(index, newest)
            })
            .or(async {
                smol::Timer::at(state_due).await;
                Wake::StateDue
            })
            .await;
        match wake {
            Wake::StateDue => {}
            Wake::Frame(index, newest) => {
                let Some(charge) = viewer.charge_frame(newest.jpeg.len()) else {
                    continue; // over the budget: the page skips this frame
                };
                let tile = &mut tiles[index];
                tile.awaiting_ack = Some((charge, Instant::now()));
                let message = frame_message(&tile.follower.key, &newest);
                if !send(&mut to_page, Message::Binary(message)).await {
                    return;
                }
            }
            Wake::Page(Some(Ok(Message::Text(text)))) => {
                let Ok(message) = serde_json::from_str::<PageMessage>(&text) else {
                    log::debug!("web page sent a message that is not ours; closing it");
                    return;
                };
                let mut useful = false;
                if let Some(key) = &message.ack
                    && let Some(tile) = tiles
                        .iter_mut()
                        .find(|t| &t.follower.key == key && t.awaiting_ack.is_some())
                {
                    tile.awaiting_ack = None;
                    useful = message.show.is_none();
                }
                if !useful && over_rate(&mut page_rate) {
                    return;
                }
                if let Some(keys) = message.show {
                    shown = keys;
                }
            }
            Wake::Page(Some(Ok(Message::Close(_))) | None | Some(Err(_))) => return,
            Wake::Page(Some(Ok(Message::Pong(payload))))
                if ping_out
                    .as_ref()
                    .is_some_and(|ping| ping.payload == payload.as_ref()) =>
            {
                ping_out = None; // the answer to our ping: free
            }
            Wake::Page(Some(Ok(_))) => {
                // Pings (answered by the library: one pong waits at most),
                // pongs and binary messages count against the page's rate.
                if over_rate(&mut page_rate) {
                    return;
                }
            }
        }
        smol::future::yield_now().await;
    }
}

/// What the page did not take in time, if anything: a frame it was sent
/// and did not acknowledge, or a ping it did not answer (a page that reads
/// nothing answers none, whether or not it shows a tile).
fn not_taken(tiles: &[Tile], ping_out: Option<&PingOut>) -> Option<&'static str> {
    let late = |sent: Instant| sent.elapsed() >= MAX_STALL;
    if tiles.iter().any(|tile| {
        tile.awaiting_ack
            .as_ref()
            .is_some_and(|(_, sent)| late(*sent))
    }) {
        Some("acknowledged no frame sent to it")
    } else if ping_out.is_some_and(|ping| late(ping.sent)) {
        Some("answered no ping")
    } else {
        None
    }
}

/// Takes a message from the page's rate: true, logged, when it is spent
/// and the page is to be closed.
fn over_rate(page_rate: &mut MessageRate) -> bool {
    let over = !page_rate.allow(Instant::now());
    if over {
        log::debug!("web page sent messages faster than {PAGE_MESSAGE_RATE} a second; closing it");
    }
    over
}

/// Sends `message`, false if the page is gone or takes nothing for
/// [`SEND_TIMEOUT`].
async fn send<S>(to_page: &mut async_tungstenite::WebSocketSender<S>, message: Message) -> bool
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    matches!(
        within(SEND_TIMEOUT, to_page.send(message)).await,
        Some(Ok(()))
    )
}

/// The next frame of a shown tile that has acknowledged its last one.
async fn next_frame(
    tiles: &mut [Tile],
    shown: Option<&[String]>,
    registry: &Arc<Registry>,
) -> (usize, Newest) {
    type Waiting<'a> = Pin<Box<dyn Future<Output = (usize, Newest)> + Send + 'a>>;
    let mut waiting: Vec<Waiting> = tiles
        .iter_mut()
        .enumerate()
        .filter(|(_, tile)| tile.awaiting_ack.is_none())
        .filter(|(_, tile)| shown.is_none_or(|keys| keys.contains(&tile.follower.key)))
        .map(|(index, tile)| -> Waiting {
            Box::pin(async move { (index, tile.follower.next(registry).await) })
        })
        .collect();
    futures_lite::future::poll_fn(|context| {
        for future in waiting.iter_mut() {
            if let Poll::Ready(ready) = future.as_mut().poll(context) {
                return Poll::Ready(ready);
            }
        }
        Poll::Pending
    })
    .await
}

/// A binary message: header length, header, JPEG.
fn frame_message(key: &str, newest: &Newest) -> Bytes {
    let now_us = framewire_proto::unix_time_us();
    let header = FrameHeader {
        key,
        sequence: newest.sequence,
        width: newest.width,
        height: newest.height,
        capture_time_us: newest.capture_time_us,
        latency_ms: (newest.capture_time_us != 0 && now_us >= newest.capture_time_us)
            .then(|| (now_us - newest.capture_time_us) as f64 / 1e3),
    };
    let header = serde_json::to_vec(&header).unwrap_or_default();
    let mut message = Vec::with_capacity(4 + header.len() + newest.jpeg.len());
    message.extend_from_slice(&(header.len() as u32).to_be_bytes());
    message.extend_from_slice(&header);
    message.extend_from_slice(&newest.jpeg);
    Bytes::from(message)
}
