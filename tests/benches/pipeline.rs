//! The end-to-end benchmark: the real sender streams to the real headless
//! receiver over loopback, paced at 30 fps and unpaced, on two kinds of
//! content: the test pattern (mostly flat colour, so small frames and cheap
//! codecs) and camera-like clips made at run time ([`content`]: moving
//! shapes with sensor noise, 60-100 KB a 720p frame at quality 80, as a
//! camera's), at quality 80 and 95, from 640x480 to 3840x2160, raw (encoded
//! by the sender) and as MJPEG with restart markers passed through. For each
//! cell it reports sent and decoded frames per second, drops,
//! capture→decoded latency percentiles, CPU time per frame and peak memory
//! of each process (from wait4), and bytes per frame; next to it, the
//! serial floor: one single-threaded encode plus one single-threaded decode
//! of the same frame with nothing else running.
//!
//! cargo bench -p framewire-tests --bench pipeline -- [--seconds N] [--workers N]
//!     [--cells TEXT] [--baseline-bin DIR] [--json]
//!
//! `--cells TEXT` runs only the cells whose name holds TEXT (names look like
//! `camera q95 1280x720 30`). `--baseline-bin DIR` runs every cell a second
//! time, with DIR's `framewire-sender` and `framewire-receiver` (an older
//! build), right after the current build's run, and prints the ratios
//! (current / baseline), so a claim is always measured side by side.
//! Both ends share this machine's cores, so the sender runs one encoder
//! (`--workers 1`) unless told otherwise; its `--slices` and the receiver's
//! `--decode-threads` keep their defaults (one per core).
//!
//! [`content`]: framewire_tests::content

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use framewire_proto::band_pool::BandPool;
use framewire_receiver::decode::{DEFAULT_MAX_PIXELS, decode_picture};
use framewire_receiver::picture::Pixels;
use framewire_sender::capture::PlanarImage;
use framewire_sender::capture::pattern::PatternSource;
use framewire_sender::encoder::JpegEncoder;
use framewire_tests::bench::{flag, number_before, option};
use framewire_tests::content::{Clip, camera_like, camera_like_picture};
use framewire_tests::{Process, listening_address, receiver_binary, sender_binary};
use serde::Serialize;

/// What a cell streams.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
enum Content {
    /// The sender's test pattern, encoded by the sender.
    Pattern,
    /// A camera-like Y4M clip, encoded by the sender.
    Camera,
    /// A camera-like MJPEG clip with restarts every MCU row, passed through.
    CameraMjpeg,
}

impl Content {
    fn name(self) -> &'static str {
        match self {
            Content::Pattern => "pattern",
            Content::Camera => "camera",
            Content::CameraMjpeg => "cam-mjpeg",
        }
    }
}

/// One row of the table.
#[derive(Clone, Copy)]
struct Case {
    content: Content,
    width: u32,
    height: u32,
    quality: u8,
    fps: u32,
}

impl Case {
    fn name(&self) -> String {
        let fps = if self.fps == 0 {
            "max".to_owned()
        } else {
            self.fps.to_string()
        };
        format!(
            "{} q{} {}x{} {fps}",
            self.content.name(),
            self.quality,
            self.width,
            self.height
        )
    }
}

/// The cells, in the order the table shows them.
fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    let mut add = |content, (width, height), quality| {
        for fps in [30, 0] {
            cases.push(Case {
                content,
                width,
                height,
                quality,
                fps,
            });
        }
    };
    for size in [(640, 480), (1280, 720), (1920, 1080)] {
        add(Content::Pattern, size, 80);
    }
    for quality in [80, 95] {
        for size in [(1280, 720), (1920, 1080)] {
            add(Content::Camera, size, quality);
        }
    }
    add(Content::Camera, (3840, 2160), 80);
    // ffmpeg's -q:v 4: about quality 85 in the sizes it gives.
    add(Content::CameraMjpeg, (3840, 2160), 85);
    cases
}

struct Options {
    seconds: f64,
    workers: u16,
    cells: Option<String>,
    baseline: Option<PathBuf>,
    json: bool,
}

fn options() -> Options {
    Options {
        seconds: option("--seconds").unwrap_or(5.0),
        workers: option("--workers").unwrap_or(1),
        cells: option("--cells"),
        baseline: option::<String>("--baseline-bin").map(PathBuf::from),
        json: flag("--json"),
    }
}

/// The programs a run uses.
struct Build {
    name: &'static str,
    sender: PathBuf,
    receiver: PathBuf,
}

