//! The receiver's capacity counts: three unpaced 1080p camera-like senders
//! into one receiver on this machine, more than its decoders keep up
//! with. The receiver tells each sender the rate its decoder manages, so
//! each sender sends about what is decoded (within 15 %), instead of a
//! multiple of it that the board paid to encode and send for nothing.
//!
//! The rates are compared once every stream has been limited (the first
//! seconds, before a decoder has shown what it manages, are unlimited).
//! The senders keep their quality (`--fixed-quality`): here they share two
//! cores with the receiver, and a receiver starved of CPU reads sockets
//! late, which a sender that follows the link takes for a slow link and
//! steps down for, until the receiver has nothing left to limit.

use std::time::Duration;

use framewire_tests::bench::{mean, number_after, number_before};
use framewire_tests::content::{Clip, camera_like};
use framewire_tests::{Process, Receiver, field, start_sender};

/// The limits settle for this long before the rates are measured.
const SETTLE: Duration = Duration::from_secs(3);
/// How long the rates are measured.
const MEASURED: Duration = Duration::from_secs(8);

/// The mean of the numbers after `label` in `lines` that contain `needle`.
fn mean_after(lines: &[String], needle: &str, label: &str) -> f64 {
    let values: Vec<f64> = lines
        .iter()
        .filter(|line| line.contains(needle))
        .filter_map(|line| number_after(line, label))
        .collect();
    assert!(!values.is_empty(), "no '{needle}' lines with '{label}'");
    mean(values.into_iter())
}

#[test]
fn unpaced_senders_send_about_what_the_receiver_decodes() {
    let clip = camera_like(Clip::Raw, 1920, 1080, 30);
    let mut receiver = Receiver::start("capacity", "127.0.0.1:0", &["--stats-interval", "1"]);
    let names = ["fast-a", "fast-b", "fast-c"];
    let mut senders: Vec<Process> = names
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
                    "--fixed-quality",
                ],
            )
        })
        .collect();
    for sender in &senders {
        sender.wait_for_log("connected to the receiver", Duration::from_secs(20));
    }
    for name in names {
        let quoted = format!("'{name}'");
        receiver.process.wait_for_log_where(
            &format!("{quoted} ... asking the sender for no more"),
            Duration::from_secs(20),
            |line| line.contains(&quoted) && line.contains("asking the sender for no more"),
        );
    }
    std::thread::sleep(SETTLE);
    let receiver_mark = receiver.process.log_len();
    let sender_marks: Vec<usize> = senders.iter().map(Process::log_len).collect();
    std::thread::sleep(MEASURED);
    let progress_lines: Vec<String> = receiver
        .process
        .log_since(receiver_mark)
        .into_iter()
        .filter(|line| line.contains(" fps decoded"))
        .collect();
    let sent_fps: Vec<f64> = senders
        .iter()
        .zip(&sender_marks)
        .map(|(sender, mark)| mean_after(&sender.log_since(*mark), " fps, dropped ", "sent "))
        .collect();
    let sent_in_all: Vec<u64> = senders
        .iter_mut()
        .map(|sender| {
            sender.terminate();
            let done = sender.wait_for_log("done: ", Duration::from_secs(10));
            number_before(&done, " sent,") as u64
        })
        .collect();
    let report = receiver.stop();
    let streams = report["streams"].as_array().unwrap();
    for ((name, sent_fps), sent_in_all) in names.iter().zip(&sent_fps).zip(&sent_in_all) {
        let stream = streams
            .iter()
            .find(|stream| stream["name"] == *name)
            .unwrap_or_else(|| panic!("no stream {name} in {report:#}"));
        let decoded_fps = mean_after(&progress_lines, &format!("'{name}' ("), "): ");
        let ratio = sent_fps / decoded_fps;
        let decoded_in_all = field(stream, "frames_decoded");
        eprintln!(
            "{name}: sent {sent_fps:.1} fps, decoded {decoded_fps:.1} fps ({ratio:.2}x) over \
             {MEASURED:?} once limited; whole run sent {sent_in_all}, decoded {decoded_in_all} \
             ({:.2}x); limited by {}",
            *sent_in_all as f64 / decoded_in_all.max(1) as f64,
            stream["limited_by"]
        );
        assert!(
            ratio <= 1.15,
            "{name} sent {ratio:.2}x what the receiver decoded: {stream:#}\n{}",
            receiver.process.log_text()
        );
    }
}
