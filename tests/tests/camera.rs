//! The sender on a real V4L2 driver: each test boots a VM with the kernel's
//! `vivid` camera (tools/camera-vm.sh) and runs itself inside it, where the
//! real sender captures from /dev/video0 and streams over the VM's loopback
//! to the real receiver. vivid has raw formats only (no MJPEG); the MJPEG
//! repairs are tested on buffers in the sender's unit tests.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use framewire_tests::bench::number_after;
use framewire_tests::{
    Image, Process, Receiver, assert_shows_pattern_bars, field, free_port, in_vm, in_vm_with,
    scratch_dir, sender_binary, start_sender,
};

fn vivid_control(name: &str, value: &str) {
    let status = Command::new("v4l2-ctl")
        .args([
            "-d",
            "/dev/video0",
            "--set-ctrl",
            &format!("{name}={value}"),
        ])
        .status()
        .expect("v4l2-ctl");
    assert!(status.success(), "v4l2-ctl --set-ctrl {name}={value}");
}

/// Mean of R, G and B over the middle band of the picture (below vivid's
/// text overlay).
fn mean_rgb(image: &Image, x_from: usize, x_to: usize) -> [f64; 3] {
    let mut sum = [0.0; 3];
    let mut count = 0.0;
    for y in image.height / 2..image.height * 3 / 4 {
        for x in x_from..x_to {
            let pixel = image.rgb_at(x, y);
            for channel in 0..3 {
                sum[channel] += pixel[channel] as f64;
            }
            count += 1.0;
        }
    }
    sum.map(|s| s / count)
}

/// Streams `frames` frames from the camera at full size and `--quality`
/// with `args`, and returns the receiver's report, the snapshot and the
/// sender's log.
fn stream_from_camera(
    test: &str,
    args: &[&str],
    frames: &str,
) -> (serde_json::Value, Image, String) {
    let mut receiver = Receiver::start(test, "127.0.0.1:0", &[]);
    // --fixed-quality: these tests check formats, sizes and colours, not
    // how the picture follows the link; an emulated VM on a busy machine
    // is slow enough that the sender would halve the size for it.
    let mut all = vec![
        "--device",
        "/dev/video0",
        "--frames",
        frames,
        "--workers",
        "2",
        "--fixed-quality",
    ];
    all.extend_from_slice(args);
    let mut sender = start_sender(&receiver.address(), &all);
    let status = sender.wait_exit(Duration::from_secs(120));
    let log = sender.log_text();
    assert!(status.success(), "sender failed: {log}");
    // Under emulation the receiver may still be reading what the sender
    // wrote before it exited.
    receiver
        .process
        .wait_for_log(" disconnected after ", Duration::from_secs(30));
    let report = receiver.stop();
    let snapshot = receiver.snapshot(0);
    (report, snapshot, log)
}

