//! Length-prefixed framing of protobuf messages over async byte streams:
//! [`Frame`]s from sender to receiver, [`Control`]s back.
//!
//! Each message is a 4-byte big-endian length N, then N bytes of protobuf.
//! [`FrameReader`] reads messages however the bytes arrive (one byte per read,
//! or many messages in one read), refuses a length above its limit before
//! allocating anything, grows a message's buffer only as its bytes arrive,
//! and tells a clean end of stream (between messages) from one inside a
//! message. [`write_frame`] sends a frame with one vectored
//! write and without copying the image; [`write_control`] sends a (small)
//! control message. Timeouts and connection handling
//! belong to the caller.
//!
//! ```
//! use framewire_proto::Frame;
//! use framewire_proto::codec::{DEFAULT_MAX_MESSAGE_BYTES, FrameReader, write_frame};
//!
//! smol::block_on(async {
//!     let frame = Frame {
//!         image: vec![0xff, 0xd8, 0xff, 0xd9].into(),
//!         sequence: 7,
//!         ..Frame::default()
//!     };
//!     let mut wire = Vec::new();
//!     let written = write_frame(&mut wire, &frame).await.unwrap();
//!     assert_eq!(u32::from_be_bytes(wire[..4].try_into().unwrap()) as usize, written - 4);
//!
//!     let mut reader = FrameReader::new(&wire[..], DEFAULT_MAX_MESSAGE_BYTES);
//!     assert_eq!(reader.read_frame().await.unwrap(), Some(frame));
//!     assert_eq!(reader.read_frame().await.unwrap(), None, "a clean end between messages");
//! });
//! ```

use std::io::{self, IoSlice};

use bytes::BytesMut;
use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use prost::Message;

use crate::{Control, Frame};

/// The default limit on one message: large enough for any camera's JPEG.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// Size of the length prefix in front of every message.
pub const PREFIX_BYTES: usize = 4;

