//! What a hostile or buggy peer can do with time and rates (issue 27), with
//! the real binaries over loopback: a receiver that sends absurd and
//! flooding control messages to a sender, and peers (senders and web pages)
//! that flood a receiver with small messages beside a healthy stream. Each
//! prints its figures on a line starting `attack:`, so
//! `cargo test --test time_attacks -- --nocapture` gives the table; CPU
//! and memory figures come from `/proc` of the real processes.

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use framewire_proto::codec::{FrameReader, write_control};
use framewire_proto::{ClockProbe, Control, Frame, FullFrameRequest, RateLimit};
use framewire_tests::bench::{cpu_time, number_before};
use framewire_tests::web::receiver_metric;
use framewire_tests::*;

/// A receiver of the test's own: it reads a sender's frames and counts
/// those with a picture, while the test writes control messages back.
struct FakeReceiver {
    /// The accepted connection, for writing control messages.
    socket: TcpStream,
    pictures: Arc<AtomicU64>,
}

impl FakeReceiver {
    /// Waits for the sender to connect to `listener` and starts counting.
    fn accept(listener: &TcpListener) -> FakeReceiver {
        let (socket, _) = listener.accept().unwrap();
        let pictures = Arc::new(AtomicU64::new(0));
        let (reading, counted) = (socket.try_clone().unwrap(), pictures.clone());
        std::thread::spawn(move || {
            smol::block_on(async {
                let Ok(socket) = smol::Async::new(reading) else {
                    return;
                };
                let mut frames = FrameReader::new(socket, 16 << 20);
                while let Ok(Some(frame)) = frames.read_frame().await {
                    if !frame.image.is_empty() {
                        counted.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        });
        FakeReceiver { socket, pictures }
    }

    fn pictures(&self) -> u64 {
        self.pictures.load(Ordering::Relaxed)
    }

    fn send(&mut self, control: &Control) {
        self.socket.write_all(&wire(control)).unwrap();
    }

    /// Pictures that arrive in `window`.
    fn pictures_in(&self, window: Duration) -> u64 {
        let before = self.pictures();
        std::thread::sleep(window);
        self.pictures() - before
    }
}

fn wire(control: &Control) -> Vec<u8> {
    let mut bytes = Vec::new();
    smol::block_on(write_control(&mut bytes, control)).unwrap();
    bytes
}

fn rate_limit(max_fps: f32) -> Control {
    Control {
        rate_limit: Some(RateLimit { max_fps }),
        ..Control::default()
    }
}

/// Bytes the process has logged so far.
fn log_bytes(process: &Process) -> usize {
    process
        .log
        .lock()
        .unwrap()
        .iter()
        .map(|line| line.len() + 1)
        .sum()
}

/// Attacks 1 to 3 on the board: a rate limit of 1e-30 (which made a
/// `Duration` panic in the capture thread), 1e-6 lifted 3 s later (which
/// froze a paced source for days), then every kind of control message back
/// to back for 10 s. The sender keeps streaming, spends under 10 % of a
/// core and writes under 10 kB/s of log during the flood, and stops on
/// SIGTERM within its promised 2 s.
#[test]
fn a_hostile_receiver_cannot_stall_flood_or_kill_the_sender() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let mut sender = start_sender(
        &address,
        &["--size", "320x240", "--fps", "30", "--name", "board"],
    );
    let pid = sender.child.id();
    let mut receiver = FakeReceiver::accept(&listener);
    let streaming = receiver.pictures_in(Duration::from_secs(2));
    assert!(
        streaming >= 30,
        "only {streaming} pictures in 2 s before any attack"
    );

    // 1: an absurd limit, then an honest one: the stream comes back.
    receiver.send(&rate_limit(1e-30));
    std::thread::sleep(Duration::from_secs(1));
    receiver.send(&rate_limit(1000.0));
    let after_absurd = receiver.pictures_in(Duration::from_secs(2));
    eprintln!("attack: 1 rate limit 1e-30, then 1000: {after_absurd} pictures in the next 2 s");
    assert!(after_absurd >= 30, "{}", sender.log_text());

    // 2: a tiny limit lifted 3 s later (a limit of 0 lifts it).
    receiver.send(&rate_limit(1e-6));
    std::thread::sleep(Duration::from_secs(3));
    receiver.send(&rate_limit(0.0));
    let lifted_at = Instant::now();
    let before = receiver.pictures();
    while receiver.pictures() < before + 2 && lifted_at.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let resumed = lifted_at.elapsed();
    eprintln!("attack: 2 rate limit 1e-6 lifted after 3 s: streaming again in {resumed:?}");
    assert!(resumed < Duration::from_secs(2), "{}", sender.log_text());

    // 3: every kind of control message, back to back, for 10 s.
    let mut flood = Vec::new();
    for index in 0..2000u32 {
        let control = Control {
            clock_probe: Some(ClockProbe {
                receiver_send_time_us: u64::from(index),
            }),
            full_frame: Some(FullFrameRequest {}),
            rate_limit: Some(RateLimit {
                max_fps: if index % 2 == 0 { 1000.0 } else { 2000.0 },
            }),
            ..Control::default()
        };
        flood.extend(wire(&control));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let flooder = {
        let (mut socket, stop) = (receiver.socket.try_clone().unwrap(), stop.clone());
        std::thread::spawn(move || {
            let mut written = 0usize;
            while !stop.load(Ordering::Relaxed) && socket.write_all(&flood).is_ok() {
                written += flood.len();
            }
            written
        })
    };
    std::thread::sleep(Duration::from_secs(1)); // the socket's buffers fill
    let (cpu_before, log_before, pictures_before) =
        (cpu_time(pid), log_bytes(&sender), receiver.pictures());
    let window = Duration::from_secs(10);
    std::thread::sleep(window);
    let cpu = (cpu_time(pid) - cpu_before).as_secs_f64() / window.as_secs_f64();
    let log_rate = (log_bytes(&sender) - log_before) as f64 / window.as_secs_f64();
    let fps = (receiver.pictures() - pictures_before) as f64 / window.as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let _ = receiver.socket.shutdown(std::net::Shutdown::Read);

    // SIGTERM, with a flood still in the socket.
    let signalled = Instant::now();
    sender.signal("TERM");
    let status = sender.wait_exit(Duration::from_secs(10));
    let stopped_in = signalled.elapsed();
    let _ = receiver.socket.shutdown(std::net::Shutdown::Both);
    let written = flooder.join().unwrap();
    eprintln!(
        "attack: 3 control flood ({:.1} MB written by the receiver): sender at {:.1} % of a core, \
         {log_rate:.0} B/s of log, {fps:.1} pictures/s; SIGTERM ended it in {stopped_in:?}",
        written as f64 / 1e6,
        cpu * 100.0
    );
    assert!(cpu < 0.10, "the flood took {:.0} % of a core", cpu * 100.0);
    assert!(
        log_rate < 10_000.0,
        "{log_rate:.0} B/s of log:\n{}",
        sender.log_text()
    );
    assert!(fps >= 20.0, "{fps:.1} pictures a second during the flood");
    assert!(status.success(), "{status:?}\n{}", sender.log_text());
    assert!(stopped_in < Duration::from_secs(2), "{stopped_in:?}");
}

/// A panic in a sender thread (a fault point of debug builds makes the
/// encoder worker panic at picture 20) ends the process with status 101,
/// so that systemd's `Restart=on-failure` starts it again, instead of
/// leaving a live process that sends nothing.
#[test]
fn a_panic_in_a_sender_thread_ends_the_process() {
    let receiver = Receiver::start("attack-panic", "127.0.0.1:0", &[]);
    let mut sender = Process::start(
        &sender_binary(),
        &[
            "--connect",
            &receiver.address(),
            "--fps",
            "30",
            "--name",
            "doomed",
        ],
        &[("FRAMEWIRE_FAULT_PANIC_AT_PICTURE", "20")],
    );
    let started = Instant::now();
    let status = sender.wait_exit(Duration::from_secs(20));
    eprintln!(
        "attack: a panicking encoder thread ended the sender in {:?} with {status}",
        started.elapsed()
    );
    assert_eq!(status.code(), Some(101), "{}", sender.log_text());
    assert!(
        sender.log_text().contains("a sender thread panicked"),
        "{}",
        sender.log_text()
    );
}

/// A healthy stream into `receiver` (640x480 at 30 fps, one quality),
/// settled for 2 s: its sender, and the mark in the receiver's log from
/// which its seconds are measured ([`decoded_rates`]).
fn start_healthy_stream(receiver: &Receiver) -> (Process, usize) {
    let healthy = start_sender(
        &receiver.address(),
        &[
            "--size",
            "640x480",
            "--fps",
            "30",
            "--name",
            "healthy",
            "--fixed-quality",
        ],
    );
    receiver
        .process
        .wait_for_log("is 'healthy'", Duration::from_secs(40));
    std::thread::sleep(Duration::from_secs(2));
    (healthy, receiver.process.log_len())
}

/// One second's decoded rate of `name`'s stream from each of the
/// receiver's progress lines from line `from` on.
fn decoded_rates(receiver: &Receiver, name: &str, from: usize) -> Vec<f64> {
    receiver
        .process
        .log_since(from)
        .iter()
        .filter(|line| line.contains(name) && line.contains(" fps decoded"))
        .map(|line| number_before(line, " fps decoded"))
        .collect()
}

/// What a flooding peer sends, as fast as its socket takes it.
#[derive(Clone, Copy, Debug)]
enum Flood {
    KeepAlives,
    TinyFrames,
    Renames,
}

/// A real 16x16 JPEG.
fn tiny_jpeg() -> Vec<u8> {
    let mut compress = mozjpeg::Compress::new(mozjpeg::ColorSpace::JCS_RGB);
    compress.set_size(16, 16);
    compress.set_quality(80.0);
    let pixels: Vec<u8> = (0..16 * 16 * 3).map(|i| (i * 7) as u8).collect();
    let mut started = compress.start_compress(Vec::new()).unwrap();
    started.write_scanlines(&pixels).unwrap();
    started.finish().unwrap()
}

/// One peer sending `flood` back to back from `address`, reconnecting
/// whenever it is closed, until `stop`; returns the connections it made.
fn flooding_peer(
    address: SocketAddr,
    flood: Flood,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<u64> {
    let tiny = tiny_jpeg();
    std::thread::spawn(move || {
        let mut burst = Vec::new();
        for sequence in 1..=500u64 {
            let frame = match flood {
                Flood::KeepAlives => Frame::keep_alive("flood"),
                Flood::TinyFrames => Frame {
                    image: tiny.clone().into(),
                    sequence,
                    stream_name: "flood".into(),
                    ..Frame::default()
                },
                Flood::Renames => Frame {
                    image: tiny.clone().into(),
                    sequence,
                    stream_name: if sequence % 2 == 0 { "a" } else { "b" }.into(),
                    ..Frame::default()
                },
            };
            burst.extend(encoded(&frame));
        }
        let mut connections = 0;
        while !stop.load(Ordering::Relaxed) {
            let Ok(mut socket) = TcpStream::connect(address) else {
                std::thread::sleep(Duration::from_millis(50));
                continue;
            };
            connections += 1;
            while !stop.load(Ordering::Relaxed) && socket.write_all(&burst).is_ok() {}
        }
        connections
    })
}

/// Attack 4: one peer sending keep-alives, tiny frames or renames as fast
/// as its socket takes them, beside a healthy 640x480 stream at 30 fps:
/// the healthy stream never falls under 25 fps in any second, a peer that
/// floods keep-alives or renames is closed, and the log stays small.
#[test]
fn a_flooding_sender_does_not_freeze_the_other_streams() {
    let _alone = measuring_alone();
    for flood in [Flood::KeepAlives, Flood::TinyFrames, Flood::Renames] {
        let mut receiver =
            Receiver::start("attack-flood", "127.0.0.1:0", &["--stats-interval", "1"]);
        let (mut healthy, mark) = start_healthy_stream(&receiver);
        let log_before = log_bytes(&receiver.process);
        let stop = Arc::new(AtomicBool::new(false));
        let peer = flooding_peer(receiver.address, flood, stop.clone());
        let window = Duration::from_secs(10);
        std::thread::sleep(window);
        stop.store(true, Ordering::Relaxed);
        let connections = peer.join().unwrap();
        let log_rate = (log_bytes(&receiver.process) - log_before) as f64 / window.as_secs_f64();
        let rates = decoded_rates(&receiver, "healthy", mark);
        let lowest = rates.iter().copied().fold(f64::INFINITY, f64::min);
        eprintln!(
            "attack: 4 {flood:?} flood: healthy stream {lowest:.1} fps in its worst second \
             ({} seconds), the flooding peer connected {connections} times, {log_rate:.0} B/s of log",
            rates.len()
        );
        healthy.terminate();
        receiver.stop();
        assert!(rates.len() >= 8, "{rates:?}");
        assert!(
            lowest >= 25.0,
            "{flood:?}: {rates:?}\n{}",
            receiver.process.log_text()
        );
        assert!(log_rate < 10_000.0, "{flood:?}: {log_rate:.0} B/s of log");
        match flood {
            Flood::KeepAlives | Flood::Renames => assert!(
                receiver.process.log_text().contains("faster than")
                    || receiver
                        .process
                        .log_text()
                        .contains("renamed its stream more than"),
                "{flood:?}: the flooding peer was not closed"
            ),
            Flood::TinyFrames => {}
        }
    }
}

/// A TCP connection to `to` from the local address `from` (any of
/// 127.0.0.0/8 is this machine's).
fn connect_from(from: std::net::Ipv4Addr, to: SocketAddr) -> std::io::Result<TcpStream> {
    use std::os::fd::FromRawFd;
    let SocketAddr::V4(to) = to else {
        return Err(std::io::Error::other("IPv4 only"));
    };
    let address = |ip: std::net::Ipv4Addr, port: u16| libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(ip).to_be(),
        },
        sin_zero: [0; 8],
    };
    let length = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: a fresh socket, bound and connected with valid sockaddr_in
    // values; it is owned by the TcpStream made from it (or closed here).
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let stream = TcpStream::from_raw_fd(fd);
        let local = address(from, 0);
        if libc::bind(fd, (&local as *const libc::sockaddr_in).cast(), length) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let remote = address(*to.ip(), to.port());
        if libc::connect(fd, (&remote as *const libc::sockaddr_in).cast(), length) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(stream)
    }
}

/// What squatters do with the connections they hold.
struct Squatting {
    /// Connections each address keeps open.
    keep: usize,
    /// What a connection sends first, by how many the address opened
    /// before it (empty: nothing).
    opening: fn(u64) -> &'static [u8],
    /// What every held connection sends each round (empty: nothing).
    trickle: &'static [u8],
    /// How often an address looks again.
    round: Duration,
}

/// Squatters from `addresses` addresses (127.0.0.2 on), each keeping
/// `squatting.keep` connections to `to` and opening a new one whenever the
/// receiver closes one, until `stop`; each thread returns how many it
/// opened.
fn squat(
    addresses: u8,
    to: SocketAddr,
    squatting: Squatting,
    stop: &Arc<AtomicBool>,
) -> Vec<std::thread::JoinHandle<u64>> {
    (0..addresses)
        .map(|index| {
            let (stop, from) = (stop.clone(), std::net::Ipv4Addr::new(127, 0, 0, 2 + index));
            std::thread::spawn(move || {
                let mut held: Vec<TcpStream> = Vec::new();
                let mut opened = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    // Forget the sockets the receiver closed.
                    held.retain(still_open);
                    while held.len() < squatting.keep {
                        let Ok(mut socket) = connect_from(from, to) else {
                            break;
                        };
                        let opening = (squatting.opening)(opened);
                        if !opening.is_empty() {
                            let _ = socket.write_all(opening);
                        }
                        held.push(socket);
                        opened += 1;
                    }
                    if !squatting.trickle.is_empty() {
                        for socket in &held {
                            let _ = (&*socket).write(squatting.trickle);
                        }
                    }
                    std::thread::sleep(squatting.round);
                }
                opened
            })
        })
        .collect()
}

/// Attack 8: silent sockets from 8 and from 32 addresses (127.0.0.2 on),
/// each address holding every pending place it may (8) and opening a new
/// one whenever one is closed: a sender with the token, from 127.0.0.1,
/// still has its first frame shown within 2 s.
#[test]
fn squatters_from_many_addresses_do_not_keep_a_sender_out() {
    for addresses in [8u8, 32] {
        let receiver = Receiver::start(
            "attack-squat-many",
            "127.0.0.1:0",
            &["--token", "right-token"],
        );
        let to = receiver.address;
        let stop = Arc::new(AtomicBool::new(false));
        let squatters = squat(
            addresses,
            to,
            Squatting {
                keep: 8,
                opening: |_| b"",
                trickle: b"",
                round: Duration::from_millis(20),
            },
            &stop,
        );
        std::thread::sleep(Duration::from_secs(2));
        let started = Instant::now();
        let mut sender = start_sender(
            &format!("127.0.0.1:{}", to.port()),
            &[
                "--token",
                "right-token",
                "--name",
                "real",
                "--size",
                "320x240",
            ],
        );
        receiver
            .process
            .wait_for_log("is 'real'", Duration::from_secs(40));
        let first_frame = started.elapsed();
        stop.store(true, Ordering::Relaxed);
        let opened: u64 = squatters.into_iter().map(|s| s.join().unwrap()).sum();
        eprintln!(
            "attack: 8 squatters from {addresses} addresses ({opened} sockets opened): the token \
             sender's stream was up after {first_frame:?}"
        );
        sender.terminate();
        drop(receiver);
        assert!(
            first_frame < Duration::from_secs(2),
            "{addresses} addresses: {first_frame:?}"
        );
    }
}

/// A raw HTTP/1.1 request to `address`: the status code of its answer.
fn http_status(address: SocketAddr, request: &str) -> u16 {
    let mut socket = TcpStream::connect(address).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    socket.write_all(request.as_bytes()).unwrap();
    let head = read_head(&mut socket);
    head.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {head:?}"))
}

/// An HTTP answer's head, read byte by byte so that nothing after it is
/// taken from the socket (up to where the peer stopped, if it did).
fn read_head(socket: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && std::io::Read::read(socket, &mut byte).unwrap_or(0) == 1 {
        head.push(byte[0]);
    }
    String::from_utf8_lossy(&head).into_owned()
}

fn web_address(receiver: &Receiver) -> SocketAddr {
    framewire_tests::web::web_url(&receiver.process)
        .trim_start_matches("http://")
        .parse()
        .unwrap()
}

/// Attacks 9 and 11 (Host): a request carrying more than one token
/// candidate is a wrong guess even when one of them is right, and a
/// request for a foreign `Host` (DNS rebinding) gets 403, while addresses,
/// localhost and `--web-host` names are answered.
#[test]
fn one_guess_per_request_and_only_known_hosts_are_answered() {
    let receiver = Receiver::start(
        "attack-web-guesses",
        "127.0.0.1:0",
        &[
            "--http",
            "127.0.0.1:0",
            "--token",
            "1234",
            "--web-host",
            "cams.home.arpa",
        ],
    );
    let web = web_address(&receiver);
    let get = |path: &str, host: &str, extra: &str| {
        http_status(
            web,
            &format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n"),
        )
    };
    let host = web.to_string();
    assert_eq!(get("/api/streams?token=1234", &host, ""), 200);
    let guesses: String = (0..1000)
        .map(|n| format!("token={:04}&", n * 10 + 4))
        .collect();
    let started = Instant::now();
    let several = get(&format!("/api/streams?{guesses}"), &host, "");
    eprintln!(
        "attack: 9 a thousand candidates in one request: answered {several} after {:?}",
        started.elapsed()
    );
    assert_eq!(several, 401, "1,000 candidates, the right one among them");
    assert_eq!(
        get(
            "/api/streams?token=0000",
            &host,
            "Authorization: Bearer 1234\r\n"
        ),
        401
    );
    assert_eq!(
        get(
            "/api/streams?token=1234",
            &host,
            "Authorization: Bearer 1234\r\n"
        ),
        200,
        "the same token twice is one guess"
    );
    for foreign in [
        "attacker.example",
        "attacker.example:8080",
        "127.0.0.1.nip.io",
    ] {
        let status = get("/api/streams?token=1234", foreign, "");
        eprintln!("attack: 11 Host {foreign}: {status}");
        assert_eq!(status, 403, "{foreign}");
    }
    for known in ["localhost", "cams.home.arpa:8080", "[::1]"] {
        assert_eq!(get("/api/streams?token=1234", known, ""), 200, "{known}");
    }
}

/// The status of `request`'s answer from `address`, `None` if the
/// connection is refused or closed before one.
fn try_http_status(address: SocketAddr, request: &str) -> Option<u16> {
    let mut socket = TcpStream::connect(address).ok()?;
    socket
        .set_read_timeout(Some(Duration::from_secs(20)))
        .ok()?;
    socket.write_all(request.as_bytes()).ok()?;
    read_head(&mut socket)
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Whether the receiver has not closed `socket` (nothing to read yet).
fn still_open(socket: &TcpStream) -> bool {
    let _ = socket.set_nonblocking(true);
    let mut byte = [0u8; 1];
    matches!(
        std::io::Read::read(&mut &*socket, &mut byte),
        Err(ref e) if e.kind() == std::io::ErrorKind::WouldBlock
    )
}

/// Attack 7: from four addresses (127.0.0.2 on), half `POST /login`s whose
/// body never comes and half request heads sent a byte a second, each
/// address holding every connection it may and opening a new one whenever
/// one is closed: a token holder's requests, from 127.0.0.1, are all
/// answered, each within 2 s.
#[test]
fn silent_bodies_and_slow_heads_do_not_keep_a_token_holder_out() {
    let receiver = Receiver::start(
        "attack-web-places",
        "127.0.0.1:0",
        &["--http", "127.0.0.1:0", "--token", "right-token"],
    );
    let web = web_address(&receiver);
    let stop = Arc::new(AtomicBool::new(false));
    // The slow heads go on, a byte at a time.
    let squatters = squat(
        4,
        web,
        Squatting {
            keep: 48,
            opening: |opened| {
                if opened.is_multiple_of(2) {
                    b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n"
                } else {
                    b"GET /api/streams HTTP/1.1\r\n"
                }
            },
            trickle: b"X",
            round: Duration::from_millis(200),
        },
        &stop,
    );
    std::thread::sleep(Duration::from_secs(3));
    let request = format!(
        "GET /api/streams?token=right-token HTTP/1.1\r\nHost: {web}\r\nConnection: close\r\n\r\n"
    );
    let mut answers = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        let status = try_http_status(web, &request);
        answers.push((status, started.elapsed()));
        std::thread::sleep(Duration::from_millis(250));
    }
    stop.store(true, Ordering::Relaxed);
    let opened: u64 = squatters.into_iter().map(|s| s.join().unwrap()).sum();
    let answered = answers
        .iter()
        .filter(|(status, _)| *status == Some(200))
        .count();
    let slowest = answers.iter().map(|(_, took)| *took).max().unwrap();
    eprintln!(
        "attack: 7 silent bodies and slow heads from 4 addresses ({opened} connections opened): \
         the token holder got {answered} of {} answers, the slowest after {slowest:?}",
        answers.len()
    );
    assert_eq!(answered, answers.len(), "{answers:?}");
    assert!(slowest < Duration::from_secs(2), "{answers:?}");
}

/// A WebSocket client frame (masked, as a client's must be).
fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x12u8, 0x34, 0x56, 0x78];
    let mut frame = vec![0x80 | opcode];
    match payload.len() {
        n if n < 126 => frame.push(0x80 | n as u8),
        n => {
            frame.push(0x80 | 126);
            frame.extend((n as u16).to_be_bytes());
        }
    }
    frame.extend(mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

/// A page's WebSocket, opened by hand; the answer's head is read. `None`
/// if it is not let in (every viewer place taken, say).
fn open_web_socket(address: SocketAddr) -> Option<TcpStream> {
    let mut socket = TcpStream::connect(address).ok()?;
    socket
        .write_all(
            format!(
                "GET /ws HTTP/1.1\r\nHost: {address}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            )
            .as_bytes(),
        )
        .ok()?;
    read_head(&mut socket)
        .starts_with("HTTP/1.1 101")
        .then_some(socket)
}

/// Attacks 5 and 6: pages that send `{"show":null}` or pings back to back
/// and read nothing, beside a healthy stream: the stream keeps its rate,
/// the pages are closed, and the receiver's memory stays in its budget.
#[test]
fn flooding_and_pinging_pages_are_closed_and_the_stream_keeps_its_rate() {
    let _alone = measuring_alone();
    let mut receiver = Receiver::start(
        "attack-pages",
        "127.0.0.1:0",
        &[
            "--http",
            "127.0.0.1:0",
            "--stats-interval",
            "1",
            "--max-memory",
            "256",
        ],
    );
    let web = web_address(&receiver);
    let (mut healthy, mark) = start_healthy_stream(&receiver);
    let stop = Arc::new(AtomicBool::new(false));
    let pages: Vec<_> = (0..32)
        .map(|index| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let message = if index == 0 {
                    client_frame(0x1, br#"{"show":null}"#)
                } else {
                    client_frame(0x9, b"ping")
                };
                let burst: Vec<u8> = message
                    .iter()
                    .copied()
                    .cycle()
                    .take(message.len() * 1000)
                    .collect();
                let mut closed = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let Some(mut socket) = open_web_socket(web) else {
                        std::thread::sleep(Duration::from_millis(50));
                        continue;
                    };
                    let _ = socket.set_write_timeout(Some(Duration::from_secs(1)));
                    while !stop.load(Ordering::Relaxed) && socket.write_all(&burst).is_ok() {}
                    closed += 1;
                }
                closed
            })
        })
        .collect();
    let pid = receiver.process.child.id();
    let mut peak_rss: f64 = 0.0;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(10) {
        peak_rss = peak_rss.max(receiver.process.resident_mib());
        std::thread::sleep(Duration::from_millis(100));
    }
    stop.store(true, Ordering::Relaxed);
    let closed: Vec<u64> = pages.into_iter().map(|page| page.join().unwrap()).collect();
    let rates = decoded_rates(&receiver, "healthy", mark);
    let lowest = rates.iter().copied().fold(f64::INFINITY, f64::min);
    eprintln!(
        "attack: 5+6 a page sending show and 31 pinging pages: healthy stream {lowest:.1} fps in \
         its worst second, receiver (pid {pid}) peak RSS {peak_rss:.0} MiB, the flooding page \
         was closed {} times",
        closed[0]
    );
    healthy.terminate();
    receiver.stop();
    assert!(rates.len() >= 8, "{rates:?}");
    assert!(lowest >= 25.0, "{rates:?}");
    assert!(
        peak_rss < 256.0,
        "{peak_rss:.0} MiB against a budget of 256"
    );
    assert!(
        closed[0] >= 2,
        "the page sending show back to back was never closed"
    );
}

