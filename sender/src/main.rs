//! framewire-sender: streams a camera (or a moving test pattern) to a
//! framewire receiver, or to the Python prototype's server.
//!
//! This file only reads the command line and wires the stages together:
//! the source on the capture thread, `--workers` JPEG encoders, the TCP
//! transport on the main thread, a latest-frame slot between encoders and
//! transport, and a stats reporter.

use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use clap::{CommandFactory, FromArgMatches, Parser, ValueEnum};
use framewire_jpeg_simd::{encoder_name, simd_in_use};
use framewire_proto::auth::load_token;
use framewire_proto::slot::latest_slot;

use framewire_proto::shutdown::StopSignal;
use framewire_sender::adapt::{Adaptation, Bounds};
use framewire_sender::audience::Audience;
use framewire_sender::capture::file::FileSource;
use framewire_sender::capture::pattern::PatternSource;
use framewire_sender::capture::same_frames::SameFrameFilter;
use framewire_sender::capture::v4l2::format::PixelFormat;
use framewire_sender::capture::v4l2::negotiate::Request;
use framewire_sender::capture::v4l2::{CameraSettings, V4l2Source, device};
use framewire_sender::capture::{Pacer, Source};
use framewire_sender::encoder::{JpegEncoder, QualityMode};
use framewire_sender::pipeline::Pipeline;
use framewire_sender::stats::SenderStats;
use framewire_sender::tls;
use framewire_sender::transport::Transport;

/// Stream live video as JPEG frames over TCP to a framewire receiver.
///
/// Every setting can also come from the environment (FRAMEWIRE_CONNECT,
/// FRAMEWIRE_SIZE, ...), as the systemd service reads it from
/// /etc/default/framewire-sender; the command line wins.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Receiver to send to, as HOST:PORT.
    #[arg(
        long,
        env = "FRAMEWIRE_CONNECT",
        default_value = "127.0.0.1:12345",
        value_name = "HOST:PORT"
    )]
    connect: String,
    /// Where the pictures come from; `auto` is the camera (`--device`, else
    /// the first one found), else `--input`, else the test pattern.
    #[arg(long, env = "FRAMEWIRE_SOURCE", value_enum, default_value_t = SourceKind::Auto)]
    source: SourceKind,
    /// The camera: /dev/videoN, or a stable /dev/v4l/by-id/... path that
    /// finds the same camera after a replug [default: the first camera].
    #[arg(long, env = "FRAMEWIRE_DEVICE", value_name = "PATH")]
    device: Option<PathBuf>,
    /// Camera pixel format [default: MJPEG if the camera has it (passed
    /// through, no work on the board), else the cheapest raw format to
    /// encode].
    #[arg(long, env = "FRAMEWIRE_FORMAT", value_enum)]
    format: Option<PixelFormat>,
    /// Sets a camera control at start, e.g. `--ctrl brightness=140`
    /// (repeatable; names as `--list-devices` shows them).
    #[arg(long = "ctrl", env = "FRAMEWIRE_CTRL", value_name = "NAME=VALUE", value_delimiter = ',', value_parser = parse_control)]
    controls: Vec<(String, String)>,
    /// Lists every camera with its formats, sizes, rates and controls, and exits.
    #[arg(long)]
    list_devices: bool,
    /// Sends truncated camera MJPEG frames (closed with an end marker)
    /// instead of dropping them.
    #[arg(long, env = "FRAMEWIRE_ALLOW_TRUNCATED")]
    allow_truncated: bool,
    /// Skips pictures identical to the previous one (static scenes, HDMI
    /// grabbers), still sending one at least every second.
    #[arg(long, env = "FRAMEWIRE_DROP_SAME_FRAMES")]
    drop_same_frames: bool,
    /// Reopens the camera after this many seconds without a frame.
    #[arg(
        long,
        env = "FRAMEWIRE_CAMERA_TIMEOUT",
        default_value_t = 5.0,
        value_name = "SECONDS"
    )]
    camera_timeout: f64,
    /// With no receiver connected nothing is captured or encoded; after
    /// this many seconds without one the camera is released too, and
    /// opened again when a receiver connects.
    #[arg(
        long,
        env = "FRAMEWIRE_IDLE_CLOSE",
        default_value_t = 10.0,
        value_name = "SECONDS"
    )]
    idle_close: f64,
    /// The file to stream with `--source file`: Y4M (4:2:0, 4:2:2 or mono),
    /// encoded like camera frames, or MJPEG, passed through; played in a loop.
    #[arg(
        long,
        env = "FRAMEWIRE_INPUT",
        value_name = "PATH",
        required_if_eq("source", "file")
    )]
    input: Option<PathBuf>,
    /// Picture size, as WIDTHxHEIGHT (a camera gets the closest it offers).
    #[arg(
        long,
        env = "FRAMEWIRE_SIZE",
        default_value = "1280x720",
        value_name = "WxH"
    )]
    size: Size,
    /// Frames per second (a camera gets the closest it offers); 0 sends as
    /// fast as possible.
    #[arg(long, env = "FRAMEWIRE_FPS", default_value_t = 30, value_name = "N")]
    fps: u32,
    /// JPEG quality, 1 (smallest) to 100 (best): the ceiling; on a link
    /// too slow for it the sender goes down to `--min-quality`.
    #[arg(long, env = "FRAMEWIRE_QUALITY", default_value_t = 80, value_parser = clap::value_parser!(u8).range(1..=100))]
    quality: u8,
    /// The lowest JPEG quality the link may bring the stream down to;
    /// below it raw pictures are sent at half the size, then a quarter
    /// (a camera's MJPEG is sent less often instead). Not above `--quality`.
    #[arg(long, env = "FRAMEWIRE_MIN_QUALITY", default_value_t = 30, value_parser = clap::value_parser!(u8).range(1..=100))]
    min_quality: u8,
    /// Sends every frame at `--quality` and full size whatever the link
    /// carries (what it cannot carry is dropped, as frames always are).
    #[arg(long, env = "FRAMEWIRE_FIXED_QUALITY")]
    fixed_quality: bool,
    /// `fast`: mozjpeg's fastest settings; `small`: optimised Huffman
    /// tables, about 5-10 % smaller frames for more CPU per frame.
    #[arg(long, env = "FRAMEWIRE_QUALITY_MODE", value_enum, default_value_t = QualityMode::Fast)]
    quality_mode: QualityMode,
    /// JPEG encoder threads; frames still leave in capture order
    /// [default: the number of cores].
    #[arg(long, env = "FRAMEWIRE_WORKERS", value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    workers: Option<u16>,
    /// Bands each raw picture is cut into and encoded at once, joined into
    /// one standard JPEG with restart markers [default: the number of
    /// cores; small pictures get fewer]. MJPEG is passed through as it is.
    #[arg(long, env = "FRAMEWIRE_SLICES", value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    slices: Option<u16>,
    /// The receiver's token (its --token), presented when connecting.
    #[arg(
        long,
        env = "FRAMEWIRE_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    token: Option<String>,
    /// Read the token from the first line of this file instead.
    #[arg(long, env = "FRAMEWIRE_TOKEN_FILE", value_name = "PATH")]
    token_file: Option<PathBuf>,
    /// Encrypt the connection with TLS (the receiver runs --tls); trust the
    /// receiver with --tls-fingerprint or --tls-ca.
    #[arg(long, env = "FRAMEWIRE_TLS")]
    tls: bool,
    /// The receiver certificate's SHA-256 fingerprint, as the receiver logs it.
    #[arg(
        long,
        env = "FRAMEWIRE_TLS_FINGERPRINT",
        value_name = "AB:CD:...",
        requires = "tls"
    )]
    tls_fingerprint: Option<String>,
    /// CA certificate(s) (PEM) that signed the receiver's certificate.
    #[arg(long, env = "FRAMEWIRE_TLS_CA", value_name = "PATH", requires = "tls")]
    tls_ca: Option<PathBuf>,
    /// Stream name shown by the receiver [default: this machine's host name].
    #[arg(long, env = "FRAMEWIRE_NAME")]
    name: Option<String>,
    /// Stop after this many frames.
    #[arg(long, value_name = "N")]
    frames: Option<u64>,
    /// Seconds between two progress lines in the log.
    #[arg(long, default_value_t = 5.0, value_name = "SECONDS")]
    stats_interval: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum SourceKind {
    /// A camera if there is one (or `--input` if given), else the pattern.
    Auto,
    /// A V4L2 camera (`--device`).
    V4l2,
    /// A moving test pattern: colour bars, a moving block, frame number and time.
    Pattern,
    /// A recorded file (`--input`), paced by `--fps`.
    File,
}

