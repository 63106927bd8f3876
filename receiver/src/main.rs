//! framewire-receiver: accepts framewire senders (and the Python prototype's
//! client), decodes their frames and shows them in a window, or counts them
//! headless.
//!
//! This file only reads the command line and wires the stages together: the
//! TCP server (one task per sender), a decoder thread per stream, the window
//! or nothing, and the report printed on exit.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use framewire_proto::auth::load_token;
use framewire_proto::codec::DEFAULT_MAX_MESSAGE_BYTES;
use framewire_proto::shutdown::StopSignal;

use framewire_receiver::access::{Access, Network};
use framewire_receiver::decode::{DEFAULT_MAX_PIXELS, DecoderContext};
use framewire_receiver::record::Recorder;
use framewire_receiver::server::{Limits, Server};
use framewire_receiver::stats::Registry;
use framewire_receiver::view::{KEYS_HELP, WindowView};
use framewire_receiver::{progress, snapshot};

/// Receive framewire streams and show them.
#[derive(Parser, Debug)]
#[command(version, about, after_help = KEYS_HELP)]
struct Args {
    /// Address to accept senders on, as HOST:PORT (port 0 picks a free one).
    #[arg(long, default_value = "0.0.0.0:12345", value_name = "HOST:PORT")]
    listen: String,
    /// No window: receive, decode and count only.
    #[arg(long)]
    headless: bool,
    /// Exit after this many decoded frames (over all streams).
    #[arg(long, value_name = "N")]
    frames: Option<u64>,
    /// Largest message a sender may send; longer ones close that connection.
    #[arg(long, default_value_t = DEFAULT_MAX_MESSAGE_BYTES, value_name = "BYTES")]
    max_frame_bytes: usize,
    /// Most senders connected at once; one more is refused and closed.
    #[arg(long, default_value_t = 16, value_name = "N")]
    max_senders: usize,
    /// Seconds a sender may take to deliver a message (senders send at least
    /// one keep-alive a second); a silent or trickling peer is dropped after it.
    #[arg(long, default_value_t = 10.0, value_name = "SECONDS", value_parser = positive_number)]
    idle_timeout: f64,
    /// Seconds between two progress lines in the log (one per stream:
    /// fps, drops, latency p50/p99 and bit rate over the interval); 0: none.
    #[arg(long, default_value_t = 10.0, value_name = "SECONDS", value_parser = non_negative_seconds)]
    stats_interval: f64,
    /// Also write the exit report as JSON to this file.
    #[arg(long, value_name = "PATH")]
    stats_json: Option<PathBuf>,
    /// Where the window's S key saves snapshots [default: the current
    /// directory]; with it, each stream's last picture is also saved on exit.
    #[arg(long, value_name = "DIR")]
    snapshot_dir: Option<PathBuf>,
    /// Record every stream into this directory, as received (MJPEG in MKV
    /// files with the capture times; no re-encoding): one file per stream
    /// and segment, named after the stream and the time it started.
    #[arg(long, value_name = "DIR")]
    record: Option<PathBuf>,
    /// Start a new file every this many minutes of recording, so a crash
    /// never costs more than the index of the segment being written.
    #[arg(long, default_value_t = 10.0, value_name = "MINUTES", value_parser = positive_number)]
    segment_minutes: f64,
    /// Start a test-pattern sender (framewire-sender, next to this program) too.
    #[arg(long)]
    demo: bool,
    /// Let in only senders that present this token (the same --token on the
    /// sender); others are logged and closed. Without it anyone may connect.
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
    /// Encrypt every connection with TLS (senders need --tls as well). Without
    /// --tls-cert/--tls-key a self-signed certificate is created in
    /// --tls-dir on first start; its fingerprint is logged for senders to pin.
    #[arg(long)]
    tls: bool,
    /// Certificate chain (PEM) to present with --tls.
    #[arg(long, value_name = "PATH", requires = "tls")]
    tls_cert: Option<PathBuf>,
    /// Private key (PEM) of --tls-cert.
    #[arg(long, value_name = "PATH", requires = "tls")]
    tls_key: Option<PathBuf>,
    /// Where the self-signed certificate is kept [default: $STATE_DIRECTORY,
    /// else ~/.config/framewire].
    #[arg(long, value_name = "DIR", requires = "tls")]
    tls_dir: Option<PathBuf>,
    /// Let in only senders from this address range, e.g. 192.168.1.0/24
    /// (repeatable; default: any address).
    #[arg(long, value_name = "CIDR", value_delimiter = ',')]
    allow: Vec<Network>,
}

