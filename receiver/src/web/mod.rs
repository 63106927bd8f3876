//! The web side (`--http`): a live page for any browser, stream URLs for
//! other tools, and the figures, served over HTTP/1.1 (HTTPS with `--tls`)
//! by hyper on smol.
//!
//! In the order a request travels: the accept loop checks `--allow` and takes
//! one of the web's [`Places`] before reading a byte (bounded in total and
//! per address; a connection keeps it while it lasts, and until a request of
//! it has shown the token — any request, when none is set — a newcomer may
//! take it when all are held, so slow heads and silent bodies cannot keep a
//! token holder out); hyper reads the request head, within [`HEADER_TIMEOUT`]
//! and [`MAX_REQUEST_HEAD`] (a slow-loris or oversized request is closed);
//! [`routes`] answers it, checking its `Host` ([`host`]) and the token
//! ([`auth`]); the page's WebSocket ([`socket`]) and MJPEG responses
//! ([`mjpeg`]) then follow streams ([`follow`]) under their URL keys
//! ([`streams`]) as [`viewers`], and [`figures`] makes `/api/streams` and
//! `/metrics`. A connection that stops reading is closed ([`stall`]), and so
//! is a viewer that takes no frame in 10 s ([`uptake`]); [`client`] is what
//! the routes know of a connection. The web side never decodes or encodes: it
//! serves the newest JPEG each stream keeps.

pub mod auth;
pub mod client;
pub mod figures;
pub mod follow;
pub mod host;
pub mod mjpeg;
pub mod routes;
pub mod socket;
pub mod stall;
pub mod streams;
pub mod uptake;
pub mod viewers;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Context;
use async_net::{TcpListener, TcpStream};
use framewire_proto::unsent::limit_unsent_bytes;
use futures_lite::FutureExt;
use hyper::server::conn::http1;
use smol_hyper::rt::{FuturesIo, SmolTimer};

use crate::net::access::Access;
use crate::net::conn::{TlsAcceptor, TlsFailure, start_tls};
use crate::net::places::{PlaceLimits, Places};
use crate::tasks;
use client::Client;
use routes::Site;
use stall::StallGuard;

/// The longest a client may take to send a request's head (and the TLS
/// handshake, under `--tls`); then the connection is closed.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest request head read (hyper's buffer; its floor is 8 KiB).
pub const MAX_REQUEST_HEAD: usize = 16 * 1024;
/// Connections open at once beyond `--max-viewers`: room for short
/// requests (figures, snapshots, the page itself) while viewers watch.
const SPARE_CONNECTIONS: usize = 32;
/// Connections one address may hold open at least (at most `--max-viewers`
/// when that is more): a browser opens six, a video wall's MJPEG clients
/// one per camera.
const MIN_CONNECTIONS_PER_ADDRESS: usize = 16;

/// The web server: its listener, its rules and the site it serves.
pub struct WebServer {
    listener: TcpListener,
    access: Access,
    tls: Option<TlsAcceptor>,
    site: Arc<Site>,
    places: Arc<Places>,
}

impl WebServer {
    /// Binds `--http`'s address, explaining the usual reasons it can fail.
    pub async fn bind(address: &str) -> anyhow::Result<TcpListener> {
        TcpListener::bind(address).await.with_context(|| {
            format!("cannot serve the web view on {address} (is something else there? choose another with --http)")
        })
    }

    pub fn new(
        listener: TcpListener,
        access: Access,
        tls: Option<TlsAcceptor>,
        site: Site,
    ) -> Self {
        let places = Places::new(PlaceLimits {
            total: site.viewers.limit() + SPARE_CONNECTIONS,
            per_address: site.viewers.limit().max(MIN_CONNECTIONS_PER_ADDRESS),
        });
        WebServer {
            listener,
            access,
            tls,
            site: Arc::new(site),
            places,
        }
    }

