//! The end-to-end benchmark: the real sender (test pattern) streams to the
//! real headless receiver over loopback, at 640x480, 1280x720 and 1920x1080,
//! paced at 30 fps and unpaced. For each cell it reports sent and decoded
//! frames per second, drops, capture→decoded latency percentiles, CPU time
//! per frame and peak memory of each process (from wait4), and bytes per
//! frame; next to it, the floor: encoding and decoding the same frame with
//! nothing else running. One table on stdout; `--json` adds the figures as
//! JSON.
//!
//! cargo bench -p framewire-tests --bench pipeline -- [--seconds N] [--quality Q] [--workers N] [--json]
//!
//! Both ends share this machine's cores, so the sender runs one encoder
//! (`--workers 1`) unless told otherwise: on a board, the encoders have the
//! board's cores to themselves.

use std::time::{Duration, Instant};

use framewire_receiver::decode::{DEFAULT_MAX_PIXELS, decode_rgba};
use framewire_sender::capture::pattern::PatternSource;
use framewire_sender::encoder::JpegEncoder;
use framewire_tests::bench::{flag, number_before, option};
use framewire_tests::{Process, listening_address, receiver_binary, start_sender};
use serde::Serialize;

const SIZES: [(u32, u32); 3] = [(640, 480), (1280, 720), (1920, 1080)];
const RATES: [u32; 2] = [30, 0];

struct Options {
    seconds: f64,
    quality: u8,
    workers: u16,
    json: bool,
}

fn options() -> Options {
    Options {
        seconds: option("--seconds").unwrap_or(5.0),
        quality: option("--quality").unwrap_or(80),
        workers: option("--workers").unwrap_or(1),
        json: flag("--json"),
    }
}

#[derive(Serialize)]
struct Cell {
    width: u32,
    height: u32,
    fps_asked: u32,
    sent_fps: f64,
    decoded_fps: f64,
    sender_dropped: u64,
    receiver_dropped: u64,
    latency_ms_p50: f64,
    latency_ms_p95: f64,
    latency_ms_p99: f64,
    floor_ms: f64,
    draw_ms: f64,
    encode_ms: f64,
    decode_ms: f64,
    sender_cpu_ms_per_frame: f64,
    receiver_cpu_ms_per_frame: f64,
    sender_peak_rss_mb: f64,
    receiver_peak_rss_mb: f64,
    bytes_per_frame: f64,
}

/// Standalone encode and decode of one pattern frame: medians in ms.
fn floor(width: u32, height: u32, quality: u8) -> (f64, f64) {
    let image = PatternSource::still(width, height);
    let encoder = JpegEncoder::new(quality);
    let median = |mut samples: Vec<f64>| {
        samples.sort_by(f64::total_cmp);
        samples[samples.len() / 2]
    };
    let mut jpeg = Vec::new();
    let encode = median(
        (0..40)
            .map(|_| {
                let start = Instant::now();
                jpeg = encoder.encode(&image).unwrap();
                start.elapsed().as_secs_f64() * 1e3
            })
            .collect(),
    );
    let mut rgba = Vec::new();
    let decode = median(
        (0..40)
            .map(|_| {
                let start = Instant::now();
                decode_rgba(&jpeg, DEFAULT_MAX_PIXELS, &mut rgba).unwrap();
                start.elapsed().as_secs_f64() * 1e3
            })
            .collect(),
    );
    (encode, decode)
}

