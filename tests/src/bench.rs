//! What only the benchmarks need: their command-line options, and numbers
//! read out of the programs' log lines. They start, follow and stop the
//! programs with the kit's [`Process`](crate::Process), whose
//! [`wait_with_usage`](crate::Process::wait_with_usage) gives CPU time and
//! peak memory.

use std::time::Duration;

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

/// The mean of `values` (0 for none).
pub fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let values: Vec<f64> = values.collect();
    values.iter().sum::<f64>() / values.len().max(1) as f64
}

/// The number just after `label` in `line`, e.g. 7 from "... dropped 7, ..."
/// with label "dropped ".
pub fn number_after(line: &str, label: &str) -> Option<f64> {
    line.split(label)
        .nth(1)?
        .split([' ', ','])
        .next()?
        .parse()
        .ok()
}

/// The number just before `label` in `line`, e.g. 42 from "... 42 sent, ..."
/// with label " sent".
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

/// User plus system CPU time of a running process, to the nanosecond: the
/// kernel's CPU clock of the whole process (threads that ended included).
/// `/proc/PID/stat` counts in 10 ms ticks, too coarse for a process that
/// spends tens of milliseconds in the seconds a test watches it; it is the
/// fallback where the clock cannot be read.
pub fn cpu_time(pid: u32) -> Duration {
    process_cpu_clock(pid).unwrap_or_else(|| cpu_ticks(pid))
}

fn process_cpu_clock(pid: u32) -> Option<Duration> {
    let mut clock: libc::clockid_t = 0;
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: both calls only write the out-parameters given; a process
    // that has gone yields an error, not undefined behaviour.
    let read = unsafe {
        libc::clock_getcpuclockid(pid as libc::pid_t, &mut clock) == 0
            && libc::clock_gettime(clock, &mut now) == 0
    };
    read.then(|| Duration::new(now.tv_sec as u64, now.tv_nsec as u32))
}

fn cpu_ticks(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name (which may contain spaces).
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<u64>().ok())
        .sum();
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Duration::from_secs_f64(ticks as f64 / per_second)
}