/// Waits until the sender has logged `marker` (the camera opened) `opened`
/// times and a progress line after that shows frames going out.
fn assert_streams_after(sender: &mut Process, marker: &str, opened: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let log = sender.log_text();
        let after = log
            .rsplit_once(marker)
            .filter(|_| sender.count_log(marker) >= opened);
        let sending = after.is_some_and(|(_, rest)| {
            rest.lines().any(|line| {
                line.contains("] captured ")
                    && number_after(line, " sent ").is_some_and(|fps| fps > 0.0)
            })
        });
        if sending {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no frames after opening the camera {opened} times:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn each_raw_camera_format_streams_with_its_colours() {
    in_vm("each_raw_camera_format_streams_with_its_colours", || {
        for format in ["auto", "yuyv", "uyvy", "nv12", "yu12", "rgb24", "grey"] {
            // Without --format the sender chooses: the "auto" case.
            let mut args = vec!["--size", "640x480", "--fps", "25"];
            if format != "auto" {
                args.extend(["--format", format]);
            }
            let (report, snapshot, log) =
                stream_from_camera(&format!("format-{format}"), &args, "12");
            let stream = &report["streams"][0];
            assert_eq!(
                (field(stream, "width"), field(stream, "height")),
                (640, 480),
                "{format}"
            );
            // Frames arrive in order; under emulation the receiver decodes
            // only some of them (the newest), which is what it should do.
            assert!(field(stream, "frames_received") >= 6, "{format}: {report}");
            assert!(field(stream, "frames_decoded") >= 1, "{format}: {report}");
            assert_eq!(field(stream, "out_of_order"), 0, "{format}");
            // The capture time is the driver's stamp, moved to Unix time:
            // the latency it gives is real, not zero and not absurd.
            let p50 = stream["latency_ms_p50"].as_f64().unwrap();
            assert!(p50 > 0.0 && p50 < 2000.0, "{format}: p50 {p50} ms");
            // vivid's 75 % colour bars: white, yellow, cyan, green, magenta,
            // red, blue, black, each an eighth of the width.
            let bar = |index: usize| mean_rgb(&snapshot, index * 80 + 20, index * 80 + 60);
            let (white, yellow, blue) = (bar(0), bar(1), bar(6));
            assert!(
                white.iter().all(|&c| c > 140.0),
                "{format}: white {white:?}"
            );
            if format == "grey" {
                assert!(
                    (yellow[0] - yellow[2]).abs() < 12.0,
                    "grey has no colour: {yellow:?}"
                );
            } else {
                assert!(
                    yellow[0] > 140.0 && yellow[2] < 70.0,
                    "{format}: yellow {yellow:?}"
                );
                assert!(blue[2] > 140.0 && blue[0] < 70.0, "{format}: blue {blue:?}");
            }
            if format == "auto" {
                assert!(
                    log.contains(
                        "camera: chose NV12 640x480 at 25 fps: the camera offers no MJPEG"
                    ),
                    "{log}"
                );
            }
        }
    });
}

#[test]
fn list_devices_shows_formats_rates_and_controls() {
    in_vm("list_devices_shows_formats_rates_and_controls", || {
        let output = Command::new(sender_binary())
            .arg("--list-devices")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success());
        for expected in [
            "/dev/video0",
            "driver: vivid",
            "YUYV (YUYV):",
            "640x480  1, 2, 4, 5, 10, 12.5, 15, 25 fps",
            "brightness                   0..=255 step 1 (default 128, now 128)",
            "test_pattern",
        ] {
            assert!(text.contains(expected), "missing '{expected}' in:\n{text}");
        }
    });
}

#[test]
fn controls_are_set_at_start_and_bad_settings_are_clear_errors() {
    in_vm(
        "controls_are_set_at_start_and_bad_settings_are_clear_errors",
        || {
            // A menu control set by its entry's name: the picture turns red.
            let (_, red, log) = stream_from_camera(
                "ctrl-red",
                &["--size", "640x480", "--ctrl", "test_pattern=100% Red"],
                "5",
            );
            assert!(
                log.contains("camera: test_pattern set to 100% Red"),
                "{log}"
            );
            let colour = mean_rgb(&red, 0, 640);
            assert!(
                colour[0] > 200.0 && colour[1] < 50.0 && colour[2] < 50.0,
                "{colour:?}"
            );

            for (args, expected) in [
                (
                    vec!["--ctrl", "no_such_control=1"],
                    "the camera has no control 'no_such_control'; it has: brightness",
                ),
                (
                    vec!["--ctrl", "brightness=999"],
                    "--ctrl brightness=999 is out of range 0..=255",
                ),
                (
                    vec!["--format", "mjpeg"],
                    "the camera does not offer MJPEG; the camera offers YUYV 320x180",
                ),
            ] {
                let mut all = vec!["--device", "/dev/video0", "--connect", "127.0.0.1:9"];
                all.extend(args);
                let mut sender = Process::start(&sender_binary(), &all, &[]);
                let status = sender.wait_exit(Duration::from_secs(60));
                assert!(!status.success());
                let log = sender.log_text();
                assert!(log.contains(expected), "expected '{expected}' in:\n{log}");
            }
        },
    );
}

#[test]
fn a_missing_or_unplugged_camera_is_waited_for_on_the_same_connection() {
    in_vm(
        "a_missing_or_unplugged_camera_is_waited_for_on_the_same_connection",
        || {
            // No camera when the sender starts (vivid unloaded).
            let vivid = std::env::var("CAMERA_VM_VIVID_KO").unwrap();
            let options = std::env::var("CAMERA_VM_VIVID_OPTIONS").unwrap();
            shell("busybox rmmod vivid");
            let stable = "/dev/v4l/by-id/usb-framewire-test-camera-video-index0";
            let mut receiver = Receiver::start("unplug", "127.0.0.1:0", &[]);
            let mut sender = start_sender(
                &receiver.address(),
                &[
                    "--device",
                    stable,
                    "--size",
                    "320x180",
                    "--stats-interval",
                    "1",
                ],
            );
            sender.wait_for_log("does not exist", Duration::from_secs(60));
            std::thread::sleep(Duration::from_secs(3)); // keep-alives hold the connection
            // The camera is plugged in; udev would make the by-id link.
            shell(&format!(
                "busybox insmod {vivid} {options} && mkdir -p /dev/v4l/by-id && ln -s /dev/video0 {stable}"
            ));
            assert_streams_after(&mut sender, VIVID_STREAMING, 1);
            // Pulled out mid-stream: the driver fails every call with ENODEV.
            vivid_control("disconnect", "1");
            sender.wait_for_log("capture failed: No such device", Duration::from_secs(30));
            assert_streams_after(&mut sender, VIVID_STREAMING, 2);
            sender.terminate();
            let report = receiver.stop();
            let streams = report["streams"].as_array().unwrap();
            assert_eq!(streams.len(), 1, "one connection throughout: {report}");
            assert!(field(&streams[0], "keep_alives") >= 2, "{report}");
            assert!(field(&streams[0], "frames_decoded") > 0, "{report}");
        },
    );
}

fn shell(script: &str) {
    let status = Command::new("sh").args(["-c", script]).status().unwrap();
    assert!(status.success(), "{script}");
}

/// What the sender logs when it opens vivid as [`small_camera_sender`] asks.
const VIVID_STREAMING: &str = "streaming NV12 320x180";

/// A sender of vivid's 320x180 at 30 fps to `address`, with `more` options.
fn small_camera_sender(address: &str, more: &[&str]) -> Process {
    let mut args = vec![
        "--device",
        "/dev/video0",
        "--size",
        "320x180",
        "--fps",
        "30",
    ];
    args.extend_from_slice(more);
    start_sender(address, &args)
}

#[test]
fn a_camera_that_goes_silent_is_reopened() {
    in_vm("a_camera_that_goes_silent_is_reopened", || {
        let mut receiver = Receiver::start("silent", "127.0.0.1:0", &[]);
        let mut sender = small_camera_sender(
            &receiver.address(),
            &["--camera-timeout", "1", "--stats-interval", "1"],
        );
        sender.wait_for_log("sent ", Duration::from_secs(60));
        vivid_control("percentage_of_dropped_buffers", "100");
        sender.wait_for_log("no frame for 1", Duration::from_secs(30));
        vivid_control("percentage_of_dropped_buffers", "0");
        assert_streams_after(&mut sender, VIVID_STREAMING, 2);
        sender.terminate();
        let report = receiver.stop();
        assert_eq!(report["streams"].as_array().unwrap().len(), 1, "{report}");
    });
}

#[test]
fn an_unwatched_camera_is_closed_and_opened_again_when_a_receiver_connects() {
    in_vm(
        "an_unwatched_camera_is_closed_and_opened_again_when_a_receiver_connects",
        || {
            let address = format!("127.0.0.1:{}", free_port());
            let mut sender =
                small_camera_sender(&address, &["--idle-close", "1", "--name", "unwatched"]);
            sender.wait_for_log("camera: closed /dev/video0", Duration::from_secs(60));
            // Released: another program can stream from the camera now
            // (it is busy while the sender holds it).
            shell("v4l2-ctl -d /dev/video0 --stream-mmap --stream-count=3 --stream-to=/dev/null");
            let mut receiver = Receiver::start_in(scratch_dir("unwatched"), &address, &[], &[]);
            receiver
                .process
                .wait_for_log("is 'unwatched'", Duration::from_secs(60));
            std::thread::sleep(Duration::from_secs(2));
            let report = receiver.stop();
            sender.terminate();
            let stream = &report["streams"][0];
            // Under software emulation a VM's figure is several times a board's.
            eprintln!(
                "unwatched camera: first frame decoded {} ms after the connection",
                stream["first_frame_ms"]
            );
            assert!(field(stream, "frames_decoded") >= 10, "{stream:#}");
            assert_eq!(
                sender.count_log("camera: /dev/video0 streaming"),
                2,
                "opened at start and again on connect: {}",
                sender.log_text()
            );
            let log = sender.log_text();
            let reopens = log.lines().find(|line| line.contains("camera reopens"));
            assert!(
                reopens.is_none_or(|line| line.contains(" 0 camera reopens")),
                "a release is no outage: {log}"
            );
        },
    );
}

/// Plays an MJPEG camera through v4l2loopback: frames without Huffman
/// tables, padded with zeros, and every tenth one cut short, as cheap UVC
/// cameras deliver them, until `stop` is set.
fn play_quirky_mjpeg_camera(stop: &std::sync::atomic::AtomicBool) -> usize {
    use std::io::Write;
    use v4l::video::Output;

    let jpeg = framewire_sender::encoder::JpegEncoder::new(80)
        .encode(framewire_sender::capture::pattern::PatternSource::still(640, 480).into())
        .unwrap();
    let without_tables =
        framewire_sender::capture::v4l2::mjpeg_repair::without_huffman_tables(&jpeg);
    assert!(without_tables.len() + 400 < jpeg.len());
    let mut padded = without_tables.clone();
    padded.resize(without_tables.len() + 3000, 0);
    let truncated = &without_tables[..without_tables.len() / 2];

    let path = std::env::var("CAMERA_VM_LOOPBACK").unwrap();
    let mut device = v4l::Device::with_path(&path).unwrap();
    let format = v4l::Format::new(640, 480, v4l::FourCC::new(b"MJPG"));
    Output::set_format(&device, &format).unwrap();
    let mut frame = 0;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let bytes: &[u8] = if frame % 10 == 9 { truncated } else { &padded };
        device.write_all(bytes).unwrap();
        frame += 1;
        std::thread::sleep(Duration::from_millis(33));
    }
    without_tables.len()
}

