//! One web connection as the routes see it: who it is, the place it holds
//! and whether it takes what it is handed. Made by the accept loop; the
//! routes prove its place and hand its uptake to an MJPEG body.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::net::places::Place;
use crate::web::uptake::Uptake;

pub struct Client {
    pub peer: SocketAddr,
    /// Proved once a request shows the token (or needs none).
    pub place: Place,
    pub uptake: Arc<Uptake>,
}
