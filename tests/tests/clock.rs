//! True latency between machines whose clocks disagree: the receiver probes
//! a v2 sender's clock over the back-channel and corrects every latency by
//! the offset. The sender's clock is moved with libfaketime (Debian's
//! `faketime` package, which `.ci/run` installs), through a file it reads
//! on every call, so a test can also step it mid-stream. The link with
//! 25 ms each way runs in the test VM (netem); the fake receiver checks
//! the sender's side of the protocol byte by byte.

use std::io::Write as _;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use framewire_proto::codec::{FrameReader, write_control};
use framewire_proto::{ClockProbe, Control, Feature, Frame, unix_time_us};
use framewire_tests::link::{Link, RECEIVER_ADDRESS, Side};
use framewire_tests::*;
use futures_lite::{AsyncWriteExt, FutureExt};
use smol::Async;

/// Debian's libfaketime, whichever the architecture.
fn libfaketime() -> PathBuf {
    let found = std::fs::read_dir("/usr/lib")
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("faketime/libfaketimeMT.so.1"))
        .find(|path| path.exists());
    found.expect("libfaketime is missing: install Debian's faketime package")
}

/// A wall clock `offset` seconds off for the senders started with
/// [`FakeClock::start_sender`]; [`FakeClock::set`] steps it while they run. The
/// monotonic clock is left alone, as NTP leaves it.
struct FakeClock {
    file: PathBuf,
    library: String,
}

impl FakeClock {
    fn new(dir: &Path, offset_s: f64) -> FakeClock {
        let clock = FakeClock {
            file: dir.join("faketime"),
            library: libfaketime().to_string_lossy().into_owned(),
        };
        clock.set(offset_s);
        clock
    }

    fn set(&self, offset_s: f64) {
        let mut file = std::fs::File::create(&self.file).unwrap();
        writeln!(file, "{offset_s:+}").unwrap();
    }

    /// A 320x240, 30 fps pattern sender to `address` on this clock.
    fn start_sender(&self, address: &str, extra: &[&str]) -> Process {
        let mut args = vec!["--connect", address, "--size", "320x240", "--fps", "30"];
        args.extend_from_slice(extra);
        let env = [
            ("LD_PRELOAD", self.library.as_str()),
            ("FAKETIME_TIMESTAMP_FILE", self.file.to_str().unwrap()),
            ("FAKETIME_NO_CACHE", "1"),
            ("FAKETIME_DONT_FAKE_MONOTONIC", "1"),
        ];
        Process::start(&sender_binary(), &args, &env)
    }
}

/// What the receiver reported of one stream.
#[derive(Debug)]
struct Measured {
    p50_ms: f64,
    offset_ms: f64,
    error_ms: f64,
    restarts: u64,
}

impl Measured {
    fn of(stream: &serde_json::Value) -> Measured {
        assert_eq!(stream["latency_basis"], "measured", "{stream:#}");
        let number = |name: &str| {
            stream[name]
                .as_f64()
                .unwrap_or_else(|| panic!("no {name}: {stream:#}"))
        };
        Measured {
            p50_ms: number("latency_ms_p50"),
            offset_ms: number("clock_offset_ms"),
            error_ms: number("clock_error_ms"),
            restarts: field(stream, "clock_restarts"),
        }
    }
}

/// Streams 150 frames (5 s) from a sender whose clock is `offset_s` off.
fn stream_with_sender_clock(offset_s: f64) -> Measured {
    let dir = scratch_dir(&format!("clock{offset_s:+}"));
    let mut receiver = Receiver::start_in(dir.clone(), "127.0.0.1:0", &[], &[]);
    let clock = FakeClock::new(&dir, offset_s);
    let mut sender = clock.start_sender(&receiver.address(), &["--frames", "150"]);
    receiver
        .process
        .wait_for_log("disconnected after", Duration::from_secs(60));
    assert!(sender.wait_exit(Duration::from_secs(10)).success());
    Measured::of(&receiver.stop()["streams"][0])
}

