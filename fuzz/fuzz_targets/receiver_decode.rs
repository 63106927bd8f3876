//! The receiver's decode path (header check, pixel limit, zune-jpeg to
//! RGBA) on arbitrary images.
#![no_main]

use framewire_receiver::decode::decode_rgba;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut rgba = Vec::new();
    if let Ok((width, height)) = decode_rgba(data, 1024 * 1024, &mut rgba) {
        assert_eq!(rgba.len(), width as usize * height as usize * 4);
    }
});
