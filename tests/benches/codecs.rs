//! Micro-benchmarks of the work every frame cannot avoid: JPEG encoding on
//! the board (mozjpeg's fastest profile from RGB, from raw YCbCr 4:2:0 and
//! 4:2:2 planes as framewire feeds it, and mozjpeg's default profile for
//! contrast; on camera-like frames whole and in 2 slices), JPEG decoding on
//! the workstation, and the framing. The decoders are compared on
//! camera-like frames ([`framewire_tests::content`]) at 720p, 1080p and 4K,
//! quality 80 and 95: zune-jpeg and libjpeg-turbo (the mozjpeg crate's) to
//! RGBA, libjpeg-turbo to planes as the receiver decodes, and the receiver's
//! banded decode of a 2-slice frame on 2 threads.
//!
//! cargo bench -p framewire-tests --bench codecs

use std::hint::black_box;
use std::sync::Arc;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use framewire_proto::Frame;
use framewire_proto::band_pool::BandPool;
use framewire_proto::codec::{DEFAULT_MAX_MESSAGE_BYTES, FrameReader, write_frame};
use framewire_receiver::decode::{DEFAULT_MAX_PIXELS, decode_picture, decode_rgba};
use framewire_receiver::picture::Pixels;
use framewire_sender::capture::pattern::PatternSource;
use framewire_sender::capture::{ChromaSampling, PlanarImage};
use framewire_sender::encoder::JpegEncoder;
use framewire_tests::content::camera_like_picture;

const SIZES: [(u32, u32); 3] = [(640, 480), (1280, 720), (1920, 1080)];
const QUALITY: u8 = 80;

/// The same picture with full-height chroma (as a YUYV camera delivers it).
fn as_422(image: &PlanarImage) -> PlanarImage {
    let mut full = PlanarImage::new(image.width, image.height, ChromaSampling::Yuv422);
    full.planes[0].copy_from_slice(&image.planes[0]);
    for plane in 1..3 {
        let stride = image.strides[plane];
        for (row, line) in full.planes[plane].chunks_exact_mut(stride).enumerate() {
            let source = (row / 2) * stride;
            line.copy_from_slice(&image.planes[plane][source..source + stride]);
        }
    }
    full
}

/// The picture as packed RGB, for the encoder's RGB path.
fn as_rgb(width: u32, height: u32) -> Vec<u8> {
    let jpeg = JpegEncoder::new(100)
        .encode(PatternSource::still(width, height).into())
        .unwrap();
    let mut rgb = mozjpeg::Decompress::new_mem(&jpeg).unwrap().rgb().unwrap();
    let pixels: Vec<[u8; 3]> = rgb.read_scanlines().unwrap();
    pixels.concat()
}

fn encode_rgb(rgb: &[u8], width: u32, height: u32, fastest: bool) -> Vec<u8> {
    let mut compress = mozjpeg::Compress::new(mozjpeg::ColorSpace::JCS_RGB);
    if fastest {
        compress.set_fastest_defaults();
        compress.set_optimize_coding(false);
    }
    compress.set_quality(QUALITY as f32);
    compress.set_size(width as usize, height as usize);
    let mut started = compress.start_compress(Vec::new()).unwrap();
    started.write_scanlines(rgb).unwrap();
    started.finish().unwrap()
}

fn encoding(c: &mut Criterion) {
    let mut group = c.benchmark_group("encode");
    group.sample_size(20);
    let encoder = JpegEncoder::new(QUALITY);
    for (width, height) in SIZES {
        let size = format!("{width}x{height}");
        let planes = Arc::new(PatternSource::still(width, height));
        let planes_422 = Arc::new(as_422(&planes));
        let rgb = as_rgb(width, height);
        group.bench_with_input(
            BenchmarkId::new("fastest raw 4:2:0", &size),
            &planes,
            |b, p| b.iter(|| encoder.encode(black_box(p.clone())).unwrap()),
        );
        group.bench_with_input(
            BenchmarkId::new("fastest raw 4:2:2", &size),
            &planes_422,
            |b, p| b.iter(|| encoder.encode(black_box(p.clone())).unwrap()),
        );
        group.bench_with_input(BenchmarkId::new("fastest RGB", &size), &rgb, |b, rgb| {
            b.iter(|| encode_rgb(black_box(rgb), width, height, true))
        });
        group.bench_with_input(
            BenchmarkId::new("mozjpeg defaults RGB", &size),
            &rgb,
            |b, rgb| b.iter(|| encode_rgb(black_box(rgb), width, height, false)),
        );
    }
    group.finish();
}

