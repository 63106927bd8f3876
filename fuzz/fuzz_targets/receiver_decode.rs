//! The receiver's decode paths on arbitrary images: the header check and
//! pixel limit, then both decoders a stream can use: libjpeg-turbo to
//! planes (banded on a pool of two threads when the restart markers allow
//! it) and zune-jpeg to RGBA.
#![no_main]

use std::sync::{LazyLock, Once};

use framewire_receiver::decode::{decode_picture, decode_rgba};
use framewire_proto::band_pool::BandPool;
use framewire_receiver::picture::{Picture, Pixels};
use libfuzzer_sys::fuzz_target;

static DEFAULT_PANIC_HOOK: Once = Once::new();
static POOL: LazyLock<BandPool> = LazyLock::new(|| BandPool::new(2, "band decoder"));

fuzz_target!(|data: &[u8]| {
    // libfuzzer-sys aborts on any panic, even one the code catches; the
    // decode path catches the decoders' panics (and libjpeg's errors, which
    // unwind) on purpose, so restore the default hook: a panic that escapes
    // still ends the run as a crash.
    DEFAULT_PANIC_HOOK.call_once(|| drop(std::panic::take_hook()));
    let mut rgba = Vec::new();
    if let Ok((width, height)) = decode_rgba(data, 1024 * 1024, &mut rgba) {
        assert_eq!(rgba.len(), width as usize * height as usize * 4);
    }
    let mut pixels = Pixels::default();
    if let Ok((width, height)) = decode_picture(data, 1024 * 1024, &mut pixels, &POOL) {
        let picture = Picture { width, height, pixels };
        assert_eq!(picture.to_rgba().len(), width as usize * height as usize * 4);
    }
});
