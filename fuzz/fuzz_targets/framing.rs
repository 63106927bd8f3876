//! The framing codec on arbitrary bytes: every message is read or refused,
//! nothing panics, and no message past the 64 KiB limit is buffered.
#![no_main]

use framewire_proto::codec::FrameReader;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut reader = FrameReader::new(data, 64 * 1024);
    smol::block_on(async {
        while let Ok(Some(frame)) = reader.read_frame().await {
            assert!(frame.image.len() <= 64 * 1024);
        }
    });
});
