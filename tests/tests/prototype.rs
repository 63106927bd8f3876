//! Wire compatibility with the Python prototype, both ways, using peers
//! written in its style (`protobuf` from PyPI, plain sockets; Pillow stands in
//! for OpenCV and Qt's JPEG loader). Needs python3 with protobuf and Pillow
//! (`.ci/run` installs them); FRAMEWIRE_PYTHON picks another interpreter.

use std::path::PathBuf;
use std::time::Duration;

use framewire_tests::*;

fn python() -> String {
    std::env::var("FRAMEWIRE_PYTHON").unwrap_or_else(|_| "python3".into())
}

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("python")
        .join(name)
}

#[test]
fn our_receiver_shows_the_prototype_clients_stream() {
    let mut receiver = Receiver::start("prototype-client", "127.0.0.1:0", &[]);
    let port = receiver.address.port().to_string();
    let client = script("prototype_client.py");
    let mut client = Process::start(
        std::path::Path::new(&python()),
        &[client.to_str().unwrap(), "127.0.0.1", &port, "60"],
        &[],
    );
    let status = client.wait_exit(Duration::from_secs(60));
    assert!(
        status.success(),
        "python client failed:\n{}",
        client.log_text()
    );
    assert!(
        client.log_text().contains("received 0 bytes back"),
        "a peer that announced no back-channel gets nothing written to it:\n{}",
        client.log_text()
    );
    receiver
        .process
        .wait_for_log("disconnected after 60 frames", Duration::from_secs(10));
    let report = receiver.stop();

    let stream = &report["streams"][0];
    assert_eq!(field(stream, "frames_received"), 60, "{stream:#}");
    assert_eq!(field(stream, "decode_errors"), 0);
    assert_eq!(
        field(stream, "out_of_order"),
        0,
        "unnumbered frames are not 'out of order'"
    );
    assert_eq!(
        (field(stream, "width"), field(stream, "height")),
        (640, 480)
    );
    assert!(field(stream, "frames_decoded") > 0);
    assert_eq!(
        field(stream, "latency_samples"),
        0,
        "the prototype sends no capture time"
    );
    let image = receiver.snapshot(0);
    image.assert_colour(160, 100, [255, 0, 0], 10, "left half");
    image.assert_colour(480, 100, [0, 0, 255], 10, "right half");
}

#[test]
fn the_prototype_server_shows_our_senders_stream() {
    let server = script("prototype_server.py");
    let mut server = Process::start(
        std::path::Path::new(&python()),
        &[server.to_str().unwrap(), "60", "640", "480"],
        &[],
    );
    let line = server.wait_for_log("listening on ", Duration::from_secs(30));
    let port = line.rsplit(' ').next().unwrap().trim().to_owned();
    let _sender = start_sender(
        &format!("127.0.0.1:{port}"),
        // Sliced frames: Qt's libjpeg reads their restart markers.
        &["--size", "640x480", "--fps", "30", "--slices", "3"],
    );
    let status = server.wait_exit(Duration::from_secs(60));
    let log = server.log_text();
    assert!(
        status.success() && log.contains("OK 60 frames"),
        "python server:\n{log}"
    );
    assert!(
        log.contains("first bar (25"),
        "the first bar is white: {log}"
    );
}