fn main() -> ExitCode {
    // wgpu probes every backend and logs the ones that are missing as errors
    // (e.g. "EGL ... failed to load driver" on a machine without OpenGL): noise.
    let default_filter = "info,wgpu_hal=off,wgpu_core=warn";
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default_filter))
        .init();
    match run(Args::parse()) {
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
    ctrlc::set_handler(move || on_signal.stop())?;

    let access = Access {
        allowed: args.allow.clone(),
        token: load_token(args.token.as_deref(), args.token_file.as_deref())?,
    };
    let tls = if args.tls {
        Some(load_tls_identity(&args)?)
    } else {
        None
    };
    let listener = smol::block_on(Server::bind(&args.listen))?;
    let address = listener.local_addr()?;
    log::info!("listening on {address}");
    log::info!("{}", access.describe());
    let registry = Arc::new(Registry::default());
    let (window, sink) = if args.headless {
        (None, None)
    } else {
        let snapshots = args
            .snapshot_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("."));
        let (window, sink) = WindowView::new(address.to_string(), snapshots)?;
        (Some(window), Some(sink))
    };
    let limits = Limits {
        max_frame_bytes: args.max_frame_bytes,
        max_senders: args.max_senders,
        idle_timeout: Duration::from_secs_f64(args.idle_timeout),
    };
    let mut server = Server::new(
        listener,
        limits,
        access.clone(),
        registry.clone(),
        DecoderContext {
            max_pixels: DEFAULT_MAX_PIXELS,
            sink,
            decoded_total: Default::default(),
            frame_limit: args.frames,
            keep_last_picture: args.snapshot_dir.is_some(),
            stop: stop.clone(),
        },
    );
    // Without the `tls` feature the acceptor cannot exist: unreachable.
    #[cfg_attr(not(feature = "tls"), allow(unreachable_code))]
    if let Some(identity) = &tls {
        server = server.with_tls(identity.acceptor.clone());
    }
    let recorder = match &args.record {
        Some(directory) => {
            let segment = Duration::from_secs_f64(args.segment_minutes * 60.0);
            let recorder = Arc::new(Recorder::new(directory, segment)?);
            server = server.with_recorder(recorder.clone());
            log::info!("recording every stream into {}", directory.display());
            Some(recorder)
        }
        None => None,
    };
    let server = Arc::new(server);
    std::thread::Builder::new()
        .name("server".into())
        .spawn(move || smol::block_on(server.run()))
        .context("cannot start the server thread")?;
    if args.stats_interval > 0.0 {
        let (registry, stop) = (registry.clone(), stop.clone());
        let interval = Duration::from_secs_f64(args.stats_interval);
        std::thread::Builder::new()
            .name("progress".into())
            .spawn(move || progress::log_until_stopped(&registry, interval, &stop))
            .context("cannot start the progress thread")?;
    }
    let demo_sender = if args.demo {
        Some(start_demo_sender(
            address.port(),
            access.token.as_deref(),
            tls.as_ref().map(|identity| identity.fingerprint.as_str()),
        )?)
    } else {
        None
    };

    let shutdown = Arc::new(Shutdown {
        finished: Mutex::new(false),
        recorder,
        demo_sender: Mutex::new(demo_sender),
        registry,
        snapshot_dir: args.snapshot_dir.clone(),
        stats_json: args.stats_json.clone(),
    });
    let result = match window {
        Some(window) => {
            let window_closed = exit_if_the_window_hangs(stop.clone(), shutdown.clone());
            let result = window.run(&stop);
            let _ = window_closed.send(());
            result
        }
        None => {
            smol::block_on(stop.stopped());
            Ok(())
        }
    };
    stop.stop();
    shutdown.finish()?;
    result
}

/// How long the exit waits for streams whose senders have gone to decode
/// the frames they still hold (a frame takes milliseconds; a slow board or
/// emulator may need more).
const CLOSED_STREAM_DECODE_GRACE: Duration = Duration::from_secs(2);

/// How long the window may take to close once the receiver is asked to stop.
const WINDOW_CLOSE_GRACE: Duration = Duration::from_secs(3);