#[test]
fn a_quirky_mjpeg_camera_is_repaired_and_passed_through() {
    in_vm(
        "a_quirky_mjpeg_camera_is_repaired_and_passed_through",
        || {
            let stop = std::sync::atomic::AtomicBool::new(false);
            std::thread::scope(|scope| {
                let camera = scope.spawn(|| play_quirky_mjpeg_camera(&stop));
                let mut receiver = Receiver::start("mjpeg", "127.0.0.1:0", &[]);
                let loopback = std::env::var("CAMERA_VM_LOOPBACK").unwrap();
                let mut sender = start_sender(
                    &receiver.address(),
                    &["--device", &loopback, "--size", "640x480", "--frames", "40"],
                );
                let status = sender.wait_exit(Duration::from_secs(120));
                stop.store(true, std::sync::atomic::Ordering::Relaxed);
                let stripped_length = camera.join().unwrap();
                let log = sender.log_text();
                assert!(status.success(), "{log}");
                assert!(
                log.contains("camera: chose MJPEG 640x480 at 30 fps: MJPEG from the camera is passed through"),
                "{log}"
            );
                // Cut-short frames are dropped and counted, never sent.
                assert!(log.contains("bad camera frames dropped"), "{log}");
                assert!(log.contains("frame is truncated: no end marker"), "{log}");
                let report = receiver.stop();
                let stream = &report["streams"][0];
                // 40 taken; under emulation on a busy machine a few may be
                // replaced by newer ones before the connection is up (CI saw
                // 37 once).
                let received = field(stream, "frames_received");
                assert!(received >= 30, "{report}");
                assert_eq!(field(stream, "decode_errors"), 0, "{report}");
                // Each frame went out as the camera's JPEG plus the standard
                // tables (418 bytes), without the padding.
                let per_frame = field(stream, "bytes") / received;
                assert!(
                    per_frame > stripped_length as u64 && per_frame < stripped_length as u64 + 600,
                    "{per_frame} bytes per frame for a {stripped_length}-byte JPEG"
                );
                assert_shows_pattern_bars(&receiver.snapshot(0));
            });
        },
    );
}

