//! A network path the test makes: two network namespaces joined by a veth
//! pair, the sender's side at 10.77.0.1 and the receiver's at 10.77.0.2,
//! where tc netem can delay, lose or limit what each side sends, or a
//! token bucket (tbf) limit its rate. Needs root; netem needs a kernel
//! with it, so the tests that impair the link run in the test VM
//! (tools/camera-vm.sh), while a rate limit alone works on a host kernel
//! with tbf. Everything is removed on drop.

use std::path::Path;
use std::process::Command;

use super::Process;

/// Where a receiver in [`Side::Receiver`] listens.
pub const RECEIVER_ADDRESS: &str = "10.77.0.2:12345";

/// One end of the link.
#[derive(Clone, Copy)]
pub enum Side {
    Sender,
    Receiver,
}

/// Two namespaces and the veth pair between them.
pub struct Link {
    sender_ns: String,
    receiver_ns: String,
}

/// Runs iproute2's `program` (`ip` or `tc`) with `args`; panics with its
/// error output when it fails.
fn iproute2(program: &str, args: &[&str]) {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|error| panic!("{program} (iproute2): {error}"));
    assert!(
        output.status.success(),
        "{program} {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn ip(args: &[&str]) {
    iproute2("ip", args);
}

impl Link {
    /// Makes the namespaces, named after `test` and this process.
    pub fn new(test: &str) -> Link {
        let id = std::process::id();
        let link = Link {
            sender_ns: format!("fw-{test}-s-{id}"),
            receiver_ns: format!("fw-{test}-r-{id}"),
        };
        let (s, r) = (link.sender_ns.as_str(), link.receiver_ns.as_str());
        ip(&["netns", "add", s]);
        ip(&["netns", "add", r]);
        ip(&[
            "link", "add", "veth-s", "netns", s, "type", "veth", "peer", "name", "veth-r", "netns",
            r,
        ]);
        ip(&["-n", s, "addr", "add", "10.77.0.1/24", "dev", "veth-s"]);
        ip(&["-n", r, "addr", "add", "10.77.0.2/24", "dev", "veth-r"]);
        for (ns, dev) in [(s, "veth-s"), (r, "veth-r")] {
            ip(&["-n", ns, "link", "set", "lo", "up"]);
            ip(&["-n", ns, "link", "set", dev, "up"]);
        }
        link
    }

    fn namespace_and_device(&self, side: Side) -> (&str, &str) {
        match side {
            Side::Sender => (&self.sender_ns, "veth-s"),
            Side::Receiver => (&self.receiver_ns, "veth-r"),
        }
    }

    /// Replaces the queueing discipline of what `side` sends with netem
    /// `options` (e.g. `delay 25ms`).
    pub fn impair(&self, side: Side, options: &[&str]) {
        let (ns, dev) = self.namespace_and_device(side);
        let mut args = vec!["-n", ns, "qdisc", "replace", "dev", dev, "root", "netem"];
        args.extend_from_slice(options);
        iproute2("tc", &args);
    }

    /// Limits what `side` sends to `rate` (tc's notation, e.g. `2mbit`)
    /// with a token bucket, behind a queue as deep as a home router's (a
    /// megabyte: seconds at a few Mbit/s), replacing any earlier limit.
    pub fn limit_rate(&self, side: Side, rate: &str) {
        let (ns, dev) = self.namespace_and_device(side);
        let args = [
            "-n", ns, "qdisc", "replace", "dev", dev, "root", "tbf", "rate", rate, "burst", "16kb",
            "limit", "1mb",
        ];
        iproute2("tc", &args);
    }

    /// Takes the sender's side of the link down or up.
    pub fn set_up(&self, up: bool) {
        ip(&[
            "-n",
            &self.sender_ns,
            "link",
            "set",
            "veth-s",
            if up { "up" } else { "down" },
        ]);
    }

    /// Starts a headless receiver on [`RECEIVER_ADDRESS`] that writes its
    /// report to `report`, with `extra` arguments; returns once it listens.
    pub fn start_receiver(&self, report: &Path, extra: &[&str]) -> Process {
        let mut args = vec![
            "--listen",
            RECEIVER_ADDRESS,
            "--headless",
            "--stats-json",
            report.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let receiver = self.run(Side::Receiver, &super::receiver_binary(), &args);
        receiver.wait_for_log("listening on", std::time::Duration::from_secs(20));
        receiver
    }

    /// Starts `program` in `side`'s namespace.
    pub fn run(&self, side: Side, program: &Path, args: &[&str]) -> Process {
        let (ns, _) = self.namespace_and_device(side);
        let mut all = vec!["netns", "exec", ns, program.to_str().unwrap()];
        all.extend_from_slice(args);
        Process::start(Path::new("ip"), &all, &[])
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        for ns in [&self.sender_ns, &self.receiver_ns] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}
