//! The receiver as Windows users get it: its `x86_64-pc-windows-gnu` build
//! (the one in the Windows zip) run under Wine, fed by the Linux sender over
//! loopback. Headless, it decodes, writes its report and a snapshot to
//! Windows paths and stops on Ctrl-C; with a window on an Xvfb screen (Wine's
//! Vulkan on Mesa's lavapipe) it shows and tiles two streams and ends with
//! its report when the window is closed; it records MKV files that ffprobe
//! reads; with `--tls` it keeps its self-signed certificate under
//! `%APPDATA%`. Ignored by default: it needs Wine, mingw-w64 and the Windows
//! build, which `.ci/run` installs and makes before running it.

use std::process::Command;
use std::time::Duration;

use framewire_tests::wine::{Wine, windows_path};
use framewire_tests::xvfb::{SCREEN_TOLERANCE, Xvfb};
use framewire_tests::*;

const MINUTE: Duration = Duration::from_secs(60);

/// Starts a 640x480 test-pattern sender called `name` to `receiver`.
fn pattern_sender(receiver: &Receiver, name: &str, more: &[&str]) -> Process {
    let mut args = vec!["--size", "640x480", "--fps", "30", "--name", name];
    args.extend_from_slice(more);
    start_sender(&receiver.address(), &args)
}

#[test]
#[ignore = "needs Wine and the receiver built for Windows; .ci/run makes both and runs this"]
fn headless_it_decodes_a_linux_sender_writes_windows_paths_and_stops_on_ctrl_c() {
    let dir = scratch_dir("wine-headless");
    let mut receiver =
        Receiver::start_under_wine(Wine::get(), dir, "127.0.0.1:0", &["--frames", "90"], &[]);
    let mut sender = pattern_sender(&receiver, "wine", &[]);
    let status = receiver.process.wait_exit(MINUTE);
    assert!(
        status.success(),
        "{status}: {}",
        receiver.process.log_text()
    );
    sender.terminate();
    let report = receiver.report();
    assert!(field(&report, "frames_decoded") >= 90, "{report:#}");
    assert_shows_pattern_bars(&receiver.snapshot(0));

    // Ctrl-C in its console (Wine turns SIGINT into CTRL_C_EVENT): it
    // stops cleanly and still writes its report.
    let dir = scratch_dir("wine-ctrl-c");
    let mut receiver = Receiver::start_under_wine(Wine::get(), dir, "127.0.0.1:0", &[], &[]);
    let _sender = pattern_sender(&receiver, "ctrl-c", &[]);
    receiver.process.wait_for_log("is 'ctrl-c'", MINUTE);
    receiver.process.signal("INT");
    let status = receiver.process.wait_exit(MINUTE);
    assert!(
        status.success(),
        "{status}: {}",
        receiver.process.log_text()
    );
    assert_eq!(receiver.report()["streams"][0]["name"], "ctrl-c");
}

#[test]
#[ignore = "needs Wine and the receiver built for Windows; .ci/run makes both and runs this"]
fn its_recordings_are_read_by_ffprobe() {
    let dir = scratch_dir("wine-record");
    let recordings_dir = dir.join("recordings");
    let mut receiver = Receiver::start_under_wine(
        Wine::get(),
        dir.clone(),
        "127.0.0.1:0",
        &["--record", &windows_path(&recordings_dir)],
        &[],
    );
    let mut sender = pattern_sender(&receiver, "wine-record", &["--frames", "60"]);
    assert!(sender.wait_exit(MINUTE).success());
    receiver.process.wait_for_log("disconnected after", MINUTE);
    receiver.process.signal("INT");
    assert!(receiver.process.wait_exit(MINUTE).success());
    let files = recordings(&recordings_dir);
    assert_eq!(files.len(), 1, "{files:?}");
    let probe = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
        .args([
            "-show_entries",
            "stream=codec_name,width,height,nb_read_frames",
        ])
        .args(["-of", "csv=p=0"])
        .arg(&files[0])
        .output()
        .expect("ffprobe (ffmpeg)");
    let probed = String::from_utf8_lossy(&probe.stdout);
    assert_eq!(
        probed.trim(),
        "mjpeg,640,480,60",
        "{}",
        String::from_utf8_lossy(&probe.stderr)
    );
}

