//! The sender's build check (`sender/jpeg-simd/build.rs`) on an x86 machine where
//! `nasm` is missing, then installed: the build stops with what to do, goes
//! on when the user opts out knowingly, stops again while mozjpeg is the one
//! built without `nasm`, and passes once mozjpeg is built again with it.
//!
//! Runs real `cargo check` builds of the crate that holds the check (the
//! sender depends on it) in a scratch target directory, with the crates
//! already fetched, and `PATH` rebuilt without `nasm` (links to everything
//! else on it): mozjpeg's C, its build script's few crates and the check.

#![cfg(target_arch = "x86_64")]

use std::path::{Path, PathBuf};
use std::process::Command;

use framewire_tests::*;

const STOPPED: &str = "mozjpeg was built without its SIMD code";

/// A directory of links to every program on `PATH` but `nasm`, the first
/// of each name as `PATH` finds it.
fn path_without_nasm(scratch: &Path) -> PathBuf {
    let bin = scratch.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let path = std::env::var_os("PATH").unwrap();
    for dir in std::env::split_paths(&path) {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let link = bin.join(entry.file_name());
            if entry.file_name() != "nasm" && !link.exists() {
                let _ = std::os::unix::fs::symlink(entry.path(), link);
            }
        }
    }
    assert!(
        Command::new(bin.join("sh"))
            .args(["-c", "! command -v nasm"])
            .env("PATH", &bin)
            .status()
            .unwrap()
            .success(),
        "nasm is still on the rebuilt PATH"
    );
    bin
}

/// `cargo check -p framewire-jpeg-simd` (the sender's crate that holds the
/// check, and needs only mozjpeg) in `target`, with `path` as `PATH` and
/// `extra` in its environment.
fn check_build(target: &Path, path: &std::ffi::OsStr, extra: &[(&str, &str)]) -> Command {
    let mut cargo = Command::new(std::env::var_os("CARGO").unwrap_or("cargo".into()));
    cargo
        .args([
            "check",
            "--locked",
            "--offline",
            "-p",
            "framewire-jpeg-simd",
        ])
        .arg("--target-dir")
        .arg(target)
        .current_dir(workspace())
        .env("PATH", path)
        .env_remove("FRAMEWIRE_ALLOW_NO_SIMD")
        .envs(extra.iter().copied());
    cargo
}

/// Runs the build; whether it succeeded, and everything it printed.
fn build(mut cargo: Command) -> (bool, String) {
    let output = cargo.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[test]
fn an_x86_sender_without_mozjpeg_simd_does_not_build_unless_asked() {
    let scratch = scratch_dir("simd-build");
    let target = scratch.join("target");
    let without_nasm = path_without_nasm(&scratch).into_os_string();
    let with_nasm = std::env::var_os("PATH").unwrap();

    // No nasm: mozjpeg builds with plain C, and the sender stops the build
    // with the fix.
    let (built, printed) = build(check_build(&target, &without_nasm, &[]));
    assert!(!built, "the build went on without SIMD:\n{printed}");
    for needed in [
        STOPPED,
        "nasm is not installed",
        "cargo clean -p mozjpeg-sys",
    ] {
        assert!(printed.contains(needed), "no '{needed}' in:\n{printed}");
    }

    // Opted out knowingly: it builds, and says why it is slow.
    let (built, printed) = build(check_build(
        &target,
        &without_nasm,
        &[("FRAMEWIRE_ALLOW_NO_SIMD", "1")],
    ));
    assert!(
        built && printed.contains(&format!("warning: framewire-jpeg-simd@0.1.0: {STOPPED}")),
        "the opt-out:\n{printed}"
    );

    // nasm installed, mozjpeg not built again: still stopped, and told so.
    let (built, printed) = build(check_build(&target, &with_nasm, &[]));
    assert!(
        !built && printed.contains("nasm is installed now, but mozjpeg was built before it was"),
        "with nasm but the old mozjpeg:\n{printed}"
    );

    // The fix it names: mozjpeg built again, now with its SIMD code.
    let cleaned = Command::new(std::env::var_os("CARGO").unwrap_or("cargo".into()))
        .args(["clean", "--offline", "-p", "mozjpeg-sys", "--target-dir"])
        .arg(&target)
        .current_dir(workspace())
        .status()
        .unwrap();
    assert!(cleaned.success());
    let (built, printed) = build(check_build(&target, &with_nasm, &[]));
    assert!(
        built && !printed.contains(STOPPED),
        "rebuilt with nasm:\n{printed}"
    );
    let _ = std::fs::remove_dir_all(&scratch);
}
