//! Faults on a real network path: the sender and the receiver run in two
//! network namespaces this test creates, joined by a veth pair whose
//! sender side gets tc netem impairments (200 ms delay, 5 % loss, 2 Mbit/s),
//! then a cut of 10 s; then the receiver is killed and restarted 20 times.
//! It runs inside the test VM (tools/camera-vm.sh), as root and on a stock
//! kernel with netem, which a container host often lacks; so the programs
//! run emulated and slower than on real hardware.

use std::time::{Duration, Instant};

use framewire_tests::bench::number_after;
use framewire_tests::link::{Link, RECEIVER_ADDRESS, Side};
use framewire_tests::{Process, field, in_vm, scratch_dir, sender_binary};

fn resident_mb(process: &Process) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", process.child.id())).unwrap();
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.split_whitespace().next()?.parse().ok())
        .unwrap();
    kib / 1024.0
}

/// The sum of "dropped N" over the sender's progress lines.
fn sender_drops(sender: &Process) -> u64 {
    sender
        .log_text()
        .lines()
        .filter_map(|line| number_after(line, ", dropped "))
        .sum::<f64>() as u64
}

/// The p50 latencies of the receiver's progress lines from line `from` on.
fn receiver_p50s(receiver: &Process, from: usize) -> Vec<f64> {
    receiver
        .log_since(from)
        .iter()
        .filter_map(|line| number_after(line, "latency ms p50 "))
        .collect()
}

fn start_receiver(link: &Link, dir: &std::path::Path) -> Process {
    link.start_receiver(&dir.join("report.json"), &["--stats-interval", "1"])
}

/// Waits until `process` has logged `needle` more than `already` times;
/// returns how long that took.
fn wait_for_count(process: &Process, needle: &str, already: usize, limit: Duration) -> Duration {
    let start = Instant::now();
    while process.count_log(needle) <= already {
        assert!(
            start.elapsed() < limit,
            "no new '{needle}' within {limit:?}:\n{}",
            process.log_text()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    start.elapsed()
}

#[test]
fn the_stream_survives_a_bad_link_a_cut_link_and_twenty_receiver_kills() {
    in_vm(
        "the_stream_survives_a_bad_link_a_cut_link_and_twenty_receiver_kills",
        survive_faults,
    );
}

fn survive_faults() {
    let link = Link::new("chaos");
    let dir = scratch_dir("chaos");
    let mut receiver = start_receiver(&link, &dir);
    let mut sender = link.run(
        Side::Sender,
        &sender_binary(),
        &[
            "--connect",
            RECEIVER_ADDRESS,
            "--size",
            "640x480",
            "--fps",
            "30",
            "--stats-interval",
            "1",
            "--name",
            "chaos",
            // Every frame at one quality, so that the slow link makes the
            // latest-frame slot drop frames (what this test is about);
            // tests/tests/adapt.rs has the sender follow the link instead.
            "--fixed-quality",
        ],
    );
    sender.wait_for_log("connected to the receiver", Duration::from_secs(20));

    // A bad link, slower than the stream (about 2.5 Mbit/s at 640x480; the
    // loss at this delay holds TCP to a few hundred kbit/s).
    link.impair(
        Side::Sender,
        &["delay", "200ms", "loss", "5%", "rate", "2mbit"],
    );
    std::thread::sleep(Duration::from_secs(3));
    let memory_before = resident_mb(&sender);
    let drops_before = sender_drops(&sender);
    let lines_before = receiver.log_len();
    std::thread::sleep(Duration::from_secs(7));
    let memory_after = resident_mb(&sender);
    let drops = sender_drops(&sender) - drops_before;
    // Dropped and counted, not queued: a queue would add seconds of delay
    // for every second of a stream several times faster than the link (a
    // minute behind by now), while the newest frame takes about 1.5 s here
    // (lost packets wait for retransmission). (How many are dropped
    // depends on how fast the emulated sender is at the moment.)
    let worst_p50 = receiver_p50s(&receiver, lines_before)
        .into_iter()
        .fold(0.0, f64::max);
    eprintln!("slow link: {drops} frames dropped in 7 s, worst receiver p50 {worst_p50:.0} ms");
    assert!(
        drops > 0,
        "frames are dropped and counted: none; the sender's log:\n{}",
        sender.log_text()
    );
    assert!(
        (1.0..5000.0).contains(&worst_p50),
        "latency stays bounded on the slow link (nothing queues): {worst_p50} ms; the receiver's log:\n{}",
        receiver.log_text()
    );
    assert!(
        memory_after < memory_before + 5.0,
        "sender memory {memory_before:.1} -> {memory_after:.1} MB on a slow link"
    );
    let decoded = receiver.count_log("fps decoded, ");
    assert!(decoded > 0, "frames still arrive:\n{}", receiver.log_text());

    // The link is cut for 10 s, then comes back (without impairments).
    link.impair(Side::Sender, &["delay", "0ms"]);
    link.set_up(false);
    std::thread::sleep(Duration::from_secs(10));
    let connects = sender.count_log("connected to the receiver");
    link.set_up(true);
    let back = wait_for_count(
        &sender,
        "connected to the receiver",
        connects,
        Duration::from_secs(10),
    );
    assert!(
        back <= Duration::from_secs(2),
        "stream back {back:?} after the link"
    );
    eprintln!("link restored: the sender reconnected after {back:?}");

    // The receiver is killed and restarted 20 times.
    let mut slowest = Duration::ZERO;
    for round in 0..20 {
        let _ = receiver.child.kill();
        let _ = receiver.child.wait();
        let connects = sender.count_log("connected to the receiver");
        let started = Instant::now();
        receiver = start_receiver(&link, &dir);
        wait_for_count(
            &sender,
            "connected to the receiver",
            connects,
            Duration::from_secs(10),
        );
        receiver.wait_for_log("fps decoded", Duration::from_secs(10));
        slowest = slowest.max(started.elapsed());
        eprintln!(
            "kill {round}: streaming again after {:?}",
            started.elapsed()
        );
    }
    eprintln!("slowest recovery after a SIGKILL: {slowest:?}");
    let memory_end = resident_mb(&sender);
    assert!(
        memory_end < memory_before + 5.0,
        "sender memory {memory_before:.1} -> {memory_end:.1} MB after the faults"
    );
    sender.terminate();
    receiver.terminate();
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    assert!(
        field(&report["streams"][0], "frames_decoded") > 0,
        "{report}"
    );
}
