//! Bad input from raw sockets: each bad connection is closed (or its bad
//! frame skipped) with a clear log line, while a real sender streaming at the
//! same time loses nothing and the receiver keeps running.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use framewire_proto::Frame;
use framewire_tests::*;

/// True when the receiver closed `socket` (EOF or reset) within `timeout`.
fn closed_by_peer(socket: &mut TcpStream, timeout: Duration) -> bool {
    socket.set_read_timeout(Some(timeout)).unwrap();
    let mut byte = [0u8; 1];
    match socket.read(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => matches!(
            e.kind(),
            ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted
        ),
    }
}

/// Deterministic noise.
fn random_bytes(count: usize) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    (0..count)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

#[test]
fn bad_peers_are_cut_off_while_a_good_sender_streams_on() {
    let mut receiver = Receiver::start("hostile", "127.0.0.1:0", &["--max-frame-bytes", "1000000"]);
    let address = receiver.address;
    let mut good = start_sender(
        &receiver.address(),
        &[
            "--size", "320x240", "--fps", "30", "--frames", "150", "--name", "good",
        ],
    );
    receiver
        .process
        .wait_for_log("is 'good'", Duration::from_secs(20));

    // Random bytes: whatever length they spell, the connection is refused.
    let mut noise = TcpStream::connect(address).unwrap();
    let _ = noise.write_all(&random_bytes(64 * 1024));
    assert!(
        closed_by_peer(&mut noise, Duration::from_secs(10)),
        "random bytes were accepted"
    );

    // A length above --max-frame-bytes.
    let mut oversize = TcpStream::connect(address).unwrap();
    oversize.write_all(&2_000_000u32.to_be_bytes()).unwrap();
    assert!(closed_by_peer(&mut oversize, Duration::from_secs(10)));
    receiver.process.wait_for_log(
        "length 2000000 bytes is above the limit of 1000000",
        Duration::from_secs(5),
    );

    // A message cut short by the peer.
    let mut truncated = TcpStream::connect(address).unwrap();
    truncated.write_all(&1000u32.to_be_bytes()).unwrap();
    truncated.write_all(&[0x0a; 10]).unwrap();
    truncated.shutdown(std::net::Shutdown::Write).unwrap();
    receiver
        .process
        .wait_for_log("990 bytes were missing", Duration::from_secs(5));

    // A well-formed frame whose image is not a JPEG: that frame is skipped,
    // the connection stays open and its next (keep-alive) frame is read.
    let mut not_jpeg = TcpStream::connect(address).unwrap();
    let frame = Frame {
        image: b"GIF89a definitely not a jpeg".to_vec().into(),
        sequence: 7,
        stream_name: "liar".into(),
        ..Frame::default()
    };
    not_jpeg.write_all(&encoded(&frame)).unwrap();
    let line = receiver
        .process
        .wait_for_log("frame 7 skipped", Duration::from_secs(5));
    assert!(
        line.contains("not a JPEG") && line.contains("liar"),
        "{line}"
    );
    not_jpeg
        .write_all(&encoded(&Frame::keep_alive("liar")))
        .unwrap();
    assert!(
        !closed_by_peer(&mut not_jpeg, Duration::from_millis(300)),
        "one bad image closed the connection"
    );

    assert!(
        good.wait_exit(Duration::from_secs(60)).success(),
        "{}",
        good.log_text()
    );
    receiver
        .process
        .wait_for_log("disconnected after 150 frames", Duration::from_secs(10));
    let report = receiver.stop(); // also proves the receiver is alive and exits cleanly
    let good_stream = report["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "good")
        .unwrap();
    assert_eq!(
        field(good_stream, "frames_received"),
        150,
        "{good_stream:#}"
    );
    assert_eq!(field(good_stream, "sequence_gaps"), 0);
    assert_eq!(field(good_stream, "decode_errors"), 0);
    assert!(!receiver.process.log_text().contains("panicked"));
}

#[test]
fn a_peer_that_trickles_a_message_is_dropped_after_the_idle_timeout() {
    let mut receiver = Receiver::start("slow-loris", "127.0.0.1:0", &["--idle-timeout", "1"]);
    let mut loris = TcpStream::connect(receiver.address).unwrap();
    loris.write_all(&1000u32.to_be_bytes()).unwrap();
    let mut dropped = false;
    for _ in 0..50 {
        // One byte every 100 ms: the message would take 100 s to arrive.
        if loris.write_all(&[0x0a]).is_err()
            || closed_by_peer(&mut loris, Duration::from_millis(100))
        {
            dropped = true;
            break;
        }
    }
    assert!(
        dropped,
        "a trickling peer was kept for 5 s with --idle-timeout 1"
    );
    receiver
        .process
        .wait_for_log("no complete message within 1.0 s", Duration::from_secs(5));
    receiver.stop();
}

#[test]
fn one_sender_above_max_senders_is_refused_and_the_others_stream_on() {
    let mut receiver = Receiver::start("max-senders", "127.0.0.1:0", &["--max-senders", "1"]);
    let mut first = start_sender(
        &receiver.address(),
        &["--size", "160x120", "--frames", "60", "--name", "first"],
    );
    receiver
        .process
        .wait_for_log("is 'first'", Duration::from_secs(20));

    let mut extra = TcpStream::connect(receiver.address).unwrap();
    extra
        .write_all(&encoded(&Frame::keep_alive("extra")))
        .unwrap();
    assert!(
        closed_by_peer(&mut extra, Duration::from_secs(5)),
        "the sender over the limit was kept"
    );
    receiver
        .process
        .wait_for_log("refused 127.0.0.1:", Duration::from_secs(5));

    assert!(first.wait_exit(Duration::from_secs(60)).success());
    receiver
        .process
        .wait_for_log("disconnected after 60 frames", Duration::from_secs(10));
    // Its place is free again.
    let mut next = TcpStream::connect(receiver.address).unwrap();
    next.write_all(&encoded(&Frame::keep_alive("next")))
        .unwrap();
    assert!(
        !closed_by_peer(&mut next, Duration::from_millis(500)),
        "a freed place was not reused"
    );

    let report = receiver.stop();
    let first = &report["streams"][0];
    assert_eq!(field(first, "frames_received"), 60, "{first:#}");
    assert_eq!(
        report["streams"].as_array().unwrap().len(),
        2,
        "the refused peer is not a stream"
    );
}
