//! A sender nobody watches: with no receiver connected it captures and
//! encodes nothing (so it costs almost no CPU), streams at once when one
//! connects, and never shows a frame that waited out an outage.

use std::time::Duration;

use framewire_tests::bench::{cpu_time, number_before};
use framewire_tests::*;

const MINUTE: Duration = Duration::from_secs(60);

#[test]
fn without_a_receiver_it_captures_nothing_and_streams_when_one_connects() {
    let address = format!("127.0.0.1:{}", free_port());
    let mut sender = start_sender(
        &address,
        &[
            "--size",
            "1280x720",
            "--fps",
            "30",
            "--name",
            "idle",
            "--idle-close",
            "1",
        ],
    );
    sender.wait_for_log("releasing the source", Duration::from_secs(20));
    // Streaming, this picture costs a few per cent of a core (a 720p encode
    // 30 times a second); idle, only a connection attempt a second is left.
    let pid = sender.child.id();
    let before = cpu_time(pid);
    std::thread::sleep(Duration::from_secs(4));
    let idle_cpu = cpu_time(pid) - before;
    println!("idle sender: {idle_cpu:?} of CPU in 4 s");
    assert!(
        idle_cpu < Duration::from_millis(40),
        "under 1 % of a core while nobody watches: {idle_cpu:?} in 4 s"
    );

    let mut receiver = Receiver::start_in(scratch_dir("idle"), &address, &[], &[]);
    receiver.process.wait_for_log("is 'idle'", MINUTE);
    std::thread::sleep(Duration::from_secs(2));
    let report = receiver.stop();
    sender.terminate();
    let stream = &report["streams"][0];
    println!(
        "first frame decoded {} ms after the connection",
        stream["first_frame_ms"]
    );
    let received = field(stream, "frames_received");
    assert!(received >= 10, "frames flow once connected: {report:#}");
    // Six seconds without a receiver would have been 180 pictures: every
    // one captured was sent, or replaced in the slot while connected.
    let done = sender.wait_for_log("done: ", MINUTE);
    let captured = number_before(&done, " frames captured") as u64;
    let dropped = number_before(&done, " dropped") as u64;
    assert!(
        captured <= received + dropped + 5,
        "{captured} captured for {received} received and {dropped} dropped: pictures were \
         taken with nobody watching"
    );
}

#[test]
fn after_an_outage_the_first_frame_shown_is_a_fresh_one() {
    let address = format!("127.0.0.1:{}", free_port());
    let mut sender = start_sender(
        &address,
        &["--size", "640x480", "--fps", "30", "--name", "outage"],
    );
    let first = Receiver::start_in(scratch_dir("outage-1"), &address, &[], &[]);
    first.process.wait_for_log("is 'outage'", MINUTE);
    // A receiver that stops reading: frames replace each other in the
    // sender's slot until the connection is given up (after 5 s without a
    // byte taken), and the newest of them is left there.
    first.process.signal("STOP");
    sender.wait_for_log("lost the connection", MINUTE);
    first.process.signal("KILL");
    drop(first);
    std::thread::sleep(Duration::from_secs(2));
    let mut second = Receiver::start_in(scratch_dir("outage-2"), &address, &[], &[]);
    second.process.wait_for_log("is 'outage'", MINUTE);
    std::thread::sleep(Duration::from_secs(1));
    let report = second.stop();
    sender.terminate();
    assert!(
        sender.log_text().contains("before the connection was lost"),
        "the frame left from before the outage is dropped: {}",
        sender.log_text()
    );
    // (The receiver starts its latency figures again at its first clock
    // reply, so this alone would not see one stale first frame.)
    let stream = &report["streams"][0];
    let worst = stream["latency_ms_p99"].as_f64().unwrap_or(f64::NAN);
    assert!(
        worst < 1000.0,
        "no frame from before the outage (worst latency {worst} ms): {stream:#}"
    );
}