/// Starts udev in the VM, as on a board: libcamera only uses the cameras
/// udev has set up. (The VM runs its command in a chroot, which systemd's
/// tools would otherwise refuse to act in.)
fn start_udev() {
    shell(
        "export SYSTEMD_IGNORE_CHROOT=1; /lib/systemd/systemd-udevd --daemon \
         && udevadm trigger --action=add && udevadm settle --timeout=30",
    );
}

/// The Raspberry Pi camera module's path, on the kernel's vimc camera (a
/// sensor, debayer and scaler behind a media controller, which only
/// libcamera drives): the sender runs under `libcamerify` exactly as
/// docs/cameras.md tells Pi users, streams what it chose, closes the camera
/// while nobody watches, and opens it again for the next receiver.
#[test]
fn a_libcamera_camera_streams_through_libcamerify_and_reopens_after_idle() {
    in_vm_with(
        "a_libcamera_camera_streams_through_libcamerify_and_reopens_after_idle",
        &["--camera", "vimc"],
        || {
            start_udev();
            let address = format!("127.0.0.1:{}", free_port());
            let sender_path = sender_binary();
            let mut sender = Process::start(
                Path::new("libcamerify"),
                &[
                    sender_path.to_str().unwrap(),
                    "--connect",
                    &address,
                    "--size",
                    "640x480",
                    "--idle-close",
                    "1",
                    "--name",
                    "picam",
                ],
                &[("LIBCAMERA_LOG_LEVELS", "*:ERROR")],
            );
            let chose = sender.wait_for_log("camera: chose ", Duration::from_secs(60));
            let streaming = sender.wait_for_log(" streaming ", Duration::from_secs(60));
            eprintln!("libcamera camera:\n{chose}\n{streaming}");
            assert!(chose.contains("RGB24 640x480"), "{chose}");
            // libcamera's vimc pipeline gives a width its scaler can make.
            assert!(streaming.contains("streaming RGB24 636x480"), "{streaming}");
            sender.wait_for_log("camera: closed /dev/video0", Duration::from_secs(60));

            let mut receiver = Receiver::start_in(scratch_dir("libcamera"), &address, &[], &[]);
            receiver
                .process
                .wait_for_log("is 'picam'", Duration::from_secs(60));
            assert_streams_after(&mut sender, "camera: /dev/video0 streaming", 2);
            std::thread::sleep(Duration::from_secs(3));
            let report = receiver.stop();
            sender.terminate();
            let stream = &report["streams"][0];
            eprintln!("libcamera camera: {stream}");
            // Emulated, vimc's debayer and scaler run in a few frames a second.
            assert!(field(stream, "frames_decoded") >= 5, "{stream:#}");
        },
    );
}
