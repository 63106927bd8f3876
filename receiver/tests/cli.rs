//! The receiver's command line as a user meets it, with nothing else
//! running: mistakes are clear errors at start-up. (The tests that run the
//! receiver with senders, windows and VMs live in the framewire-tests crate.)

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs the receiver with `args` and waits (at most 10 s) for it to exit.
fn run_receiver(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_framewire-receiver"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the receiver {args:?} did not exit within 10 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// A fresh, empty directory of this test run under the system's temp dir.
fn empty_dir(test: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("framewire-cli-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_recording_directory_that_cannot_be_made_is_a_clear_start_up_error() {
    let dir = empty_dir("record");
    let not_a_directory = dir.join("file");
    std::fs::write(&not_a_directory, b"in the way").unwrap();
    let recordings = not_a_directory.join("recordings");
    let output = run_receiver(&[
        "--headless",
        "--listen",
        "127.0.0.1:0",
        "--record",
        recordings.to_str().unwrap(),
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot create the recording directory"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_allow_rule_with_a_prefix_too_long_is_refused() {
    let output = run_receiver(&["--headless", "--allow", "10.0.0.0/99"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("the prefix length is at most 32"),
        "{stderr}"
    );
}

#[test]
fn the_demo_without_a_sender_beside_it_says_where_to_get_one() {
    // As unpacked from the Windows zip or the .deb: the receiver alone.
    let dir = empty_dir("demo");
    let alone = dir.join("framewire-receiver");
    std::fs::copy(env!("CARGO_BIN_EXE_framewire-receiver"), &alone).unwrap();
    let output = Command::new(&alone)
        .args(["--demo", "--headless", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("framewire-sender, which is not there")
            && stderr.contains("framewire-sender --connect ADDRESS-OF-THIS-COMPUTER:"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
