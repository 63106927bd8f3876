//! What a hostile peer that has proved nothing can cost the receiver, with
//! the real binaries over loopback: each test replays one attack of issue 12
//! and checks what a user would notice (memory from `/proc` of the real
//! process, a healthy stream's frames, the log). Each prints its figure on a
//! line starting `attack:`, so `cargo test --test attacks -- --nocapture`
//! gives the table; `FRAMEWIRE_TEST_RECEIVER=/path/to/older/framewire-receiver`
//! replays the same attacks against another build.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use framewire_proto::Frame;
use framewire_tests::bench::number_before;
use framewire_tests::*;

const MINUTE: Duration = Duration::from_secs(60);

/// A field of `/proc/PID/status` in MB (`VmRSS`, `VmHWM`) or as a count (`Threads`).
fn proc_status(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let value = status
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{field}:")))
        .and_then(|rest| rest.split_whitespace().next()?.parse::<f64>().ok())
        .unwrap_or(0.0);
    match field {
        "Threads" => value,
        _ => value / 1024.0, // kB
    }
}

fn frame(name: &str, sequence: u64, image: Vec<u8>) -> Frame {
    Frame {
        image: image.into(),
        sequence,
        stream_name: name.into(),
        capture_time_us: framewire_proto::unix_time_us(),
        ..Frame::default()
    }
}

/// A `width` x `height` colour JPEG with camera-like noise.
fn jpeg(width: usize, height: usize, progressive: bool) -> Vec<u8> {
    let mut compress = mozjpeg::Compress::new(mozjpeg::ColorSpace::JCS_RGB);
    if !progressive {
        compress.set_fastest_defaults();
    }
    compress.set_size(width, height);
    compress.set_quality(80.0);
    let mut state = 0x2545_f491u32;
    let pixels: Vec<u8> = (0..width * height * 3)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            ((i / 3 % width) as u32 * 255 / width as u32) as u8 ^ (state as u8 & 0x1f)
        })
        .collect();
    let mut started = compress.start_compress(Vec::new()).unwrap();
    started.write_scanlines(&pixels).unwrap();
    started.finish().unwrap()
}

/// A real 8x8 JPEG whose frame header claims 7680x4320: a few hundred bytes.
fn bomb_claiming_8k(progressive: bool) -> Vec<u8> {
    let mut bomb = jpeg(8, 8, progressive);
    let marker = if progressive { 0xc2 } else { 0xc0 };
    let sof = bomb.windows(2).position(|m| m == [0xff, marker]).unwrap();
    bomb[sof + 5..sof + 9].copy_from_slice(&[0x10, 0xe0, 0x1e, 0x00]);
    bomb
}

/// The same bomb padded with image data, so that it is long enough to
/// cover its claimed size: it gets past the truncation check and costs a
/// real decode, which the memory budget must bound.
fn padded_bomb_claiming_8k() -> Vec<u8> {
    let mut bomb = bomb_claiming_8k(true);
    let end = bomb.len() - 2;
    bomb.splice(end..end, std::iter::repeat_n(0x55, 20_000));
    bomb
}

fn stream_named<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no stream '{name}' in {report:#}"))
}

/// Runs `attack` on a thread until `stop` is set; returns its handle.
fn in_background(
    stop: &Arc<AtomicBool>,
    attack: impl Fn() + Send + 'static,
) -> std::thread::JoinHandle<()> {
    let stop = stop.clone();
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            attack();
        }
    })
}

/// Samples the receiver's resident memory and threads every 100 ms until
/// `stop`; returns the highest of each.
fn sample_peaks(pid: u32, stop: &Arc<AtomicBool>) -> std::thread::JoinHandle<(f64, f64)> {
    let stop = stop.clone();
    std::thread::spawn(move || {
        let (mut rss, mut threads) = (0.0f64, 0.0f64);
        while !stop.load(Ordering::Relaxed) {
            rss = rss.max(proc_status(pid, "VmRSS"));
            threads = threads.max(proc_status(pid, "Threads"));
            std::thread::sleep(Duration::from_millis(100));
        }
        (rss, threads)
    })
}

