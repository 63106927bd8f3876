//! Who gets in: `--token` and `--allow`, with the real binaries on loopback.

use std::time::Duration;

use framewire_tests::*;

const MINUTE: Duration = Duration::from_secs(60);

fn stream_names(report: &serde_json::Value) -> Vec<String> {
    report["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|stream| stream["name"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn only_senders_with_the_token_get_in() {
    let mut receiver = Receiver::start("token", "127.0.0.1:0", &["--token", "s3cret-42"]);
    receiver
        .process
        .wait_for_log("that present the token may connect", MINUTE);
    let address = receiver.address();
    let token_file = scratch_dir("token-file").join("token");
    std::fs::write(&token_file, "s3cret-42\n").unwrap();

    let mut good = start_sender(
        &address,
        &["--name", "good", "--frames", "20", "--token", "s3cret-42"],
    );
    let mut from_file = Process::start(
        &sender_binary(),
        &[
            "--connect",
            &address,
            "--name",
            "from-file",
            "--frames",
            "20",
        ],
        &[("FRAMEWIRE_TOKEN_FILE", token_file.to_str().unwrap())],
    );
    let mut none = start_sender(&address, &["--name", "none", "--frames", "20"]);
    let mut wrong = start_sender(
        &address,
        &["--name", "wrong", "--frames", "20", "--token", "guess"],
    );
    for sender in [&mut good, &mut from_file] {
        assert!(sender.wait_exit(MINUTE).success(), "{}", sender.log_text());
    }
    receiver
        .process
        .wait_for_log("it presented no token", MINUTE);
    receiver
        .process
        .wait_for_log("it presented a wrong token", MINUTE);
    none.terminate();
    wrong.terminate();
    let report = receiver.stop();
    let mut names = stream_names(&report);
    names.sort();
    assert_eq!(names, ["from-file", "good"], "{report}");
    for stream in report["streams"].as_array().unwrap() {
        assert_eq!(field(stream, "frames_received"), 20, "{stream}");
        assert_eq!(
            stream["latency_basis"], "measured",
            "probed once admitted: {stream}"
        );
    }
    // The refused senders never became streams, and keep trying (backoff).
    assert!(receiver.process.count_log("refused 127.0.0.1:") >= 2);
}

#[test]
fn a_receiver_without_a_token_says_anyone_may_connect() {
    let mut receiver = Receiver::start("no-token", "127.0.0.1:0", &[]);
    receiver.process.wait_for_log(
        "no --token: any sender from any address may connect",
        MINUTE,
    );
    // A sender with a token still gets in: the hello is an ordinary keep-alive.
    let mut sender = start_sender(&receiver.address(), &["--frames", "5", "--token", "t"]);
    assert!(sender.wait_exit(MINUTE).success());
    receiver
        .process
        .wait_for_log("disconnected after 5 frames", MINUTE);
    receiver.stop();
}

#[test]
fn addresses_outside_allow_are_refused() {
    let mut closed = Receiver::start("allow-other", "127.0.0.1:0", &["--allow", "10.0.0.0/8"]);
    let mut sender = start_sender(&closed.address(), &["--frames", "5"]);
    closed
        .process
        .wait_for_log("its address is not in --allow", MINUTE);
    sender.terminate();
    assert!(stream_names(&closed.stop()).is_empty());

    let mut open = Receiver::start(
        "allow-loopback",
        "127.0.0.1:0",
        &["--allow", "10.0.0.0/8,127.0.0.0/8"],
    );
    let mut sender = start_sender(&open.address(), &["--frames", "5"]);
    assert!(sender.wait_exit(MINUTE).success());
    open.process
        .wait_for_log("disconnected after 5 frames", MINUTE);
    assert_eq!(stream_names(&open.stop()).len(), 1);
}

#[test]
fn tls_streams_to_a_pinned_receiver_and_refuses_the_rest() {
    let dir = scratch_dir("tls");
    let tls_dir = dir.join("tls");
    let mut receiver = Receiver::start_in(
        dir.clone(),
        "127.0.0.1:0",
        &[
            "--tls",
            "--tls-dir",
            tls_dir.to_str().unwrap(),
            "--token",
            "t0k",
        ],
        &[],
    );
    let line = receiver
        .process
        .wait_for_log("senders pin it with --tls-fingerprint ", MINUTE);
    assert!(line.contains("new self-signed certificate"), "{line}");
    let fingerprint = line.rsplit(' ').next().unwrap().to_owned();
    let address = receiver.address();

    let mut pinned = start_sender(
        &address,
        &[
            "--name",
            "pinned",
            "--frames",
            "30",
            "--size",
            "640x480",
            "--token",
            "t0k",
            "--tls",
            "--tls-fingerprint",
            &fingerprint,
        ],
    );
    assert!(pinned.wait_exit(MINUTE).success(), "{}", pinned.log_text());
    assert!(pinned.log_text().contains("(TLS)"));

    let other = "00:".repeat(31) + "00";
    let mut wrong_pin = start_sender(
        &address,
        &[
            "--name",
            "wrong-pin",
            "--token",
            "t0k",
            "--tls",
            "--tls-fingerprint",
            &other,
        ],
    );
    wrong_pin.wait_for_log("not the one given with --tls-fingerprint", MINUTE);
    let mut plain = start_sender(&address, &["--name", "plain", "--token", "t0k"]);
    receiver
        .process
        .wait_for_log("TLS handshake failed", MINUTE);
    wrong_pin.terminate();
    plain.terminate();
    receiver
        .process
        .wait_for_log("disconnected after 30 frames", MINUTE);
    let report = receiver.stop();
    assert_eq!(stream_names(&report), ["pinned"], "{report}");
    assert_eq!(field(&report["streams"][0], "decode_errors"), 0);
    assert_eq!(
        report["streams"][0]["latency_basis"], "measured",
        "the back-channel works inside TLS too: {report}"
    );
    assert_shows_pattern_bars(&receiver.snapshot(0));

    // A restart keeps the certificate, so pinned senders keep working.
    let mut again = Receiver::start_in(
        scratch_dir("tls-again"),
        "127.0.0.1:0",
        &["--tls", "--tls-dir", tls_dir.to_str().unwrap()],
        &[],
    );
    let line = again
        .process
        .wait_for_log("senders pin it with --tls-fingerprint ", MINUTE);
    assert!(line.ends_with(&fingerprint), "{line}");
    again.stop();
}