/// Why a message could not be read. After any of these the stream is out of
/// step and the connection should be closed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("connection closed inside a length prefix: got {received} of {PREFIX_BYTES} bytes")]
    TruncatedPrefix { received: usize },
    #[error("connection closed inside a {expected}-byte message: {missing} bytes were missing")]
    TruncatedMessage { expected: usize, missing: usize },
    #[error(
        "message length {length} bytes is above the limit of {limit} bytes \
         (raise it with --max-frame-bytes if the sender is trusted)"
    )]
    TooLarge { length: usize, limit: usize },
    #[error("message is not a valid protobuf message: {0}")]
    Protobuf(#[from] prost::DecodeError),
    #[error("read failed: {0}")]
    Io(#[from] io::Error),
}

/// Reads length-prefixed messages (frames on the receiver, controls on the
/// sender) from an async byte stream.
pub struct FrameReader<R> {
    reader: R,
    max_message_bytes: usize,
    bytes_read: u64,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// Reads from `reader`, refusing messages longer than `max_message_bytes`.
    pub fn new(reader: R, max_message_bytes: usize) -> Self {
        FrameReader {
            reader,
            max_message_bytes,
            bytes_read: 0,
        }
    }

    /// Total bytes of complete messages read so far, prefixes included.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// Reads the next frame; `Ok(None)` when the stream ends between messages.
    ///
    /// The frame's image shares its message's buffer (no copy), which grows
    /// as the message's bytes arrive: a length prefix alone costs nothing.
    pub async fn read_frame(&mut self) -> Result<Option<Frame>, ReadError> {
        self.read_message().await
    }

    /// Reads the next message of type `M`, like [`FrameReader::read_frame`].
    pub async fn read_message<M: Message + Default>(&mut self) -> Result<Option<M>, ReadError> {
        let mut prefix = [0u8; PREFIX_BYTES];
        match read_until_full(&mut self.reader, &mut prefix).await? {
            0 => return Ok(None),
            PREFIX_BYTES => {}
            received => return Err(ReadError::TruncatedPrefix { received }),
        }
        let length = u32::from_be_bytes(prefix) as usize;
        if length > self.max_message_bytes {
            return Err(ReadError::TooLarge {
                length,
                limit: self.max_message_bytes,
            });
        }
        let mut message = BytesMut::new();
        let received = read_growing(&mut self.reader, &mut message, length).await?;
        if received < length {
            return Err(ReadError::TruncatedMessage {
                expected: length,
                missing: length - received,
            });
        }
        self.bytes_read += (PREFIX_BYTES + length) as u64;
        Ok(Some(M::decode(message.freeze())?))
    }

    /// Changes the longest message accepted from now on (a receiver takes
    /// only a small hello before a peer is admitted, then real frames).
    pub fn set_max_message_bytes(&mut self, max_message_bytes: usize) {
        self.max_message_bytes = max_message_bytes;
    }
}

/// The buffer of a message grows by at most this much ahead of the bytes
/// that have arrived, so a length prefix alone costs no memory.
const GROWTH_STEP: usize = 64 * 1024;

/// Reads `length` bytes into `message`, growing it as they arrive (never
/// more than [`GROWTH_STEP`] ahead of them); returns the bytes read, fewer
/// when the stream ends first.
async fn read_growing<R: AsyncRead + Unpin>(
    reader: &mut R,
    message: &mut BytesMut,
    length: usize,
) -> io::Result<usize> {
    while message.len() < length {
        let filled = message.len();
        let chunk = (length - filled).min(GROWTH_STEP.max(filled));
        message.resize(filled + chunk, 0);
        let received = read_until_full(reader, &mut message[filled..]).await?;
        message.truncate(filled + received);
        if received < chunk {
            break;
        }
    }
    Ok(message.len())
}

/// Reads until `buffer` is full or the stream ends; returns the bytes read.
async fn read_until_full<R: AsyncRead + Unpin>(
    reader: &mut R,
    buffer: &mut [u8],
) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match reader.read(&mut buffer[filled..]).await {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Writes one frame with its length prefix; returns the bytes written.
///
/// The image goes from the caller's buffer to the writer in one vectored
/// write, between a small header and the other fields, without being copied.
pub async fn write_frame<W: AsyncWrite + Unpin>(
    writer: &mut W,
    frame: &Frame,
) -> io::Result<usize> {
    let (head, tail) = split_encoding(frame)?;
    let mut slices = [
        IoSlice::new(&head),
        IoSlice::new(&frame.image),
        IoSlice::new(&tail),
    ];
    let total = head.len() + frame.image.len() + tail.len();
    let mut remaining = &mut slices[..];
    IoSlice::advance_slices(&mut remaining, 0);
    while !remaining.is_empty() {
        let written = writer.write_vectored(remaining).await?;
        if written == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        IoSlice::advance_slices(&mut remaining, written);
    }
    writer.flush().await?;
    Ok(total)
}

/// Writes one control message with its length prefix; returns the bytes
/// written.
pub async fn write_control<W: AsyncWrite + Unpin>(
    writer: &mut W,
    control: &Control,
) -> io::Result<usize> {
    let body = control.encode_to_vec();
    let mut message = Vec::with_capacity(PREFIX_BYTES + body.len());
    message.extend_from_slice(&(body.len() as u32).to_be_bytes());
    message.extend_from_slice(&body);
    writer.write_all(&message).await?;
    writer.flush().await?;
    Ok(message.len())
}

/// The bytes before the image (prefix, image key and length) and after it
/// (every other field), such that `head + image + tail` is the message.
/// This relies on prost writing fields in tag order, with `image` as tag 1.
fn split_encoding(frame: &Frame) -> io::Result<(Vec<u8>, Vec<u8>)> {
    let length = u32::try_from(frame.encoded_len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame is larger than 4 GiB"))?;
    let mut head = Vec::with_capacity(PREFIX_BYTES + 11);
    head.extend_from_slice(&length.to_be_bytes());
    if !frame.image.is_empty() {
        prost::encoding::encode_key(1, prost::encoding::WireType::LengthDelimited, &mut head);
        prost::encoding::encode_varint(frame.image.len() as u64, &mut head);
    }
    let others = Frame {
        image: Default::default(),
        ..frame.clone()
    };
    Ok((head, others.encode_to_vec()))
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use bytes::Bytes;

    use super::*;

    fn frame(sequence: u64, image: &[u8]) -> Frame {
        Frame {
            image: Bytes::copy_from_slice(image),
            sequence,
            capture_time_us: 1_700_000_000_000_000 + sequence,
            width: 640,
            height: 480,
            stream_name: "porch".into(),
            ..Frame::default()
        }
    }

    fn encode_all(frames: &[Frame]) -> Vec<u8> {
        let mut wire = Vec::new();
        for f in frames {
            smol::block_on(write_frame(&mut wire, f)).unwrap();
        }
        wire
    }

    fn read_all<R: AsyncRead + Unpin>(reader: R) -> (Vec<Frame>, Result<(), ReadError>) {
        let mut reader = FrameReader::new(reader, DEFAULT_MAX_MESSAGE_BYTES);
        let mut frames = Vec::new();
        smol::block_on(async {
            loop {
                match reader.read_frame().await {
                    Ok(Some(f)) => frames.push(f),
                    Ok(None) => return (frames, Ok(())),
                    Err(e) => return (frames, Err(e)),
                }
            }
        })
    }

    /// Hands out at most `chunk` bytes per read, like a slow network.
    struct Trickle {
        data: Vec<u8>,
        position: usize,
        chunk: usize,
    }

    impl AsyncRead for Trickle {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut [u8],
        ) -> Poll<io::Result<usize>> {
            let n = self
                .chunk
                .min(buf.len())
                .min(self.data.len() - self.position);
            let start = self.position;
            buf[..n].copy_from_slice(&self.data[start..start + n]);
            self.position += n;
            Poll::Ready(Ok(n))
        }
    }

    #[test]
    fn a_frame_with_only_an_image_encodes_exactly_like_the_prototypes_my_image() {
        // The prototype: `len(serialized).to_bytes(4, 'big') + my_image(image=...)`,
        // where my_image serializes as field 1, wire type 2: 0x0a, varint length, bytes.
        let image: Vec<u8> = (0..300u32).map(|i| (i % 251) as u8).collect();
        let wire = encode_all(&[Frame {
            image: image.clone().into(),
            ..Frame::default()
        }]);
        let mut expected = vec![0, 0, 0x01, 0x2f, 0x0a, 0xac, 0x02];
        expected.extend_from_slice(&image);
        assert_eq!(wire, expected);
    }

    #[test]
    fn write_frame_sends_exactly_the_prefix_and_the_protobuf_encoding() {
        let f = frame(42, b"\xff\xd8jpeg\xff\xd9");
        let body = f.encode_to_vec();
        let mut expected = (body.len() as u32).to_be_bytes().to_vec();
        expected.extend_from_slice(&body);
        assert_eq!(encode_all(&[f]), expected);
    }

    #[test]
    fn many_messages_in_one_read_all_come_out_in_order() {
        let sent: Vec<Frame> = (0..50).map(|i| frame(i, &[i as u8; 1000])).collect();
        let (received, end) = read_all(&encode_all(&sent)[..]);
        assert!(end.is_ok());
        assert_eq!(received, sent);
    }

    #[test]
    fn a_message_split_across_many_reads_is_reassembled() {
        let sent: Vec<Frame> = (0..5).map(|i| frame(i, &vec![7; 5000])).collect();
        for chunk in [1, 3, 4, 5, 4099] {
            let trickle = Trickle {
                data: encode_all(&sent),
                position: 0,
                chunk,
            };
            let (received, end) = read_all(trickle);
            assert!(end.is_ok(), "chunk {chunk}");
            assert_eq!(received, sent, "chunk {chunk}");
        }
    }

    #[test]
    fn an_empty_image_is_a_keep_alive_that_reads_back_as_one() {
        let keep_alive = Frame::keep_alive("porch");
        let (received, end) = read_all(&encode_all(std::slice::from_ref(&keep_alive))[..]);
        assert!(end.is_ok());
        assert_eq!(received, vec![keep_alive]);
        assert!(received[0].is_keep_alive());
    }

    #[test]
    fn end_of_stream_inside_a_message_names_the_missing_bytes() {
        let wire = encode_all(&[frame(0, &[1; 100]), frame(1, &[2; 100])]);
        let cut = wire.len() - 30;
        let (received, end) = read_all(&wire[..cut]);
        assert_eq!(
            received,
            vec![frame(0, &[1; 100])],
            "the complete frame is kept"
        );
        let error = end.unwrap_err();
        assert!(
            matches!(error, ReadError::TruncatedMessage { missing: 30, .. }),
            "{error:?}"
        );
        assert!(
            error.to_string().contains("30 bytes were missing"),
            "{error}"
        );
    }

    #[test]
    fn end_of_stream_inside_the_length_prefix_is_an_error() {
        let (_, end) = read_all(&[0u8, 0][..]);
        assert!(matches!(
            end.unwrap_err(),
            ReadError::TruncatedPrefix { received: 2 }
        ));
    }

    #[test]
    fn a_length_above_the_limit_is_refused_before_any_allocation() {
        let wire = [0xff, 0xff, 0xff, 0xf0];
        let mut reader = FrameReader::new(&wire[..], 1024);
        let error = smol::block_on(reader.read_frame()).unwrap_err();
        assert!(
            matches!(
                error,
                ReadError::TooLarge {
                    length: 0xffff_fff0,
                    limit: 1024
                }
            ),
            "{error:?}"
        );
    }

    #[test]
    fn a_claimed_length_costs_only_the_bytes_that_arrive() {
        let claimed = 16 * 1024 * 1024;
        let mut message = BytesMut::new();
        let arrived = [7u8; 10];
        let read = smol::block_on(read_growing(&mut &arrived[..], &mut message, claimed)).unwrap();
        assert_eq!(read, 10);
        assert!(
            message.capacity() <= 2 * GROWTH_STEP,
            "{} bytes allocated for 10 that arrived",
            message.capacity()
        );
        let whole = vec![1u8; 1_000_000];
        let mut message = BytesMut::new();
        let read =
            smol::block_on(read_growing(&mut &whole[..], &mut message, whole.len())).unwrap();
        assert_eq!((read, &message[..]), (whole.len(), &whole[..]));
    }

    #[test]
    fn garbage_after_a_valid_prefix_is_a_protobuf_error_not_a_panic() {
        let mut wire = 6u32.to_be_bytes().to_vec();
        wire.extend_from_slice(&[0xff; 6]);
        let (_, end) = read_all(&wire[..]);
        assert!(matches!(end.unwrap_err(), ReadError::Protobuf(_)));
    }

    #[test]
    fn bytes_read_counts_complete_messages_with_their_prefixes() {
        let wire = encode_all(&[frame(0, &[0; 10]), frame(1, &[0; 20])]);
        let mut reader = FrameReader::new(&wire[..], DEFAULT_MAX_MESSAGE_BYTES);
        smol::block_on(async { while reader.read_frame().await.unwrap().is_some() {} });
        assert_eq!(reader.bytes_read(), wire.len() as u64);
    }

    #[test]
    fn control_messages_round_trip_and_unknown_fields_are_skipped() {
        let probe = Control {
            clock_probe: Some(crate::ClockProbe {
                receiver_send_time_us: 1_700_000_000_123_456,
            }),
            ..Control::default()
        };
        let mut wire = Vec::new();
        let written = smol::block_on(write_control(&mut wire, &probe)).unwrap();
        assert_eq!(written, wire.len());
        // A later receiver's control: field 15 (a varint) this one does not know.
        let mut newer = probe.encode_to_vec();
        newer.extend_from_slice(&[15 << 3, 42]);
        wire.extend_from_slice(&(newer.len() as u32).to_be_bytes());
        wire.extend_from_slice(&newer);
        let mut reader = FrameReader::new(&wire[..], 1024);
        smol::block_on(async {
            for _ in 0..2 {
                let read: Control = reader.read_message().await.unwrap().unwrap();
                assert_eq!(read, probe);
            }
            assert!(reader.read_message::<Control>().await.unwrap().is_none());
        });
    }

    #[test]
    fn a_hello_announces_the_back_channel_and_a_plain_frame_does_not() {
        let hello = Frame::hello("porch", None);
        assert!(hello.speaks(crate::Feature::Control) && hello.is_keep_alive());
        assert!(hello.auth_token.is_empty());
        assert!(Frame::hello("porch", Some("s3cret")).speaks(crate::Feature::Control));
        assert!(!frame(0, b"jpeg").speaks(crate::Feature::Control));
        // A feature number this build does not know is not mistaken for one.
        let future = Frame {
            features: vec![99],
            ..Frame::default()
        };
        assert!(!future.speaks(crate::Feature::Control));
    }
}