/// Watches for a window that does not close after a stop request (a hung
/// display server or GPU driver would keep the event loop from ever
/// returning): after [`WINDOW_CLOSE_GRACE`] it finishes without the window and
/// ends the process, so Ctrl-C and SIGTERM always stop the receiver with its
/// recordings closed and its report written. Send on the returned channel
/// once the window has closed.
fn exit_if_the_window_hangs(stop: StopSignal, shutdown: Arc<Shutdown>) -> mpsc::Sender<()> {
    let (window_closed, closed) = mpsc::channel();
    std::thread::spawn(move || {
        smol::block_on(stop.stopped());
        if closed.recv_timeout(WINDOW_CLOSE_GRACE) != Err(RecvTimeoutError::Timeout) {
            return;
        }
        log::error!(
            "the window did not close within {WINDOW_CLOSE_GRACE:?} of the stop request \
             (its display server or GPU driver is not responding); exiting without it"
        );
        let code = match shutdown.finish() {
            Ok(()) => 0,
            Err(error) => {
                log::error!("{error:#}");
                1
            }
        };
        let _ = std::io::stdout().flush();
        // SAFETY: `_exit` ends the process at once. Everything worth keeping
        // is on disk or flushed above; exit handlers are skipped on purpose,
        // as the hung window thread may hold locks they would need.
        unsafe { libc::_exit(code) }
    });
    window_closed
}

/// The work left when the receiver stops, done exactly once: on the main
/// thread, or by [`exit_if_the_window_hangs`] when the window is stuck.
struct Shutdown {
    /// Held while finishing, so a second caller waits for the first.
    finished: Mutex<bool>,
    recorder: Option<Arc<Recorder>>,
    demo_sender: Mutex<Option<Child>>,
    registry: Arc<Registry>,
    snapshot_dir: Option<PathBuf>,
    stats_json: Option<PathBuf>,
}

impl Shutdown {
    /// Closes the recordings, stops the demo sender, saves each stream's last
    /// picture (with `--snapshot-dir`) and prints and writes the report.
    fn finish(&self) -> anyhow::Result<()> {
        let mut finished = self.finished.lock().unwrap_or_else(|e| e.into_inner());
        if *finished {
            return Ok(());
        }
        *finished = true;
        if let Some(recorder) = &self.recorder {
            recorder.finish();
        }
        if let Some(mut sender) = self
            .demo_sender
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            let _ = sender.kill();
            let _ = sender.wait();
        }
        self.registry
            .wait_for_closed_streams_to_decode(CLOSED_STREAM_DECODE_GRACE);
        if let Some(directory) = &self.snapshot_dir {
            for stream in self.registry.all() {
                match snapshot::save_last_picture(directory, &stream) {
                    Ok(Some(path)) => log::info!(
                        "saved the last picture of '{}' to {}",
                        stream.name(),
                        path.display()
                    ),
                    Ok(None) => {}
                    Err(error) => log::warn!("{error:#}"),
                }
            }
        }
        let report = self.registry.report();
        print!("{report}");
        if let Some(path) = &self.stats_json {
            let json = serde_json::to_string_pretty(&report)?;
            std::fs::write(path, json + "\n")
                .with_context(|| format!("cannot write the report to {}", path.display()))?;
        }
        Ok(())
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
fn load_tls_identity(args: &Args) -> anyhow::Result<framewire_receiver::tls::TlsIdentity> {
    use framewire_receiver::tls;
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
fn load_tls_identity(_: &Args) -> anyhow::Result<NoTls> {
    anyhow::bail!("this receiver was built without TLS (cargo feature `tls`)")
}

/// Stands in for the TLS identity when built without the `tls` feature.
#[cfg(not(feature = "tls"))]
struct NoTls {
    acceptor: std::convert::Infallible,
    fingerprint: String,
}

/// Starts `framewire-sender` from this program's directory, streaming the
/// test pattern to `port` on this machine: the same code path as a user's.
fn start_demo_sender(
    port: u16,
    token: Option<&str>,
    tls_fingerprint: Option<&str>,
) -> anyhow::Result<Child> {
    let program = std::env::current_exe()?
        .with_file_name(format!("framewire-sender{}", std::env::consts::EXE_SUFFIX));
    let mut command = Command::new(&program);
    command.args([
        "--connect",
        &format!("127.0.0.1:{port}"),
        "--source",
        "pattern",
        "--name",
        "demo",
    ]);
    if let Some(token) = token {
        command.env("FRAMEWIRE_TOKEN", token);
    }
    if let Some(fingerprint) = tls_fingerprint {
        command.args(["--tls", "--tls-fingerprint", fingerprint]);
    }
    command.spawn().with_context(|| {
        format!(
            "cannot start the demo sender {} (build both programs with `cargo build --release`)",
            program.display()
        )
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        super::Args::command().debug_assert();
    }

    #[test]
    fn help_lists_the_window_keys() {
        use clap::CommandFactory;
        let help = super::Args::command().render_long_help().to_string();
        for key in ["1-9", "Tab", "I toggles", "S saves", "Space", "F11", "Esc"] {
            assert!(help.contains(key), "--help does not mention {key}: {help}");
        }
    }
}
