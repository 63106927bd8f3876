//! Properties of the framing codec over generated inputs (proptest): frames
//! survive any split of the byte stream, and no byte string makes the
//! reader panic or accept a message past its limit.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use framewire_proto::Frame;
use framewire_proto::codec::{FrameReader, ReadError, write_frame};
use futures_lite::AsyncRead;
use proptest::prelude::*;

/// Hands out the bytes in pieces of the given sizes (then the rest at once).
struct Pieces {
    data: Vec<u8>,
    position: usize,
    sizes: Vec<usize>,
}

impl AsyncRead for Pieces {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let remaining = self.data.len() - self.position;
        let wanted = if self.sizes.is_empty() {
            remaining
        } else {
            self.sizes.remove(0).max(1)
        };
        let n = wanted.min(buf.len()).min(remaining);
        let start = self.position;
        buf[..n].copy_from_slice(&self.data[start..start + n]);
        self.position += n;
        Poll::Ready(Ok(n))
    }
}

fn read_all(reader: Pieces, limit: usize) -> (Vec<Frame>, Result<(), ReadError>) {
    let mut reader = FrameReader::new(reader, limit);
    let mut frames = Vec::new();
    smol::block_on(async {
        loop {
            match reader.read_frame().await {
                Ok(Some(frame)) => frames.push(frame),
                Ok(None) => return (frames, Ok(())),
                Err(error) => return (frames, Err(error)),
            }
        }
    })
}

fn any_frame() -> impl Strategy<Value = Frame> {
    (
        proptest::collection::vec(any::<u8>(), 0..2048),
        any::<u64>(),
        any::<u64>(),
        any::<u32>(),
        any::<u32>(),
        "[a-z ]{0,12}",
    )
        .prop_map(
            |(image, sequence, capture_time_us, width, height, stream_name)| Frame {
                image: Bytes::from(image),
                sequence,
                capture_time_us,
                width,
                height,
                stream_name,
                ..Frame::default()
            },
        )
}

proptest! {
    #[test]
    fn frames_survive_any_split_of_the_stream(
        frames in proptest::collection::vec(any_frame(), 0..8),
        sizes in proptest::collection::vec(1usize..300, 0..64),
    ) {
        let mut wire = Vec::new();
        for frame in &frames {
            smol::block_on(write_frame(&mut wire, frame)).unwrap();
        }
        let (read, ending) = read_all(Pieces { data: wire, position: 0, sizes }, 1 << 20);
        prop_assert!(ending.is_ok(), "{:?}", ending);
        prop_assert_eq!(read, frames);
    }

    #[test]
    fn any_bytes_are_read_or_refused_never_a_panic(
        data in proptest::collection::vec(any::<u8>(), 0..4096),
        sizes in proptest::collection::vec(1usize..64, 0..16),
    ) {
        let length = data.len();
        let (frames, ending) = read_all(Pieces { data, position: 0, sizes }, 1024);
        // Whatever was read fitted the limit; a refusal names its reason.
        for frame in &frames {
            prop_assert!(frame.image.len() <= 1024);
        }
        if let Err(error) = ending {
            prop_assert!(!error.to_string().is_empty());
        }
        // Every message costs at least its 4-byte prefix.
        prop_assert!(frames.len() <= length / 4);
    }
}
