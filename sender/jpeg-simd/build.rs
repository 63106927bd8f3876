//! Stops the build of an x86 sender whose mozjpeg lacks its SIMD code.
//!
//! On x86 mozjpeg-sys assembles its SIMD code with `nasm`; without `nasm`
//! it builds anyway, with plain C, and every frame then costs about 3.8
//! times the CPU. Installing `nasm` later does not rebuild it. mozjpeg-sys
//! tells its direct dependents where its build wrote its headers
//! (`DEP_JPEG_INCLUDE`, its output directory's `include` first); the
//! objects it compiled lie beside them, and `jsimd_none.o` among them means
//! the SIMD code was left out. Then this script fails with what to do, unless
//! `FRAMEWIRE_ALLOW_NO_SIMD=1` asks for the slow sender knowingly. ARM
//! builds take their NEON code from the C compiler and are not checked.
//! The sender's first log line and `--version` say the same at run time
//! (`simd_in_use`).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const OPT_OUT: &str = "FRAMEWIRE_ALLOW_NO_SIMD";

fn main() -> ExitCode {
    println!("cargo:rerun-if-env-changed={OPT_OUT}");
    let target_arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    if !matches!(target_arch.as_str(), "x86" | "x86_64") {
        return ExitCode::SUCCESS;
    }
    let Some(mozjpeg_out) = mozjpeg_output_dir() else {
        println!("cargo:warning=cannot find mozjpeg-sys's build output: its SIMD is not checked");
        return ExitCode::SUCCESS;
    };
    let Some(library) = find(&mozjpeg_out, |name| name.starts_with("libmozjpeg")) else {
        println!("cargo:warning=no library in mozjpeg-sys's build output: its SIMD is not checked");
        return ExitCode::SUCCESS;
    };
    // Rebuilt mozjpeg (after `cargo clean -p mozjpeg-sys`) is checked again.
    println!("cargo:rerun-if-changed={}", library.display());
    if find(&mozjpeg_out, |name| name.ends_with("jsimd_none.o")).is_none() {
        return ExitCode::SUCCESS;
    }
    let target = std::env::var("TARGET").unwrap_or_default();
    let host = std::env::var("HOST").unwrap_or_default();
    let mut clean = "cargo clean -p mozjpeg-sys".to_owned();
    if std::env::var("PROFILE").is_ok_and(|profile| profile == "release") {
        clean.push_str(" --release");
    }
    if target != host {
        clean.push_str(&format!(" --target {target}"));
    }
    let nasm_now = if nasm_found() {
        "nasm is installed now, but mozjpeg was built before it was"
    } else {
        "nasm is not installed (Debian/Ubuntu: sudo apt-get install nasm; Fedora: sudo dnf install nasm; macOS: brew install nasm)"
    };
    let message = format!(
        "mozjpeg was built without its SIMD code, so the sender would spend about 3.8 times the CPU on every frame.\n\
         {nasm_now}.\n\
         Install nasm, run `{clean}`, and build again (./demo.sh does all of this).\n\
         To build the slow sender knowingly, set {OPT_OUT}=1."
    );
    if std::env::var(OPT_OUT).is_ok_and(|value| value == "1") {
        for line in message.lines() {
            println!("cargo:warning={line}");
        }
        return ExitCode::SUCCESS;
    }
    eprintln!("error: {message}");
    ExitCode::FAILURE
}

/// mozjpeg-sys's output directory: the parent of the first path in
/// `DEP_JPEG_INCLUDE`.
fn mozjpeg_output_dir() -> Option<PathBuf> {
    let include = std::env::var_os("DEP_JPEG_INCLUDE")?;
    let config = std::env::split_paths(&include).next()?;
    Some(config.parent()?.to_owned())
}

/// The first file in `dir` whose name satisfies `wanted`.
fn find(dir: &Path, wanted: impl Fn(&str) -> bool) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|entry| entry.path())
        .find(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(&wanted)
        })
}

fn nasm_found() -> bool {
    Command::new("nasm")
        .arg("-v")
        .output()
        .is_ok_and(|output| output.status.success())
}