/// Attack 11 (places): 16 pages that never read and 16 MJPEG clients that
/// read 4 KiB every 8 s hold all 32 viewer places beside a live stream;
/// they are measured by the frames they do not take, so every place is
/// given back within 30 s (10 s without a frame taken, plus what the
/// kernel's buffers took first), and a new viewer gets in.
#[test]
fn idle_pages_and_trickling_mjpeg_clients_give_their_places_back() {
    let receiver = Receiver::start(
        "attack-idle-viewers",
        "127.0.0.1:0",
        &["--http", "127.0.0.1:0", "--max-viewers", "32"],
    );
    let web = web_address(&receiver);
    let url = format!("http://{web}");
    let (mut healthy, _) = start_healthy_stream(&receiver);
    let stop = Arc::new(AtomicBool::new(false));
    let idle_pages: Vec<TcpStream> = (0..16)
        .map(|_| open_web_socket(web).expect("a viewer place for the page"))
        .collect();
    let tricklers: Vec<_> = (0..16)
        .map(|_| {
            let mut socket = TcpStream::connect(web).unwrap();
            socket
                .write_all(
                    format!("GET /streams/healthy.mjpg HTTP/1.1\r\nHost: {web}\r\n\r\n").as_bytes(),
                )
                .unwrap();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut buffer = vec![0u8; 4096];
                while !stop.load(Ordering::Relaxed) {
                    let _ = std::io::Read::read(&mut socket, &mut buffer);
                    for _ in 0..16 {
                        if !stop.load(Ordering::Relaxed) {
                            std::thread::sleep(Duration::from_millis(500));
                        }
                    }
                }
            })
        })
        .collect();
    let watching = || receiver_metric(&url, "framewire_viewers");
    let deadline = Instant::now() + Duration::from_secs(10);
    while watching() < 32.0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let started = Instant::now();
    let mut held = watching();
    eprintln!("attack: 11 idle viewers: {held} of 32 viewer places held");
    while held > 0.0 && started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(500));
        held = watching();
    }
    let all_back = started.elapsed();
    let newcomer = open_web_socket(web).is_some();
    stop.store(true, Ordering::Relaxed);
    tricklers
        .into_iter()
        .for_each(|trickler| trickler.join().unwrap());
    eprintln!(
        "attack: 11 16 pages that never read and 16 MJPEG clients reading 4 KiB every 8 s: \
         every place back after {all_back:?}, a new viewer let in: {newcomer}"
    );
    drop(idle_pages);
    healthy.terminate();
    assert_eq!(held, 0.0, "viewer places still held after {all_back:?}");
    assert!(all_back < Duration::from_secs(30), "{all_back:?}");
    assert!(newcomer, "a new viewer gets a place");
}

