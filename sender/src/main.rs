//! framewire-sender: streams a camera (or a moving test pattern) to a
//! framewire receiver, or to the Python prototype's server.
//!
//! This file only reads the command line and wires the stages together:
//! a source and the JPEG encoder on one thread, the TCP transport on the
//! main thread, a latest-frame slot between them, and a stats reporter.

use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use framewire_proto::slot::latest_slot;

use framewire_proto::shutdown::StopSignal;
use framewire_sender::capture::file::FileSource;
use framewire_sender::capture::pattern::PatternSource;
use framewire_sender::capture::{Pacer, Source};
use framewire_sender::encode::{EncodeStage, JpegEncoder};
use framewire_sender::stats::SenderStats;
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
    /// Where the pictures come from.
    #[arg(long, env = "FRAMEWIRE_SOURCE", value_enum, default_value_t = SourceKind::Pattern)]
    source: SourceKind,
    /// The file to stream with `--source file`: Y4M (4:2:0, 4:2:2 or mono),
    /// encoded like camera frames, or MJPEG, passed through; played in a loop.
    #[arg(
        long,
        env = "FRAMEWIRE_INPUT",
        value_name = "PATH",
        required_if_eq("source", "file")
    )]
    input: Option<PathBuf>,
    /// Picture size of the test pattern, as WIDTHxHEIGHT.
    #[arg(
        long,
        env = "FRAMEWIRE_SIZE",
        default_value = "1280x720",
        value_name = "WxH"
    )]
    size: Size,
    /// Frames per second, paced by the clock; 0 sends as fast as possible.
    #[arg(long, env = "FRAMEWIRE_FPS", default_value_t = 30, value_name = "N")]
    fps: u32,
    /// JPEG quality, 1 (smallest) to 100 (best).
    #[arg(long, env = "FRAMEWIRE_QUALITY", default_value_t = 80, value_parser = clap::value_parser!(u8).range(1..=100))]
    quality: u8,
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

#[derive(Clone, Copy, Debug, ValueEnum)]
enum SourceKind {
    /// A moving test pattern: colour bars, a moving block, frame number and time.
    Pattern,
    /// A recorded file (`--input`), paced by `--fps`.
    File,
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

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let args = Args::parse();
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
    })?;
    if !args.stats_interval.is_finite() || args.stats_interval <= 0.0 {
        anyhow::bail!("--stats-interval must be a positive number of seconds");
    }

    let stream_name = args.name.unwrap_or_else(host_name);
    let mut source: Box<dyn Source> = match (args.source, &args.input) {
        (SourceKind::Pattern, _) => Box::new(PatternSource::new(args.size.width, args.size.height)),
        (SourceKind::File, Some(path)) => Box::new(FileSource::open(path)?),
        (SourceKind::File, None) => anyhow::bail!("--source file needs --input PATH"),
    };
    let stats = Arc::new(SenderStats::default());
    let (frames_out, frames_in) = latest_slot();
    let drops = frames_out.drop_counter();

    std::thread::scope(|scope| {
        let encoding = scope.spawn(|| {
            let mut stage = EncodeStage {
                encoder: JpegEncoder::new(args.quality),
                stream_name: stream_name.clone(),
                frame_limit: args.frames,
                pacer: Pacer::new(args.fps),
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
            stats.report_until_stopped(&drops, Duration::from_secs_f64(args.stats_interval), &stop)
        });
        let transport = Transport {
            address: args.connect.clone(),
            stream_name: stream_name.clone(),
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