/// `NAME=VALUE` of `--ctrl`.
fn parse_control(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.trim().is_empty() && !value.trim().is_empty() => {
            Ok((device::control_name(name), value.trim().to_owned()))
        }
        _ => Err(format!(
            "'{text}' is not a control setting: write NAME=VALUE, e.g. brightness=140"
        )),
    }
}

/// A picture size given as `WIDTHxHEIGHT`.
#[derive(Clone, Copy, Debug)]
struct Size {
    width: u32,
    height: u32,
}

impl FromStr for Size {
    type Err = String;

    fn from_str(text: &str) -> Result<Size, String> {
        let invalid = || format!("'{text}' is not a size: write WIDTHxHEIGHT, e.g. 1280x720");
        let (width, height) = text.split_once(['x', 'X']).ok_or_else(invalid)?;
        let width: u32 = width.trim().parse().map_err(|_| invalid())?;
        let height: u32 = height.trim().parse().map_err(|_| invalid())?;
        if !(1..=16384).contains(&width) || !(1..=16384).contains(&height) {
            return Err(format!(
                "{width}x{height} is out of range: each side must be 1 to 16384 pixels"
            ));
        }
        Ok(Size { width, height })
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_and_bad_ones_say_what_to_write() {
        let size: Size = "1280x720".parse().unwrap();
        assert_eq!((size.width, size.height), (1280, 720));
        assert!("640X480".parse::<Size>().is_ok());
        for bad in ["1280", "x720", "1280x", "axb", "0x720", "99999x1"] {
            let error = bad.parse::<Size>().unwrap_err();
            assert!(
                error.contains("WIDTHxHEIGHT") || error.contains("out of range"),
                "{bad}: {error}"
            );
        }
    }

    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        Args::command().debug_assert();
    }
}
