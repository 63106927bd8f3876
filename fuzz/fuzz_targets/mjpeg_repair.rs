//! The camera MJPEG repairs (trimming, Huffman table insertion, truncation)
//! on arbitrary buffers; the first byte chooses `--allow-truncated`. A
//! repaired frame must be a JPEG with a header and an end marker.
#![no_main]

use framewire_sender::capture::v4l2::mjpeg_repair::repair;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((flags, frame)) = data.split_first() else {
        return;
    };
    if let Ok(repaired) = repair(frame, flags & 1 == 1) {
        let header = framewire_proto::jpeg::read_header(&repaired.jpeg).expect("a header");
        assert_eq!((header.width, header.height), (repaired.width, repaired.height));
        assert!(repaired.jpeg.ends_with(&[0xff, 0xd9]));
        assert!(repaired.jpeg.len() <= frame.len() + 420 + 2);
    }
});
