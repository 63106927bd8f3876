//! What the benchmarks share: reading their options, starting the real
//! binaries, following their logs, stopping them, and reading their CPU
//! time and peak memory.

#![allow(dead_code)] // each benchmark uses a different part

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The value after `--name` on the command line, if given (cargo bench
/// passes its own `--bench`, which no benchmark reads).
pub fn option<T: std::str::FromStr>(name: &str) -> Option<T> {
    let args: Vec<String> = std::env::args().collect();
    let at = args.iter().position(|arg| arg == name)?;
    let value = args
        .get(at + 1)
        .unwrap_or_else(|| panic!("{name} needs a value"));
    Some(
        value
            .parse()
            .unwrap_or_else(|_| panic!("{name}: '{value}' is not a valid value")),
    )
}

/// True when `--name` is on the command line.
pub fn flag(name: &str) -> bool {
    std::env::args().any(|arg| arg == name)
}

/// CPU time and peak memory of a finished child, from wait4(2).
pub struct Usage {
    pub cpu: Duration,
    pub peak_rss_mb: f64,
}

pub fn wait_with_usage(child: &Child) -> Usage {
    let mut status = 0;
    // SAFETY: rusage is plain data that wait4 fills in; the pid is our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as libc::pid_t;
    let result = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(result, pid, "wait4 failed");
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Usage {
        cpu: Duration::from_secs_f64(seconds(usage.ru_utime) + seconds(usage.ru_stime)),
        peak_rss_mb: usage.ru_maxrss as f64 / 1024.0,
    }
}

/// Starts a program and collects its log lines.
pub fn spawn(program: &Path, args: &[String]) -> (Child, Arc<Mutex<Vec<String>>>) {
    let mut child = Command::new(program)
        .args(args)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
    let lines = Arc::new(Mutex::new(Vec::new()));
    let collected = lines.clone();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            collected.lock().unwrap().push(line);
        }
    });
    (child, lines)
}

pub fn wait_for_line(lines: &Mutex<Vec<String>>, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(line) = lines.lock().unwrap().iter().find(|l| l.contains(needle)) {
            return line.clone();
        }
        assert!(Instant::now() < deadline, "no '{needle}' in the log");
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub fn terminate(child: &Child) {
    // SAFETY: sending a signal to our own child.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
}

/// The number after `label` in `line`, e.g. 42 from "... 42 sent, ..." with label " sent".
pub fn number_before(line: &str, label: &str) -> f64 {
    let end = line
        .find(label)
        .unwrap_or_else(|| panic!("no '{label}' in {line}"));
    line[..end]
        .rsplit([' ', '('])
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// The sender and receiver binaries cargo built.
pub fn binaries() -> (PathBuf, PathBuf) {
    let receiver = PathBuf::from(env!("CARGO_BIN_EXE_framewire-receiver"));
    let sender = receiver.with_file_name("framewire-sender");
    assert!(
        sender.exists(),
        "build the sender too: cargo bench builds both with `--workspace`"
    );
    (sender, receiver)
}
