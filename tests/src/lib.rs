//! framewire's test kit, shared by the tests and benchmarks of this crate
//! that run several programs: it finds the real `framewire-receiver` and
//! `framewire-sender` binaries that cargo built for the workspace, runs
//! them over real loopback sockets, follows their logs, reads the
//! receiver's JSON report and snapshots, checks pictures for the test
//! pattern, and runs a test inside the camera VM ([`in_vm`]). Each test
//! starts its own processes on ports the kernel picks, so tests can run in
//! parallel. [`browser`] is headless Chromium over WebDriver, [`link`] the VM's impaired network, [`xvfb`] a private X
//! server, [`wine`] the Windows machine that runs the receiver's Windows
//! build, [`web`] the receiver's web side as a client sees it, [`content`]
//! camera-like clips made with ffmpeg, [`bench`] what only the benchmarks need.

pub mod bench;
pub mod browser;
pub mod content;
pub mod link;
pub mod web;
pub mod wine;
pub mod xvfb;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use framewire_sender::capture::pattern::{BAND_GREY, BARS};

/// The workspace's top directory (the repository).
pub fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

/// Cargo's target directory, where the running test or benchmark was built
/// (`target/PROFILE/deps/`).
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.ancestors().nth(3).unwrap().to_path_buf()
}

/// The program `name` of the crate in `crate_dir`, as cargo built it for
/// the workspace in the profile of the running test or benchmark (whose
/// executable sits in `target/PROFILE/deps/`). Another crate's binaries are
/// built only by a workspace-wide command (`cargo test --workspace`, `cargo
/// build`), so a missing binary, or one older than its sources, fails with
/// the command that builds it.
fn workspace_binary(name: &str, crate_dir: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap();
    let path = profile_dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    built_program(
        &path,
        crate_dir,
        "run the tests with `cargo test --workspace` (or `cargo build` first)",
    )
}

/// `path`, if it exists and is newer than the sources of the crate in
/// `crate_dir` and of proto; else fails, telling how to `build` it.
fn built_program(path: &Path, crate_dir: &str, build: &str) -> PathBuf {
    let built = std::fs::metadata(path)
        .and_then(|metadata| metadata.modified())
        .unwrap_or_else(|_| panic!("{} is missing: {build}", path.display()));
    let program_sources = format!("{crate_dir}/src");
    let newest = newest_source(&["proto/src", "proto/frame.proto", &program_sources]);
    if let Some(source) = newest.filter(|&(_, changed)| changed > built) {
        panic!(
            "{} is older than {}: {build}",
            path.display(),
            source.0.display()
        );
    }
    path.to_path_buf()
}

/// The most recently changed file under `sources` (workspace paths).
fn newest_source(sources: &[&str]) -> Option<(PathBuf, SystemTime)> {
    fn visit(path: &Path, newest: &mut Option<(PathBuf, SystemTime)>) {
        if path.is_dir() {
            for entry in std::fs::read_dir(path).into_iter().flatten().flatten() {
                visit(&entry.path(), newest);
            }
        } else if let Ok(changed) = std::fs::metadata(path).and_then(|m| m.modified())
            && newest.as_ref().is_none_or(|(_, time)| changed > *time)
        {
            *newest = Some((path.to_path_buf(), changed));
        }
    }
    let mut newest = None;
    for source in sources {
        visit(&workspace().join(source), &mut newest);
    }
    newest
}