    /// Serves until the receiver stops.
    pub async fn run(self: Arc<Self>) {
        let stop = self.site.stop.clone();
        loop {
            let accepted = async { Some(self.listener.accept().await) }
                .or(async {
                    stop.stopped().await;
                    None
                })
                .await;
            let (socket, peer) = match accepted {
                None => return,
                Some(Ok(accepted)) => accepted,
                Some(Err(error)) => {
                    log::warn!("cannot accept a web connection: {error}");
                    smol::Timer::after(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let gate = &self.site.gate;
            if !self.access.allows_address(peer.ip()) {
                gate.refused(
                    peer.ip(),
                    &peer.to_string(),
                    "its address is not in --allow (web)",
                );
                continue;
            }
            let place = match self.places.enter(peer.ip()) {
                Ok(place) => place,
                Err(full) => {
                    gate.refused(peer.ip(), &peer.to_string(), &format!("{full} (web)"));
                    continue;
                }
            };
            let client = Arc::new(Client {
                peer,
                place,
                uptake: Arc::default(),
            });
            let server = self.clone();
            tasks::spawn(async move {
                server
                    .serve(socket, client.clone())
                    .or(evicted(&client))
                    .or(overdue(&client))
                    .or(stop_of(&server))
                    .await;
            })
            .detach();
        }
    }

    /// One connection: TLS if asked, then HTTP/1.1 requests until it closes.
    async fn serve(&self, socket: TcpStream, client: Arc<Client>) {
        let peer = client.peer;
        let _ = socket.set_nodelay(true);
        if let Err(error) = limit_unsent_bytes(&socket) {
            log::debug!("web connection from {peer}: TCP_NOTSENT_LOWAT not set: {error}");
        }
        let socket = match start_tls(self.tls.as_ref(), socket, HEADER_TIMEOUT).await {
            Ok(socket) => socket,
            Err(TlsFailure::Failed(error)) => {
                return log::debug!("web connection from {peer}: TLS handshake failed: {error}");
            }
            Err(TlsFailure::TimedOut) => {
                return log::debug!("web connection from {peer}: no TLS handshake in time");
            }
        };
        let site = self.site.clone();
        let served = Arc::new(AtomicUsize::new(0));
        let counted = served.clone();
        let service = hyper::service::service_fn(move |request| {
            counted.fetch_add(1, Ordering::Relaxed);
            site.clone().respond(request, client.clone())
        });
        let connection = http1::Builder::new()
            .timer(SmolTimer::new())
            .header_read_timeout(HEADER_TIMEOUT)
            .max_buf_size(MAX_REQUEST_HEAD)
            .serve_connection(FuturesIo::new(StallGuard::new(socket)), service)
            .with_upgrades();
        let Err(error) = connection.await else {
            return;
        };
        let idle = served.load(Ordering::Relaxed) > 0;
        let refused = if error.is_timeout() && idle {
            // A kept-alive connection that asked nothing more: closed, as
            // every idle one is.
            return;
        } else if error.is_timeout() {
            format!(
                "no complete request within {:.0} s (web)",
                HEADER_TIMEOUT.as_secs_f64()
            )
        } else if error.is_parse_too_large() {
            format!("a request head over {} KiB (web)", MAX_REQUEST_HEAD / 1024)
        } else if error.is_parse() {
            format!("not an HTTP/1.1 request: {error} (web)")
        } else {
            return log::debug!("web connection from {peer} ended: {error}");
        };
        self.site
            .gate
            .refused(peer.ip(), &peer.to_string(), &refused);
    }
}

/// Ends when the connection's place has gone to a newer one.
async fn evicted(client: &Client) {
    client.place.evicted().await;
    log::debug!(
        "web connection from {} closed: every place was held and it had shown no token",
        client.peer
    );
}

/// Ends when the connection has not taken a frame handed to it in time.
async fn overdue(client: &Client) {
    client.uptake.overdue().await;
    log::debug!(
        "web connection from {} closed: it took no frame in {} s",
        client.peer,
        stall::MAX_STALL.as_secs()
    );
}

/// Ends when the receiver stops.
async fn stop_of(server: &WebServer) {
    server.site.stop.stopped().await;
}
