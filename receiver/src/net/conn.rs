//! How any accepted connection starts, a sender's or a web client's: the
//! TLS handshake under a deadline when `--tls` is on, and the byte stream
//! that follows ([`Socket`]). It reads no message and checks no token.

use std::time::Duration;

use async_net::TcpStream;
#[cfg(feature = "tls")]
use framewire_proto::deadline::within;
use framewire_proto::duplex::Duplex;

/// What starts a TLS session on an accepted connection (`--tls`).
#[cfg(feature = "tls")]
pub type TlsAcceptor = futures_rustls::TlsAcceptor;
/// Built without the `tls` feature: there is no acceptor to have.
#[cfg(not(feature = "tls"))]
pub type TlsAcceptor = std::convert::Infallible;

/// A connection's byte stream, plain or TLS.
pub(crate) type Socket = Box<dyn Duplex>;

/// Why a connection's TLS handshake did not complete (built without the
/// `tls` feature, there is never a handshake to fail).
#[cfg_attr(not(feature = "tls"), allow(dead_code))]
pub(crate) enum TlsFailure {
    Failed(std::io::Error),
    TimedOut,
}

/// The connection's byte stream: `socket` itself without `--tls`, else the
/// TLS session after a handshake of at most `limit`. The senders' server
/// and the web side both start their connections here.
pub(crate) async fn start_tls(
    tls: Option<&TlsAcceptor>,
    socket: TcpStream,
    limit: Duration,
) -> Result<Socket, TlsFailure> {
    match tls {
        None => Ok(Box::new(socket)),
        #[cfg(not(feature = "tls"))]
        Some(never) => {
            let _ = limit;
            match *never {}
        }
        #[cfg(feature = "tls")]
        Some(acceptor) => match within(limit, acceptor.accept(socket)).await {
            Some(Ok(stream)) => Ok(Box::new(stream)),
            Some(Err(error)) => Err(TlsFailure::Failed(error)),
            None => Err(TlsFailure::TimedOut),
        },
    }
}
