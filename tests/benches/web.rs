//! What web viewers cost the receiver: a headless receiver with `--http`,
//! one test-pattern sender at `--size`/`--fps`, and 0, 1 and 20 MJPEG
//! viewers (clients in this process that read every byte), then one live
//! page in headless Chromium. For each case it prints the receiver's CPU
//! use over the measured seconds (from /proc, after a warm-up), its
//! resident memory and the memory budget in use (`/metrics`), the frames
//! per second the slowest viewer got, and the stream's decoded rate.
//!
//! cargo bench -p framewire-tests --bench web -- [--seconds 10] [--size 1280x720] [--fps 30] [--no-browser]
//!
//! The page row needs chromium and chromium-driver (`.ci/run` installs them).

use std::time::{Duration, Instant};

use framewire_tests::bench::{cpu_time, flag, option};
use framewire_tests::browser::Browser;
use framewire_tests::web::{count_mjpeg_frames, get_json, receiver_metric, web_url};
use framewire_tests::{Process, listening_address, receiver_binary, start_sender};

const WARM_UP: Duration = Duration::from_secs(3);

/// Who watches in a case.
#[derive(Clone, Copy)]
enum Viewers {
    Mjpeg(usize),
    Page,
}

struct Measured {
    cpu_percent: f64,
    resident_mib: f64,
    budget_mb: f64,
    slowest_viewer_fps: Option<f64>,
    decoded_fps: f64,
}

fn measure(viewers: Viewers, seconds: f64, size: &str, fps: u32) -> Measured {
    let mut receiver = Process::start(
        &receiver_binary(),
        &[
            "--listen",
            "127.0.0.1:0",
            "--headless",
            "--http",
            "127.0.0.1:0",
        ],
        &[],
    );
    let address = listening_address(&receiver).to_string();
    let url = web_url(&receiver);
    let mut sender = start_sender(
        &address,
        &[
            "--source",
            "pattern",
            "--size",
            size,
            "--fps",
            &fps.to_string(),
            "--name",
            "bench",
        ],
    );
    std::thread::sleep(WARM_UP);
    let stream_url = format!("{url}/streams/bench.mjpg");
    let whole_seconds = seconds.ceil() as u64;
    let (clients, browser) = match viewers {
        Viewers::Mjpeg(count) => {
            let clients: Vec<_> = (0..count)
                .map(|_| {
                    let stream_url = stream_url.clone();
                    std::thread::spawn(move || count_mjpeg_frames(&stream_url, whole_seconds + 2))
                })
                .collect();
            (clients, None)
        }
        Viewers::Page => {
            let browser = Browser::start(1280, 720);
            browser.open(&format!("{url}/"));
            (Vec::new(), Some(browser))
        }
    };
    std::thread::sleep(Duration::from_secs(1)); // the viewers are watching
    let frames_drawn = |browser: &Browser| {
        browser
            .script(
                "const t = document.querySelector('.tile'); return t ? Number(t.dataset.frames || 0) : 0;",
                serde_json::json!([]),
            )
            .as_f64()
            .unwrap_or(0.0)
    };
    let drawn_before = browser.as_ref().map(frames_drawn);
    let pid = receiver.child.id();
    let (cpu_before, started) = (cpu_time(pid), Instant::now());
    std::thread::sleep(Duration::from_secs_f64(seconds));
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = (cpu_time(pid) - cpu_before).as_secs_f64();
    let resident = receiver.resident_mib();
    let budget = receiver_metric(&url, "framewire_memory_used_bytes");
    let decoded_fps = get_json(&format!("{url}/api/streams"))["streams"][0]["decoded_fps"]
        .as_f64()
        .unwrap_or(0.0);
    let page_fps = match (&browser, drawn_before) {
        (Some(browser), Some(before)) => Some((frames_drawn(browser) - before) / elapsed),
        _ => None,
    };
    let mjpeg_fps = clients
        .into_iter()
        .map(|client| client.join().unwrap() as f64 / (whole_seconds + 2) as f64)
        .reduce(f64::min);
    drop(browser);
    sender.signal("TERM");
    sender.wait_with_usage();
    receiver.signal("TERM");
    receiver.wait_with_usage();
    Measured {
        cpu_percent: cpu / elapsed * 100.0,
        resident_mib: resident,
        budget_mb: budget / 1e6,
        slowest_viewer_fps: page_fps.or(mjpeg_fps),
        decoded_fps,
    }
}

fn main() {
    let seconds: f64 = option("--seconds").unwrap_or(10.0);
    let size: String = option("--size").unwrap_or_else(|| "1280x720".into());
    let fps: u32 = option("--fps").unwrap_or(30);
    println!(
        "web benchmark: {seconds} s per case after {} s warm-up, one sender at {size} and {fps} fps, headless receiver",
        WARM_UP.as_secs()
    );
    println!(
        "| viewers | receiver CPU (% of a core) | receiver resident MiB | budget in use MB | slowest viewer fps | stream decoded fps |"
    );
    println!("|---|---|---|---|---|---|");
    let mut cases = vec![
        (Viewers::Mjpeg(0), "0".to_owned()),
        (Viewers::Mjpeg(1), "1 MJPEG".to_owned()),
        (Viewers::Mjpeg(20), "20 MJPEG".to_owned()),
    ];
    if !flag("--no-browser") {
        cases.push((Viewers::Page, "1 page (Chromium)".to_owned()));
    }
    for (viewers, label) in cases {
        let measured = measure(viewers, seconds, &size, fps);
        let viewer_fps = measured
            .slowest_viewer_fps
            .map_or("-".to_owned(), |fps| format!("{fps:.1}"));
        println!(
            "| {label} | {:.1} | {:.0} | {:.1} | {viewer_fps} | {:.1} |",
            measured.cpu_percent, measured.resident_mib, measured.budget_mb, measured.decoded_fps
        );
    }
}