/// Attack 11 (clock): a v2 sender whose clock replies flip 10 s either
/// way is followed at the steady probe rate, not every 50 ms, and its
/// clock steps are logged a few times, not 20 times a second.
#[test]
fn a_sender_whose_clock_replies_flip_is_probed_and_logged_sparingly() {
    let receiver = Receiver::start("attack-clock-flip", "127.0.0.1:0", &[]);
    let socket = TcpStream::connect(receiver.address).unwrap();
    let mut writer = socket.try_clone().unwrap();
    writer
        .write_all(&encoded(&Frame::hello("flip", None)))
        .unwrap();
    let tiny = tiny_jpeg();
    let stop = Arc::new(AtomicBool::new(false));
    let probes = Arc::new(AtomicU64::new(0));
    // Frames at 10 a second, so the stream is live.
    let frames = {
        let (mut writer, stop) = (writer.try_clone().unwrap(), stop.clone());
        std::thread::spawn(move || {
            for sequence in 1.. {
                let frame = Frame {
                    image: tiny.clone().into(),
                    sequence,
                    stream_name: "flip".into(),
                    capture_time_us: framewire_proto::unix_time_us(),
                    ..Frame::default()
                };
                if stop.load(Ordering::Relaxed) || writer.write_all(&encoded(&frame)).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    // Every probe answered, 10 s ahead and behind in turn.
    let answers = {
        let (probes, stop) = (probes.clone(), stop.clone());
        std::thread::spawn(move || {
            let Ok(socket) = smol::Async::new(socket) else {
                return;
            };
            let mut reader = FrameReader::new(socket, 1 << 20);
            while !stop.load(Ordering::Relaxed) {
                let Ok(Some(control)) = smol::block_on(reader.read_message::<Control>()) else {
                    return;
                };
                let Some(probe) = control.clock_probe else {
                    continue;
                };
                let count = probes.fetch_add(1, Ordering::Relaxed);
                let offset: i64 = if count % 2 == 0 {
                    10_000_000
                } else {
                    -10_000_000
                };
                let now = (framewire_proto::unix_time_us() as i64 + offset) as u64;
                let reply = Frame {
                    clock_reply: Some(framewire_proto::ClockReply {
                        receiver_send_time_us: probe.receiver_send_time_us,
                        sender_receive_time_us: now,
                        sender_send_time_us: now,
                    }),
                    ..Frame::keep_alive("flip")
                };
                if writer.write_all(&encoded(&reply)).is_err() {
                    return;
                }
            }
        })
    };
    receiver
        .process
        .wait_for_log("is 'flip'", Duration::from_secs(20));
    let window = Duration::from_secs(10);
    std::thread::sleep(window);
    let probed = probes.load(Ordering::Relaxed);
    let steps_logged = receiver.process.count_log("a clock was stepped");
    stop.store(true, Ordering::Relaxed);
    let _ = frames.join();
    drop(receiver);
    let _ = answers.join();
    eprintln!(
        "attack: 11 clock replies flipping 10 s either way: {probed} probes in {window:?}, \
         {steps_logged} clock-step warnings"
    );
    assert!(probed <= 30, "{probed} probes in {window:?}");
    assert!(steps_logged <= 6, "{steps_logged} warnings");
}

/// A JPEG of a picture with detail (a gradient with noise), as a camera
/// would send.
fn detailed_jpeg(width: usize, height: usize) -> Vec<u8> {
    let mut compress = mozjpeg::Compress::new(mozjpeg::ColorSpace::JCS_RGB);
    compress.set_size(width, height);
    compress.set_quality(80.0);
    let mut seed = 1u32;
    let pixels: Vec<u8> = (0..width * height * 3)
        .map(|index| {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            ((index / 3 % width * 255 / width) as u32 + (seed >> 28)) as u8
        })
        .collect();
    let mut started = compress.start_compress(Vec::new()).unwrap();
    started.write_scanlines(&pixels).unwrap();
    started.finish().unwrap()
}

/// Attack 11 (exit): 32 streams that each keep an 8K picture for
/// `--snapshot-dir`: SIGTERM ends the receiver within 3 s, with its
/// report, every picture saved: as PNG while there is time, as the JPEG
/// received after that.
#[test]
fn exit_takes_under_3_s_with_32_kept_8k_pictures() {
    // 32 8K decodes: not beside a test that measures rates.
    let _alone = measuring_alone();
    let mut receiver = Receiver::start(
        "attack-exit-8k",
        "127.0.0.1:0",
        &[
            "--max-memory",
            "8192",
            "--max-senders",
            "32",
            "--http",
            "127.0.0.1:0",
        ],
    );
    let snapshots = receiver.dir.join("snapshots");
    let web = web_address(&receiver);
    let jpeg = detailed_jpeg(7680, 4320);
    let decoded = || {
        let document = framewire_tests::web::get_json(&format!("http://{web}/api/streams"));
        let streams = document["streams"].as_array().cloned().unwrap_or_default();
        streams
            .iter()
            .filter(|stream| stream["frames_decoded"].as_u64() >= Some(1))
            .count()
    };
    // One stream after the other, so that no picture is refused for the
    // memory 32 decoders would take at once; each then keeps its
    // connection with a keep-alive a second, as a sender does.
    let senders = Arc::new(std::sync::Mutex::new(Vec::<(TcpStream, Vec<u8>)>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let keep_alives = {
        let (senders, stop) = (senders.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                for (socket, keep_alive) in senders.lock().unwrap().iter_mut() {
                    let _ = socket.write_all(keep_alive);
                }
                std::thread::sleep(Duration::from_secs(1));
            }
        })
    };
    for index in 0..32 {
        let name = format!("cam{index}");
        let mut socket = TcpStream::connect(receiver.address).unwrap();
        let frame = Frame {
            image: jpeg.clone().into(),
            sequence: 1,
            stream_name: name.clone(),
            ..Frame::default()
        };
        socket.write_all(&encoded(&frame)).unwrap();
        senders
            .lock()
            .unwrap()
            .push((socket, encoded(&Frame::keep_alive(&name))));
        let deadline = Instant::now() + Duration::from_secs(20);
        while decoded() <= index && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    assert_eq!(
        decoded(),
        32,
        "every 8K picture decoded ({} B):\n{}",
        jpeg.len(),
        receiver.process.log_text()
    );
    let signalled = Instant::now();
    let status = receiver.process.terminate();
    let took = signalled.elapsed();
    stop.store(true, Ordering::Relaxed);
    keep_alives.join().unwrap();
    let saved = |extension: &str| {
        std::fs::read_dir(&snapshots)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter(|entry| entry.path().extension().is_some_and(|e| e == extension))
                    .count()
            })
            .unwrap_or(0)
    };
    let (png, jpg) = (saved("png"), saved("jpg"));
    eprintln!(
        "attack: 11 exit with 32 kept 8K pictures: {took:?}; {png} saved as PNG, {jpg} as \
         received"
    );
    assert!(status.success(), "{}", receiver.process.log_text());
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert_eq!(
        png + jpg,
        32,
        "every last picture saved, one way or the other"
    );
    assert!(png >= 1, "{}", receiver.process.log_text());
    let report = receiver.report();
    assert!(field(&report, "frames_received") >= 32, "{report}");
    // Some 200 MB of pictures: not left behind.
    let _ = std::fs::remove_dir_all(&snapshots);
}

/// Attack 11 (heavy frames): 16 peers sending 4K frames at 30 a second
/// under the default memory budget, beside a healthy 640x480 stream: the
/// decoders serve streams in turn, so the healthy one keeps 25 fps in
/// every second.
#[test]
fn sixteen_4k_streams_do_not_starve_a_light_one() {
    let _alone = measuring_alone();
    let mut receiver = Receiver::start(
        "attack-heavy",
        "127.0.0.1:0",
        &["--stats-interval", "1", "--max-senders", "20"],
    );
    let (mut healthy, mark) = start_healthy_stream(&receiver);
    // Camera-like content, encoded in bands as the sender does.
    let jpeg = framewire_sender::encoder::JpegEncoder::new(80)
        .with_slices(4)
        .encode(framewire_tests::content::camera_like_picture(3840, 2160).into())
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let heavy: Vec<_> = (0..16u64)
        .map(|index| {
            let (stop, jpeg, address) = (stop.clone(), jpeg.clone(), receiver.address);
            std::thread::spawn(move || {
                // A tenth of a second apart, as cameras powered up together
                // come up: all at once, they would pass the 8 places one
                // address may wait in.
                std::thread::sleep(Duration::from_millis(100 * index));
                let Ok(mut socket) = TcpStream::connect(address) else {
                    return;
                };
                let started = Instant::now();
                for sequence in 1u64.. {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let frame = Frame {
                        image: jpeg.clone().into(),
                        sequence,
                        stream_name: format!("heavy{index}"),
                        ..Frame::default()
                    };
                    if socket.write_all(&encoded(&frame)).is_err() {
                        return;
                    }
                    let due = started + Duration::from_millis(sequence * 1000 / 30);
                    std::thread::sleep(due.saturating_duration_since(Instant::now()));
                }
            })
        })
        .collect();
    // Sixteen decoders starting at once (their pictures' memory touched for
    // the first time) take a moment: the rates are measured once every
    // heavy stream is named and decoding, and those of the joining seconds
    // are only printed.
    for index in 0..16 {
        receiver
            .process
            .wait_for_log(&format!("is 'heavy{index}'"), Duration::from_secs(30));
    }
    std::thread::sleep(Duration::from_secs(2));
    let joining = decoded_rates(&receiver, "healthy", mark);
    let mark = receiver.process.log_len();
    std::thread::sleep(Duration::from_secs(10));
    stop.store(true, Ordering::Relaxed);
    heavy.into_iter().for_each(|peer| peer.join().unwrap());
    let rates = decoded_rates(&receiver, "healthy", mark);
    let heavy_rate: f64 = (0..16)
        .map(|index| {
            let rates = decoded_rates(&receiver, &format!("'heavy{index}'"), mark);
            rates.iter().sum::<f64>() / rates.len().max(1) as f64
        })
        .sum();
    let lowest = rates.iter().copied().fold(f64::INFINITY, f64::min);
    eprintln!(
        "attack: 11 sixteen 4K streams at 30 fps ({} KB a frame): healthy stream {lowest:.1} \
         fps in its worst second ({rates:?}; while they joined: {joining:?}); the 4K streams \
         decoded {heavy_rate:.1} fps in all",
        jpeg.len() / 1000
    );
    healthy.terminate();
    receiver.stop();
    assert!(rates.len() >= 8, "{rates:?}");
    assert!(lowest >= 25.0, "{rates:?}");
}

/// `frame` on the wire with an unknown length-delimited field of `padding`
/// bytes appended (field 1000: no version of the schema has it).
fn padded(frame: &Frame, padding: usize) -> Vec<u8> {
    let plain = encoded(frame);
    let mut message = plain[4..].to_vec();
    let varint = |mut value: u64, into: &mut Vec<u8>| loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            into.push(byte);
            break;
        }
        into.push(byte | 0x80);
    };
    varint((1000 << 3) | 2, &mut message);
    varint(padding as u64, &mut message);
    message.resize(message.len() + padding, 0);
    let mut wire = (message.len() as u32).to_be_bytes().to_vec();
    wire.extend(message);
    wire
}

/// Attack 10: sixteen peers, each sending a small JPEG inside a message
/// padded with 12 MiB of an unknown field, under `--max-memory 64` with the
/// newest frame kept for the web view: the receiver's memory stays near
/// the budget, also once they have gone.
#[test]
fn padded_messages_pin_no_more_than_their_image() {
    let receiver = Receiver::start(
        "attack-padded",
        "127.0.0.1:0",
        &["--http", "127.0.0.1:0", "--max-memory", "64"],
    );
    let address = receiver.address;
    let jpeg = tiny_jpeg();
    // One message at a time: what a message costs while it arrives is
    // bounded by --max-frame-bytes; what is kept after it must not be.
    // Each connects when its turn comes: eight at once from one address
    // would be the most pending places it may hold.
    let mut sockets: Vec<TcpStream> = Vec::new();
    for sequence in 1..=2 {
        for peer in 0..16 {
            if sockets.len() == peer {
                sockets.push(TcpStream::connect(address).unwrap());
            }
            let socket = &mut sockets[peer];
            let frame = Frame {
                image: jpeg.clone().into(),
                sequence,
                stream_name: format!("padded-{peer}"),
                ..Frame::default()
            };
            socket.write_all(&padded(&frame, 12 << 20)).unwrap();
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    std::thread::sleep(Duration::from_secs(2));
    let live = receiver.process.resident_mib();
    drop(sockets);
    std::thread::sleep(Duration::from_secs(3));
    let after = receiver.process.resident_mib();
    eprintln!(
        "attack: 10 sixteen peers of 12 MiB-padded messages, --max-memory 64: resident \
         {live:.0} MiB with them connected, {after:.0} MiB after they left"
    );
    assert!(live < 128.0, "{live:.0} MiB resident with 16 padded peers");
    assert!(after < 128.0, "{after:.0} MiB resident after they left");
}
