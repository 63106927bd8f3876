//! What the window costs: the real receiver with its window on a private
//! Xvfb screen (Mesa's lavapipe, so "GPU" work is CPU work here), fed by 0
//! (idle), 1 and 4 test-pattern senders, each at `--size`/`--fps`, and the
//! same streams into a headless receiver, which only decodes: the
//! difference is what showing them costs. For each case it prints the
//! receiver's CPU use over the measured seconds (from /proc, after a
//! warm-up), the X server's, and the frames shown per second and
//! capture→decoded latency from the receiver's report.
//!
//! cargo bench -p framewire-tests --bench window -- [--seconds 10] [--size 1280x720] [--fps 30]
//!
//! Needs Xvfb and mesa-vulkan-drivers (`.ci/run` installs them).

use std::time::{Duration, Instant};

use framewire_tests::bench::{cpu_time, option};
use framewire_tests::xvfb::Xvfb;
use framewire_tests::{Process, listening_address, receiver_binary, start_sender};

const WARM_UP: Duration = Duration::from_secs(3);

struct Options {
    seconds: f64,
    size: String,
    fps: u32,
}

fn options() -> Options {
    Options {
        seconds: option("--seconds").unwrap_or(10.0),
        size: option("--size").unwrap_or_else(|| "1280x720".into()),
        fps: option("--fps").unwrap_or(30),
    }
}

struct Measured {
    streams: usize,
    headless: bool,
    receiver_cpu_percent: f64,
    xvfb_cpu_percent: f64,
    shown_fps: f64,
    latency_p50_ms: f64,
}

fn measure(streams: usize, headless: bool, options: &Options, xvfb_pid: u32) -> Measured {
    let report_path = std::env::temp_dir().join(format!(
        "framewire-window-bench-{}.json",
        std::process::id()
    ));
    let mut receiver_args = vec![
        "--listen",
        "127.0.0.1:0",
        "--stats-json",
        report_path.to_str().unwrap(),
    ];
    if headless {
        receiver_args.push("--headless");
    }
    let mut receiver = Process::start(&receiver_binary(), &receiver_args, &[]);
    let address = listening_address(&receiver).to_string();
    let fps = options.fps.to_string();
    let mut senders: Vec<Process> = (0..streams)
        .map(|index| {
            start_sender(
                &address,
                &[
                    "--source",
                    "pattern",
                    "--size",
                    &options.size,
                    "--fps",
                    &fps,
                    "--name",
                    &format!("bench{index}"),
                ],
            )
        })
        .collect();
    std::thread::sleep(WARM_UP);
    let (receiver_before, xvfb_before, started) = (
        cpu_time(receiver.child.id()),
        cpu_time(xvfb_pid),
        Instant::now(),
    );
    std::thread::sleep(Duration::from_secs_f64(options.seconds));
    let elapsed = started.elapsed().as_secs_f64();
    let receiver_cpu = (cpu_time(receiver.child.id()) - receiver_before).as_secs_f64();
    let xvfb_cpu = (cpu_time(xvfb_pid) - xvfb_before).as_secs_f64();
    for sender in &senders {
        sender.signal("TERM");
    }
    for sender in &mut senders {
        sender.wait_with_usage();
    }
    receiver.signal("TERM");
    receiver.wait_with_usage();
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report_path).expect("no receiver report"))
            .expect("the report is JSON");
    let _ = std::fs::remove_file(&report_path);
    let shown = report["frames_shown"].as_f64().unwrap_or(0.0);
    Measured {
        streams,
        headless,
        receiver_cpu_percent: receiver_cpu / elapsed * 100.0,
        xvfb_cpu_percent: xvfb_cpu / elapsed * 100.0,
        shown_fps: shown / (elapsed + WARM_UP.as_secs_f64()),
        latency_p50_ms: report["streams"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|stream| stream["latency_ms_p50"].as_f64())
            .fold(f64::NAN, f64::max),
    }
}

fn main() {
    let options = options();
    let xvfb = Xvfb::start(1920, 1080);
    // The receivers started below open their windows there.
    // SAFETY: no other thread exists yet (log readers start with the programs).
    unsafe { std::env::set_var("DISPLAY", &xvfb.display) };
    println!(
        "window benchmark: {} s per case after {} s warm-up, senders at {} and {} fps, Xvfb + lavapipe",
        options.seconds,
        WARM_UP.as_secs(),
        options.size,
        options.fps
    );
    println!(
        "| streams | receiver | receiver CPU (% of a core) | Xvfb CPU | frames shown/s (all streams) | capture→decoded p50 ms (slowest stream) |"
    );
    println!("|---|---|---|---|---|---|");
    for (streams, headless) in [(0, false), (1, false), (4, false), (1, true), (4, true)] {
        let measured = measure(streams, headless, &options, xvfb.pid());
        let latency = match measured.latency_p50_ms {
            ms if ms.is_nan() => "-".to_owned(),
            ms => format!("{ms:.1}"),
        };
        println!(
            "| {} | {} | {:.1} | {:.1} | {:.1} | {latency} |",
            measured.streams,
            if measured.headless {
                "headless"
            } else {
                "window"
            },
            measured.receiver_cpu_percent,
            measured.xvfb_cpu_percent,
            measured.shown_fps,
        );
    }
}