fn run_cell(width: u32, height: u32, fps: u32, options: &Options) -> Cell {
    let dir = std::env::temp_dir().join(format!("framewire-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let report_path = dir.join("report.json");
    let mut receiver = Process::start(
        &receiver_binary(),
        &[
            "--headless",
            "--listen",
            "127.0.0.1:0",
            "--stats-json",
            report_path.to_str().unwrap(),
        ],
        &[],
    );
    let address = listening_address(&receiver).to_string();
    let (size, fps_arg) = (format!("{width}x{height}"), fps.to_string());
    let (quality, workers) = (options.quality.to_string(), options.workers.to_string());
    let mut sender = start_sender(
        &address,
        &[
            "--size",
            &size,
            "--fps",
            &fps_arg,
            "--quality",
            &quality,
            "--workers",
            &workers,
            "--name",
            "bench",
            "--stats-interval",
            "100000",
        ],
    );
    sender.wait_for_log("connected to the receiver", Duration::from_secs(20));
    std::thread::sleep(Duration::from_secs_f64(options.seconds));
    sender.signal("TERM");
    let sender_usage = sender.wait_with_usage();
    std::thread::sleep(Duration::from_millis(300));
    receiver.signal("TERM");
    let receiver_usage = receiver.wait_with_usage();
    std::thread::sleep(Duration::from_millis(50));

    let done = sender.wait_for_log("done: ", Duration::from_secs(20));
    let sent = number_before(&done, " sent");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report_path).unwrap()).unwrap();
    let stream = &report["streams"][0];
    let float = |name: &str| stream[name].as_f64().unwrap_or(f64::NAN);
    let count = |name: &str| stream[name].as_u64().unwrap_or(0);
    let decoded = count("frames_decoded") as f64;
    let (floor_encode, floor_decode) = floor(width, height, options.quality);
    std::fs::remove_dir_all(&dir).ok();
    Cell {
        width,
        height,
        fps_asked: fps,
        sent_fps: sent / options.seconds,
        decoded_fps: float("decoded_fps"),
        sender_dropped: count("sequence_gaps"),
        receiver_dropped: count("frames_dropped"),
        latency_ms_p50: float("latency_ms_p50"),
        latency_ms_p95: float("latency_ms_p95"),
        latency_ms_p99: float("latency_ms_p99"),
        floor_ms: floor_encode + floor_decode,
        draw_ms: number_before(&done, " ms)"),
        encode_ms: number_before(&done, " ms/frame"),
        decode_ms: float("decode_ms_mean"),
        sender_cpu_ms_per_frame: sender_usage.cpu.as_secs_f64() * 1e3 / sent.max(1.0),
        receiver_cpu_ms_per_frame: receiver_usage.cpu.as_secs_f64() * 1e3 / decoded.max(1.0),
        sender_peak_rss_mb: sender_usage.peak_rss_mb,
        receiver_peak_rss_mb: receiver_usage.peak_rss_mb,
        bytes_per_frame: count("bytes") as f64 / count("frames_received").max(1) as f64,
    }
}

fn main() {
    let options = options();
    let mut cells = Vec::new();
    println!(
        "framewire pipeline benchmark: test pattern, quality {}, {} encoder worker(s), {} s per cell, {} cores",
        options.quality,
        options.workers,
        options.seconds,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "{:>9} {:>4} | {:>7} {:>7} {:>5} {:>5} | {:>6} {:>6} {:>6} {:>6} | {:>5} {:>6} {:>6} | {:>6} {:>6} | {:>5} {:>5} | {:>6}",
        "size",
        "fps",
        "sent/s",
        "dec/s",
        "drop",
        "drop",
        "p50",
        "p95",
        "p99",
        "floor",
        "draw",
        "encode",
        "decode",
        "snd",
        "rcv",
        "snd",
        "rcv",
        "KB/fr"
    );
    println!(
        "{:>9} {:>4} | {:>7} {:>7} {:>5} {:>5} | {:>27} {:>6} | {:>19} | {:>13} | {:>11} |",
        "",
        "",
        "",
        "",
        "send",
        "recv",
        "latency ms",
        "",
        "stage ms/frame",
        "CPU ms/frame",
        "peak RSS MB"
    );
    for (width, height) in SIZES {
        for fps in RATES {
            let c = run_cell(width, height, fps, &options);
            println!(
                "{:>9} {:>4} | {:>7.1} {:>7.1} {:>5} {:>5} | {:>6.2} {:>6.2} {:>6.2} {:>6.2} | {:>5.2} {:>6.2} {:>6.2} | {:>6.2} {:>6.2} | {:>5.1} {:>5.1} | {:>6.1}",
                format!("{width}x{height}"),
                if fps == 0 {
                    "max".to_owned()
                } else {
                    fps.to_string()
                },
                c.sent_fps,
                c.decoded_fps,
                c.sender_dropped,
                c.receiver_dropped,
                c.latency_ms_p50,
                c.latency_ms_p95,
                c.latency_ms_p99,
                c.floor_ms,
                c.draw_ms,
                c.encode_ms,
                c.decode_ms,
                c.sender_cpu_ms_per_frame,
                c.receiver_cpu_ms_per_frame,
                c.sender_peak_rss_mb,
                c.receiver_peak_rss_mb,
                c.bytes_per_frame / 1024.0
            );
            cells.push(c);
        }
    }
    println!(
        "floor = standalone encode + decode of the same frame (medians); sent/dec = frames per second; \
         drop send = numbered frames the sender dropped, drop recv = frames replaced before decode"
    );
    if options.json {
        println!("{}", serde_json::to_string_pretty(&cells).unwrap());
    }
}
