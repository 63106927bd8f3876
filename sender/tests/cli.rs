//! The sender's command line as a user meets it: mistakes get clear errors,
//! and a sender with no receiver waits politely and stops cleanly.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn sender() -> Command {
    Command::new(env!("CARGO_BIN_EXE_framewire-sender"))
}

#[test]
fn a_bad_size_is_refused_with_an_example() {
    let output = sender().args(["--size", "big"]).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("'big' is not a size"), "{stderr}");
    assert!(stderr.contains("1280x720"), "{stderr}");
}

#[test]
fn quality_out_of_range_is_refused() {
    let output = sender().args(["--quality", "0"]).output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--quality"));
}

#[test]
fn without_a_receiver_it_retries_and_sigterm_ends_it_within_a_second() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = sender()
        .args([
            "--connect",
            &format!("127.0.0.1:{port}"),
            "--size",
            "160x120",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "still waiting for the receiver"
    );
    let signalled = Instant::now();
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            signalled.elapsed() < Duration::from_secs(5),
            "the sender ignored SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    let stopped_after = signalled.elapsed();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(status.success(), "{stderr}");
    assert!(
        stopped_after < Duration::from_secs(1),
        "stopped in {stopped_after:?}"
    );
    assert!(stderr.contains("cannot reach the receiver"), "{stderr}");
}
