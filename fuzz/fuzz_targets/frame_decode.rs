//! The protobuf `Frame` decoder (prost) on arbitrary message bodies.
#![no_main]

use framewire_proto::Frame;
use libfuzzer_sys::fuzz_target;
use prost::Message;

fuzz_target!(|data: &[u8]| {
    if let Ok(frame) = Frame::decode(data) {
        // What the receiver does with a frame before decoding its picture.
        let _ = frame.is_keep_alive();
        let _ = framewire_proto::jpeg::read_header(&frame.image);
        // Re-encoding never grows a message by more than a few bytes: a
        // repeated field (v2's features) sent unpacked comes back packed,
        // one key and length more, never a multiple of the input.
        assert!(frame.encoded_len() <= data.len() + 16);
    }
});
