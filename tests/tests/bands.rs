//! Pictures cut into bands: the sender's sliced encodes and the receiver's
//! banded decodes, on camera-like content, against whole-picture codecs.
//!
//! cargo test -p framewire-tests --test bands

use framewire_proto::band_pool::BandPool;
use framewire_proto::bands;
use framewire_receiver::decode::{DEFAULT_MAX_PIXELS, decode_picture, decode_rgba};
use framewire_receiver::picture::{Picture, Pixels};
use framewire_sender::encoder::JpegEncoder;
use framewire_tests::content::{Clip, camera_like, camera_like_picture};

/// `jpeg` decoded as the receiver's stream decoders do, on `pool`.
fn decoded(jpeg: &[u8], pool: &BandPool) -> Picture {
    let mut pixels = Pixels::default();
    let (width, height) = decode_picture(jpeg, DEFAULT_MAX_PIXELS, &mut pixels, pool).unwrap();
    Picture {
        width,
        height,
        pixels,
    }
}

/// The planes' rows that show the picture (decoders also hand out the
/// padding blocks below it).
fn visible_planes(picture: &Picture) -> Vec<Vec<u8>> {
    let Pixels::YCbCr(planes) = &picture.pixels else {
        panic!("a colour JPEG decodes to planes");
    };
    let (_, chroma_rows) = planes.chroma_size(picture.width, picture.height);
    let rows = [picture.height, chroma_rows, chroma_rows];
    (0..3)
        .map(|index| planes.planes[index][..planes.strides[index] * rows[index] as usize].to_vec())
        .collect()
}

#[test]
fn banded_decodes_give_exactly_the_planes_of_whole_decodes() {
    let (pool, whole) = (BandPool::new(4, "band decoder"), BandPool::new(1, "unused"));
    for (width, height) in [(1280, 720), (1920, 1080), (1000, 562)] {
        let picture = camera_like_picture(width, height);
        for slices in [2, 3, 4] {
            let jpeg = JpegEncoder::new(95)
                .with_slices(slices)
                .encode(picture.clone().into())
                .unwrap();
            let banded = bands::split(&jpeg).expect("a sliced encode has bands");
            assert!(banded.intervals() > 1);
            let (in_bands, at_once) = (decoded(&jpeg, &pool), decoded(&jpeg, &whole));
            assert_eq!((in_bands.width, in_bands.height), (width, height));
            assert!(
                visible_planes(&in_bands) == visible_planes(&at_once),
                "{width}x{height} in {slices} bands: the planes differ from a whole decode"
            );
            // And the colours are those of another decoder's whole decode.
            let mut reference = Vec::new();
            decode_rgba(&jpeg, DEFAULT_MAX_PIXELS, &mut reference).unwrap();
            let converted = in_bands.to_rgba();
            let worst = converted
                .iter()
                .zip(&reference)
                .map(|(a, b)| a.abs_diff(*b));
            let mean = worst.clone().map(u64::from).sum::<u64>() as f64 / reference.len() as f64;
            assert!(
                mean < 2.0,
                "{width}x{height}: mean difference {mean:.2} from zune-jpeg's RGBA"
            );
        }
    }
}

#[test]
fn a_cameras_mjpeg_with_restarts_on_rows_decodes_in_bands_like_whole() {
    let clip = camera_like(Clip::MjpegWithRestarts, 1280, 720, 2);
    let data = std::fs::read(clip).unwrap();
    let length = framewire_proto::jpeg::complete_length(&data).unwrap();
    let jpeg = &data[..length];
    let banded = bands::split(jpeg).expect("ffmpeg's slice-threaded MJPEG restarts every MCU row");
    assert_eq!(
        banded.intervals(),
        45,
        "one interval per 16-row MCU row of 720 rows"
    );
    let (pool, whole) = (BandPool::new(3, "band decoder"), BandPool::new(1, "unused"));
    assert!(visible_planes(&decoded(jpeg, &pool)) == visible_planes(&decoded(jpeg, &whole)));
}

#[test]
fn corrupt_bands_are_an_error_not_a_panic_and_the_next_frame_decodes() {
    let pool = BandPool::new(2, "band decoder");
    let picture = camera_like_picture(1280, 720);
    let jpeg = JpegEncoder::new(80)
        .with_slices(2)
        .encode(picture.clone().into())
        .unwrap();
    let mut pixels = Pixels::default();
    for cut in [jpeg.len() / 2, jpeg.len() - 100, 700] {
        let mut broken = jpeg[..cut].to_vec();
        broken.extend_from_slice(&[0xff, 0xd9]);
        // A cut frame may decode (libjpeg fills what is missing) or fail; it never panics.
        let _ = decode_picture(&broken, DEFAULT_MAX_PIXELS, &mut pixels, &pool);
    }
    let mut flipped = jpeg.clone();
    for byte in flipped.iter_mut().skip(1000).step_by(97) {
        *byte ^= 0x5a;
    }
    let _ = decode_picture(&flipped, DEFAULT_MAX_PIXELS, &mut pixels, &pool);
    let size = decode_picture(&jpeg, DEFAULT_MAX_PIXELS, &mut pixels, &pool).unwrap();
    assert_eq!(size, (1280, 720));
}

#[test]
fn sliced_unsliced_and_camera_mjpeg_streams_decode_side_by_side() {
    use std::time::Duration;

    use framewire_tests::{Receiver, assert_shows_pattern_bars, field, start_sender};

    // Two decode threads for three streams: the pool is shared.
    let mut receiver = Receiver::start("mixed-bands", "127.0.0.1:0", &["--decode-threads", "2"]);
    let clip = camera_like(Clip::MjpegWithRestarts, 1280, 720, 10);
    let senders = [
        ("sliced", vec!["--size", "1280x720", "--slices", "4"]),
        ("whole", vec!["--size", "1280x720", "--slices", "1"]),
        (
            "camera",
            vec!["--source", "file", "--input", clip.to_str().unwrap()],
        ),
    ];
    let mut running: Vec<_> = senders
        .iter()
        .map(|(name, args)| {
            let mut all = args.clone();
            all.extend(["--frames", "60", "--fps", "30", "--name", name]);
            start_sender(&receiver.address(), &all)
        })
        .collect();
    for sender in &mut running {
        assert!(sender.wait_exit(Duration::from_secs(60)).success());
    }
    while receiver.process.count_log("disconnected after 60 frames") < 3 {
        receiver
            .process
            .wait_for_log("disconnected after 60 frames", Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(20));
    }
    let report = receiver.stop();
    let streams = report["streams"].as_array().unwrap();
    assert_eq!(streams.len(), 3);
    for stream in streams {
        assert_eq!(field(stream, "frames_received"), 60, "{stream:#}");
        assert_eq!(field(stream, "decode_errors"), 0, "{stream:#}");
        assert!(field(stream, "frames_decoded") > 0, "{stream:#}");
        assert_eq!(
            (field(stream, "width"), field(stream, "height")),
            (1280, 720)
        );
        let image = receiver.snapshot(field(stream, "id"));
        if stream["name"] != "camera" {
            assert_shows_pattern_bars(&image);
        }
    }
}