/// Attack 1: one connection at a time, five a second, each one JPEG that
/// claims 8K, then closed. Decoders must end with their connections.
#[test]
fn decoders_end_with_their_connections_and_memory_stays_in_the_budget() {
    let mut receiver = Receiver::start("attack-churn", "127.0.0.1:0", &["--max-memory", "300"]);
    let pid = receiver.process.child.id();
    let address = receiver.address;
    let mut healthy = start_sender(
        &receiver.address(),
        &[
            "--size", "640x480", "--fps", "30", "--frames", "450", "--name", "healthy",
        ],
    );
    let stop = Arc::new(AtomicBool::new(false));
    let peaks = sample_peaks(pid, &stop);
    let bombs = [bomb_claiming_8k(true), padded_bomb_claiming_8k()];
    let sent = Arc::new(AtomicU64::new(0));
    let counter = sent.clone();
    let churn = in_background(&stop, move || {
        let index = counter.fetch_add(1, Ordering::Relaxed) as usize;
        if let Ok(mut socket) = TcpStream::connect(address) {
            let _ = socket.write_all(&encoded(&frame("churn", 1, bombs[index % 2].clone())));
        }
        std::thread::sleep(Duration::from_millis(200));
    });
    assert!(
        healthy.wait_exit(MINUTE).success(),
        "{}",
        healthy.log_text()
    );
    stop.store(true, Ordering::Relaxed);
    churn.join().unwrap();
    let (peak_rss, peak_threads) = peaks.join().unwrap();
    eprintln!(
        "attack: 1 decoder churn ({} connections in 15 s): receiver peak RSS {peak_rss:.0} MB, \
         {peak_threads} threads at most",
        sent.load(Ordering::Relaxed),
    );
    let report = receiver.stop();
    let good = stream_named(&report, "healthy");
    eprintln!(
        "attack: 1 healthy stream {} of 450 received, {} decoded",
        field(good, "frames_received"),
        field(good, "frames_decoded")
    );
    assert!(
        peak_rss < 300.0 + 60.0,
        "peak RSS {peak_rss:.0} MB with --max-memory 300"
    );
    assert!(
        peak_threads < 30.0,
        "{peak_threads} threads: decoders outlive their connections"
    );
    assert_eq!(field(good, "frames_received"), 450);
    assert!(field(good, "frames_decoded") >= 400, "{good:#}");
}

