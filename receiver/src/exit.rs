//! How the receiver ends: the stop (Ctrl-C, SIGTERM, `--frames`, the
//! window closed) is followed by [`Shutdown::finish`], done exactly once and
//! within a bound whatever hangs: the streams' connections close and their
//! decoders finish what they hold, recordings are closed, last pictures are
//! saved and the report is printed and written. A window whose display
//! server stops answering gets a watchdog ([`exit_if_the_window_hangs`])
//! that finishes without it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use framewire_proto::lock::lock;
use framewire_proto::shutdown::StopSignal;

use crate::record::Recorder;
use crate::report::Registry;
use crate::snapshot::{self, LastPicture};

/// How long the exit waits for the streams' connections to close and their
/// decoders to decode the frames they still hold (a frame takes
/// milliseconds; a slow machine or an emulator may need more).
const STREAMS_END_GRACE: Duration = Duration::from_millis(1500);

/// How long the exit waits for recordings to be closed on disk (a stuck
/// disk gets no more: the report is still written).
const RECORDINGS_CLOSE_GRACE: Duration = Duration::from_secs(1);

/// How long, from the start of the exit, last pictures are made into PNG
/// files; the rest are written as the JPEG received, so the exit stays
/// within 3 s whatever the pictures' number and size.
const LAST_PICTURES_BY: Duration = Duration::from_millis(2000);

/// How long the window may take to close once the receiver is asked to stop.
const WINDOW_CLOSE_GRACE: Duration = Duration::from_secs(3);

/// Watches for a window that does not close after a stop request (a hung
/// display server or GPU driver would keep the event loop from ever
/// returning): after [`WINDOW_CLOSE_GRACE`] it finishes without the window and
/// ends the process, so Ctrl-C and SIGTERM always stop the receiver with its
/// recordings closed and its report written. Send on the returned channel
/// once the window has closed.
pub fn exit_if_the_window_hangs(stop: StopSignal, shutdown: Arc<Shutdown>) -> mpsc::Sender<()> {
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
pub struct Shutdown {
    /// Held while finishing, so a second caller waits for the first.
    finished: Mutex<bool>,
    recorder: Option<Arc<Recorder>>,
    demo_sender: Mutex<Option<Child>>,
    registry: Arc<Registry>,
    snapshot_dir: Option<PathBuf>,
    stats_json: Option<PathBuf>,
}

impl Shutdown {
    pub fn new(
        registry: Arc<Registry>,
        recorder: Option<Arc<Recorder>>,
        demo_sender: Option<Child>,
        snapshot_dir: Option<PathBuf>,
        stats_json: Option<PathBuf>,
    ) -> Shutdown {
        Shutdown {
            finished: Mutex::new(false),
            recorder,
            demo_sender: Mutex::new(demo_sender),
            registry,
            snapshot_dir,
            stats_json,
        }
    }

    /// Once the stop is signalled: stops the demo sender, waits (a bounded
    /// time) for the streams to end and the recordings to close, saves each
    /// stream's last picture (with `--snapshot-dir`) and prints and writes
    /// the report.
    pub fn finish(&self) -> anyhow::Result<()> {
        let mut finished = lock(&self.finished);
        if *finished {
            return Ok(());
        }
        *finished = true;
        let started = Instant::now();
        let demo_sender = lock(&self.demo_sender).take();
        if let Some(mut sender) = demo_sender {
            let _ = sender.kill();
            let _ = sender.wait();
        }
        if !self.registry.wait_for_streams_to_end(STREAMS_END_GRACE) {
            log::warn!(
                "some streams were still decoding {STREAMS_END_GRACE:?} after the stop; \
                 the report counts what was done by then"
            );
        }
        if let Some(recorder) = &self.recorder {
            recorder.finish(RECORDINGS_CLOSE_GRACE);
        }
        if let Some(directory) = &self.snapshot_dir {
            self.save_last_pictures(directory, started + LAST_PICTURES_BY);
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

    /// Saves each stream's last picture, as PNG while `deadline` allows and
    /// as received after it, and says what became of them.
    fn save_last_pictures(&self, directory: &Path, deadline: Instant) {
        let streams = self.registry.all();
        let outcomes = snapshot::save_last_pictures(directory, &streams, deadline);
        let mut as_received = 0;
        for (stream, outcome) in streams.iter().zip(outcomes) {
            match outcome {
                LastPicture::Saved(path) => log::info!(
                    "saved the last picture of '{}' to {}",
                    stream.name(),
                    path.display()
                ),
                LastPicture::SavedAsReceived(path) => {
                    as_received += 1;
                    log::info!(
                        "saved the last picture of '{}' to {} (as received: no time was left \
                         to make a PNG)",
                        stream.name(),
                        path.display()
                    );
                }
                LastPicture::None => {}
                LastPicture::Failed(error) => log::warn!("{error:#}"),
            }
        }
        if as_received > 0 {
            log::warn!(
                "the last pictures of {as_received} streams were saved as the JPEG received: \
                 the exit makes PNG files for {LAST_PICTURES_BY:?} at most"
            );
        }
    }
}