#[test]
fn a_sender_whose_clock_is_off_gets_the_same_latency_as_one_whose_clock_is_right() {
    // One test at a time: the figures of each (above all the VM's, whose
    // programs run emulated) must not share the two cores with the others'.
    let _alone = measuring_alone();
    let right = stream_with_sender_clock(0.0);
    assert!(right.offset_ms.abs() < 2.0, "{right:?}");
    for skew_s in [4.0, -2.5] {
        let skewed = stream_with_sender_clock(skew_s);
        eprintln!(
            "clock: sender {skew_s:+} s: offset {:+.3} ±{:.3} ms, p50 {:.2} ms (clock right: p50 {:.2} ms, offset {:+.3} ms)",
            skewed.offset_ms, skewed.error_ms, skewed.p50_ms, right.p50_ms, right.offset_ms
        );
        assert!(
            (skewed.offset_ms - skew_s * 1000.0).abs() < 2.0,
            "offset {skewed:?} for a skew of {skew_s} s"
        );
        assert!(
            (skewed.p50_ms - right.p50_ms).abs() < 2.0,
            "p50 {skewed:?} against {right:?}"
        );
        assert_eq!(skewed.restarts, 0);
    }
}

#[test]
fn a_clock_step_mid_stream_is_caught_and_the_estimate_converges_again() {
    let _alone = measuring_alone();
    let dir = scratch_dir("clock-step");
    let mut receiver = Receiver::start_in(dir.clone(), "127.0.0.1:0", &[], &[]);
    let clock = FakeClock::new(&dir, 0.0);
    let mut sender = clock.start_sender(&receiver.address(), &[]);
    receiver
        .process
        .wait_for_log("the sender's clock is", Duration::from_secs(30));
    std::thread::sleep(Duration::from_secs(2));
    clock.set(3.0); // NTP steps the board's clock 3 s ahead
    let stepped = Instant::now();
    receiver
        .process
        .wait_for_log("a clock was stepped", Duration::from_secs(10));
    let caught = stepped.elapsed();
    std::thread::sleep(Duration::from_secs(3));
    let report = receiver.stop();
    sender.terminate();
    let after = Measured::of(&report["streams"][0]);
    eprintln!("clock: a 3 s step was caught after {caught:?}; then {after:?}");
    assert_eq!(after.restarts, 1, "{after:?}");
    assert!((after.offset_ms - 3000.0).abs() < 2.0, "{after:?}");
    assert!(
        after.p50_ms < 100.0,
        "the figures started again, they hold no 3 s latencies: {after:?}"
    );
}

type SenderReader<'a> = FrameReader<&'a Async<TcpStream>>;

/// The sender's next message, within 10 s.
fn next_message(reader: &mut SenderReader) -> Frame {
    smol::block_on(async { reader.read_frame().await.unwrap() }.or(async {
        smol::Timer::after(Duration::from_secs(10)).await;
        panic!("no message from the sender for 10 s")
    }))
    .expect("the sender closed the connection")
}

/// Reads the sender's messages until one answers a clock probe.
fn until_clock_reply(reader: &mut SenderReader) -> Frame {
    loop {
        let frame = next_message(reader);
        if frame.clock_reply.is_some() {
            return frame;
        }
    }
}

fn send(socket: &Async<TcpStream>, bytes: &[u8]) {
    let mut writer = socket;
    smol::block_on(writer.write_all(bytes)).unwrap();
}

