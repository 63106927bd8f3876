//! Opening a connection to the receiver: the name resolved (however long
//! DNS takes), the first address that answers within [`CONNECT_TIMEOUT`],
//! the socket options that keep latency low (`TCP_NODELAY`, few unsent
//! bytes in the kernel), and the TLS handshake with `--tls`. It sends
//! nothing and does not retry (the run loop does).

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use async_net::TcpStream;
use framewire_proto::deadline::within;
use framewire_proto::duplex::Duplex;
use framewire_proto::unsent::limit_unsent_bytes;

use super::{Transport, WRITE_TIMEOUT};

/// A connection attempt that gets no answer for this long is given up and
/// retried with a fresh SYN, instead of waiting out the kernel's SYN
/// retransmissions (1 s, 3 s, 7 s, ...) after a link comes back.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// An open connection to the receiver: plain TCP, or TLS over it.
pub(super) type Connection = Box<dyn Duplex>;

/// The TCP socket under a [`Connection`], for its `TCP_INFO`; valid as
/// long as the connection is.
#[derive(Clone, Copy)]
pub(super) struct Socket(pub(super) RawFd);

impl Transport<'_> {
    /// Resolves the receiver's address (however long DNS takes) and
    /// connects to the first address that answers within [`CONNECT_TIMEOUT`].
    pub(super) async fn connect(&self) -> io::Result<(Connection, Socket)> {
        let stream = self.connect_tcp().await?;
        let socket = Socket(stream.as_raw_fd());
        if let Err(error) = stream.set_nodelay(true) {
            log::debug!("TCP_NODELAY not set: {error}");
        }
        if let Err(error) = limit_unsent_bytes(&stream) {
            log::debug!("TCP_NOTSENT_LOWAT not set: {error}");
        }
        let Some(tls) = &self.tls else {
            return Ok((Box::new(stream), socket));
        };
        let handshake = within(
            WRITE_TIMEOUT,
            tls.connector.connect(tls.server_name.clone(), stream),
        )
        .await
        .unwrap_or_else(|| {
            Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "no TLS handshake (does the receiver run --tls?)",
            ))
        })
        .map_err(|error| io::Error::other(format!("TLS: {error}")))?;
        Ok((Box::new(handshake), socket))
    }

    async fn connect_tcp(&self) -> io::Result<TcpStream> {
        let mut last_error = io::Error::other("the name resolves to no address");
        for address in async_net::resolve(self.address.as_str()).await? {
            let attempt = within(CONNECT_TIMEOUT, TcpStream::connect(address))
                .await
                .unwrap_or_else(|| {
                    Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()),
                    ))
                });
            match attempt {
                Ok(stream) => return Ok(stream),
                Err(error) => last_error = error,
            }
        }
        Err(last_error)
    }
}
