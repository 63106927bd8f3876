//! The receiver's web side (`--http`), tested with real clients: headless
//! Chromium on the live page, ffmpeg on the MJPEG URL, HTTP clients on the
//! figures, twenty MJPEG viewers and a slow one at once, and curl over
//! HTTPS. Every test runs the real receiver and senders over loopback.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use framewire_tests::browser::Browser;
use framewire_tests::web::{agent, count_mjpeg_frames, get, get_json, receiver_metric, web_url};
use framewire_tests::xvfb::Xvfb;
use framewire_tests::{
    Image, Placed, Process, Receiver, assert_shows_pattern_bars, field, scratch_dir,
    shows_pattern_at, start_sender, workspace,
};
use serde_json::{Value, json};

/// A headless receiver with the web side on a free loopback port; returns
/// it and the web side's base URL.
fn web_receiver(test: &str, extra: &[&str]) -> (Receiver, String) {
    let mut args = vec!["--http", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    let receiver = Receiver::start(test, "127.0.0.1:0", &args);
    let url = web_url(&receiver.process);
    (receiver, url)
}

/// A pattern sender called `name`, 640x480 at 30 fps, its frames encoded
/// in 3 slices (the browser decodes them itself).
fn pattern_sender(receiver: &Receiver, name: &str) -> Process {
    start_sender(
        &receiver.address(),
        &[
            "--source", "pattern", "--size", "640x480", "--fps", "30", "--name", name, "--slices",
            "3",
        ],
    )
}

/// Waits until the stream under `key` has decoded frames.
fn wait_for_stream(url: &str, key: &str) {
    wait_for_stream_with(url, key, &[]);
}

/// The same, asking with `headers` (the token).
fn wait_for_stream_with(url: &str, key: &str, headers: &[(&str, &str)]) {
    let started = Instant::now();
    loop {
        let (status, response) = get(&format!("{url}/api/streams"), headers);
        assert_eq!(status, 200, "{url}/api/streams");
        let streams: Value = response.into_json().unwrap();
        let decoded = streams["streams"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["key"] == key && s["frames_decoded"].as_u64() > Some(2));
        if decoded {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no stream '{key}' at {url}: {streams:#}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Where a 640x480 picture sits letterboxed in the tile `key` of the page.
/// The page makes a tile when its next state message names the stream
/// (twice a second), so this waits up to 10 s for the tile to be there.
fn picture_in_tile(browser: &Browser, key: &str) -> Placed {
    let started = Instant::now();
    let rect = loop {
        let rect = browser.script(
            "const c = document.querySelector(`.tile[data-key='${arguments[0]}'] canvas`);\
             if (!c) return null;\
             const r = c.getBoundingClientRect(); return [r.left, r.top, r.width, r.height];",
            json!([key]),
        );
        if !rect.is_null() {
            break rect;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the page has no tile '{key}' after 10 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let [left, top, width, height] = [0, 1, 2, 3].map(|i| rect[i].as_f64().unwrap());
    let scale = (width / 640.0).min(height / 480.0);
    let (w, h) = (640.0 * scale, 480.0 * scale);
    (left + (width - w) / 2.0, top + (height - h) / 2.0, w, h)
}

/// The frames the page has drawn in tile `key`.
fn frames_drawn(browser: &Browser, key: &str) -> u64 {
    let frames = browser.script(
        "const t = document.querySelector(`.tile[data-key='${arguments[0]}']`);\
         return t ? Number(t.dataset.frames || 0) : 0;",
        json!([key]),
    );
    frames.as_u64().unwrap()
}

fn marker_of(browser: &Browser, key: &str) -> String {
    browser
        .script(
            "return document.querySelector(`.tile[data-key='${arguments[0]}'] .marker`)\
             .textContent;",
            json!([key]),
        )
        .as_str()
        .unwrap()
        .to_owned()
}

/// A screenshot taken once it shows the pattern at every place in `places`.
fn screenshot_showing(browser: &Browser, places: &[Placed], what: &str) -> Image {
    let started = Instant::now();
    loop {
        let shot = browser.screenshot();
        if places
            .iter()
            .all(|&place| shows_pattern_at(&shot, place, 40))
        {
            return shot;
        }
        if started.elapsed() > Duration::from_secs(20) {
            let path = scratch_dir("web-failed-screenshot").join("page.png");
            shot.write_png(&path);
            panic!(
                "{what}: the page never showed the pattern at {places:?}; see {}",
                path.display()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A JPEG decoded by the receiver's own decoder.
fn decoded(jpeg: &[u8]) -> Image {
    let mut rgba = Vec::new();
    let (width, height) =
        framewire_receiver::decode::decode_rgba(jpeg, 1 << 24, &mut rgba).unwrap();
    Image {
        width: width as usize,
        height: height as usize,
        rgba,
    }
}

/// The first file the browser has finished downloading.
fn wait_for_download(browser: &Browser) -> std::path::PathBuf {
    let started = Instant::now();
    loop {
        let done = std::fs::read_dir(&browser.downloads)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .find(|path| path.extension().is_some_and(|e| e == "jpg"));
        if let Some(path) = done {
            return path;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "nothing downloaded"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_page_shows_both_streams_live_in_a_real_browser_and_follows_them() {
    let (mut receiver, url) = web_receiver("web-page", &[]);
    let _left = pattern_sender(&receiver, "left");
    wait_for_stream(&url, "left"); // tiles go in the order streams connect
    let mut right = pattern_sender(&receiver, "right");
    wait_for_stream(&url, "right");
    let browser = Browser::start(1280, 720);
    browser.open(&format!("{url}/"));
    let both = ["left", "right"].map(|key| picture_in_tile(&browser, key));
    assert!(
        both[0].0 < both[1].0,
        "left's tile is left of right's: {both:?}"
    );
    screenshot_showing(&browser, &both, "both tiles");

    // The page's frame rate for a 30 fps stream, over two seconds.
    let (before, started) = (frames_drawn(&browser, "left"), Instant::now());
    std::thread::sleep(Duration::from_secs(2));
    let fps = (frames_drawn(&browser, "left") - before) as f64 / started.elapsed().as_secs_f64();
    println!("the page drew {fps:.1} fps of a 30 fps stream");
    assert!(fps >= 25.0, "the page drew {fps:.1} fps");
    let shot = screenshot_showing(&browser, &both, "both tiles, running");
    shot.write_png(&receiver.dir.join("page.png"));

    // The snapshot button saves the stream's newest frame.
    browser.click(".tile[data-key='left'] .snapshot");
    let saved = wait_for_download(&browser);
    assert!(
        saved
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("left-"),
        "{saved:?}"
    );
    assert_shows_pattern_bars(&decoded(&std::fs::read(&saved).unwrap()));
    assert!(
        browser.wait_for(
            "return [...document.querySelectorAll('.tile')].every(t => t.offsetParent !== null);",
            Duration::from_secs(1),
        ),
        "the snapshot button does not change the view"
    );

    // A sender that stops sending is marked stale within 1.5 s...
    right.signal("STOP");
    let stopped = Instant::now();
    let stale = browser.wait_for(
        "return document.querySelector(`.tile[data-key='right'] .marker`)\
         .textContent.startsWith('stale');",
        Duration::from_secs(5),
    );
    let took = stopped.elapsed();
    assert!(
        stale,
        "never marked stale: '{}'",
        marker_of(&browser, "right")
    );
    println!("marked stale after {:.2} s", took.as_secs_f64());
    assert!(
        took <= Duration::from_millis(1500),
        "marked stale after {took:?}"
    );
    assert_eq!(marker_of(&browser, "left"), "", "the other tile stays live");
    right.signal("CONT");

    // ... and one that reconnects comes back to its own tile.
    right.terminate();
    assert!(browser.wait_for(
        "return document.querySelector(`.tile[data-key='right'] .marker`)\
         .textContent === 'disconnected';",
        Duration::from_secs(10),
    ));
    let _again = pattern_sender(&receiver, "right");
    assert!(
        browser.wait_for(
            "return document.querySelector(`.tile[data-key='right'] .marker`)\
             .textContent === '';",
            Duration::from_secs(20),
        ),
        "the reconnected sender's tile stays marked"
    );
    let tiles = browser.script(
        "return document.querySelectorAll('.tile').length;",
        json!([]),
    );
    assert_eq!(tiles, json!(2), "it came back to its tile, not a new one");
    assert_eq!(picture_in_tile(&browser, "right"), both[1]);
    screenshot_showing(&browser, &both, "after the reconnect");

    // A click shows one tile alone, filling the page.
    browser.click(".tile[data-key='right']");
    assert!(browser.wait_for(
        "return [...document.querySelectorAll('.tile')]\
         .filter(t => t.offsetParent !== null).map(t => t.dataset.key).join() === 'right';",
        Duration::from_secs(5),
    ));
    let alone = picture_in_tile(&browser, "right");
    let viewport = browser.script("return [window.innerWidth, window.innerHeight];", json!([]));
    let viewport_height = viewport[1].as_f64().unwrap();
    assert!(
        (alone.3 - viewport_height).abs() <= 1.0 && alone.2 > both[1].2,
        "alone, the picture fills the page's height: {alone:?} in {viewport}"
    );
    screenshot_showing(&browser, &[alone], "one tile alone");
    let report = receiver.stop();
    assert!(field(&report, "decode_errors") == 0, "{report:#}");
}

#[test]
fn the_page_fits_a_phone_without_sideways_scrolling() {
    let (_receiver, url) = web_receiver("web-phone", &[]);
    let receiver = &_receiver;
    let _porch = pattern_sender(receiver, "porch");
    wait_for_stream(&url, "porch");
    let _garden = pattern_sender(receiver, "garden");
    wait_for_stream(&url, "garden");
    let browser = Browser::start_phone(390, 844);
    browser.open(&format!("{url}/"));
    let places = ["porch", "garden"].map(|key| picture_in_tile(&browser, key));
    std::thread::sleep(Duration::from_secs(1)); // figures of a running stream in the overlay
    assert!(
        places[0].1 < places[1].1,
        "one column, one above the other: {places:?}"
    );
    let width = browser.script("return window.innerWidth;", json!([]));
    assert_eq!(width, json!(390), "the phone's width");
    assert!(
        places[0].2 >= 389.0,
        "each picture as wide as the phone: {places:?}"
    );
    let shot = screenshot_showing(&browser, &places, "a phone's page");
    shot.write_png(&receiver.dir.join("phone.png"));
    let sideways = browser.script(
        "return document.documentElement.scrollWidth > window.innerWidth;",
        json!([]),
    );
    assert_eq!(
        sideways,
        json!(false),
        "the page scrolls sideways on a phone"
    );
}

/// Frames ffmpeg reads from `url` in `seconds` of wall-clock time.
fn ffmpeg_frames(url: &str, seconds: u32) -> u64 {
    let output = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-nostats",
            "-use_wallclock_as_timestamps",
            "1",
        ])
        .args(["-i", url, "-t", &seconds.to_string(), "-f", "null", "-"])
        .args(["-loglevel", "info"])
        .output()
        .expect("ffmpeg runs (apt-get install ffmpeg)");
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "ffmpeg failed:\n{log}");
    // "frame=   89 fps=..." on the last progress line.
    log.rsplit("frame=")
        .next()
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no frame count in:\n{log}"))
}

#[test]
fn ffmpeg_reads_the_stream_urls_and_the_figures_agree_with_the_report() {
    // ffmpeg (and x264) take a core: not beside a measured frame rate.
    let _alone = framewire_tests::measuring_alone();
    let (mut receiver, url) = web_receiver("web-urls", &[]);
    let mut sender = pattern_sender(&receiver, "porch cam");
    wait_for_stream(&url, "porch-cam");
    let frames = ffmpeg_frames(&format!("{url}/streams/porch-cam.mjpg"), 3);
    println!("ffmpeg read {frames} frames of a 30 fps stream in 3 s");
    assert!(frames >= 75, "ffmpeg read {frames} frames in 3 s");

    let (status, response) = get(&format!("{url}/streams/porch-cam.jpg"), &[]);
    assert_eq!(status, 200);
    assert_eq!(response.content_type(), "image/jpeg");
    let sequence: u64 = response
        .header("x-framewire-sequence")
        .unwrap()
        .parse()
        .unwrap();
    let mut jpeg = Vec::new();
    response.into_reader().read_to_end(&mut jpeg).unwrap();
    let latest = get_json(&format!("{url}/api/streams"))["streams"][0]["last_sequence"]
        .as_u64()
        .unwrap();
    assert!(
        latest - sequence <= 3,
        "the .jpg is frame {sequence}, the newest {latest}"
    );
    assert_shows_pattern_bars(&decoded(&jpeg));
    assert_eq!(get(&format!("{url}/streams/nobody.jpg"), &[]).0, 404);
    assert_eq!(get(&format!("{url}/streams/nobody.mjpg"), &[]).0, 404);

    // Once the sender is gone, the figures stand still: they must be the
    // exit report's.
    sender.terminate();
    let started = Instant::now();
    while get_json(&format!("{url}/api/streams"))["streams"][0]["status"] != "disconnected" {
        assert!(started.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(100));
    }
    let api = get_json(&format!("{url}/api/streams"));
    let (status, metrics) = get(&format!("{url}/metrics"), &[]);
    assert_eq!(status, 200);
    assert!(metrics.content_type().starts_with("text/plain"));
    let metrics = metrics.into_string().unwrap();
    let report = receiver.stop();
    let listed = &api["streams"][0];
    let reported = &report["streams"][0];
    assert_eq!(listed["name"], "porch cam");
    for name in [
        "frames_received",
        "frames_decoded",
        "bytes",
        "frames_dropped",
        "last_sequence",
    ] {
        assert_eq!(
            listed[name], reported[name],
            "{name}: /api/streams vs the exit report"
        );
    }
    let metric = |name: &str| -> f64 {
        let prefix = format!("{name}{{stream=\"porch-cam\"}} ");
        let line = metrics
            .lines()
            .find(|line| line.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no {prefix} in:\n{metrics}"));
        line[prefix.len()..].parse().unwrap()
    };
    assert_eq!(
        metric("framewire_frames_decoded_total"),
        field(reported, "frames_decoded") as f64
    );
    assert_eq!(
        metric("framewire_received_bytes_total"),
        field(reported, "bytes") as f64
    );
    assert_eq!(metric("framewire_stream_connected"), 0.0);
    for line in metrics.lines().filter(|line| !line.starts_with('#')) {
        let (_, value) = line.rsplit_once(' ').unwrap();
        assert!(
            value.parse::<f64>().is_ok(),
            "not a Prometheus sample: {line}"
        );
    }
}

/// How long it took until `/metrics` counted no viewers; `None` if they
/// were still there after `timeout`.
fn until_no_viewers(url: &str, timeout: Duration) -> Option<Duration> {
    let started = Instant::now();
    while receiver_metric(url, "framewire_viewers") > 0.0 {
        if started.elapsed() >= timeout {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Some(started.elapsed())
}

/// Frames the window has shown of the first stream so far.
fn frames_shown(url: &str) -> u64 {
    field(
        &get_json(&format!("{url}/api/streams"))["streams"][0],
        "frames_shown",
    )
}

#[test]
fn twenty_mjpeg_viewers_and_a_slow_one_each_get_what_they_can_take() {
    let _alone = framewire_tests::measuring_alone();
    // The receiver shows the stream in its window too (Xvfb, lavapipe).
    let xvfb = Xvfb::start(800, 600);
    let dir = scratch_dir("web-viewers");
    let runtime_dir = dir.join("xdg");
    std::fs::create_dir_all(&runtime_dir).unwrap();
    let env = [
        ("DISPLAY", xvfb.display.as_str()),
        ("WAYLAND_DISPLAY", "wayland-nobody-home"),
        ("XDG_RUNTIME_DIR", runtime_dir.to_str().unwrap()),
    ];
    let args = ["--window", "--http", "127.0.0.1:0", "--max-memory", "64"];
    let mut receiver = Receiver::start_in(dir, "127.0.0.1:0", &args, &env);
    let url = web_url(&receiver.process);
    let _sender = pattern_sender(&receiver, "porch");
    wait_for_stream(&url, "porch");
    let stream_url = format!("{url}/streams/porch.mjpg");
    std::thread::sleep(Duration::from_secs(1));
    let (shown_before, started) = (frames_shown(&url), Instant::now());
    std::thread::sleep(Duration::from_secs(3));
    let shown_alone = (frames_shown(&url) - shown_before) as f64 / started.elapsed().as_secs_f64();
    let memory_before = receiver_metric(&url, "framewire_memory_used_bytes");
    let resident_before = receiver.process.resident_mib();

    // The slow one: asks, then reads 1 KB a second.
    let address = url.trim_start_matches("http://").to_owned();
    let mut slow = TcpStream::connect(&address).unwrap();
    write!(
        slow,
        "GET /streams/porch.mjpg HTTP/1.1\r\nHost: {address}\r\n\r\n"
    )
    .unwrap();
    let slow_reader = std::thread::spawn(move || {
        let mut chunk = [0; 1024];
        for _ in 0..6 {
            let _ = slow.read(&mut chunk);
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    let fast: Vec<_> = (0..20)
        .map(|_| {
            let stream_url = stream_url.clone();
            std::thread::spawn(move || count_mjpeg_frames(&stream_url, 3))
        })
        .collect();
    let (shown_before, started) = (frames_shown(&url), Instant::now());
    std::thread::sleep(Duration::from_millis(1500));
    let viewers = receiver_metric(&url, "framewire_viewers");
    let memory_during = receiver_metric(&url, "framewire_memory_used_bytes");
    let in_flight = receiver_metric(&url, "framewire_viewer_bytes_in_flight");
    let limit = receiver_metric(&url, "framewire_memory_limit_bytes");
    let resident_during = receiver.process.resident_mib();
    let counts: Vec<u64> = fast.into_iter().map(|t| t.join().unwrap()).collect();
    let shown_watched =
        (frames_shown(&url) - shown_before) as f64 / started.elapsed().as_secs_f64();
    println!("20 viewers got {counts:?} frames in 3 s; the slow one held its place");
    println!(
        "the window showed {shown_alone:.1} fps before, {shown_watched:.1} fps with 21 viewers"
    );
    println!(
        "budget used: {:.1} MB before, {:.1} MB with 21 viewers, {:.2} MB of it frames on \
         their way to them (limit {:.0} MB); resident {resident_before:.0} MiB, then \
         {resident_during:.0} MiB",
        memory_before / 1e6,
        memory_during / 1e6,
        in_flight / 1e6,
        limit / 1e6
    );
    assert_eq!(viewers, 21.0);
    assert!(memory_during < limit);
    assert!(in_flight > 0.0, "the viewers' frames are charged");
    for count in &counts {
        assert!(
            *count >= 75,
            "a fast viewer got {count} frames in 3 s: {counts:?}"
        );
    }
    assert!(
        shown_watched >= 0.85 * shown_alone,
        "the viewers slowed the window from {shown_alone:.1} to {shown_watched:.1} fps"
    );
    slow_reader.join().unwrap();
    let left = until_no_viewers(&url, Duration::from_secs(10));
    assert!(left.is_some(), "viewers never left");
    assert_eq!(
        receiver_metric(&url, "framewire_viewer_bytes_in_flight"),
        0.0,
        "the viewers' memory came back"
    );
    let report = receiver.stop();
    let stream = &report["streams"][0];
    let fps = stream["decoded_fps"].as_f64().unwrap();
    println!("the stream decoded at {fps:.1} fps meanwhile");
    assert!(fps >= 28.0, "the viewers slowed the stream to {fps:.1} fps");
    assert_eq!(
        field(stream, "sequence_gaps"),
        0,
        "the sender dropped frames: {stream:#}"
    );
}

#[test]
fn viewers_beyond_the_limit_are_told_so() {
    let (_receiver, url) = web_receiver("web-max-viewers", &["--max-viewers", "2"]);
    let _sender = pattern_sender(&_receiver, "porch");
    wait_for_stream(&url, "porch");
    let stream_url = format!("{url}/streams/porch.mjpg");
    let (first, _a) = get(&stream_url, &[]);
    let (second, _b) = get(&stream_url, &[]);
    let (third, refused) = get(&stream_url, &[]);
    assert_eq!((first, second, third), (200, 200, 503));
    assert!(refused.into_string().unwrap().contains("--max-viewers"));
    assert_eq!(
        get(&format!("{url}/api/streams"), &[]).0,
        200,
        "figures still answer"
    );
}

/// POSTs a login form.
fn login(url: &str, token: &str) -> (u16, ureq::Response, Duration) {
    let started = Instant::now();
    let answer = agent()
        .post(&format!("{url}/login"))
        .send_form(&[("token", token)]);
    let took = started.elapsed();
    match answer {
        Ok(response) => (response.status(), response, took),
        Err(ureq::Error::Status(code, response)) => (code, response, took),
        Err(error) => panic!("POST /login: {error}"),
    }
}

#[test]
fn the_token_guards_every_route_and_a_browser_keeps_it_in_a_cookie() {
    let token = "correct horse; battery=staple";
    let (_receiver, url) = web_receiver("web-token", &["--token", token]);
    let _sender = start_sender(
        &_receiver.address(),
        &[
            "--source", "pattern", "--size", "320x240", "--name", "porch", "--token", token,
        ],
    );
    for path in [
        "/",
        "/api/streams",
        "/metrics",
        "/streams/porch.jpg",
        "/streams/porch.mjpg",
        "/ws",
    ] {
        assert_eq!(
            get(&format!("{url}{path}"), &[]).0,
            401,
            "{path} without the token"
        );
    }
    let (status, page) = get(&format!("{url}/"), &[]);
    assert_eq!(status, 401);
    assert!(
        page.into_string().unwrap().contains("name=\"token\""),
        "the login form"
    );

    let (status, _, first_wait) = login(&url, "guess");
    assert_eq!(status, 401);
    let (status, _, second_wait) = login(&url, "guess again");
    assert_eq!(status, 401);
    println!("wrong tokens waited {first_wait:?}, then {second_wait:?}");
    assert!(first_wait >= Duration::from_millis(200), "{first_wait:?}");
    assert!(second_wait >= Duration::from_millis(400), "{second_wait:?}");

    let (status, response, _) = login(&url, token);
    assert_eq!(status, 303);
    assert_eq!(response.header("location"), Some("/"));
    let cookie = response.header("set-cookie").unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(
        !cookie.contains(token),
        "the cookie holds the token encoded: {cookie}"
    );
    let cookie = cookie.split(';').next().unwrap();
    let (status, page) = get(&format!("{url}/"), &[("Cookie", cookie)]);
    assert_eq!(status, 200);
    assert!(
        page.into_string().unwrap().contains("app.js"),
        "the live page"
    );

    wait_for_stream_with(
        &url,
        "porch",
        &[("Authorization", &format!("Bearer {token}"))],
    );
    let encoded: String = form_encode(token);
    let (status, jpeg) = get(&format!("{url}/streams/porch.jpg?token={encoded}"), &[]);
    assert_eq!(status, 200, "the token as a query parameter");
    assert_eq!(jpeg.content_type(), "image/jpeg");
    let (status, _) = get(
        &format!("{url}/api/streams"),
        &[("Authorization", "Bearer nope")],
    );
    assert_eq!(status, 401);
}

#[test]
fn a_browser_logs_in_once_and_then_watches_with_its_cookie() {
    let token = "correct horse battery staple";
    let (_receiver, url) = web_receiver("web-login", &["--token", token]);
    let _sender = start_sender(
        &_receiver.address(),
        &[
            "--source", "pattern", "--size", "640x480", "--name", "porch", "--token", token,
        ],
    );
    let browser = Browser::start(1280, 720);
    browser.open(&format!("{url}/"));
    browser.type_into("input[name=token]", "a guess");
    browser.click("button[type=submit]");
    assert!(
        browser.wait_for(
            "return document.querySelector('.error')?.textContent === 'That token is wrong.';",
            Duration::from_secs(10),
        ),
        "a wrong token is told so"
    );
    browser.type_into("input[name=token]", token);
    browser.click("button[type=submit]");
    // The page's WebSocket carries the cookie: frames arrive and are drawn.
    assert!(
        browser.wait_for(
            "const t = document.querySelector(`.tile[data-key='porch']`);\
             return !!t && Number(t.dataset.frames || 0) > 10;",
            Duration::from_secs(20),
        ),
        "no frames after logging in; browser log:\n{}",
        browser.log_text()
    );
    let cookie_visible = browser.script("return document.cookie;", json!([]));
    assert_eq!(cookie_visible, json!(""), "the cookie is HttpOnly");
    let place = picture_in_tile(&browser, "porch");
    screenshot_showing(&browser, &[place], "the page after logging in");
}

fn form_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn allow_keeps_other_addresses_out_of_the_web_side_too() {
    let (receiver, url) = web_receiver("web-allow", &["--allow", "10.9.9.0/24"]);
    let address = url.trim_start_matches("http://");
    let mut socket = TcpStream::connect(address).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let _ = write!(
        socket,
        "GET /api/streams HTTP/1.1\r\nHost: {address}\r\n\r\n"
    );
    let mut answer = Vec::new();
    let _ = socket.read_to_end(&mut answer);
    assert!(
        answer.is_empty(),
        "answered: {}",
        String::from_utf8_lossy(&answer)
    );
    receiver
        .process
        .wait_for_log("not in --allow (web)", Duration::from_secs(10));
}

#[test]
fn slow_and_oversized_requests_are_closed() {
    let (_receiver, url) = web_receiver("web-slowloris", &[]);
    let address = url.trim_start_matches("http://");
    // Half a request head, then silence.
    let mut slow = TcpStream::connect(address).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(slow, "GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
    let started = Instant::now();
    let mut rest = Vec::new();
    let _ = slow.read_to_end(&mut rest);
    let took = started.elapsed();
    println!(
        "a half-sent request was closed after {:.1} s",
        took.as_secs_f64()
    );
    assert!(took < Duration::from_secs(8), "{took:?}");

    // A request head far over the limit.
    let mut huge = TcpStream::connect(address).unwrap();
    huge.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let _ = write!(
        huge,
        "GET / HTTP/1.1\r\nHost: x\r\nX-Filler: {}\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    let mut answer = Vec::new();
    let _ = huge.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 431"),
        "answered: {answer}"
    );
    assert_eq!(
        get(&format!("{url}/api/streams"), &[]).0,
        200,
        "the server still answers"
    );
}

#[test]
fn https_serves_the_same_routes_on_the_receivers_certificate() {
    let dir = scratch_dir("web-https");
    let tls_dir = dir.join("tls");
    let tls_dir = tls_dir.to_str().unwrap();
    let (_receiver, url) = web_receiver(
        "web-https",
        &["--tls", "--tls-dir", tls_dir, "--token", "s3cret"],
    );
    assert!(url.starts_with("https://"), "{url}");
    let curl = |args: &[&str]| {
        let output = Command::new("curl")
            .args(["-sS", "--insecure", "--max-time", "20"])
            .args(args)
            .output()
            .expect("curl runs (apt-get install curl)");
        (
            String::from_utf8_lossy(&output.stdout).into_owned(),
            output.status.success(),
        )
    };
    let (headers, ok) = curl(&[
        "-D",
        "-",
        "-o",
        "/dev/null",
        "-d",
        "token=s3cret",
        &format!("{url}/login"),
    ]);
    assert!(ok, "{headers}");
    assert!(headers.contains("303"), "{headers}");
    assert!(
        headers.to_lowercase().contains("secure"),
        "the cookie is Secure: {headers}"
    );
    let (body, ok) = curl(&[
        "-H",
        "Authorization: Bearer s3cret",
        &format!("{url}/api/streams"),
    ]);
    assert!(ok && body.contains("\"streams\""), "{body}");
    let plain = url.replace("https://", "http://");
    let (_, ok) = curl(&[&format!("{plain}/api/streams")]);
    assert!(!ok, "plain HTTP to the HTTPS port is refused");
}

/// The web view guide's MediaMTX hook (`runOnInit: ffmpeg ...`), with the
/// receiver's address and MediaMTX's variables filled in.
fn mediamtx_hook(web: &str, rtsp_port: u16, path: &str) -> Vec<String> {
    let guide = workspace().join("docs/web-view.md");
    let guide = std::fs::read_to_string(guide).unwrap();
    let line = guide
        .lines()
        .find_map(|line| line.trim().strip_prefix("runOnInit: "))
        .expect("docs/web-view.md's MediaMTX recipe has a runOnInit line");
    line.replace("http://RECEIVER:8080", web)
        .replace("$RTSP_PORT", &rtsp_port.to_string())
        .replace("$MTX_PATH", path)
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_guides_mediamtx_hook_publishes_the_stream_as_h264_over_rtsp() {
    // ffmpeg (and x264) take a core: not beside a measured frame rate.
    let _alone = framewire_tests::measuring_alone();
    let (_receiver, url) = web_receiver("web-mediamtx", &[]);
    let _sender = pattern_sender(&_receiver, "porch");
    wait_for_stream(&url, "porch");
    let dir = scratch_dir("web-mediamtx-rtsp");
    let recorded = dir.join("published.mkv");
    let port = framewire_tests::free_port();
    // An RTSP listener standing in for MediaMTX: it takes what is published
    // to it for 3 s and keeps it as it came.
    let listener = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-rtsp_flags",
            "listen",
        ])
        .args(["-i", &format!("rtsp://localhost:{port}/porch")])
        .args(["-t", "3", "-c", "copy", "-y"])
        .arg(&recorded)
        .stdin(std::process::Stdio::null())
        .spawn()
        .expect("ffmpeg runs");
    let hook = mediamtx_hook(&url, port, "porch");
    assert_eq!(hook[0], "ffmpeg");
    let mut publisher = None;
    let started = Instant::now();
    // The listener needs a moment to listen; the hook is retried as
    // MediaMTX's runOnInitRestart would.
    while publisher.is_none() && started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(300));
        let mut child = Command::new(&hook[0])
            .args(["-hide_banner", "-loglevel", "error"])
            .args(&hook[1..])
            .stdin(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(700));
        if child.try_wait().unwrap().is_none() {
            publisher = Some(child); // else the listener was not up yet
        }
    }
    let mut publisher = publisher.expect("the hook's ffmpeg never stayed up");
    let output = listener.wait_with_output().unwrap();
    let _ = publisher.kill();
    let _ = publisher.wait();
    assert!(output.status.success(), "the RTSP listener failed");
    let probe = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
        .args([
            "-show_entries",
            "stream=codec_name,width,height,nb_read_frames",
            "-of",
            "csv=p=0",
        ])
        .arg(&recorded)
        .output()
        .unwrap();
    let probed = String::from_utf8_lossy(&probe.stdout).trim().to_owned();
    println!("published over RTSP and kept: {probed}");
    let fields: Vec<&str> = probed.split(',').collect();
    assert_eq!(&fields[..3], ["h264", "640", "480"], "{probed}");
    let frames: u64 = fields[3].parse().unwrap();
    assert!(frames >= 30, "{frames} frames in 3 s of RTSP");
}

#[test]
fn a_viewer_that_stops_reading_gives_its_place_back() {
    let (_receiver, url) = web_receiver("web-stalled", &["--max-viewers", "1"]);
    let _sender = start_sender(
        &_receiver.address(),
        &[
            "--source", "pattern", "--size", "1280x720", "--fps", "30", "--name", "porch",
        ],
    );
    wait_for_stream(&url, "porch");
    let address = url.trim_start_matches("http://").to_owned();
    let mut stuck = TcpStream::connect(&address).unwrap();
    write!(
        stuck,
        "GET /streams/porch.mjpg HTTP/1.1\r\nHost: {address}\r\n\r\n"
    )
    .unwrap();
    // Counted first: its request is answered on another task, which may
    // come after this test's next request.
    let counted = Instant::now();
    while receiver_metric(&url, "framewire_viewers") < 1.0 {
        assert!(
            counted.elapsed() < Duration::from_secs(20),
            "the viewer was never counted"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // It never reads: the socket's buffers fill, then the receiver's write
    // makes no progress and, after its bound, the receiver closes it.
    let closed_after = until_no_viewers(&url, Duration::from_secs(90))
        .expect("a viewer that reads nothing kept its place");
    println!(
        "a viewer that read nothing was closed after {:.1} s",
        closed_after.as_secs_f64()
    );
    let (status, _watching) = get(&format!("{url}/streams/porch.mjpg"), &[]);
    assert_eq!(status, 200, "its place is free again");
    drop(stuck);
}
