//! The receiver's capacity counts: three unpaced 1080p camera-like senders
//! into one receiver on this machine, more than its decoders keep up
//! with. The receiver tells each sender the rate its decoder manages, so
//! each sender sends about what is decoded (within 15 %), instead of a
//! multiple of it that the board paid to encode and send for nothing.

use std::time::Duration;

use framewire_tests::content::{Clip, camera_like};
use framewire_tests::{Receiver, bench::number_before, field, start_sender};

#[test]
fn unpaced_senders_send_about_what_the_receiver_decodes() {
    let clip = camera_like(Clip::Raw, 1920, 1080, 30);
    let mut receiver = Receiver::start("capacity", "127.0.0.1:0", &["--stats-interval", "1"]);
    let names = ["fast-a", "fast-b", "fast-c"];
    let mut senders: Vec<_> = names
        .iter()
        .map(|name| {
            start_sender(
                &receiver.address(),
                &[
                    "--source",
                    "file",
                    "--input",
                    clip.to_str().unwrap(),
                    "--fps",
                    "0",
                    "--name",
                    name,
                    "--stats-interval",
                    "1",
                ],
            )
        })
        .collect();
    for sender in &senders {
        sender.wait_for_log("connected to the receiver", Duration::from_secs(20));
    }
    std::thread::sleep(Duration::from_secs(12));
    let limited = receiver.process.count_log("asking the sender for no more");
    let sent: Vec<u64> = senders
        .iter_mut()
        .map(|sender| {
            sender.terminate();
            let done = sender.wait_for_log("done: ", Duration::from_secs(10));
            number_before(&done, " sent,") as u64
        })
        .collect();
    let report = receiver.stop();
    let streams = report["streams"].as_array().unwrap();
    for (name, sent) in names.iter().zip(&sent) {
        let stream = streams
            .iter()
            .find(|stream| stream["name"] == *name)
            .unwrap_or_else(|| panic!("no stream {name} in {report:#}"));
        let decoded = field(stream, "frames_decoded");
        let ratio = *sent as f64 / decoded.max(1) as f64;
        eprintln!(
            "{name}: sent {sent}, decoded {decoded} ({ratio:.2}x), limited by {}",
            stream["limited_by"]
        );
        assert!(
            ratio <= 1.15,
            "{name} sent {ratio:.2}x what the receiver decoded: {stream:#}\n{}",
            receiver.process.log_text()
        );
    }
    assert!(
        limited > 0,
        "the receiver told the senders a limit:\n{}",
        receiver.process.log_text()
    );
}
