//! The receiver's command line, and its conversion into the settings of
//! each stage ([`Limits`], [`Access`], the memory budget, TLS). It only
//! reads and checks arguments; `main.rs` wires the stages with what this
//! gives.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use framewire_proto::auth::load_token;
use framewire_proto::band_pool::BandPool;
use framewire_proto::codec::DEFAULT_MAX_MESSAGE_BYTES;

use crate::budget::{DEFAULT_MAX_MEMORY, MemoryBudget};
use crate::net::Limits;
use crate::net::access::{Access, Network};
use crate::net::gate::PENDING_LIMITS;

const MIB: usize = 1024 * 1024;

/// Receive framewire streams and show them.
#[derive(Parser, Debug)]
#[command(version, about)]
#[cfg_attr(feature = "window", command(after_help = crate::view::KEYS_HELP))]
pub struct Args {
    /// Address to accept senders on, as HOST:PORT (port 0 picks a free one).
    #[arg(long, default_value = "0.0.0.0:12345", value_name = "HOST:PORT")]
    pub listen: String,
    /// No window: receive, decode and count only.
    #[arg(long)]
    pub headless: bool,
    /// Exit after this many decoded frames (over all streams).
    #[arg(long, value_name = "N")]
    pub frames: Option<u64>,
    /// Largest message a sender may send; longer ones close that connection.
    #[arg(long, default_value_t = DEFAULT_MAX_MESSAGE_BYTES, value_name = "BYTES")]
    pub max_frame_bytes: usize,
    /// Most senders connected at once; one more is refused and closed.
    #[arg(long, default_value_t = 16, value_name = "N")]
    pub max_senders: usize,
    /// Seconds a sender may take to deliver a message (senders send at least
    /// one keep-alive a second); a silent or trickling peer is dropped after it.
    #[arg(long, default_value_t = 10.0, value_name = "SECONDS", value_parser = positive_number)]
    pub idle_timeout: f64,
    /// Seconds between two progress lines in the log (one per stream:
    /// fps, drops, latency p50/p99 and bit rate over the interval); 0: none.
    #[arg(long, default_value_t = 10.0, value_name = "SECONDS", value_parser = non_negative_seconds)]
    pub stats_interval: f64,
    /// Also write the exit report as JSON to this file.
    #[arg(long, value_name = "PATH")]
    pub stats_json: Option<PathBuf>,
    /// Where the window's S key saves snapshots [default: the current
    /// directory]; with it, each stream's last picture is also saved on exit.
    #[arg(long, value_name = "DIR")]
    pub snapshot_dir: Option<PathBuf>,
    /// Record every stream into this directory, as received (MJPEG in MKV
    /// files with the capture times; no re-encoding): one file per stream
    /// and segment, named after the stream and the time it started.
    #[arg(long, value_name = "DIR")]
    pub record: Option<PathBuf>,
    /// Start a new file every this many minutes of recording, so a crash
    /// never costs more than the index of the segment being written.
    #[arg(long, default_value_t = 10.0, value_name = "MINUTES", value_parser = positive_number)]
    pub segment_minutes: f64,
    /// Start a test-pattern sender (framewire-sender, next to this program) too.
    #[arg(long)]
    pub demo: bool,
    /// Let in only senders that present this token (the same --token on the
    /// sender); others are logged and closed. Without it anyone may connect.
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
    /// Encrypt every connection with TLS (senders need --tls as well). Without
    /// --tls-cert/--tls-key a self-signed certificate is created in
    /// --tls-dir on first start; its fingerprint is logged for senders to pin.
    #[arg(long)]
    pub tls: bool,
    /// Certificate chain (PEM) to present with --tls.
    #[arg(long, value_name = "PATH", requires = "tls")]
    pub tls_cert: Option<PathBuf>,
    /// Private key (PEM) of --tls-cert.
    #[arg(long, value_name = "PATH", requires = "tls")]
    pub tls_key: Option<PathBuf>,
    /// Where the self-signed certificate is kept [default: $STATE_DIRECTORY,
    /// else ~/.config/framewire; on Windows %APPDATA%\framewire].
    #[arg(long, value_name = "DIR", requires = "tls")]
    pub tls_dir: Option<PathBuf>,
    /// Let in only senders from this address range, e.g. 192.168.1.0/24
    /// (repeatable; default: any address).
    #[arg(long, value_name = "CIDR", value_delimiter = ',')]
    pub allow: Vec<Network>,
    /// Serve the web view on this address, e.g. 0.0.0.0:8080: a live page
    /// of every stream for any browser, /streams/NAME.mjpg and .jpg for
    /// other tools, /api/streams and /metrics. Off unless given; --allow,
    /// --token and --tls apply to it as well.
    #[arg(long, value_name = "HOST:PORT")]
    pub http: Option<String>,
    /// A host name the web view answers to (repeatable), for a receiver
    /// reached by name, e.g. cams.home.arpa. IP addresses and localhost
    /// are always answered; any other `Host` gets 403, so another site's
    /// page cannot read the receiver by DNS rebinding.
    #[arg(long, value_name = "NAME", value_delimiter = ',')]
    pub web_host: Vec<String>,
    /// Most web viewers at once (pages and MJPEG clients); one more is
    /// answered 503.
    #[arg(long, default_value_t = 32, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub max_viewers: u64,
    /// Most memory the receiver spends on what senders send it (received
    /// frames, decoded pictures, recording queues, kept pictures, frames on
    /// their way to web viewers), in MiB;
    /// a frame that would go over it is refused and counted.
    #[arg(long, default_value_t = (DEFAULT_MAX_MEMORY / MIB) as u64, value_name = "MIB", value_parser = clap::value_parser!(u64).range(16..=1 << 30))]
    pub max_memory: u64,
    /// Threads that decode the bands of one picture at once, shared by all
    /// streams (a JPEG with restart markers on MCU rows is cut into bands;
    /// others are decoded whole) [default: the number of cores].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=256))]
    pub decode_threads: Option<u64>,
    /// Where the window turns pictures' YCbCr into RGB: `shader` (on the
    /// GPU), `decoder` (on the CPU, with the decoding), or `auto`: the
    /// shader, unless the graphics adapter is a software renderer.
    #[cfg(feature = "window")]
    #[arg(long, value_enum, default_value_t = crate::view::ColourConversion::Auto)]
    pub colour_conversion: crate::view::ColourConversion,
}

