//! framewire-sender: streams a camera (or a moving test pattern) to a
//! framewire receiver, or to the Python prototype's server.
//!
//! This file wires the stages together from the command line (`cli.rs`):
//! the source on the capture thread, `--workers` JPEG encoders, the TCP
//! transport on the main thread, a latest-frame slot between encoders and
//! transport, and a stats reporter.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{CommandFactory, FromArgMatches};
use framewire_jpeg_simd::{encoder_name, simd_in_use};
use framewire_proto::auth::load_token;
use framewire_proto::slot::latest_slot;

use framewire_proto::shutdown::StopSignal;
use framewire_sender::adapt::{Adaptation, Bounds};
use framewire_sender::audience::Audience;
use framewire_sender::capture::file::FileSource;
use framewire_sender::capture::pattern::PatternSource;
use framewire_sender::capture::same_frames::SameFrameFilter;
use framewire_sender::capture::v4l2::negotiate::Request;
use framewire_sender::capture::v4l2::{CameraSettings, V4l2Source, device};
use framewire_sender::capture::{Pacer, Source};
use framewire_sender::encoder::JpegEncoder;
use framewire_sender::pipeline::Pipeline;
use framewire_sender::stats::SenderStats;
use framewire_sender::tls;
use framewire_sender::transport::Transport;

mod cli;

use cli::{Args, SourceKind};

/// After Ctrl-C or SIGTERM the sender has ended within this time, whatever
/// a thread is stuck in: then it exits at once.
const STOP_DEADLINE: Duration = Duration::from_secs(2);

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    exit_on_panic();
    let version = format!(
        "{} (JPEG encoder: {})",
        env!("CARGO_PKG_VERSION"),
        encoder_name()
    );
    let matches = Args::command().version(version).get_matches();
    let args = Args::from_arg_matches(&matches).unwrap_or_else(|error| error.exit());
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            log::error!("{error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    let stop = StopSignal::new();
    let on_signal = stop.clone();
    ctrlc::set_handler(move || {
        log::info!("stopping");
        on_signal.stop();
        std::thread::spawn(|| {
            std::thread::sleep(STOP_DEADLINE);
            log::error!(
                "still stopping after {} s: exiting now",
                STOP_DEADLINE.as_secs()
            );
            std::process::exit(1);
        });
    })?;
    if !args.stats_interval.is_finite() || args.stats_interval <= 0.0 {
        anyhow::bail!("--stats-interval must be a positive number of seconds");
    }

    if !args.camera_timeout.is_finite() || args.camera_timeout <= 0.0 {
        anyhow::bail!("--camera-timeout must be a positive number of seconds");
    }
    if !args.idle_close.is_finite() || args.idle_close < 0.0 {
        anyhow::bail!("--idle-close must be a number of seconds, 0 or more");
    }
    if args.list_devices {
        print!("{}", device::describe_devices());
        return Ok(());
    }

    let stream_name = args.name.clone().unwrap_or_else(host_name);
    let token = load_token(args.token.as_deref(), args.token_file.as_deref())?;
    let tls = args
        .tls
        .then(|| {
            tls::client(
                &args.connect,
                args.tls_fingerprint.as_deref(),
                args.tls_ca.as_deref(),
            )
        })
        .transpose()?;
    let stats = Arc::new(SenderStats::default());
    let audience = Audience::new();
    let adaptation = Adaptation::new(Bounds {
        ceiling: args.quality,
        floor: args.min_quality,
        follow_link: !args.fixed_quality,
    });
    if simd_in_use() {
        log::info!("JPEG encoder: {}", encoder_name());
    } else {
        log::warn!(
            "JPEG encoder: {}: every frame costs about 3.8 times the CPU \
             (an x86 build needs nasm: install it, run `cargo clean -p mozjpeg-sys` and build again)",
            encoder_name()
        );
    }
    let mut source = open_source(&args, &stats, &stop)?;
    let (frames_out, frames_in) = latest_slot();
    let drops = frames_out.drop_counter();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let workers = args.workers.map_or(cores, usize::from);
    let slices = args.slices.map_or(cores, usize::from);

    std::thread::scope(|scope| {
        let encoding = scope.spawn(|| {
            let mut stage = Pipeline {
                encoder: JpegEncoder::new(args.quality)
                    .with_mode(args.quality_mode)
                    .with_slices(slices),
                workers,
                stream_name: stream_name.clone(),
                frame_limit: args.frames,
                pacer: Pacer::new(args.fps),
                same_frames: args
                    .drop_same_frames
                    .then(|| SameFrameFilter::new(Duration::from_secs(1))),
                audience: &audience,
                idle_close: Duration::from_secs_f64(args.idle_close),
                adaptation: &adaptation,
                stats: &stats,
                stop: &stop,
            };
            let result = stage.run(source.as_mut(), frames_out);
            if let Err(error) = &result {
                log::error!("the source failed: {error:#}");
            }
            result
        });
        let reporter = scope.spawn(|| {
            stats.report_until_stopped(
                &drops,
                &adaptation,
                Duration::from_secs_f64(args.stats_interval),
                &stop,
            )
        });
        let transport = Transport {
            address: args.connect.clone(),
            stream_name: stream_name.clone(),
            token: token.clone(),
            tls: tls.clone(),
            audience: &audience,
            adaptation: &adaptation,
            stats: &stats,
            stop: &stop,
        };
        smol::block_on(transport.run(frames_in));
        stop.stop();
        let result = encoding
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("the encoder thread panicked")));
        let _ = reporter.join();
        result
    })
}

