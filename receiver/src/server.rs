//! Accepting senders and reading their frames, one task per connection.
//!
//! Every connection has its own reader, buffer, counters and decoder thread,
//! so two senders never see each other's bytes (the prototype's server shared
//! one buffer among all clients and broke). A connection that sends something
//! that is not a framewire (or prototype) stream is closed with a log line
//! naming the peer and the reason; every other connection carries on. The
//! server does not decode or draw.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use anyhow::Context;
use async_net::{TcpListener, TcpStream};
use framewire_proto::codec::{FrameReader, ReadError};
use framewire_proto::slot::latest_slot;

use crate::decode::DecoderContext;
use crate::stats::{Registry, StreamStats};

pub struct Server {
    pub listener: TcpListener,
    pub max_frame_bytes: usize,
    pub registry: Arc<Registry>,
    pub decoder: DecoderContext,
}

impl Server {
    /// Binds `address`, explaining the usual reasons it can fail.
    pub async fn bind(address: &str) -> anyhow::Result<TcpListener> {
        TcpListener::bind(address).await.with_context(|| {
            format!("cannot listen on {address} (is another receiver running there? choose another with --listen)")
        })
    }

    /// Accepts senders until the process ends.
    pub async fn run(self: Arc<Self>) {
        loop {
            match self.listener.accept().await {
                Ok((stream, peer)) => {
                    smol::spawn(self.clone().serve(stream, peer)).detach();
                }
                Err(error) => {
                    // Usually out of file descriptors: wait instead of spinning.
                    log::warn!("cannot accept a connection: {error}");
                    smol::Timer::after(std::time::Duration::from_millis(100)).await;
                }
            }
        }
    }

    async fn serve(self: Arc<Self>, socket: TcpStream, peer: SocketAddr) {
        let stream = self.registry.open(peer);
        log::info!("sender connected from {peer} (stream {})", stream.id);
        if let Err(error) = socket.set_nodelay(true) {
            log::debug!("TCP_NODELAY not set for {peer}: {error}");
        }
        let (frames_out, frames_in) = latest_slot();
        let decoder = self.decoder.clone();
        let decoder_stream = stream.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("decode-{}", stream.id))
            .spawn(move || decoder.run(frames_in, decoder_stream));
        if let Err(error) = spawned {
            log::error!("closing the connection from {peer}: cannot start its decoder: {error}");
            stream.connected.store(false, Ordering::Relaxed);
            return;
        }

        let mut reader = FrameReader::new(socket, self.max_frame_bytes);
        let ending = loop {
            let frame = match reader.read_frame().await {
                Ok(Some(frame)) => frame,
                Ok(None) => break None,
                Err(error) => break Some(error),
            };
            stream.bytes.store(reader.bytes_read(), Ordering::Relaxed);
            if frame.is_keep_alive() {
                StreamStats::add(&stream.keep_alives, 1);
                continue;
            }
            if stream.rename(&frame.stream_name) {
                log::info!(
                    "stream {} from {peer} is '{}'",
                    stream.id,
                    frame.stream_name
                );
            }
            stream.note_sequence(frame.sequence);
            let _ = frames_out.put(frame); // a replaced frame is counted just below
            stream
                .dropped_before_decode
                .store(frames_out.dropped(), Ordering::Relaxed);
        };
        stream.connected.store(false, Ordering::Relaxed);
        let received = stream.received.load(Ordering::Relaxed);
        match ending {
            None => log::info!(
                "sender {} disconnected after {received} frames",
                stream.label()
            ),
            Some(error) => log::warn!(
                "closed the connection from {} after {received} frames: {error}{}",
                stream.label(),
                hint(&error)
            ),
        }
    }
}

/// A hint for the most common way to get here by mistake: pointing a web
/// browser, curl or another text protocol at the receiver's port.
fn hint(error: &ReadError) -> &'static str {
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
