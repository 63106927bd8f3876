//! The receiver's web side as the tests and benchmarks reach it: its URL
//! from the log, plain HTTP requests (ureq, no redirects followed), its
//! figures, and an MJPEG client that counts frames.

use std::io::Read;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::Process;

/// The web side's base URL (`http://127.0.0.1:PORT`), from the receiver's
/// "web view on ..." log line.
pub fn web_url(receiver: &Process) -> String {
    let line = receiver.wait_for_log("web view on ", Duration::from_secs(30));
    line.split("web view on ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap()
        .trim_end_matches('/')
        .to_owned()
}

/// An HTTP client that follows no redirects and gives up after 20 s.
pub fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(20))
        .redirects(0)
        .build()
}

/// GET `url`: status, headers of interest and body, whatever the status.
pub fn get(url: &str, headers: &[(&str, &str)]) -> (u16, ureq::Response) {
    let mut request = agent().get(url);
    for (name, value) in headers {
        request = request.set(name, value);
    }
    match request.call() {
        Ok(response) => (response.status(), response),
        Err(ureq::Error::Status(code, response)) => (code, response),
        Err(error) => panic!("GET {url}: {error}"),
    }
}

/// GET `url`, which must answer 200 with JSON.
pub fn get_json(url: &str) -> Value {
    let (status, response) = get(url, &[]);
    assert_eq!(status, 200, "{url}");
    response.into_json().unwrap()
}

/// A metric of the receiver as a whole from `/metrics`.
pub fn receiver_metric(url: &str, name: &str) -> f64 {
    let (_, response) = get(&format!("{url}/metrics"), &[]);
    let text = response.into_string().unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
        .parse()
        .unwrap()
}

/// Reads `url` as multipart MJPEG for `seconds`; returns the frames seen.
pub fn count_mjpeg_frames(url: &str, seconds: u64) -> u64 {
    let (status, response) = get(url, &[]);
    assert_eq!(status, 200);
    let mut reader = response.into_reader();
    let boundary = b"\r\n--framewire-frame\r\n";
    let (mut frames, mut window, mut buffer) = (0, Vec::new(), vec![0; 64 * 1024]);
    let until = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < until {
        let read = reader.read(&mut buffer).unwrap();
        assert!(read > 0, "the MJPEG response ended");
        window.extend_from_slice(&buffer[..read]);
        while let Some(at) = window.windows(boundary.len()).position(|w| w == boundary) {
            frames += 1;
            window.drain(..at + boundary.len());
        }
        let keep = window.len().saturating_sub(boundary.len());
        window.drain(..keep);
    }
    frames
}
