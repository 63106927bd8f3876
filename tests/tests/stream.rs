//! End to end: the real sender streams its test pattern to the real receiver
//! over loopback, and what arrives is checked as a user would notice it.

use std::time::Duration;

use framewire_tests::bench::number_before;
use framewire_tests::*;

const MINUTE: Duration = Duration::from_secs(60);

#[test]
fn three_hundred_frames_arrive_in_order_intact_and_timed() {
    let mut receiver = Receiver::start("in-order", "127.0.0.1:0", &[]);
    let mut sender = start_sender(
        &receiver.address(),
        &[
            "--size", "640x480", "--fps", "30", "--frames", "300", "--name", "bench",
        ],
    );
    assert!(
        sender.wait_exit(MINUTE).success(),
        "sender log:\n{}",
        sender.log_text()
    );
    receiver
        .process
        .wait_for_log("disconnected after 300 frames", Duration::from_secs(10));
    let report = receiver.stop();
    let image = receiver.snapshot(0);

    let stream = &report["streams"][0];
    assert_eq!(stream["name"], "bench");
    assert_eq!(field(stream, "frames_received"), 300, "{stream:#}");
    assert_eq!(
        field(stream, "last_sequence"),
        299,
        "frames numbered 0..299"
    );
    assert_eq!(
        field(stream, "sequence_gaps"),
        0,
        "none lost at 30 fps: {stream:#}"
    );
    assert_eq!(field(stream, "out_of_order"), 0);
    assert_eq!(field(stream, "decode_errors"), 0);
    assert_eq!(
        (field(stream, "width"), field(stream, "height")),
        (640, 480)
    );
    let decoded = field(stream, "frames_decoded");
    assert_eq!(
        decoded + field(stream, "dropped_before_decode"),
        300,
        "{stream:#}"
    );
    // The sender's first clock reply starts the latency figures again on
    // the measured basis; a frame decoded before it (the reply had not
    // reached the sender when the first frame left) is not among them.
    let samples = field(stream, "latency_samples");
    assert!(
        samples <= decoded && samples + 1 >= decoded,
        "every decoded frame has a latency, but one before the first clock reply: {stream:#}"
    );
    let p50 = stream["latency_ms_p50"].as_f64().unwrap();
    assert!(p50 > 0.0 && p50 < 1000.0, "p50 {p50} ms");
    assert_eq!((image.width, image.height), (640, 480));
    assert_shows_pattern_bars(&image);
}

#[test]
fn the_receiver_exits_by_itself_after_the_frames_asked_for() {
    let mut receiver = Receiver::start("frame-limit", "127.0.0.1:0", &["--frames", "30"]);
    let _sender = start_sender(&receiver.address(), &["--size", "320x240", "--fps", "0"]);
    let status = receiver.process.wait_exit(MINUTE);
    assert!(status.success(), "{}", receiver.process.log_text());
    let report = receiver.report();
    assert!(field(&report, "frames_decoded") >= 30, "{report:#}");
    receiver
        .process
        .wait_for_log("framewire-receiver: ", Duration::from_secs(1));
}

#[test]
fn either_may_start_first_and_the_sender_reconnects_after_a_receiver_restart() {
    let port = free_port();
    let address = format!("127.0.0.1:{port}");
    // The sender starts first and waits for a receiver that is not there yet.
    let mut sender = start_sender(
        &address,
        &["--size", "320x240", "--fps", "30", "--name", "restart"],
    );
    sender.wait_for_log("cannot reach the receiver", Duration::from_secs(20));

    let dir = scratch_dir("restart-1");
    let first = Receiver::start_in(dir, &address, &[], &[]);
    first
        .process
        .wait_for_log("is 'restart'", Duration::from_secs(20));
    std::thread::sleep(Duration::from_millis(500));
    first.process.signal("KILL");
    drop(first);

    let dir = scratch_dir("restart-2");
    let mut second = Receiver::start_in(dir, &address, &[], &[]);
    second
        .process
        .wait_for_log("is 'restart'", Duration::from_secs(20));
    std::thread::sleep(Duration::from_millis(1000));
    let report = second.stop();
    let stream = &report["streams"][0];
    assert!(
        field(stream, "frames_decoded") >= 10,
        "frames resume after the restart: {stream:#}"
    );
    assert!(
        sender.log_text().contains("lost the connection")
            || sender.count_log("connected to the receiver") >= 2
    );

    let status = sender.terminate();
    assert!(
        status.success(),
        "the sender ends cleanly on SIGTERM: {}",
        sender.log_text()
    );
}