#[test]
fn the_sender_answers_probes_skips_what_it_does_not_know_and_outlives_garbage() {
    let _alone = measuring_alone();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let mut sender = start_sender(&address, &["--size", "160x120", "--fps", "30"]);
    let socket = Async::new(listener.accept().unwrap().0).unwrap();
    let mut reader = FrameReader::new(&socket, 1 << 24);
    let hello = next_message(&mut reader);
    assert!(
        hello.speaks(Feature::Control) && hello.is_keep_alive(),
        "{hello:?}"
    );

    // A control from a later version (field 15 only), an empty one, then a probe.
    send(&socket, &[0, 0, 0, 2, 15 << 3, 42]);
    send(&socket, &[0, 0, 0, 0]);
    let t1 = unix_time_us();
    let probe = Control {
        clock_probe: Some(ClockProbe {
            receiver_send_time_us: t1,
        }),
        ..Control::default()
    };
    let mut wire = Vec::new();
    smol::block_on(write_control(&mut wire, &probe)).unwrap();
    send(&socket, &wire);
    let answer = until_clock_reply(&mut reader);
    let t4 = unix_time_us();
    let reply = answer.clock_reply.unwrap();
    assert_eq!(reply.receiver_send_time_us, t1);
    assert!(
        t1 <= reply.sender_receive_time_us
            && reply.sender_receive_time_us <= reply.sender_send_time_us
            && reply.sender_send_time_us <= t4,
        "same clock, so t1 <= t2 <= t3 <= t4: {reply:?}, t4 {t4}"
    );
    assert!(answer.is_keep_alive(), "a reply is never a picture");

    // Bytes that are no protobuf: the sender stops reading, not sending.
    send(&socket, &[0, 0, 0, 6, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    sender.wait_for_log("cannot read", Duration::from_secs(10));
    let mut images = 0;
    while images < 30 {
        images += u64::from(!next_message(&mut reader).is_keep_alive());
    }
    sender.terminate();
}

#[test]
fn across_a_link_with_25_ms_each_way_the_offset_is_zero_and_the_latency_one_way() {
    let _alone = measuring_alone();
    in_vm(
        "across_a_link_with_25_ms_each_way_the_offset_is_zero_and_the_latency_one_way",
        measure_across_a_delayed_link,
    );
}

/// Streams 5 s across the link; what the receiver measured.
fn stream_across(link: &Link, dir: &Path) -> Measured {
    let report = dir.join("report.json");
    let mut receiver = link.start_receiver(&report, &[]);
    let mut sender = link.run(
        Side::Sender,
        &sender_binary(),
        &[
            "--connect",
            RECEIVER_ADDRESS,
            // Small frames: the emulated programs' own turn (encode, decode)
            // is what varies from run to run, not the link's delay.
            "--size",
            "160x120",
            "--fps",
            "30",
            "--frames",
            "150",
        ],
    );
    receiver.wait_for_log("disconnected after", Duration::from_secs(60));
    assert!(sender.wait_exit(Duration::from_secs(10)).success());
    assert!(receiver.terminate().success());
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report).unwrap()).unwrap();
    Measured::of(&report["streams"][0])
}

fn measure_across_a_delayed_link() {
    let link = Link::new("clock");
    let dir = scratch_dir("clock-link");
    // The emulated programs' own turn varies from run to run (a direct p50
    // of 28 ms in one run, 43 ms in another under CI's load), and it only
    // ever adds. So each condition runs twice, interleaved, and the quicker
    // run of each is compared: one slow run cannot fake or hide the 25 ms.
    let delay = |each_way: &str| {
        for side in [Side::Sender, Side::Receiver] {
            link.impair(side, &["delay", each_way]);
        }
    };
    let mut direct = Vec::new();
    let mut delayed = Vec::new();
    for _ in 0..2 {
        delay("0ms");
        direct.push(stream_across(&link, &dir));
        delay("25ms");
        delayed.push(stream_across(&link, &dir));
    }
    eprintln!("clock: no delay {direct:?}; 25 ms each way {delayed:?}");
    for run in &delayed {
        assert!(run.offset_ms.abs() < 1.0, "{run:?}");
    }
    let least = |runs: &[Measured], figure: fn(&Measured) -> f64| {
        runs.iter().map(figure).fold(f64::INFINITY, f64::min)
    };
    let error_ms = least(&delayed, |run| run.error_ms);
    assert!(
        (24.5..35.0).contains(&error_ms),
        "at least half the 50 ms round trip, plus the (emulated) programs' turn: {delayed:?}"
    );
    let added = least(&delayed, |run| run.p50_ms) - least(&direct, |run| run.p50_ms);
    assert!(
        (20.0..35.0).contains(&added),
        "the one-way 25 ms, not the round trip: {added:.1} ms more ({direct:?} -> {delayed:?})"
    );
}