fn decoding(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode camera-like");
    group.sample_size(10);
    let (serial, pool) = (BandPool::new(1, "unused"), BandPool::new(2, "band decoder"));
    for (width, height) in [(1280, 720), (1920, 1080), (3840, 2160)] {
        let picture = camera_like_picture(width, height);
        for quality in [80, 95] {
            let cell = format!("{width}x{height} q{quality}");
            let jpeg = JpegEncoder::new(quality)
                .encode(picture.clone().into())
                .unwrap();
            let sliced = JpegEncoder::new(quality)
                .with_slices(2)
                .encode(picture.clone().into())
                .unwrap();
            let mut rgba = Vec::new();
            group.bench_with_input(
                BenchmarkId::new("zune-jpeg RGBA", &cell),
                &jpeg,
                |b, jpeg| {
                    b.iter(|| decode_rgba(black_box(jpeg), DEFAULT_MAX_PIXELS, &mut rgba).unwrap())
                },
            );
            let mut out = vec![[0u8; 4]; (width * height) as usize];
            group.bench_with_input(
                BenchmarkId::new("libjpeg-turbo RGBA", &cell),
                &jpeg,
                |b, jpeg| {
                    b.iter(|| {
                        let mut image = mozjpeg::Decompress::new_mem(black_box(jpeg))
                            .unwrap()
                            .rgba()
                            .unwrap();
                        image.read_scanlines_into(&mut out).unwrap();
                        image.finish().unwrap();
                    })
                },
            );
            let mut pixels = Pixels::default();
            group.bench_with_input(
                BenchmarkId::new("libjpeg-turbo planes", &cell),
                &jpeg,
                |b, jpeg| {
                    b.iter(|| {
                        decode_picture(black_box(jpeg), DEFAULT_MAX_PIXELS, &mut pixels, &serial)
                            .unwrap()
                    })
                },
            );
            group.bench_with_input(
                BenchmarkId::new("libjpeg-turbo planes, 2 bands on 2 threads", &cell),
                &sliced,
                |b, jpeg| {
                    b.iter(|| {
                        decode_picture(black_box(jpeg), DEFAULT_MAX_PIXELS, &mut pixels, &pool)
                            .unwrap()
                    })
                },
            );
        }
    }
    group.finish();
}

fn slicing(c: &mut Criterion) {
    let mut group = c.benchmark_group("encode camera-like q95");
    group.sample_size(10);
    for (width, height) in [(1280, 720), (3840, 2160)] {
        let picture = Arc::new(camera_like_picture(width, height));
        for slices in [1, 2] {
            let encoder = JpegEncoder::new(95).with_slices(slices);
            group.bench_with_input(
                BenchmarkId::new(format!("{slices} slice(s)"), format!("{width}x{height}")),
                &picture,
                |b, p| b.iter(|| encoder.encode(black_box(p.clone())).unwrap()),
            );
        }
    }
    group.finish();
}

fn framing(c: &mut Criterion) {
    let frame = Frame {
        image: vec![0x5a; 120_000].into(),
        sequence: 12345,
        capture_time_us: 1_700_000_000_000_000,
        width: 1280,
        height: 720,
        stream_name: "porch".into(),
        ..Frame::default()
    };
    let mut wire = Vec::new();
    smol::block_on(write_frame(&mut wire, &frame)).unwrap();
    let mut group = c.benchmark_group("framing 120 kB frame");
    group.bench_function("write", |b| {
        let mut out = Vec::with_capacity(wire.len());
        b.iter(|| {
            out.clear();
            smol::block_on(write_frame(&mut out, black_box(&frame))).unwrap()
        })
    });
    group.bench_function("read", |b| {
        b.iter(|| {
            let mut reader = FrameReader::new(black_box(&wire[..]), DEFAULT_MAX_MESSAGE_BYTES);
            smol::block_on(reader.read_frame()).unwrap().unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, encoding, slicing, decoding, framing);
criterion_main!(benches);
