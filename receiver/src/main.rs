//! framewire-receiver: accepts framewire senders (and the Python prototype's
//! client), decodes their frames and shows them in a window, or counts them
//! headless.
//!
//! This file only reads the command line ([`cli`]) and wires the stages
//! together: the TCP server (one task per sender), a decoder thread per
//! stream, the window or nothing, the progress line, and the exit
//! ([`exit`]).
//!
//! [`cli`]: framewire_receiver::cli
//! [`exit`]: framewire_receiver::exit

use std::path::PathBuf;
use std::process::{Child, Command, ExitCode};
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use framewire_proto::shutdown::StopSignal;

use framewire_receiver::cli::{Args, load_tls_identity};
use framewire_receiver::decode::{DEFAULT_MAX_PIXELS, DecoderContext, PictureSink};
use framewire_receiver::exit::{Shutdown, exit_if_the_window_hangs};
use framewire_receiver::net::access::Access;
use framewire_receiver::net::{Server, TlsAcceptor};
use framewire_receiver::progress;
use framewire_receiver::record::Recorder;
use framewire_receiver::report::Registry;
use framewire_receiver::view::WindowView;
use framewire_receiver::web::WebServer;
use framewire_receiver::web::host::HostNames;
use framewire_receiver::web::routes::Site;
use framewire_receiver::web::viewers::Viewers;

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

    let access = args.access()?;
    let tls = if args.tls {
        Some(load_tls_identity(&args)?)
    } else {
        None
    };
    let budget = args.budget();
    let listener = smol::block_on(Server::bind(&args.listen))?;
    let address = listener.local_addr()?;
    log::info!("listening on {address}");
    log::info!("{}", access.describe());
    log::info!(
        "memory budget for what senders send: {} MiB (--max-memory)",
        budget.limit() / (1024 * 1024)
    );
    let registry = Arc::new(Registry::default());
    let (window, sink): (_, Option<Arc<dyn PictureSink>>) = if args.headless {
        (None, None)
    } else {
        let snapshots = args
            .snapshot_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("."));
        // A recording needs every stream's frames, seen or not.
        let pause_hidden = args.record.is_none();
        let (window, sink) = WindowView::new(
            address.to_string(),
            snapshots,
            args.colour_conversion,
            pause_hidden,
        )?;
        (Some(window), Some(sink))
    };
    let mut server = Server::new(
        listener,
        args.limits(),
        access.clone(),
        registry.clone(),
        DecoderContext {
            max_pixels: DEFAULT_MAX_PIXELS,
            sink,
            budget: budget.clone(),
            decoded_total: Default::default(),
            frame_limit: args.frames,
            keep_newest: args.snapshot_dir.is_some() || args.http.is_some(),
            pool: args.band_decoders(),
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
            let recorder = Arc::new(Recorder::new(
                directory,
                args.segment_length(),
                budget.clone(),
            )?);
            server = server.with_recorder(recorder.clone());
            log::info!("recording every stream into {}", directory.display());
            Some(recorder)
        }
        None => None,
    };
    if let Some(http) = &args.http {
        let site = Site {
            registry: registry.clone(),
            viewers: Viewers::new(args.max_viewers as usize, budget.clone()),
            budget: budget.clone(),
            token: access.token.clone(),
            gate: server.gate(),
            secure: tls.is_some(),
            hosts: HostNames::new(&args.web_host),
            stop: stop.clone(),
        };
        // Without the `tls` feature the acceptor cannot exist: unreachable.
        #[cfg_attr(not(feature = "tls"), allow(unreachable_code))]
        let acceptor = tls.as_ref().map(|identity| identity.acceptor.clone());
        start_web(http, site, &access, acceptor)?;
    }
    let server = Arc::new(server);
    std::thread::Builder::new()
        .name("server".into())
        .spawn(move || smol::block_on(server.run()))
        .context("cannot start the server thread")?;
    if let Some(interval) = args.stats_interval() {
        let (registry, stop) = (registry.clone(), stop.clone());
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

    let shutdown = Arc::new(Shutdown::new(
        registry,
        recorder,
        demo_sender,
        args.snapshot_dir.clone(),
        args.stats_json.clone(),
    ));
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

/// Starts the web side on `--http`'s address, on a thread of its own.
fn start_web(
    address: &str,
    site: Site,
    access: &Access,
    tls: Option<TlsAcceptor>,
) -> anyhow::Result<()> {
    let listener = smol::block_on(WebServer::bind(address))?;
    let bound = listener.local_addr()?;
    let scheme = if site.secure { "https" } else { "http" };
    log::info!(
        "web view on {scheme}://{bound}/ (streams at /streams/NAME.mjpg and .jpg, \
         figures at /api/streams and /metrics)"
    );
    if access.token.is_none() && !bound.ip().is_loopback() {
        log::warn!(
            "no --token: anyone who can reach {bound} can watch every stream in a browser; \
             set --token, or --allow the viewers' addresses"
        );
    }
    let web = Arc::new(WebServer::new(listener, access.clone(), tls, site));
    std::thread::Builder::new()
        .name("web".into())
        .spawn(move || smol::block_on(web.run()))
        .context("cannot start the web thread")?;
    Ok(())
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
    if !program.exists() {
        anyhow::bail!(
            "--demo streams the test pattern from {}, which is not there. \
             The downloads (zip, .deb) hold the receiver alone: put the sender beside it \
             (`cargo build --release` builds both), or stream from your board instead: \
             there, `framewire-sender --connect ADDRESS-OF-THIS-COMPUTER:{port}`",
            program.display()
        );
    }
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
