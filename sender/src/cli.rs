//! The sender's command line: every option, its environment variable and
//! default, and the checks each value gets as it is parsed (a size, a
//! camera control), so a mistake is an error before anything starts. It
//! opens nothing; `main.rs` wires the stages from it.

use std::path::PathBuf;
use std::str::FromStr;

use clap::{Parser, ValueEnum};
use framewire_sender::capture::v4l2::device;
use framewire_sender::capture::v4l2::format::PixelFormat;
use framewire_sender::encoder::QualityMode;

/// Stream live video as JPEG frames over TCP to a framewire receiver.
///
/// Every setting can also come from the environment (FRAMEWIRE_CONNECT,
/// FRAMEWIRE_SIZE, ...), as the systemd service reads it from
/// /etc/default/framewire-sender; the command line wins.
#[derive(Parser, Debug)]
#[command(version, about)]
pub struct Args {
    /// Receiver to send to, as HOST:PORT.
    #[arg(
        long,
        env = "FRAMEWIRE_CONNECT",
        default_value = "127.0.0.1:12345",
        value_name = "HOST:PORT"
    )]
    pub connect: String,
    /// Where the pictures come from; `auto` is the camera (`--device`, else
    /// the first one found), else `--input`, else the test pattern.
    #[arg(long, env = "FRAMEWIRE_SOURCE", value_enum, default_value_t = SourceKind::Auto)]
    pub source: SourceKind,
    /// The camera: /dev/videoN, or a stable /dev/v4l/by-id/... path that
    /// finds the same camera after a replug [default: the first camera].
    #[arg(long, env = "FRAMEWIRE_DEVICE", value_name = "PATH")]
    pub device: Option<PathBuf>,
    /// Camera pixel format [default: MJPEG if the camera has it (passed
    /// through, no work on the board), else the cheapest raw format to
    /// encode].
    #[arg(long, env = "FRAMEWIRE_FORMAT", value_enum)]
    pub format: Option<PixelFormat>,
    /// Sets a camera control at start, e.g. `--ctrl brightness=140`
    /// (repeatable; names as `--list-devices` shows them).
    #[arg(long = "ctrl", env = "FRAMEWIRE_CTRL", value_name = "NAME=VALUE", value_delimiter = ',', value_parser = parse_control)]
    pub controls: Vec<(String, String)>,
    /// Lists every camera with its formats, sizes, rates and controls, and exits.
    #[arg(long)]
    pub list_devices: bool,
    /// Sends truncated camera MJPEG frames (closed with an end marker)
    /// instead of dropping them.
    #[arg(long, env = "FRAMEWIRE_ALLOW_TRUNCATED")]
    pub allow_truncated: bool,
    /// Skips pictures identical to the previous one (static scenes, HDMI
    /// grabbers), still sending one at least every second.
    #[arg(long, env = "FRAMEWIRE_DROP_SAME_FRAMES")]
    pub drop_same_frames: bool,
    /// Reopens the camera after this many seconds without a frame.
    #[arg(
        long,
        env = "FRAMEWIRE_CAMERA_TIMEOUT",
        default_value_t = 5.0,
        value_name = "SECONDS"
    )]
    pub camera_timeout: f64,
    /// With no receiver connected nothing is captured or encoded; after
    /// this many seconds without one the camera is released too, and
    /// opened again when a receiver connects.
    #[arg(
        long,
        env = "FRAMEWIRE_IDLE_CLOSE",
        default_value_t = 10.0,
        value_name = "SECONDS"
    )]
    pub idle_close: f64,
    /// The file to stream with `--source file`: Y4M (4:2:0, 4:2:2 or mono),
    /// encoded like camera frames, or MJPEG, passed through; played in a loop.
    #[arg(
        long,
        env = "FRAMEWIRE_INPUT",
        value_name = "PATH",
        required_if_eq("source", "file")
    )]
    pub input: Option<PathBuf>,
    /// Picture size, as WIDTHxHEIGHT (a camera gets the closest it offers).
    #[arg(
        long,
        env = "FRAMEWIRE_SIZE",
        default_value = "1280x720",
        value_name = "WxH"
    )]
    pub size: Size,
    /// Frames per second (a camera gets the closest it offers); 0 sends as
    /// fast as possible.
    #[arg(long, env = "FRAMEWIRE_FPS", default_value_t = 30, value_name = "N")]
    pub fps: u32,
    /// JPEG quality, 1 (smallest) to 100 (best): the ceiling; on a link
    /// too slow for it the sender goes down to `--min-quality`.
    #[arg(long, env = "FRAMEWIRE_QUALITY", default_value_t = 80, value_parser = clap::value_parser!(u8).range(1..=100))]
    pub quality: u8,
    /// The lowest JPEG quality the link may bring the stream down to;
    /// below it raw pictures are sent at half the size, then a quarter
    /// (a camera's MJPEG is sent less often instead). Not above `--quality`.
    #[arg(long, env = "FRAMEWIRE_MIN_QUALITY", default_value_t = 30, value_parser = clap::value_parser!(u8).range(1..=100))]
    pub min_quality: u8,
    /// Sends every frame at `--quality` and full size whatever the link
    /// carries (what it cannot carry is dropped, as frames always are).
    #[arg(long, env = "FRAMEWIRE_FIXED_QUALITY")]
    pub fixed_quality: bool,
    /// `fast`: mozjpeg's fastest settings; `small`: optimised Huffman
    /// tables, about 5-10 % smaller frames for more CPU per frame.
    #[arg(long, env = "FRAMEWIRE_QUALITY_MODE", value_enum, default_value_t = QualityMode::Fast)]
    pub quality_mode: QualityMode,
    /// JPEG encoder threads; frames still leave in capture order
    /// [default: the number of cores].
    #[arg(long, env = "FRAMEWIRE_WORKERS", value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub workers: Option<u16>,
    /// Bands each raw picture is cut into and encoded at once, joined into
    /// one standard JPEG with restart markers [default: the number of
    /// cores; small pictures get fewer]. MJPEG is passed through as it is.
    #[arg(long, env = "FRAMEWIRE_SLICES", value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub slices: Option<u16>,
    /// The receiver's token (its --token), presented when connecting.
    #[arg(
        long,
        env = "FRAMEWIRE_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub token: Option<String>,
    /// Read the token from the first line of this file instead.
    #[arg(long, env = "FRAMEWIRE_TOKEN_FILE", value_name = "PATH")]
    pub token_file: Option<PathBuf>,
    /// Encrypt the connection with TLS (the receiver runs --tls); trust the
    /// receiver with --tls-fingerprint or --tls-ca.
    #[arg(long, env = "FRAMEWIRE_TLS")]
    pub tls: bool,
    /// The receiver certificate's SHA-256 fingerprint, as the receiver logs it.
    #[arg(
        long,
        env = "FRAMEWIRE_TLS_FINGERPRINT",
        value_name = "AB:CD:...",
        requires = "tls"
    )]
    pub tls_fingerprint: Option<String>,
    /// CA certificate(s) (PEM) that signed the receiver's certificate.
    #[arg(long, env = "FRAMEWIRE_TLS_CA", value_name = "PATH", requires = "tls")]
    pub tls_ca: Option<PathBuf>,
    /// Stream name shown by the receiver [default: this machine's host name].
    #[arg(long, env = "FRAMEWIRE_NAME")]
    pub name: Option<String>,
    /// Stop after this many frames.
    #[arg(long, value_name = "N")]
    pub frames: Option<u64>,
    /// Seconds between two progress lines in the log.
    #[arg(long, default_value_t = 5.0, value_name = "SECONDS")]
    pub stats_interval: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SourceKind {
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
pub struct Size {
    pub width: u32,
    pub height: u32,
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
