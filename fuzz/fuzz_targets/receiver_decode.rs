//! The receiver's decode path (header check, pixel limit, zune-jpeg to
//! RGBA) on arbitrary images.
#![no_main]

use std::sync::Once;

use framewire_receiver::decode::decode_rgba;
use libfuzzer_sys::fuzz_target;

static DEFAULT_PANIC_HOOK: Once = Once::new();

fuzz_target!(|data: &[u8]| {
    // libfuzzer-sys aborts on any panic, even one the code catches; the
    // decode path catches zune-jpeg's panics on purpose, so restore the
    // default hook: a panic that escapes still ends the run as a crash.
    DEFAULT_PANIC_HOOK.call_once(|| drop(std::panic::take_hook()));
    let mut rgba = Vec::new();
    if let Ok((width, height)) = decode_rgba(data, 1024 * 1024, &mut rgba) {
        assert_eq!(rgba.len(), width as usize * height as usize * 4);
    }
});
