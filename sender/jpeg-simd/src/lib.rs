//! Whether mozjpeg runs its SIMD code here, and the encoder's name as the
//! sender gives it (`--version`, its first log line).
//!
//! Without SIMD (an x86 build made without `nasm`) every frame costs about
//! 3.8 times the CPU; `build.rs` stops such a build unless asked. This
//! crate only answers; encoding is the sender's `encoder` module.

// Links mozjpeg's library, which holds the function asked below.
use mozjpeg_sys as _;

/// Whether mozjpeg runs its SIMD code here: it was built with it and this
/// CPU has it. The forward DCT, the bulk of an encode, is the part asked
/// about.
pub fn simd_in_use() -> bool {
    unsafe extern "C" {
        /// libjpeg's own question: 0 when its plain C code does the DCT.
        fn jsimd_can_fdct_islow() -> std::ffi::c_int;
    }
    // SAFETY: a libjpeg function without arguments, linked from mozjpeg,
    // that reads the CPU's features (once) and answers.
    unsafe { jsimd_can_fdct_islow() != 0 }
}

/// The encoder, as `--version` and the first log line name it.
pub fn encoder_name() -> &'static str {
    if simd_in_use() {
        "mozjpeg, with SIMD"
    } else {
        "mozjpeg, WITHOUT SIMD"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    fn mozjpeg_runs_its_simd_code() {
        assert!(
            simd_in_use(),
            "mozjpeg was built without SIMD: install nasm, run `cargo clean -p mozjpeg-sys` \
             and build again"
        );
    }
}