impl Args {
    /// What a peer may use: message size, senders, time, pending places.
    pub fn limits(&self) -> Limits {
        Limits {
            max_frame_bytes: self.max_frame_bytes,
            max_senders: self.max_senders,
            idle_timeout: Duration::from_secs_f64(self.idle_timeout),
            pending: PENDING_LIMITS,
        }
    }

    /// Who may connect: `--allow` and the token.
    pub fn access(&self) -> anyhow::Result<Access> {
        Ok(Access {
            allowed: self.allow.clone(),
            token: load_token(self.token.as_deref(), self.token_file.as_deref())?,
        })
    }

    /// The shared band decoders of `--decode-threads`.
    pub fn band_decoders(&self) -> Arc<BandPool> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let threads = self.decode_threads.map_or(cores, |n| n as usize);
        Arc::new(BandPool::new(threads, "band decoder"))
    }

    /// The memory budget of `--max-memory`.
    pub fn budget(&self) -> Arc<MemoryBudget> {
        MemoryBudget::new((self.max_memory as usize).saturating_mul(MIB))
    }

    /// How long each recording segment lasts.
    pub fn segment_length(&self) -> Duration {
        Duration::from_secs_f64(self.segment_minutes * 60.0)
    }

    /// How often the progress line is logged; `None`: never.
    pub fn stats_interval(&self) -> Option<Duration> {
        (self.stats_interval > 0.0).then(|| Duration::from_secs_f64(self.stats_interval))
    }
}

/// Parses a positive, finite number (of seconds or minutes).
fn positive_number(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(number) if number.is_finite() && number > 0.0 && number < 1e9 => Ok(number),
        _ => Err(format!("'{text}' is not a positive number")),
    }
}

fn non_negative_seconds(text: &str) -> Result<f64, String> {
    match text.trim() {
        "0" => Ok(0.0),
        _ => positive_number(text),
    }
}

/// The certificate for `--tls`, from `--tls-cert`/`--tls-key` or created.
#[cfg(feature = "tls")]
pub fn load_tls_identity(args: &Args) -> anyhow::Result<crate::net::tls::TlsIdentity> {
    use crate::net::tls;
    let directory = args.tls_dir.clone().unwrap_or_else(tls::default_directory);
    let identity = tls::load_or_create(
        args.tls_cert.as_deref(),
        args.tls_key.as_deref(),
        &directory,
    )?;
    log::info!(
        "TLS with the {}; senders pin it with --tls-fingerprint {}",
        identity.origin,
        identity.fingerprint
    );
    Ok(identity)
}

/// Built without the `tls` feature.
#[cfg(not(feature = "tls"))]
pub fn load_tls_identity(_: &Args) -> anyhow::Result<NoTls> {
    anyhow::bail!("this receiver was built without TLS (cargo feature `tls`)")
}

/// Stands in for the TLS identity when built without the `tls` feature.
#[cfg(not(feature = "tls"))]
pub struct NoTls {
    pub acceptor: std::convert::Infallible,
    pub fingerprint: String,
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        super::Args::command().debug_assert();
    }

    #[cfg(feature = "window")]
    #[test]
    fn help_lists_the_window_keys() {
        use clap::CommandFactory;
        let help = super::Args::command().render_long_help().to_string();
        for key in ["1-9", "Tab", "I toggles", "S saves", "Space", "F11", "Esc"] {
            assert!(help.contains(key), "--help does not mention {key}: {help}");
        }
    }
}