#[test]
fn two_senders_at_once_are_kept_apart() {
    let mut receiver = Receiver::start("two-senders", "127.0.0.1:0", &[]);
    let mut big = start_sender(
        &receiver.address(),
        &["--size", "640x480", "--frames", "90", "--name", "big"],
    );
    let mut small = start_sender(
        &receiver.address(),
        &["--size", "320x240", "--frames", "90", "--name", "small"],
    );
    assert!(big.wait_exit(MINUTE).success());
    assert!(small.wait_exit(MINUTE).success());
    while receiver.process.count_log("disconnected after 90 frames") < 2 {
        receiver
            .process
            .wait_for_log("disconnected after 90 frames", Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(20));
    }
    let report = receiver.stop();
    let snapshots = [receiver.snapshot(0), receiver.snapshot(1)];

    let streams = report["streams"].as_array().unwrap();
    assert_eq!(streams.len(), 2);
    for (stream, image) in streams.iter().zip(&snapshots) {
        let expected = if stream["name"] == "big" {
            (640, 480)
        } else {
            (320, 240)
        };
        assert_eq!(field(stream, "frames_received"), 90, "{stream:#}");
        assert_eq!(field(stream, "sequence_gaps"), 0);
        assert_eq!(field(stream, "decode_errors"), 0);
        assert_eq!((field(stream, "width"), field(stream, "height")), expected);
        assert_eq!((image.width as u64, image.height as u64), expected);
        assert_shows_pattern_bars(image);
    }
}

#[test]
fn parallel_encoders_send_every_frame_in_capture_order() {
    let mut receiver = Receiver::start("workers", "127.0.0.1:0", &[]);
    // Unpaced: three encoders race each other on this machine's cores.
    let mut sender = start_sender(
        &receiver.address(),
        &[
            "--size",
            "640x480",
            "--fps",
            "0",
            "--frames",
            "400",
            "--workers",
            "3",
        ],
    );
    assert!(sender.wait_exit(MINUTE).success(), "{}", sender.log_text());
    receiver
        .process
        .wait_for_log("disconnected after", Duration::from_secs(10));
    let report = receiver.stop();
    let stream = &report["streams"][0];
    assert_eq!(field(stream, "out_of_order"), 0, "{stream:#}");
    assert_eq!(field(stream, "last_sequence"), 399, "{stream:#}");
    assert!(
        sender.log_text().contains("done: 400 frames captured"),
        "{}",
        sender.log_text()
    );
}

fn set_receive_buffer(listener: &std::net::TcpListener, bytes: libc::c_int) {
    use std::os::fd::AsRawFd;
    // SAFETY: a valid socket and a c_int option value.
    let result = unsafe {
        libc::setsockopt(
            listener.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&bytes as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(result, 0);
}

/// The sender's resident memory, from /proc.
fn resident_kib(process: &Process) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", process.child.id())).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn a_slow_network_makes_the_sender_drop_frames_with_flat_memory() {
    use std::io::Read;
    use std::sync::atomic::{AtomicBool, Ordering};

    // A receiver on a ~2.6 Mbit/s link: 16 KiB every 50 ms, with a small
    // receive buffer, as when the link itself is the bottleneck.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    set_receive_buffer(&listener, 64 * 1024);
    let address = listener.local_addr().unwrap().to_string();
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let (mut peer, _) = listener.accept().unwrap();
            let mut buffer = vec![0; 16 * 1024];
            while !stop.load(Ordering::Relaxed) && peer.read(&mut buffer).is_ok_and(|n| n > 0) {
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        let mut sender = start_sender(
            &address,
            &[
                "--size",
                "1280x720",
                "--fps",
                "60",
                "--workers",
                "2",
                "--stats-interval",
                "1",
                // Every frame at one quality, so the slow reader makes the
                // slot drop frames (tests/tests/adapt.rs: following it).
                "--fixed-quality",
            ],
        );
        sender.wait_for_log("sent ", MINUTE);
        std::thread::sleep(Duration::from_secs(2));
        let warmed_up = resident_kib(&sender);
        std::thread::sleep(Duration::from_secs(5));
        let later = resident_kib(&sender);
        sender.terminate();
        stop.store(true, Ordering::Relaxed);
        let log = sender.log_text();
        let done = log.lines().find(|line| line.contains("done: ")).unwrap();
        let (captured, sent, dropped) = (
            number_before(done, " frames captured") as u64,
            number_before(done, " sent") as u64,
            number_before(done, " dropped") as u64,
        );
        assert!(captured > 200, "{done}");
        assert!(
            dropped > captured / 2,
            "most frames are dropped and counted: {done}"
        );
        assert!(sent < captured / 4, "{done}");
        assert!(
            later < warmed_up + 5 * 1024,
            "memory grew from {warmed_up} to {later} KiB"
        );
    });
}