#[test]
#[ignore = "needs Wine and the receiver built for Windows; .ci/run makes both and runs this"]
fn with_tls_it_keeps_its_certificate_under_appdata_and_a_pinned_sender_streams() {
    let certificate = Wine::get().appdata().join("framewire/receiver-cert.pem");
    let _ = std::fs::remove_file(&certificate);
    let mut receiver = Receiver::start_under_wine(
        Wine::get(),
        scratch_dir("wine-tls"),
        "127.0.0.1:0",
        &["--tls"],
        &[],
    );
    let line = receiver
        .process
        .wait_for_log("senders pin it with --tls-fingerprint ", MINUTE);
    assert!(
        certificate.exists(),
        "{} is missing: {line}",
        certificate.display()
    );
    let fingerprint = line.rsplit(' ').next().unwrap().to_owned();
    let mut sender = pattern_sender(
        &receiver,
        "wine-tls",
        &["--frames", "30", "--tls", "--tls-fingerprint", &fingerprint],
    );
    assert!(sender.wait_exit(MINUTE).success(), "{}", sender.log_text());
    assert!(sender.log_text().contains("(TLS)"));
    // The sender has written its last frame; the receiver may still be reading it.
    receiver
        .process
        .wait_for_log("disconnected after 30 frames", MINUTE);
    receiver.process.signal("INT");
    assert!(receiver.process.wait_exit(MINUTE).success());
    // Every frame came through TLS intact. Under load Wine's decoder may
    // fall behind, and then the latest-frame rule replaces a waiting frame:
    // each one received is decoded or counted as replaced, none is broken.
    let stream = &receiver.report()["streams"][0];
    let decoded = field(stream, "frames_decoded");
    assert_eq!(field(stream, "frames_received"), 30, "{stream:#}");
    assert_eq!(
        decoded + field(stream, "dropped_before_decode"),
        30,
        "{stream:#}"
    );
    assert_eq!(field(stream, "decode_errors"), 0, "{stream:#}");
    assert!(decoded >= 15, "most frames are decoded: {stream:#}");
}

#[test]
#[ignore = "needs Wine and the receiver built for Windows; .ci/run makes both and runs this"]
fn its_window_shows_and_tiles_two_streams_and_alt_f4_ends_it_with_the_report() {
    // Wine places the 1280x720 window as if it had a frame (at 4,23): the
    // screen leaves room for all of it.
    let xvfb = Xvfb::start(1400, 800);
    let dir = scratch_dir("wine-window");
    let wine = Wine::with_screen(&xvfb, &dir);
    let mut receiver = Receiver::start_under_wine(&wine, dir, "127.0.0.1:0", &["--window"], &[]);
    let _left = pattern_sender(&receiver, "left", &[]);
    receiver.process.wait_for_log("is 'left'", MINUTE);
    let (x, y) = window_origin(&xvfb);
    // Alone, the 4:3 picture fills the window's height, centred.
    let alone = (x + 160.0, y, 960.0, 720.0);
    assert_pattern_at(
        &xvfb.screenshot_showing(alone),
        alone,
        SCREEN_TOLERANCE,
        "one stream",
    );

    let _right = pattern_sender(&receiver, "right", &[]);
    receiver.process.wait_for_log("is 'right'", MINUTE);
    // Two tiles of 639x720 with a 2-pixel gap, as on Linux.
    let left_tile = (x, y + 121.0, 639.0, 479.0);
    let right_tile = (x + 641.0, y + 121.0, 639.0, 479.0);
    let screen = xvfb.screenshot_when(|screen| {
        shows_pattern_at(screen, left_tile, SCREEN_TOLERANCE)
            && shows_pattern_at(screen, right_tile, SCREEN_TOLERANCE)
    });
    assert_pattern_at(&screen, left_tile, SCREEN_TOLERANCE, "left tile");
    assert_pattern_at(&screen, right_tile, SCREEN_TOLERANCE, "right tile");
    // Both play: the screen changes with every frame shown, so a dozen
    // changes seen are a dozen frames shown at least (Wine and lavapipe
    // draw a few a second here; the tiles may appear after one).
    let mut last = screen;
    for _ in 0..12 {
        last = xvfb.screenshot_when(|screen| screen.rgba != last.rgba);
    }

    // Alt+F4, as a Windows user closes a window: Windows (here Wine) turns
    // it into WM_CLOSE, and the receiver ends with its report.
    xvfb.press("alt+F4");
    let status = receiver.process.wait_exit(MINUTE);
    assert!(
        status.success(),
        "{status}: {}",
        receiver.process.log_text()
    );
    let report = receiver.report();
    let names: Vec<_> = report["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|stream| stream["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["left", "right"], "{report:#}");
    assert!(field(&report, "frames_shown") > 10, "{report:#}");
}

/// Where the window's drawing area starts on the screen.
fn window_origin(xvfb: &Xvfb) -> (f64, f64) {
    let geometry = xvfb.xdotool(&["getwindowgeometry", "--shell", "%1"]);
    let value = |name: &str| -> f64 {
        geometry
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{name}=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in xdotool's answer: {geometry}"))
    };
    (value("X"), value("Y"))
}