/// The receiver binary cargo built, or the one that `FRAMEWIRE_TEST_RECEIVER`
/// names (to measure an older build with the same tests, side by side).
pub fn receiver_binary() -> PathBuf {
    std::env::var_os("FRAMEWIRE_TEST_RECEIVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_binary("framewire-receiver", "receiver"))
}

/// The sender binary cargo built, or the one beside the receiver that
/// `FRAMEWIRE_TEST_RECEIVER` names.
pub fn sender_binary() -> PathBuf {
    match std::env::var_os("FRAMEWIRE_TEST_RECEIVER") {
        Some(receiver) => PathBuf::from(receiver)
            .with_file_name(format!("framewire-sender{}", std::env::consts::EXE_SUFFIX)),
        None => workspace_binary("framewire-sender", "sender"),
    }
}

/// A fresh, empty directory under the system's temp dir.
pub fn scratch_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("framewire-test-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A running program whose stderr (the log) and stdout are collected line
/// by line. Killed when dropped, unless it has been waited for.
pub struct Process {
    pub child: Child,
    pub log: Arc<Mutex<Vec<String>>>,
    name: String,
    /// Reaped by [`Process::wait_with_usage`]: its pid may belong to
    /// another process by now.
    reaped: bool,
}

/// CPU time and peak memory of a finished program, from wait4(2).
pub struct Usage {
    pub cpu: Duration,
    pub peak_rss_mb: f64,
}

impl Process {
    pub fn start(program: &Path, args: &[&str], env: &[(&str, &str)]) -> Process {
        let mut command = Command::new(program);
        command
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command.env("RUST_LOG", "info");
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
        let log = Arc::new(Mutex::new(Vec::new()));
        for stream in [
            Box::new(child.stderr.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stdout.take().unwrap()),
        ] {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    log.lock().unwrap().push(line);
                }
            });
        }
        let name = program.file_name().unwrap().to_string_lossy().into_owned();
        Process {
            child,
            log,
            name,
            reaped: false,
        }
    }

    /// Its resident memory now (VmRSS), in MiB.
    pub fn resident_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse::<f64>().ok())
            .map_or(f64::NAN, |kib| kib / 1024.0)
    }

    /// The whole log so far, for assertion messages.
    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// How many lines it has logged so far: a mark for
    /// [`log_since`](Self::log_since).
    pub fn log_len(&self) -> usize {
        self.log.lock().unwrap().len()
    }

    /// Its log lines from line `mark` on.
    pub fn log_since(&self, mark: usize) -> Vec<String> {
        self.log.lock().unwrap()[mark..].to_vec()
    }

    /// Waits until a log line contains `needle`; returns that line.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> String {
        self.wait_for_log_where(needle, timeout, |line| line.contains(needle))
    }

    /// Waits until a log line matches `wanted` (`what` names it in the
    /// failure); returns that line.
    pub fn wait_for_log_where(
        &self,
        what: &str,
        timeout: Duration,
        wanted: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(line) = self.log.lock().unwrap().iter().find(|l| wanted(l)) {
                return line.clone();
            }
            assert!(
                Instant::now() < deadline,
                "{} did not log '{what}' within {timeout:?}; its log:\n{}",
                self.name,
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// How many log lines contain `needle`.
    pub fn count_log(&self, needle: &str) -> usize {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(needle))
            .count()
    }

    pub fn signal(&self, signal: &str) {
        send_signal(self.child.id(), signal);
    }

    /// Waits for the program to exit by itself.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                std::thread::sleep(Duration::from_millis(50)); // let the log readers finish
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!(
                    "{} did not exit within {timeout:?}; its log:\n{}",
                    self.name,
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub fn terminate(&mut self) -> ExitStatus {
        self.signal("TERM");
        self.wait_exit(Duration::from_secs(10))
    }

    /// Waits for the program to end (after [`signal`](Self::signal), say)
    /// and returns the CPU time it used and its peak memory.
    pub fn wait_with_usage(&mut self) -> Usage {
        let mut status = 0;
        // SAFETY: rusage is plain data that wait4 fills in; the pid is our
        // own child, not yet reaped.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let pid = self.child.id() as libc::pid_t;
        let result = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        assert_eq!(result, pid, "wait4 failed for {}", self.name);
        self.reaped = true;
        std::thread::sleep(Duration::from_millis(50)); // let the log readers finish
        let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        Usage {
            cpu: Duration::from_secs_f64(seconds(usage.ru_utime) + seconds(usage.ru_stime)),
            peak_rss_mb: usage.ru_maxrss as f64 / 1024.0,
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if !self.reaped {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A headless receiver with its report going to a scratch directory.
pub struct Receiver {
    pub process: Process,
    pub address: SocketAddr,
    pub dir: PathBuf,
}

impl Receiver {
    /// Starts a headless receiver on `listen` (e.g. "127.0.0.1:0") with extra arguments.
    pub fn start(test: &str, listen: &str, extra: &[&str]) -> Receiver {
        let dir = scratch_dir(test);
        Self::start_in(dir, listen, extra, &[])
    }

    pub fn start_in(dir: PathBuf, listen: &str, extra: &[&str], env: &[(&str, &str)]) -> Receiver {
        Self::launch(
            dir,
            listen,
            extra,
            |path| path.to_str().unwrap().to_owned(),
            |args| Process::start(&receiver_binary(), args, env),
        )
    }

    /// The same with the receiver's Windows build, on `wine`.
    pub fn start_under_wine(
        wine: &wine::Wine,
        dir: PathBuf,
        listen: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Receiver {
        let program = wine::windows_receiver_binary();
        Self::launch(dir, listen, extra, wine::windows_path, |args| {
            wine.start(&program, args, env)
        })
    }

    /// Starts a receiver with `start`, naming its files with `path`.
    fn launch(
        dir: PathBuf,
        listen: &str,
        extra: &[&str],
        path: impl Fn(&Path) -> String,
        start: impl FnOnce(&[&str]) -> Process,
    ) -> Receiver {
        let report = path(&dir.join("report.json"));
        let snapshots = path(&dir.join("snapshots"));
        let mut args = vec![
            "--listen",
            listen,
            "--stats-json",
            &report,
            "--snapshot-dir",
            &snapshots,
        ];
        if !extra.contains(&"--window") {
            args.push("--headless");
        }
        args.extend(extra.iter().filter(|a| **a != "--window"));
        let process = start(&args);
        let address = listening_address(&process);
        Receiver {
            process,
            address,
            dir,
        }
    }

    pub fn address(&self) -> String {
        self.address.to_string()
    }

    /// Stops the receiver with SIGTERM and returns its JSON report.
    pub fn stop(&mut self) -> serde_json::Value {
        let status = self.process.terminate();
        assert!(
            status.success(),
            "receiver exited with {status}; log:\n{}",
            self.process.log_text()
        );
        self.report()
    }

    pub fn report(&self) -> serde_json::Value {
        let path = self.dir.join("report.json");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "no report at {}: {e}; log:\n{}",
                path.display(),
                self.process.log_text()
            )
        });
        serde_json::from_str(&text).unwrap()
    }

    /// The snapshot PNG of stream `id` (written on exit), decoded to RGBA.
    pub fn snapshot(&self, id: u64) -> Image {
        let dir = self.dir.join("snapshots");
        let prefix = format!("stream-{id}-");
        let entry = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("no snapshots in {}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .find(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with(&prefix)
            })
            .unwrap_or_else(|| panic!("no snapshot of stream {id} in {}", dir.display()));
        Image::read_png(&entry)
    }
}

/// The address a receiver `process` says it listens on.
pub fn listening_address(process: &Process) -> SocketAddr {
    // Generous: a Windows build under Wine starts its wineserver first.
    let line = process.wait_for_log("listening on ", Duration::from_secs(60));
    line.rsplit("listening on ")
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// `frame` as it goes over the wire: length prefix and protobuf.
pub fn encoded(frame: &framewire_proto::Frame) -> Vec<u8> {
    let mut wire = Vec::new();
    smol::block_on(framewire_proto::codec::write_frame(&mut wire, frame)).unwrap();
    wire
}

/// The MKV recordings in `directory`, sorted by name (none if it is missing).
pub fn recordings(directory: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(directory)
        .map(|entries| {
            entries
                .map(|entry| entry.unwrap().path())
                .filter(|path| path.extension().is_some_and(|e| e == "mkv"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// Starts a sender with `args` after `--connect address`.
pub fn start_sender(address: &str, args: &[&str]) -> Process {
    let mut all = vec!["--connect", address];
    all.extend_from_slice(args);
    Process::start(&sender_binary(), &all, &[])
}

/// An RGBA picture.
pub struct Image {
    pub width: usize,
    pub height: usize,
    pub rgba: Vec<u8>,
}

impl Image {
    pub fn read_png(path: &Path) -> Image {
        Image::from_png(&std::fs::read(path).unwrap())
    }

    /// Decodes an RGBA or RGB PNG (a browser's screenshot may be either).
    pub fn from_png(png: &[u8]) -> Image {
        let decoder = png::Decoder::new(std::io::Cursor::new(png));
        let mut reader = decoder.read_info().unwrap();
        let mut pixels = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut pixels).unwrap();
        let rgba = match info.color_type {
            png::ColorType::Rgba => pixels,
            png::ColorType::Rgb => pixels
                .chunks_exact(3)
                .flat_map(|rgb| [rgb[0], rgb[1], rgb[2], 255])
                .collect(),
            other => panic!("a PNG of {other:?} pixels"),
        };
        Image {
            width: info.width as usize,
            height: info.height as usize,
            rgba,
        }
    }

    /// Writes the picture as an RGBA PNG (a screenshot to look at).
    pub fn write_png(&self, path: &Path) {
        let file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
        let mut encoder = png::Encoder::new(file, self.width as u32, self.height as u32);
        encoder.set_color(png::ColorType::Rgba);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().unwrap();
        writer.write_image_data(&self.rgba).unwrap();
    }

    pub fn rgb_at(&self, x: usize, y: usize) -> [u8; 3] {
        let i = (y * self.width + x) * 4;
        [self.rgba[i], self.rgba[i + 1], self.rgba[i + 2]]
    }

    /// Whether the pixel at (x, y) is within `tolerance` of `expected` in every channel.
    pub fn is_colour(&self, x: usize, y: usize, expected: [u8; 3], tolerance: u8) -> bool {
        self.rgb_at(x, y)
            .iter()
            .zip(expected)
            .all(|(g, e)| g.abs_diff(e) <= tolerance)
    }

    /// Asserts the pixel at (x, y) is within `tolerance` of `expected` in every channel.
    pub fn assert_colour(&self, x: usize, y: usize, expected: [u8; 3], tolerance: u8, what: &str) {
        let got = self.rgb_at(x, y);
        assert!(
            self.is_colour(x, y, expected, tolerance),
            "{what} at ({x}, {y}): got {got:?}, expected {expected:?}"
        );
    }
}

/// Checks that `image` (the size the pattern was sent at) shows the bars where they belong.
pub fn assert_shows_pattern_bars(image: &Image) {
    let whole = (0.0, 0.0, image.width as f64, image.height as f64);
    assert_pattern_at(image, whole, 8, "picture");
}

/// A picture's place in an image: left, top, width, height.
pub type Placed = (f64, f64, f64, f64);

/// Where the test pattern filling `placed` shows known colours: the middle
/// of each colour bar, and the dark grey band under them (right of the frame
/// counter, above the moving square). Each with its colour and its name.
fn pattern_points(placed: Placed) -> Vec<(usize, usize, [u8; 3], String)> {
    let (left, top, width, height) = placed;
    let mut points: Vec<_> = BARS
        .iter()
        .enumerate()
        .map(|(bar, colour)| {
            let x = left + (2 * bar + 1) as f64 * width / 16.0;
            let y = top + height / 3.0;
            (x as usize, y as usize, *colour, format!("bar {bar}"))
        })
        .collect();
    let x = left + width * 636.0 / 640.0;
    let y = top + height * 2.0 / 3.0 + height / 120.0;
    points.push((x as usize, y as usize, [BAND_GREY; 3], "band".into()));
    points
}

/// Whether the test pattern fills `placed` in `image` (see [`assert_pattern_at`]).
pub fn shows_pattern_at(image: &Image, placed: Placed, tolerance: u8) -> bool {
    pattern_points(placed)
        .into_iter()
        .all(|(x, y, colour, _)| image.is_colour(x, y, colour, tolerance))
}

/// Checks that the test pattern fills `placed` in `image` (a snapshot, or
/// a screenshot where it was scaled): its colour bars, and the dark grey
/// band under them, each within `tolerance`.
pub fn assert_pattern_at(image: &Image, placed: Placed, tolerance: u8, what: &str) {
    for (x, y, colour, point) in pattern_points(placed) {
        image.assert_colour(x, y, colour, tolerance, &format!("{what}: {point}"));
    }
}

/// Reads a u64 field of a JSON object, with a helpful message.
pub fn field(value: &serde_json::Value, name: &str) -> u64 {
    value[name]
        .as_u64()
        .unwrap_or_else(|| panic!("no integer '{name}' in {value:#}"))
}

/// A port that is free right now on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Tests of one binary whose figures need the machine to themselves (a
/// browser's frame rate, twenty viewers at once) take this, so they run
/// one at a time while the rest of the binary's tests run beside them.
static MEASURING: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Waits for the other measuring tests of this binary; hold the guard for
/// the test's length. A failed test's poison is ignored.
pub fn measuring_alone() -> std::sync::MutexGuard<'static, ()> {
    MEASURING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One VM at a time: each takes both cores.
static ONE_VM_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs `body` inside a VM booted by tools/camera-vm.sh (a real kernel with
/// the vivid camera, v4l2loopback, veth and netem): on the host, boots the
/// VM and runs this very test in it, failing if it fails there.
pub fn in_vm(test: &str, body: impl FnOnce()) {
    in_vm_with(test, &[], body);
}

/// [`in_vm`], with `vm_options` for `tools/camera-vm.sh` (e.g. `--camera
/// vimc`).
pub fn in_vm_with(test: &str, vm_options: &[&str], body: impl FnOnce()) {
    if std::env::var_os("CAMERA_VM").is_some() {
        body();
        return;
    }
    let _vm = ONE_VM_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let workspace = workspace();
    let output = Command::new(workspace.join("tools/camera-vm.sh"))
        .args(vm_options)
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", test, "--include-ignored", "--nocapture"])
        .current_dir(workspace)
        .output()
        .expect("cannot run tools/camera-vm.sh");
    // Indented, so that the VM's own "test result:" line is not counted
    // as a second run by whoever sums up the host's results.
    let indent = |text: &[u8]| {
        String::from_utf8_lossy(text)
            .lines()
            .map(|line| format!("  vm| {line}\n"))
            .collect::<String>()
    };
    let (stdout, stderr) = (indent(&output.stdout), indent(&output.stderr));
    // What the test printed in the VM (figures), shown with --nocapture.
    eprint!("{stderr}");
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "{test} failed in the camera VM ({}):\n{stdout}{stderr}",
        output.status
    );
}

/// Sends `signal` (e.g. "STOP") to process `pid`.
pub fn send_signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{signal} {pid} failed");
}