#[derive(Serialize)]
struct Cell {
    build: &'static str,
    content: Content,
    width: u32,
    height: u32,
    quality: u8,
    fps_asked: u32,
    sent_fps: f64,
    decoded_fps: f64,
    sender_dropped: u64,
    receiver_dropped: u64,
    latency_ms_p50: f64,
    latency_ms_p95: f64,
    latency_ms_p99: f64,
    floor_ms: f64,
    encode_ms: f64,
    decode_ms: f64,
    sender_cpu_ms_per_frame: f64,
    receiver_cpu_ms_per_frame: f64,
    sender_peak_rss_mb: f64,
    receiver_peak_rss_mb: f64,
    bytes_per_frame: f64,
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn timed(runs: usize, mut work: impl FnMut()) -> f64 {
    median(
        (0..runs)
            .map(|_| {
                let start = Instant::now();
                work();
                start.elapsed().as_secs_f64() * 1e3
            })
            .collect(),
    )
}

/// The serial floor: one single-threaded encode (none for passed-through
/// MJPEG) plus one single-threaded decode of the cell's frame, medians in ms.
fn floor(case: &Case, mjpeg: Option<&Path>) -> f64 {
    let runs = if case.width >= 3840 { 9 } else { 25 };
    let (encode, jpeg) = match mjpeg {
        Some(path) => {
            let data = std::fs::read(path).unwrap();
            let length = framewire_proto::jpeg::complete_length(&data).unwrap();
            (0.0, data[..length].to_vec())
        }
        None => {
            let picture: PlanarImage = match case.content {
                Content::Pattern => PatternSource::still(case.width, case.height),
                _ => camera_like_picture(case.width, case.height),
            };
            let encoder = JpegEncoder::new(case.quality);
            let mut jpeg = Vec::new();
            let encode = timed(runs, || {
                jpeg = encoder.encode(picture.clone().into()).unwrap()
            });
            (encode, jpeg)
        }
    };
    let (serial, mut pixels) = (BandPool::new(1, "unused"), Pixels::default());
    let decode = timed(runs, || {
        decode_picture(&jpeg, DEFAULT_MAX_PIXELS, &mut pixels, &serial).unwrap();
    });
    encode + decode
}

/// The sender's arguments for a cell's content.
fn source_args(case: &Case) -> (Vec<String>, Option<PathBuf>) {
    let frames = if case.width >= 3840 { 10 } else { 30 };
    match case.content {
        Content::Pattern => (
            vec!["--size".into(), format!("{}x{}", case.width, case.height)],
            None,
        ),
        Content::Camera => {
            let clip = camera_like(Clip::Raw, case.width, case.height, frames);
            let args = vec!["--source".into(), "file".into(), "--input".into()];
            (
                args.into_iter()
                    .chain([clip.display().to_string()])
                    .collect(),
                None,
            )
        }
        Content::CameraMjpeg => {
            let clip = camera_like(Clip::MjpegWithRestarts, case.width, case.height, frames);
            let args = vec!["--source".into(), "file".into(), "--input".into()];
            let args = args
                .into_iter()
                .chain([clip.display().to_string()])
                .collect();
            (args, Some(clip))
        }
    }
}

fn run_cell(
    case: &Case,
    source: &[String],
    build: &Build,
    floor_ms: f64,
    options: &Options,
) -> Cell {
    let dir = std::env::temp_dir().join(format!("framewire-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let report_path = dir.join("report.json");
    let mut receiver = Process::start(
        &build.receiver,
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
    let mut args = source.to_vec();
    for (name, value) in [
        ("--connect", address),
        ("--fps", case.fps.to_string()),
        ("--quality", case.quality.to_string()),
        ("--workers", options.workers.to_string()),
        ("--name", "bench".into()),
        ("--stats-interval", "100000".into()),
    ] {
        args.push(name.into());
        args.push(value);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut sender = Process::start(&build.sender, &args, &[]);
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
    std::fs::remove_dir_all(&dir).ok();
    Cell {
        build: build.name,
        content: case.content,
        width: case.width,
        height: case.height,
        quality: case.quality,
        fps_asked: case.fps,
        sent_fps: sent / options.seconds,
        decoded_fps: float("decoded_fps"),
        sender_dropped: count("sequence_gaps"),
        receiver_dropped: count("frames_dropped"),
        latency_ms_p50: float("latency_ms_p50"),
        latency_ms_p95: float("latency_ms_p95"),
        latency_ms_p99: float("latency_ms_p99"),
        floor_ms,
        encode_ms: number_before(&done, " ms/frame"),
        decode_ms: float("decode_ms_mean"),
        sender_cpu_ms_per_frame: sender_usage.cpu.as_secs_f64() * 1e3 / sent.max(1.0),
        receiver_cpu_ms_per_frame: receiver_usage.cpu.as_secs_f64() * 1e3 / decoded.max(1.0),
        sender_peak_rss_mb: sender_usage.peak_rss_mb,
        receiver_peak_rss_mb: receiver_usage.peak_rss_mb,
        bytes_per_frame: count("bytes") as f64 / count("frames_received").max(1) as f64,
    }
}

fn print_header(baseline: bool) {
    println!(
        "{:<26} {:>5} | {:>6} {:>6} {:>4} {:>4} | {:>6} {:>6} {:>6} {:>6} {:>5} | {:>6} {:>6} | {:>6} {:>6} | {:>5} {:>5} | {:>6}",
        "cell",
        "build",
        "sent/s",
        "dec/s",
        "drop",
        "drop",
        "p50",
        "p95",
        "p99",
        "floor",
        "p50/",
        "encode",
        "decode",
        "snd",
        "rcv",
        "snd",
        "rcv",
        "KB/fr"
    );
    println!(
        "{:<26} {:>5} | {:>13} {:>4} {:>4} | {:>20} {:>6} {:>5} | {:>13} | {:>13} | {:>11} |",
        if baseline {
            "(ratios: this / base)"
        } else {
            ""
        },
        "",
        "",
        "send",
        "recv",
        "latency ms",
        "",
        "floor",
        "stage ms/frame",
        "CPU ms/frame",
        "peak RSS MB"
    );
}

fn print_cell(case: &Case, c: &Cell) {
    println!(
        "{:<26} {:>5} | {:>6.1} {:>6.1} {:>4} {:>4} | {:>6.2} {:>6.2} {:>6.2} {:>6.2} {:>5.2} | {:>6.2} {:>6.2} | {:>6.2} {:>6.2} | {:>5.1} {:>5.1} | {:>6.1}",
        case.name(),
        c.build,
        c.sent_fps,
        c.decoded_fps,
        c.sender_dropped,
        c.receiver_dropped,
        c.latency_ms_p50,
        c.latency_ms_p95,
        c.latency_ms_p99,
        c.floor_ms,
        c.latency_ms_p50 / c.floor_ms,
        c.encode_ms,
        c.decode_ms,
        c.sender_cpu_ms_per_frame,
        c.receiver_cpu_ms_per_frame,
        c.sender_peak_rss_mb,
        c.receiver_peak_rss_mb,
        c.bytes_per_frame / 1024.0
    );
}

fn print_ratios(now: &Cell, base: &Cell) {
    let ratio = |a: f64, b: f64| a / b;
    println!(
        "{:<26} {:>5} | {:>6} {:>6.2} {:>4} {:>4} | {:>6.2} {:>6.2} {:>6.2} {:>6} {:>5} | {:>6.2} {:>6.2} | {:>6.2} {:>6.2} | {:>5.2} {:>5.2} | {:>6.2}",
        "",
        "ratio",
        "",
        ratio(now.decoded_fps, base.decoded_fps),
        "",
        "",
        ratio(now.latency_ms_p50, base.latency_ms_p50),
        ratio(now.latency_ms_p95, base.latency_ms_p95),
        ratio(now.latency_ms_p99, base.latency_ms_p99),
        "",
        "",
        ratio(now.encode_ms, base.encode_ms),
        ratio(now.decode_ms, base.decode_ms),
        ratio(now.sender_cpu_ms_per_frame, base.sender_cpu_ms_per_frame),
        ratio(
            now.receiver_cpu_ms_per_frame,
            base.receiver_cpu_ms_per_frame
        ),
        ratio(now.sender_peak_rss_mb, base.sender_peak_rss_mb),
        ratio(now.receiver_peak_rss_mb, base.receiver_peak_rss_mb),
        ratio(now.bytes_per_frame, base.bytes_per_frame)
    );
}

fn main() {
    let options = options();
    let builds: Vec<Build> = std::iter::once(Build {
        name: "this",
        sender: sender_binary(),
        receiver: receiver_binary(),
    })
    .chain(options.baseline.iter().map(|dir| Build {
        name: "base",
        sender: dir.join("framewire-sender"),
        receiver: dir.join("framewire-receiver"),
    }))
    .collect();
    println!(
        "framewire pipeline benchmark: {} encoder worker(s), {} s per cell, {} cores{}",
        options.workers,
        options.seconds,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        options
            .baseline
            .as_ref()
            .map_or(String::new(), |dir| format!(", baseline {}", dir.display()))
    );
    print_header(options.baseline.is_some());
    let mut cells = Vec::new();
    for case in cases() {
        if options
            .cells
            .as_ref()
            .is_some_and(|wanted| !case.name().contains(wanted.as_str()))
        {
            continue;
        }
        let (source, mjpeg) = source_args(&case);
        let floor_ms = floor(&case, mjpeg.as_deref());
        let measured: Vec<Cell> = builds
            .iter()
            .map(|build| run_cell(&case, &source, build, floor_ms, &options))
            .collect();
        for cell in &measured {
            print_cell(&case, cell);
        }
        if let [now, base] = measured.as_slice() {
            print_ratios(now, base);
        }
        cells.extend(measured);
    }
    println!(
        "floor = one single-threaded encode (none for passed-through MJPEG) + one single-threaded \
         decode of the same frame (medians); p50/floor below 1 is below the serial floor; \
         sent/dec = frames per second; drop send = numbered frames the sender dropped, \
         drop recv = frames replaced before decode; camera = camera-like clips (testsrc2 with \
         sensor noise), cam-mjpeg = the same as MJPEG with restarts every MCU row, passed through"
    );
    if options.json {
        println!("{}", serde_json::to_string_pretty(&cells).unwrap());
    }
}
