//! `--source file`: the real sender streams a Y4M file (encoded) and an MJPEG
//! file (passed through byte for byte) to a test peer on loopback that reads
//! the wire format with framewire-proto's own reader.

use std::net::TcpListener;
use std::process::Command;

use framewire_proto::Frame;
use framewire_proto::codec::{DEFAULT_MAX_MESSAGE_BYTES, FrameReader};

fn temp_path(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!(
        "framewire-file-source-{}-{name}",
        std::process::id()
    ))
}

/// Runs the sender on `input` for `frames` frames (with `extra` options)
/// and returns what arrived.
fn stream_file(input: &std::path::Path, frames: u32, extra: &[&str]) -> Vec<Frame> {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let mut sender = Command::new(env!("CARGO_BIN_EXE_framewire-sender"))
        .args([
            "--connect",
            &address,
            "--source",
            "file",
            "--fps",
            "50",
            "--frames",
            &frames.to_string(),
        ])
        .args(extra)
        .arg("--input")
        .arg(input)
        .spawn()
        .unwrap();
    let (socket, _) = listener.accept().unwrap();
    let socket = smol::Async::new(socket).unwrap();
    let mut reader = FrameReader::new(socket, DEFAULT_MAX_MESSAGE_BYTES);
    let mut received = Vec::new();
    smol::block_on(async {
        while let Some(frame) = reader.read_frame().await.unwrap() {
            if !frame.is_keep_alive() {
                received.push(frame);
            }
        }
    });
    assert!(sender.wait().unwrap().success());
    received
}

fn average_luma(jpeg: &[u8]) -> f64 {
    let decompress = mozjpeg::Decompress::new_mem(jpeg).unwrap();
    let mut grey = decompress.grayscale().unwrap();
    let pixels: Vec<u8> = grey.read_scanlines().unwrap();
    pixels.iter().map(|&p| p as f64).sum::<f64>() / pixels.len() as f64
}

#[test]
fn a_y4m_file_is_encoded_and_played_in_a_loop() {
    let (width, height) = (64usize, 48usize);
    let mut y4m = format!("YUV4MPEG2 W{width} H{height} F25:1 Ip C420jpeg\n").into_bytes();
    for luma in [50u8, 200] {
        y4m.extend_from_slice(b"FRAME\n");
        y4m.extend(std::iter::repeat_n(luma, width * height));
        y4m.extend(std::iter::repeat_n(128, width * height / 2));
    }
    let path = temp_path("clip.y4m");
    std::fs::write(&path, y4m).unwrap();
    let frames = stream_file(&path, 4, &[]);
    std::fs::remove_file(&path).unwrap();

    assert_eq!(frames.len(), 4);
    for (index, frame) in frames.iter().enumerate() {
        assert_eq!(frame.sequence, index as u64);
        assert_eq!((frame.width, frame.height), (64, 48));
        let expected = if index % 2 == 0 { 50.0 } else { 200.0 };
        let luma = average_luma(&frame.image);
        assert!(
            (luma - expected).abs() < 3.0,
            "frame {index}: luma {luma}, expected {expected}"
        );
    }
}

#[test]
fn mjpeg_frames_pass_through_untouched() {
    let jpegs: Vec<Vec<u8>> = [30u8, 220, 120]
        .iter()
        .map(|&luma| {
            let mut compress = mozjpeg::Compress::new(mozjpeg::ColorSpace::JCS_GRAYSCALE);
            compress.set_size(40, 24);
            let mut started = compress.start_compress(Vec::new()).unwrap();
            started.write_scanlines(&vec![luma; 40 * 24]).unwrap();
            started.finish().unwrap()
        })
        .collect();
    let path = temp_path("clip.mjpeg");
    std::fs::write(&path, jpegs.concat()).unwrap();
    let frames = stream_file(&path, 3, &[]);
    std::fs::remove_file(&path).unwrap();

    assert_eq!(frames.len(), 3);
    for (frame, original) in frames.iter().zip(&jpegs) {
        assert_eq!(
            &frame.image[..],
            &original[..],
            "passed through byte for byte"
        );
        assert_eq!((frame.width, frame.height), (40, 24));
    }
}

#[test]
fn repeated_frames_are_skipped_but_one_goes_out_every_second() {
    // A still scene: the same JPEG, 50 times a second.
    let path = temp_path("still.mjpeg");
    let mut compress = mozjpeg::Compress::new(mozjpeg::ColorSpace::JCS_GRAYSCALE);
    compress.set_size(40, 24);
    let mut started = compress.start_compress(Vec::new()).unwrap();
    started.write_scanlines(&[90; 40 * 24]).unwrap();
    std::fs::write(&path, started.finish().unwrap()).unwrap();
    let frames = stream_file(&path, 3, &["--drop-same-frames"]);
    std::fs::remove_file(&path).unwrap();

    assert_eq!(frames.len(), 3);
    for pair in frames.windows(2) {
        let gap_ms = (pair[1].capture_time_us - pair[0].capture_time_us) / 1000;
        assert!(
            (950..1500).contains(&gap_ms),
            "one frame per second, not 50: {gap_ms} ms apart"
        );
        // The skipped ones are counted in the sequence numbers.
        assert!(pair[1].sequence - pair[0].sequence >= 40);
    }
}
