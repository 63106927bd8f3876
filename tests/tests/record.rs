//! `--record` as a user checks it: the files play in ffmpeg's tools with
//! the right frame count and duration, and a receiver killed with SIGKILL
//! leaves every file playable. Needs ffprobe (Debian: ffmpeg; `.ci/run`
//! installs it).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use framewire_receiver::record::matroska::{MatroskaWriter, VideoTrack};
use framewire_tests::*;

/// What ffprobe says about a recording, after reading every frame.
struct Probe {
    codec: String,
    frames: u64,
    /// The container's duration, if it states one.
    duration: Option<f64>,
}

fn probe(path: &Path) -> Probe {
    let output = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
        .args(["-show_entries", "stream=codec_name,nb_read_frames"])
        .args(["-show_entries", "format=duration", "-of", "json"])
        .arg(path)
        .output()
        .expect("cannot run ffprobe: install ffmpeg (Debian/Ubuntu: apt-get install ffmpeg)");
    assert!(
        output.status.success() && output.stderr.is_empty(),
        "ffprobe finds {} broken: {}",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let stream = &json["streams"][0];
    Probe {
        codec: stream["codec_name"].as_str().unwrap_or_default().to_owned(),
        frames: stream["nb_read_frames"]
            .as_str()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0),
        duration: json["format"]["duration"]
            .as_str()
            .and_then(|d| d.parse().ok()),
    }
}

/// Decodes every frame of `path` with ffmpeg and fails the test, with what
/// ffmpeg said, when anything is wrong. Frames keep the file's millisecond
/// times (`-enc_time_base -1`): by default ffmpeg re-times the output at the
/// guessed 30 fps, and two frames of a jittery capture (56 ms, then 10 ms
/// apart) land in the same 1/30 s and are reported as a muxing error.
fn assert_decodes_cleanly(path: &Path) {
    let output = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-enc_time_base", "-1", "-f", "null", "-"])
        .output()
        .unwrap();
    assert!(
        output.status.success() && output.stderr.is_empty(),
        "ffmpeg cannot decode {} cleanly: {}",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn frames_of_a_jittery_capture_keep_their_own_times() {
    let dir = scratch_dir("record-jitter");
    let jpeg_path = dir.join("frame.jpg");
    let made = Command::new("ffmpeg")
        .args(["-v", "error", "-f", "lavfi", "-i", "testsrc=size=64x48"])
        .args(["-frames:v", "1"])
        .arg(&jpeg_path)
        .status()
        .unwrap();
    assert!(made.success());
    let jpeg = std::fs::read(&jpeg_path).unwrap();
    // 30 fps for 2 s, with frame 33 late by 22 ms (11 ms before the next),
    // as CI once captured under load.
    let times_ms: Vec<u64> = (0..60u64)
        .map(|frame| frame * 100 / 3 + if frame == 33 { 22 } else { 0 })
        .collect();
    let path = dir.join("jitter.mkv");
    let file = std::fs::File::create(&path).unwrap();
    let track = VideoTrack {
        width: 64,
        height: 48,
        title: "jitter",
        start_unix_us: 1_700_000_000_000_000,
    };
    let mut writer = MatroskaWriter::create(file, &track).unwrap();
    for &time_ms in &times_ms {
        writer.write_frame(time_ms, &jpeg).unwrap();
    }
    writer.finish().unwrap();

    assert_eq!(probe(&path).frames, times_ms.len() as u64);
    assert_decodes_cleanly(&path);
    let output = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "packet=pts_time",
            "-of",
            "csv=p=0",
        ])
        .arg(&path)
        .output()
        .unwrap();
    let recorded: Vec<u64> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| (line.trim().parse::<f64>().unwrap() * 1000.0).round() as u64)
        .collect();
    assert_eq!(recorded, times_ms);
}

#[test]
fn a_ten_second_recording_plays_back_with_its_frames_and_duration() {
    let dir = scratch_dir("record-10s");
    let directory = dir.join("recordings");
    let mut receiver = Receiver::start_in(
        dir,
        "127.0.0.1:0",
        &["--record", directory.to_str().unwrap()],
        &[],
    );
    let mut sender = start_sender(
        &receiver.address(),
        &[
            "--size", "640x480", "--fps", "30", "--frames", "300", "--name", "porch",
            // Sliced frames (restart markers between bands) must play too.
            "--slices", "3",
        ],
    );
    assert!(sender.wait_exit(Duration::from_secs(40)).success());
    receiver
        .process
        .wait_for_log("closed ", Duration::from_secs(10));
    let report = receiver.stop();
    assert_eq!(field(&report, "frames_received"), 300, "{report:#}");

    let files = recordings(&directory);
    assert_eq!(files.len(), 1, "one stream, one segment: {files:?}");
    let name = files[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("porch-"), "named after the stream: {name}");
    let probe = probe(&files[0]);
    assert_eq!(probe.codec, "mjpeg", "the JPEGs as sent, not re-encoded");
    assert!(
        probe.frames.abs_diff(300) <= 1,
        "{} frames recorded, 300 sent",
        probe.frames
    );
    let duration = probe.duration.expect("a finished file states its duration");
    assert!(
        (duration - 10.0).abs() <= 1.0 / 30.0 + 0.005,
        "plays for {duration:.3} s; 300 frames at 30 fps last 10 s"
    );
    assert_decodes_cleanly(&files[0]);
}

#[test]
fn a_receiver_killed_mid_recording_leaves_every_segment_playable() {
    let dir = scratch_dir("record-kill");
    let directory = dir.join("recordings");
    // Segments of 3 s; the kill comes in the third.
    let receiver = Receiver::start_in(
        dir,
        "127.0.0.1:0",
        &[
            "--record",
            directory.to_str().unwrap(),
            "--segment-minutes",
            "0.05",
        ],
        &[],
    );
    let _sender = start_sender(
        &receiver.address(),
        &["--size", "640x480", "--fps", "30", "--name", "lab"],
    );
    receiver
        .process
        .wait_for_log("is 'lab'", Duration::from_secs(20));
    std::thread::sleep(Duration::from_millis(7500));
    receiver.process.signal("KILL");
    std::thread::sleep(Duration::from_millis(200));

    let files = recordings(&directory);
    assert_eq!(
        files.len(),
        3,
        "two finished segments and the cut one: {files:?}"
    );
    for finished in &files[..2] {
        let probe = probe(finished);
        assert!(
            probe.frames.abs_diff(90) <= 3,
            "{}: {} frames in a 3 s segment at 30 fps",
            finished.display(),
            probe.frames
        );
        let duration = probe
            .duration
            .expect("a finished segment states its duration");
        assert!(
            (duration - 3.0).abs() < 0.15,
            "{}: {duration} s",
            finished.display()
        );
        assert_decodes_cleanly(finished);
    }
    // The cut segment lost at most the last second, held in memory.
    let cut = probe(&files[2]);
    assert!(
        cut.frames >= 15,
        "{}: only {} frames of about 45 survived",
        files[2].display(),
        cut.frames
    );
    assert_decodes_cleanly(&files[2]);
}
