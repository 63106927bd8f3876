//! The soak: the real sender streams its test pattern to the real headless
//! receiver over loopback for a long time (default 10 minutes at 1280x720,
//! 60 fps), and the run fails unless nothing was lost other than counted
//! drops, both programs' memory stayed flat after warm-up (growth under
//! 5 MB) and the capture→decoded latency p99 stayed flat. Memory is sampled
//! from /proc every few seconds; latency comes from the receiver's own
//! per-interval progress lines.
//!
//! cargo bench -p framewire-tests --bench soak -- [--seconds 600] [--size 1280x720] [--fps 60]

use std::time::{Duration, Instant};

use framewire_tests::bench::{number_before, option};
use framewire_tests::{Process, listening_address, receiver_binary, start_sender};

/// Memory may grow this much after warm-up.
const GROWTH_LIMIT_MB: f64 = 5.0;

struct Options {
    seconds: f64,
    size: String,
    fps: u32,
    sample_seconds: u64,
}

fn options() -> Options {
    Options {
        seconds: option("--seconds").unwrap_or(600.0),
        size: option("--size").unwrap_or_else(|| "1280x720".into()),
        fps: option("--fps").unwrap_or(60),
        sample_seconds: 5,
    }
}

fn resident_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("VmRSS:"))?.to_owned();
            line.split_whitespace().nth(1)?.parse::<f64>().ok()
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(0.0)
}

fn main() {
    let options = options();
    let report_path =
        std::env::temp_dir().join(format!("framewire-soak-{}.json", std::process::id()));
    let interval = options.sample_seconds.to_string();
    let mut receiver = Process::start(
        &receiver_binary(),
        &[
            "--listen",
            "127.0.0.1:0",
            "--headless",
            "--stats-interval",
            &interval,
            "--stats-json",
            report_path.to_str().unwrap(),
        ],
        &[],
    );
    let address = listening_address(&receiver).to_string();
    let fps = options.fps.to_string();
    let mut sender = start_sender(
        &address,
        &[
            "--size",
            &options.size,
            "--fps",
            &fps,
            "--name",
            "soak",
            "--stats-interval",
            &interval,
        ],
    );
    sender.wait_for_log("connected to the receiver", Duration::from_secs(20));
    println!(
        "framewire soak: {} at {} fps for {} s, memory sampled every {} s",
        options.size, options.fps, options.seconds, options.sample_seconds
    );

    let start = Instant::now();
    let mut memory = Vec::new(); // (seconds, sender MB, receiver MB)
    while start.elapsed().as_secs_f64() < options.seconds {
        std::thread::sleep(Duration::from_secs(options.sample_seconds));
        memory.push((
            start.elapsed().as_secs_f64(),
            resident_mb(sender.child.id()),
            resident_mb(receiver.child.id()),
        ));
    }
    sender.signal("TERM");
    let sender_usage = sender.wait_with_usage();
    std::thread::sleep(Duration::from_millis(300));
    receiver.signal("TERM");
    let receiver_usage = receiver.wait_with_usage();
    std::thread::sleep(Duration::from_millis(50));

    // The receiver's per-interval p99, in the order logged.
    let p99s: Vec<f64> = receiver
        .log
        .lock()
        .unwrap()
        .iter()
        .filter(|line| line.contains("fps decoded"))
        .filter_map(|line| {
            line.split(" p99 ")
                .nth(1)?
                .split([',', ' '])
                .next()?
                .parse()
                .ok()
        })
        .collect();
    let done = sender.wait_for_log("done: ", Duration::from_secs(20));
    let captured = number_before(&done, " frames captured") as u64;
    let sender_dropped = number_before(&done, " dropped") as u64;
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report_path).expect("receiver report"))
            .expect("receiver report JSON");
    let _ = std::fs::remove_file(&report_path);
    let stream = &report["streams"][0];
    let get = |name: &str| stream[name].as_u64().unwrap_or(0);
    let (received, gaps, out_of_order) = (
        get("frames_received"),
        get("sequence_gaps"),
        get("out_of_order"),
    );
    // Numbered by the sender, not dropped by it, and never received.
    let lost = gaps.saturating_sub(sender_dropped);

    let warm_up = (options.seconds * 0.2).max(10.0).min(options.seconds / 2.0);
    let after_warm_up: Vec<&(f64, f64, f64)> = memory.iter().filter(|m| m.0 >= warm_up).collect();
    let growth = |pick: fn(&(f64, f64, f64)) -> f64| -> f64 {
        let Some(first) = after_warm_up.first() else {
            return 0.0;
        };
        after_warm_up
            .iter()
            .map(|m| pick(m) - pick(first))
            .fold(0.0, f64::max)
    };
    let (sender_growth, receiver_growth) = (growth(|m| m.1), growth(|m| m.2));
    let skip = (warm_up / options.sample_seconds as f64).ceil() as usize;
    let steady: Vec<f64> = p99s
        .iter()
        .skip(skip.min(p99s.len().saturating_sub(1)))
        .copied()
        .collect();
    let (p99_median, p99_max) = (median(&steady), steady.iter().copied().fold(0.0, f64::max));

    println!(
        "frames: {captured} captured, {sender_dropped} dropped by the sender (counted), {received} received, {} dropped before decode (counted), {lost} lost, {out_of_order} out of order",
        get("dropped_before_decode")
    );
    println!(
        "memory after {warm_up:.0} s warm-up: sender {:.1} MB (+{sender_growth:.1}), receiver {:.1} MB (+{receiver_growth:.1}); peak {:.1} / {:.1} MB",
        after_warm_up.last().map_or(0.0, |m| m.1),
        after_warm_up.last().map_or(0.0, |m| m.2),
        sender_usage.peak_rss_mb,
        receiver_usage.peak_rss_mb,
    );
    println!(
        "latency p99 per {} s interval after warm-up: median {p99_median:.1} ms, max {p99_max:.1} ms, first {:.1}, last {:.1} ({} intervals)",
        options.sample_seconds,
        steady.first().copied().unwrap_or(0.0),
        steady.last().copied().unwrap_or(0.0),
        steady.len()
    );
    println!(
        "CPU: sender {:.1} s, receiver {:.1} s",
        sender_usage.cpu.as_secs_f64(),
        receiver_usage.cpu.as_secs_f64()
    );

    let mut failures = Vec::new();
    if lost > 1 || out_of_order > 0 {
        failures.push(format!("{lost} frames lost, {out_of_order} out of order"));
    }
    if received == 0 || steady.is_empty() {
        failures.push("no frames or no latency figures".to_owned());
    }
    for (who, growth) in [("sender", sender_growth), ("receiver", receiver_growth)] {
        if growth >= GROWTH_LIMIT_MB {
            failures.push(format!("{who} memory grew {growth:.1} MB after warm-up"));
        }
    }
    // Flat: no interval far above the typical one (a backlog would grow).
    if p99_max > 3.0 * p99_median + 10.0 {
        failures.push(format!(
            "latency p99 not flat: max {p99_max:.1} ms vs median {p99_median:.1} ms"
        ));
    }
    if failures.is_empty() {
        println!("soak: PASS");
    } else {
        println!("soak: FAIL: {}", failures.join("; "));
        std::process::exit(1);
    }
}
