//! Admission, the first step of a sender's connection: the TLS handshake,
//! then the first message, each under its own deadline, with a small
//! message limit while a token is asked, and the token checked. It takes
//! no sender slot and opens no stream: [`Server::serve`](super::Server)
//! does that with what this returns. A peer that fails here is refused
//! with a reason for the gate's summary; a wrong token also waits out the
//! gate's penalty first.

use std::net::SocketAddr;

use async_net::TcpStream;
use framewire_proto::Frame;
use framewire_proto::codec::{FrameReader, ReadError};
use framewire_proto::deadline::within;

use super::conn::{TlsFailure, start_tls};
use super::{Incoming, Outgoing, Server};

/// The longest first message while a token is asked for: a hello is a
/// name and a token, far below this.
const MAX_HELLO_BYTES: usize = 64 * 1024;

impl Server {
    /// Admission: the TLS handshake, then the first message (checked for the
    /// token when one is set), each under its own deadline. Returns the
    /// reader, the way back and the first message, or why the peer is
    /// refused.
    pub(super) async fn admit(
        &self,
        socket: TcpStream,
        peer: SocketAddr,
    ) -> Result<(Incoming, Outgoing, Frame), String> {
        let step = self.limits.admission_step();
        let socket = match start_tls(self.tls.as_ref(), socket, step).await {
            Ok(socket) => socket,
            Err(TlsFailure::Failed(error)) => {
                return Err(format!(
                    "TLS handshake failed: {error} (this receiver runs --tls: start the \
                     sender with --tls too)"
                ));
            }
            Err(TlsFailure::TimedOut) => {
                return Err(format!(
                    "no TLS handshake within {:.1} s",
                    step.as_secs_f64()
                ));
            }
        };
        let hello_limit = match self.access.token {
            Some(_) => MAX_HELLO_BYTES.min(self.limits.max_frame_bytes),
            None => self.limits.max_frame_bytes,
        };
        let (incoming, outgoing) = framewire_proto::duplex::split(socket);
        let mut reader = FrameReader::new(incoming, hello_limit);
        let first = match within(step, reader.read_frame()).await {
            Some(Ok(Some(frame))) => frame,
            Some(Ok(None)) => return Err("it closed the connection without a message".into()),
            Some(Err(error)) => {
                return Err(format!(
                    "its first message is not a framewire message: {error}{}",
                    hint(&error)
                ));
            }
            None => {
                return Err(format!(
                    "it sent no complete message within {:.1} s",
                    step.as_secs_f64()
                ));
            }
        };
        if let Err(reason) = self.access.check_first_message(&first) {
            if self.access.token.is_some() && !first.auth_token.is_empty() {
                let wait = self.gate.penalise(peer.ip());
                smol::Timer::after(wait).await;
            }
            return Err(reason.to_owned());
        }
        reader.set_max_message_bytes(self.limits.max_frame_bytes);
        Ok((reader, outgoing, first))
    }
}

/// A hint for the most common way to get here by mistake: pointing a web
/// browser, curl or another text protocol at the receiver's port.
pub(super) fn hint(error: &ReadError) -> &'static str {
    match error {
        ReadError::TooLarge { length, .. }
            if (*length as u32)
                .to_be_bytes()
                .iter()
                .all(|b| b.is_ascii_graphic() || *b == b' ') =>
        {
            " (the peer seems to speak a text protocol such as HTTP; only framewire senders belong here)"
        }
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_http_request_gets_a_hint_and_binary_noise_does_not() {
        let http = ReadError::TooLarge {
            length: u32::from_be_bytes(*b"GET ") as usize,
            limit: 16,
        };
        assert!(hint(&http).contains("HTTP"));
        let noise = ReadError::TooLarge {
            length: 0xb4c0_ffee,
            limit: 16,
        };
        assert_eq!(hint(&noise), "");
    }
}