/// A panic in any thread ends the process with status 101, after the
/// usual message, instead of leaving a live process whose stream has died:
/// a supervisor (systemd's `Restart=on-failure`) then starts it again.
fn exit_on_panic() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        report(info);
        log::error!("a sender thread panicked: exiting so that a supervisor can restart it");
        std::process::exit(101);
    }));
}

/// The source `--source` names, or for `auto` the camera, file or pattern.
fn open_source(
    args: &Args,
    stats: &Arc<SenderStats>,
    stop: &StopSignal,
) -> anyhow::Result<Box<dyn Source>> {
    let kind = match args.source {
        SourceKind::Auto if args.device.is_some() => SourceKind::V4l2,
        SourceKind::Auto if args.input.is_some() => SourceKind::File,
        other => other,
    };
    let camera_path = match (kind, &args.device) {
        (SourceKind::V4l2, Some(path)) => Some(path.clone()),
        (SourceKind::V4l2 | SourceKind::Auto, None) => {
            let found = device::capture_devices().into_iter().next();
            if kind == SourceKind::V4l2 && found.is_none() {
                anyhow::bail!(
                    "no camera found (no /dev/video* that can capture); \
                     name one with --device, or use --source pattern"
                );
            }
            found
        }
        _ => None,
    };
    if let Some(path) = camera_path {
        let settings = CameraSettings {
            path,
            request: Request {
                format: args.format,
                width: args.size.width,
                height: args.size.height,
                fps: args.fps,
            },
            controls: args.controls.clone(),
            allow_truncated: args.allow_truncated,
            frame_timeout: Duration::from_secs_f64(args.camera_timeout),
        };
        let mut camera = V4l2Source::new(settings, stats.clone(), stop.clone());
        camera.open_now()?;
        return Ok(Box::new(camera));
    }
    Ok(match (kind, &args.input) {
        (SourceKind::File, Some(path)) => Box::new(FileSource::open(path)?),
        (SourceKind::File, None) => anyhow::bail!("--source file needs --input PATH"),
        _ => {
            if kind == SourceKind::Auto {
                log::info!("no camera found: streaming the test pattern");
            }
            Box::new(PatternSource::new(args.size.width, args.size.height))
        }
    })
}

/// This machine's host name, the default stream name.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "framewire".to_owned())
}
