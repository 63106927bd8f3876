//! The sender as built for the board: cross-compiled for aarch64 (64-bit
//! Raspberry Pi OS) and armv7 (32-bit), run under qemu-user, streams the
//! test pattern to the native receiver, and every frame arrives and decodes.
//!
//! Ignored by a plain `cargo test`: it needs the cross-built senders.
//! `.ci/run` builds them (Debian's cross compilers, `.cargo/config.toml`)
//! and runs it with `--include-ignored`.

use std::path::Path;
use std::time::Duration;

use framewire_tests::*;

fn stream_from_emulated_board(target: &str, qemu: &str, sysroot: &str) {
    let target_dir = receiver_binary()
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf();
    let sender = target_dir.join(target).join("release/framewire-sender");
    assert!(
        sender.exists(),
        "{} is missing: cargo build --release --target {target} -p framewire-sender",
        sender.display()
    );
    let mut receiver = Receiver::start(&format!("cross-{target}"), "127.0.0.1:0", &[]);
    let address = receiver.address();
    let mut board = Process::start(
        Path::new(qemu),
        &[
            "-L",
            sysroot,
            sender.to_str().unwrap(),
            "--connect",
            &address,
            "--size",
            "640x480",
            "--fps",
            "10",
            "--frames",
            "100",
            "--name",
            target,
        ],
        &[],
    );
    assert!(
        board.wait_exit(Duration::from_secs(120)).success(),
        "{}",
        board.log_text()
    );
    receiver
        .process
        .wait_for_log("disconnected after 100 frames", Duration::from_secs(10));
    let report = receiver.stop();
    let stream = &report["streams"][0];
    assert_eq!(stream["name"], target);
    assert_eq!(field(stream, "frames_received"), 100, "{stream:#}");
    assert_eq!(field(stream, "sequence_gaps"), 0, "{stream:#}");
    assert_eq!(field(stream, "decode_errors"), 0);
    assert_eq!(
        field(stream, "frames_decoded") + field(stream, "dropped_before_decode"),
        100
    );
    assert_shows_pattern_bars(&receiver.snapshot(0));
}

#[test]
#[ignore = "needs the cross-built sender; .ci/run builds it and runs this"]
fn the_aarch64_sender_under_qemu_streams_to_the_native_receiver() {
    stream_from_emulated_board(
        "aarch64-unknown-linux-gnu",
        "qemu-aarch64",
        "/usr/aarch64-linux-gnu",
    );
}

#[test]
#[ignore = "needs the cross-built sender; .ci/run builds it and runs this"]
fn the_armv7_sender_under_qemu_streams_to_the_native_receiver() {
    stream_from_emulated_board(
        "armv7-unknown-linux-gnueabihf",
        "qemu-arm",
        "/usr/arm-linux-gnueabihf",
    );
}