/// The memory budget holds for frames that are what they claim: six peers
/// sending real 7680x4320 JPEGs as fast as they can, each decode 132 MB of
/// pixels and more.
#[test]
fn the_memory_budget_bounds_what_real_8k_frames_cost() {
    let mut receiver = Receiver::start("attack-budget", "127.0.0.1:0", &["--max-memory", "250"]);
    let pid = receiver.process.child.id();
    let address = receiver.address;
    let picture = jpeg(7680, 4320, false);
    let stop = Arc::new(AtomicBool::new(false));
    let peaks = sample_peaks(pid, &stop);
    let peers: Vec<_> = (0..6)
        .map(|peer| {
            let (picture, stop) = (picture.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut socket = TcpStream::connect(address).unwrap();
                for sequence in 1.. {
                    let frame = frame(&format!("8k-{peer}"), sequence, picture.clone());
                    if stop.load(Ordering::Relaxed) || socket.write_all(&encoded(&frame)).is_err() {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(8));
    stop.store(true, Ordering::Relaxed);
    for peer in peers {
        peer.join().unwrap();
    }
    let (peak_rss, _) = peaks.join().unwrap();
    let report = receiver.stop();
    eprintln!(
        "attack: budget six 8K streams ({} KB a frame) with --max-memory 250: receiver peak RSS {peak_rss:.0} MB, {} frames decoded, {} refused over the budget",
        picture.len() / 1000,
        field(&report, "frames_decoded"),
        report["refused_over_budget"].as_u64().unwrap_or(0)
    );
    assert!(
        peak_rss < 250.0 + 60.0,
        "peak RSS {peak_rss:.0} MB with --max-memory 250"
    );
    assert!(field(&report, "frames_decoded") > 0);
    assert!(field(&report, "refused_over_budget") > 0);
}

/// Attack 2: `--allow` in the form a dual-stack listener logs IPv4 peers.
#[test]
fn allow_with_a_mapped_address_admits_exactly_that_address() {
    for (allow, admitted) in [
        ("::ffff:10.9.9.9", false),
        ("::ffff:10.9.9.0/120", false),
        ("::ffff:127.0.0.1", true),
        ("::ffff:127.0.0.0/104", true),
    ] {
        let mut receiver = Receiver::start("attack-allow", "[::]:0", &["--allow", allow]);
        let port = receiver.address.port();
        let mut sender = start_sender(
            &format!("127.0.0.1:{port}"),
            &["--frames", "30", "--name", "v4"],
        );
        if admitted {
            assert!(sender.wait_exit(MINUTE).success(), "{}", sender.log_text());
        } else {
            receiver.process.wait_for_log("is not in --allow", MINUTE);
            sender.terminate();
        }
        let report = receiver.stop();
        let streams = report["streams"].as_array().unwrap().len();
        eprintln!(
            "attack: 2 --allow {allow}: an IPv4 sender from 127.0.0.1 became {streams} streams"
        );
        assert_eq!(streams, admitted as usize, "--allow {allow}: {report:#}");
    }
}

/// The seconds from starting a token sender to its first frame at the receiver.
fn first_frame_after(receiver: &Receiver, name: &str, args: &[&str]) -> (Duration, Process) {
    let started = Instant::now();
    let address = format!("127.0.0.1:{}", receiver.address.port());
    let mut all = vec!["--name", name, "--size", "320x240"];
    all.extend_from_slice(args);
    let sender = start_sender(&address, &all);
    receiver
        .process
        .wait_for_log(&format!("is '{name}'"), Duration::from_secs(40));
    (started.elapsed(), sender)
}

/// Attack 3: sixteen silent sockets, reopened whenever they are dropped,
/// must not keep a sender with the token out, with or without TLS.
#[test]
fn silent_squatters_do_not_keep_a_real_sender_out() {
    for tls in [false, true] {
        let dir = scratch_dir(if tls {
            "attack-squat-tls"
        } else {
            "attack-squat"
        });
        let tls_dir = dir.join("tls");
        let mut extra = vec!["--token", "right-token"];
        if tls {
            extra.extend(["--tls", "--tls-dir", tls_dir.to_str().unwrap()]);
        }
        let receiver = Receiver::start_in(dir, "[::]:0", &extra, &[]);
        let mut sender_args = vec!["--token", "right-token"];
        let fingerprint;
        if tls {
            let line = receiver.process.wait_for_log("--tls-fingerprint ", MINUTE);
            fingerprint = line
                .rsplit("--tls-fingerprint ")
                .next()
                .unwrap()
                .trim()
                .to_owned();
            sender_args.extend(["--tls", "--tls-fingerprint", &fingerprint]);
        }
        let (alone, _first) = first_frame_after(&receiver, "alone", &sender_args);
        // The squatters come from ::1, the sender from 127.0.0.1: another host.
        let squat_to: SocketAddr = format!("[::1]:{}", receiver.address.port())
            .parse()
            .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let squatters: Vec<_> = (0..16)
            .map(|_| {
                in_background(&stop, move || {
                    let Ok(mut socket) = TcpStream::connect(squat_to) else {
                        std::thread::sleep(Duration::from_millis(50));
                        return;
                    };
                    // Silent until the receiver drops it, then again.
                    let _ = socket.set_read_timeout(Some(Duration::from_millis(500)));
                    let mut byte = [0u8; 1];
                    while let Err(error) = socket.read(&mut byte) {
                        if !matches!(
                            error.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) {
                            break;
                        }
                    }
                    std::thread::sleep(Duration::from_millis(20));
                })
            })
            .collect();
        std::thread::sleep(Duration::from_secs(1));
        let (squatted, _second) = first_frame_after(&receiver, "squatted", &sender_args);
        stop.store(true, Ordering::Relaxed);
        eprintln!(
            "attack: 3 16 squatters{}: first frame of a token sender after {:.2} s (alone: {:.2} s)",
            if tls { " (TLS)" } else { "" },
            squatted.as_secs_f64(),
            alone.as_secs_f64()
        );
        assert!(
            squatted < alone + Duration::from_secs(1),
            "squatters delayed a real sender from {alone:?} to {squatted:?}"
        );
        drop(receiver);
        for squatter in squatters {
            let _ = squatter.join();
        }
    }
}

/// Attack 4: fifteen peers sending tiny JPEGs that claim 8K, next to a
/// healthy 640x480 stream.
#[test]
fn tiny_jpegs_claiming_8k_cost_no_picture() {
    let mut receiver = Receiver::start("attack-bombs", "127.0.0.1:0", &[]);
    let pid = receiver.process.child.id();
    let address = receiver.address;
    let mut healthy = start_sender(
        &receiver.address(),
        &[
            "--size", "640x480", "--fps", "30", "--frames", "150", "--name", "healthy",
        ],
    );
    let stop = Arc::new(AtomicBool::new(false));
    let peaks = sample_peaks(pid, &stop);
    let peers: Vec<_> = (0..15)
        .map(|peer| {
            let bomb = bomb_claiming_8k(peer % 2 == 1);
            let stop = stop.clone();
            std::thread::spawn(move || {
                let Ok(mut socket) = TcpStream::connect(address) else {
                    return;
                };
                for sequence in 1.. {
                    if stop.load(Ordering::Relaxed)
                        || socket
                            .write_all(&encoded(&frame(
                                &format!("bomb-{peer}"),
                                sequence,
                                bomb.clone(),
                            )))
                            .is_err()
                    {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            })
        })
        .collect();
    assert!(
        healthy.wait_exit(MINUTE).success(),
        "{}",
        healthy.log_text()
    );
    stop.store(true, Ordering::Relaxed);
    for peer in peers {
        peer.join().unwrap();
    }
    // The sender may drop a frame of its own to stay current while the
    // machine is busy: what it sent is what must arrive.
    let done = healthy.wait_for_log("done: ", MINUTE);
    let sent = number_before(&done, " sent,") as u64;
    let (peak_rss, _) = peaks.join().unwrap();
    eprintln!("attack: 4 fifteen 8K bombs: receiver peak RSS {peak_rss:.0} MB");
    let report = receiver.stop();
    let good = stream_named(&report, "healthy");
    let p99 = good["latency_ms_p99"].as_f64().unwrap_or(f64::NAN);
    eprintln!(
        "attack: 4 fifteen 8K bombs ({} bytes baseline, {} progressive): receiver peak RSS \
         {peak_rss:.0} MB, healthy p99 {p99:.1} ms, {} bomb frames refused as decode errors",
        bomb_claiming_8k(false).len(),
        bomb_claiming_8k(true).len(),
        field(&report, "decode_errors")
    );
    assert!(peak_rss < 100.0, "tiny JPEGs cost {peak_rss:.0} MB");
    assert!(
        sent >= 140,
        "the healthy sender sent only {sent} of 150: {done}"
    );
    assert_eq!(field(good, "frames_received"), sent, "{done}");
    assert!(
        receiver
            .process
            .log_text()
            .contains("cannot cover 7680x4320 pixels")
    );
}

/// Attack 5: forty short connections with one 1080p picture each, with
/// `--snapshot-dir`; nothing decoded may stay behind, and a real stream
/// that came first stays in the report.
#[test]
fn closed_streams_keep_no_pictures_and_churn_keeps_the_real_stream_in_the_report() {
    let mut receiver = Receiver::start("attack-snapshots", "127.0.0.1:0", &[]);
    let pid = receiver.process.child.id();
    let mut real = start_sender(
        &receiver.address(),
        &["--size", "320x240", "--frames", "100", "--name", "real"],
    );
    assert!(real.wait_exit(MINUTE).success());
    receiver
        .process
        .wait_for_log("disconnected after 100 frames", MINUTE);
    let picture = jpeg(1920, 1080, false);
    for index in 0..40 {
        let mut socket = TcpStream::connect(receiver.address).unwrap();
        socket
            .write_all(&encoded(&frame(
                &format!("short-{index}"),
                1,
                picture.clone(),
            )))
            .unwrap();
        drop(socket);
        std::thread::sleep(Duration::from_millis(100));
    }
    receiver.process.wait_for_log("'short-39' (", MINUTE);
    std::thread::sleep(Duration::from_secs(1));
    let held = proc_status(pid, "VmRSS");
    let report = receiver.stop();
    eprintln!(
        "attack: 5 forty closed 1080p streams with --snapshot-dir: receiver holds {held:.0} MB \
         with no connection open; the real stream is {}in the report",
        if report["streams"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["name"] == "real")
        {
            ""
        } else {
            "not "
        }
    );
    assert!(held < 80.0, "{held:.0} MB held for closed streams");
    assert_eq!(field(stream_named(&report, "real"), "frames_received"), 100);
    assert_eq!(
        receiver.snapshot(0).width,
        320,
        "the real stream's last picture is saved"
    );
}

/// Attack 6a: a stream that changes its picture size every frame must not
/// start a file every frame.
#[test]
fn a_stream_that_changes_size_every_frame_starts_a_file_only_every_few_seconds() {
    let dir = scratch_dir("attack-record-sizes");
    let record = dir.join("recordings");
    let mut receiver = Receiver::start_in(
        dir,
        "127.0.0.1:0",
        &["--record", record.to_str().unwrap()],
        &[],
    );
    let pictures = [jpeg(320, 240, false), jpeg(336, 240, false)];
    let mut socket = TcpStream::connect(receiver.address).unwrap();
    let started = Instant::now();
    let mut sent = 0;
    while started.elapsed() < Duration::from_secs(8) {
        socket
            .write_all(&encoded(&frame(
                "flipper",
                sent + 1,
                pictures[sent as usize % 2].clone(),
            )))
            .unwrap();
        sent += 1;
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(socket);
    receiver.process.wait_for_log("disconnected after", MINUTE);
    receiver.stop();
    let files = recordings(&record).len();
    eprintln!("attack: 6 {sent} frames alternating two sizes for 8 s: {files} recording files");
    assert!(
        (1..=3).contains(&files),
        "{files} files for 8 s of recording"
    );
    assert!(
        receiver
            .process
            .log_text()
            .contains("frames left out so far")
    );
}

/// Attack 6b: the recording's disk fills up (a 3 MB tmpfs in a mount
/// namespace of the receiver's own), then has room again. Needs root (CI).
#[test]
fn a_full_disk_neither_grows_memory_nor_stops_the_stream_and_recording_resumes() {
    let dir = scratch_dir("attack-record-full");
    let record = dir.join("recordings");
    std::fs::create_dir_all(&record).unwrap();
    let report = dir.join("report.json");
    let script = format!(
        "mount -t tmpfs -o size=3m framewire-test {record} && exec {receiver} --headless \
         --listen 127.0.0.1:0 --record {record} --stats-json {report} --stats-interval 1",
        record = record.display(),
        receiver = receiver_binary().display(),
        report = report.display()
    );
    let mut process = Process::start(
        Path::new("unshare"),
        &["--mount", "--propagation", "private", "sh", "-c", &script],
        &[],
    );
    let address = listening_address(&process);
    let pid = process.child.id();
    let mut sender = start_sender(
        &address.to_string(),
        &[
            "--size",
            "640x480",
            "--fps",
            "30",
            "--quality",
            "95",
            "--name",
            "cam",
        ],
    );
    process.wait_for_log("recording of 'cam'", MINUTE);
    process.wait_for_log("paused", MINUTE);
    let memory_full = proc_status(pid, "VmRSS");
    std::thread::sleep(Duration::from_secs(3));
    let memory_later = proc_status(pid, "VmRSS");
    // Room again: the files are removed, seen through the receiver's own mounts.
    let inside = PathBuf::from(format!("/proc/{pid}/root")).join(record.strip_prefix("/").unwrap());
    for file in recordings(&inside) {
        std::fs::remove_file(file).unwrap();
    }
    let freed = Instant::now();
    process.wait_for_log("resumed in", Duration::from_secs(15));
    let resumed_after = freed.elapsed();
    let stopping = Instant::now();
    process.signal("TERM");
    let status = process.wait_exit(Duration::from_secs(10));
    let exit_took = stopping.elapsed();
    sender.terminate();
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let cam = stream_named(&report, "cam");
    eprintln!(
        "attack: 6 disk full: RSS {memory_full:.0} -> {memory_later:.0} MB while full, recording \
         resumed {:.1} s after space came back, exit took {:.1} s, {} frames decoded",
        resumed_after.as_secs_f64(),
        exit_took.as_secs_f64(),
        field(cam, "frames_decoded")
    );
    assert!(status.success(), "{}", process.log_text());
    assert!(memory_later < memory_full + 5.0);
    assert!(
        exit_took < Duration::from_secs(3),
        "the exit took {exit_took:?}"
    );
    assert!(
        field(cam, "frames_decoded") >= 100,
        "the live stream went on: {cam:#}"
    );
}

/// Removes a file when dropped.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Attack 6c: the recording's disk stops answering (a FUSE file system
/// whose writes block; needs root and python3-fusepy, which `.ci/run`
/// installs): memory stays bounded, the live stream goes on, and SIGTERM
/// still ends the receiver within 3 s with its report.
#[test]
fn a_stuck_disk_neither_grows_memory_nor_stops_the_stream_or_the_exit() {
    let dir = scratch_dir("attack-record-stuck");
    let (backing, mountpoint, flag) = (dir.join("backing"), dir.join("disk"), dir.join("stall"));
    std::fs::create_dir_all(&backing).unwrap();
    std::fs::create_dir_all(&mountpoint).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/stalling_disk.py");
    let mut disk = Process::start(
        Path::new("/usr/bin/python3"), // Debian's, which python3-fusepy is for
        &[
            script.to_str().unwrap(),
            backing.to_str().unwrap(),
            mountpoint.to_str().unwrap(),
            flag.to_str().unwrap(),
        ],
        &[],
    );
    let mounted = || {
        std::fs::read_to_string("/proc/mounts")
            .unwrap_or_default()
            .contains(mountpoint.to_str().unwrap())
    };
    let started = Instant::now();
    while !mounted() {
        assert!(
            started.elapsed() < Duration::from_secs(20) && disk.child.try_wait().unwrap().is_none(),
            "the stalling disk did not mount: {}",
            disk.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut receiver = Receiver::start_in(
        dir.clone(),
        "127.0.0.1:0",
        &["--record", mountpoint.to_str().unwrap()],
        &[],
    );
    let pid = receiver.process.child.id();
    let mut sender = start_sender(
        &receiver.address(),
        &[
            "--size",
            "1280x720",
            "--fps",
            "60",
            "--quality",
            "95",
            "--name",
            "cam",
        ],
    );
    receiver.process.wait_for_log("recording 'cam' (", MINUTE);
    std::thread::sleep(Duration::from_secs(1));
    std::fs::write(&flag, b"").unwrap(); // the disk stops answering
    let _answers_again_at_the_end = RemoveOnDrop(flag.clone()); // even if an assertion fails
    let stuck_at = proc_status(pid, "VmRSS");
    receiver.process.wait_for_log("the disk is behind", MINUTE);
    std::thread::sleep(Duration::from_secs(2));
    let full_queue = proc_status(pid, "VmRSS");
    std::thread::sleep(Duration::from_secs(4));
    let later = proc_status(pid, "VmRSS");
    let stopping = Instant::now();
    receiver.process.signal("TERM");
    // The report is printed and written while the write is still stuck.
    receiver
        .process
        .wait_for_log("framewire-receiver: ", Duration::from_secs(10));
    let exit_took = stopping.elapsed();
    // The kernel holds the process until its stuck write returns (as with
    // a hung network mount): let the disk answer again.
    let _ = std::fs::remove_file(&flag);
    let status = receiver.process.wait_exit(Duration::from_secs(10));
    sender.terminate();
    let _ = Command::new("umount").arg(&mountpoint).status();
    disk.terminate();
    let report = receiver.report();
    let cam = stream_named(&report, "cam");
    eprintln!(
        "attack: 6 stuck disk: receiver RSS {stuck_at:.0} MB when it stuck, {full_queue:.0} MB \
         with the queue full, {later:.0} MB 4 s later; report written {:.1} s after SIGTERM; \
         {} frames decoded",
        exit_took.as_secs_f64(),
        field(cam, "frames_decoded")
    );
    assert!(status.success(), "{}", receiver.process.log_text());
    assert!(
        exit_took < Duration::from_secs(3),
        "the exit took {exit_took:?}"
    );
    assert!(
        later < full_queue + 5.0,
        "memory grows while the disk is stuck"
    );
    assert!(
        later < stuck_at + 45.0,
        "{stuck_at:.0} -> {later:.0} MB: the queue is not bounded"
    );
    assert!(
        field(cam, "frames_decoded") >= 200,
        "the live stream went on: {cam:#}"
    );
}

/// Attack 7: names that forge log lines, names of a megabyte, refusals by
/// the thousand.
#[test]
fn peer_names_and_refusals_cannot_flood_or_forge_the_log() {
    let dir = scratch_dir("attack-logs");
    let record = dir.join("recordings");
    let mut receiver = Receiver::start_in(
        dir,
        "127.0.0.1:0",
        &["--record", record.to_str().unwrap()],
        &[],
    );
    let picture = jpeg(64, 48, false);
    let mut socket = TcpStream::connect(receiver.address).unwrap();
    let forged = "cam\r\n[2026-12-01T10:00:00Z INFO  framewire_receiver] forged\x1b[31m";
    socket
        .write_all(&encoded(&frame(forged, 1, picture.clone())))
        .unwrap();
    for sequence in 2..=40u64 {
        let name = format!("{}{sequence}", "x".repeat(1_000_000));
        socket
            .write_all(&encoded(&frame(&name, sequence, picture.clone())))
            .unwrap();
    }
    // Sequence numbers going backwards and wild.
    for sequence in [3, u64::MAX, 7] {
        socket
            .write_all(&encoded(&frame("wild", sequence, picture.clone())))
            .unwrap();
    }
    drop(socket);
    receiver
        .process
        .wait_for_log("disconnected after 43 frames", MINUTE);
    let log = receiver.process.log_text();
    let report = receiver.stop();
    let log_bytes = log.len();
    eprintln!("attack: 7 forged and 1 MB names: {log_bytes} bytes of log for 43 frames");
    assert!(
        !log.lines()
            .any(|line| line.starts_with("[2026-12-01T10:00:00Z")),
        "{log}"
    );
    assert!(!log.contains('\x1b'), "an escape sequence reached the log");
    assert!(log_bytes < 100_000, "{log_bytes} bytes of log");
    let stream = &report["streams"][0];
    assert_eq!(
        field(stream, "sequence_gaps"),
        0,
        "backwards and wild numbers are no gaps: {stream:#}"
    );
    assert!(
        !recordings(&record).is_empty(),
        "a long name still gets its recording"
    );

    // A thousand refusals from one address.
    let mut refusing =
        Receiver::start("attack-refusals", "127.0.0.1:0", &["--allow", "10.0.0.0/8"]);
    for _ in 0..1000 {
        let _ = TcpStream::connect(refusing.address);
    }
    std::thread::sleep(Duration::from_millis(500));
    let lines = refusing.process.count_log("refused 127.0.0.1:");
    refusing.stop();
    eprintln!("attack: 7 1000 refused connections: {lines} log lines");
    assert!(lines <= 10, "{lines} lines for 1000 refusals");
}

/// Attack 7b: wrong tokens as fast as a client can try them, while the
/// right one gets in.
#[test]
fn wrong_tokens_are_slowed_down_while_the_right_one_gets_in() {
    let receiver = Receiver::start("attack-tokens", "[::]:0", &["--token", "right-token"]);
    let guess_at: SocketAddr = format!("[::1]:{}", receiver.address.port())
        .parse()
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let tries = Arc::new(AtomicU64::new(0));
    let hello = encoded(&Frame::hello("guesser", Some("wrong-token")));
    let padded = encoded(&Frame::hello(
        "guesser",
        Some(&format!("right-token{}", "x".repeat(65_536))),
    ));
    // As many at once as the receiver lets one address wait to be admitted.
    let guessers: Vec<_> = (0..8)
        .map(|index| {
            let tries = tries.clone();
            let hello = if index == 0 {
                padded.clone()
            } else {
                hello.clone()
            };
            in_background(&stop, move || {
                let Ok(mut socket) = TcpStream::connect(guess_at) else {
                    return;
                };
                if socket.write_all(&hello).is_ok() {
                    let _ = socket.read(&mut [0u8; 1]); // until the receiver closes it
                    if index != 0 {
                        tries.fetch_add(1, Ordering::Relaxed); // the padded one is no guess
                    }
                }
                // Reconnecting before the receiver has given the place back
                // would be refused unchecked: no guess at all.
                std::thread::sleep(Duration::from_millis(10));
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(5));
    let (in_after, _sender) = first_frame_after(&receiver, "right", &["--token", "right-token"]);
    let rate = tries.load(Ordering::Relaxed) as f64 / (5.0 + in_after.as_secs_f64());
    stop.store(true, Ordering::Relaxed);
    eprintln!(
        "attack: 7 wrong tokens from 8 threads: {rate:.0} tries a second; the right token got in \
         after {:.2} s",
        in_after.as_secs_f64()
    );
    assert!(rate < 20.0, "{rate:.0} wrong tokens a second");
    assert!(in_after < Duration::from_secs(5));
    assert!(
        !receiver.process.log_text().contains("is 'guesser'"),
        "a padded token got in"
    );
    drop(receiver);
    for guesser in guessers {
        let _ = guesser.join();
    }
}

/// Attack 8: sixteen peers that send a length prefix and a few bytes.
#[test]
fn a_length_prefix_alone_costs_no_memory() {
    let mut receiver = Receiver::start("attack-prefix", "127.0.0.1:0", &[]);
    let pid = receiver.process.child.id();
    let before = proc_status(pid, "VmRSS");
    let mut message = (16 * 1024 * 1024 - 1u32).to_be_bytes().to_vec();
    message.extend_from_slice(&[0x0a; 60]);
    // One address may hold only 8 pending places (the gate's limit): the
    // receiver refuses the others, closing them at any moment, even before
    // their bytes are written, which is a refusal too.
    let mut refused = 0;
    let peers: Vec<TcpStream> = (0..16)
        .map(|_| {
            let mut socket = TcpStream::connect(receiver.address).unwrap();
            refused += usize::from(socket.write_all(&message).is_err());
            socket
        })
        .collect();
    std::thread::sleep(Duration::from_secs(1));
    let held = proc_status(pid, "VmRSS");
    drop(peers);
    receiver.stop();
    eprintln!(
        "attack: 8 sixteen 16 MiB length prefixes ({refused} reset while writing): receiver RSS \
         {before:.0} -> {held:.0} MB"
    );
    assert!(
        held < before + 20.0,
        "{before:.0} -> {held:.0} MB for 1 KB sent"
    );
}

/// Attack 8b: a receiver that accepts and closes at once does not make the
/// sender reconnect in a loop.
#[test]
fn the_sender_backs_off_from_a_receiver_that_closes_at_once() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let accepts = Arc::new(AtomicU64::new(0));
    let counter = accepts.clone();
    std::thread::spawn(move || {
        for socket in listener.incoming() {
            drop(socket);
            counter.fetch_add(1, Ordering::Relaxed);
        }
    });
    let mut sender = start_sender(&address, &["--size", "160x120", "--name", "backoff"]);
    std::thread::sleep(Duration::from_secs(5));
    sender.terminate();
    let count = accepts.load(Ordering::Relaxed);
    eprintln!(
        "attack: 8 a receiver that closes at once: {count} connections from the sender in 5 s"
    );
    assert!(count <= 12, "{count} connections in 5 s");
}
