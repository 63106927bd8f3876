//! Streaming a recorded file in a loop: Y4M (raw 4:2:0, 4:2:2 or greyscale)
//! or MJPEG (concatenated JPEGs, as cameras and `ffmpeg -f mjpeg` write them).
//!
//! Raw Y4M frames go through the encoder like camera frames; MJPEG frames are
//! passed through untouched, like a camera's MJPEG. At the end of the file the
//! source starts again from its first frame, so a short recording can feed a
//! long benchmark or demo. The caller paces it (`--fps`); the file's own frame
//! rate is only reported. It does not convert colour ranges: Y4M's video-range
//! levels are sent as they are.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use bytes::Bytes;

use super::{ChromaSampling, Picture, PlanarImage, RawFrame, Source};

pub struct FileSource {
    path: PathBuf,
    frames: Frames,
    sequence: u64,
}

enum Frames {
    Y4m(Y4mReader),
    /// The whole MJPEG file, with each frame's byte range.
    Mjpeg {
        data: Bytes,
        ranges: Vec<(usize, usize)>,
        next: usize,
        width: u32,
        height: u32,
    },
}

impl FileSource {
    /// Opens `path`, telling Y4M from MJPEG by its first bytes.
    pub fn open(path: &Path) -> anyhow::Result<FileSource> {
        let mut file =
            File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let mut magic = [0u8; 10];
        let read = file.read(&mut magic)?;
        file.rewind()?;
        let frames = if magic[..read].starts_with(b"YUV4MPEG2 ") {
            Frames::Y4m(
                Y4mReader::new(file)
                    .with_context(|| format!("{} is not a usable Y4M file", path.display()))?,
            )
        } else if magic[..read].starts_with(&[0xff, 0xd8]) {
            split_mjpeg(file)
                .with_context(|| format!("{} is not a usable MJPEG file", path.display()))?
        } else {
            bail!(
                "{} is neither Y4M (starts with 'YUV4MPEG2 ') nor MJPEG (starts with FF D8); \
                 convert it with e.g. `ffmpeg -i INPUT -pix_fmt yuv420p OUTPUT.y4m`",
                path.display()
            );
        };
        Ok(FileSource {
            path: path.to_owned(),
            frames,
            sequence: 0,
        })
    }
}

impl Source for FileSource {
    fn next_frame(&mut self) -> anyhow::Result<Option<RawFrame>> {
        let picture = match &mut self.frames {
            Frames::Y4m(reader) => Picture::Planar(reader.next_picture()?),
            Frames::Mjpeg {
                data,
                ranges,
                next,
                width,
                height,
            } => {
                let (start, end) = ranges[*next];
                *next = (*next + 1) % ranges.len();
                Picture::Jpeg {
                    data: data.slice(start..end),
                    width: *width,
                    height: *height,
                }
            }
        };
        let sequence = self.sequence;
        self.sequence += 1;
        Ok(Some(RawFrame {
            picture,
            sequence,
            capture_time_us: framewire_proto::unix_time_us(),
        }))
    }

    fn describe(&self) -> String {
        match &self.frames {
            Frames::Y4m(reader) => format!(
                "Y4M file {} ({}x{} {:?}, recorded at {}), in a loop",
                self.path.display(),
                reader.width,
                reader.height,
                reader.sampling,
                reader.frame_rate
            ),
            Frames::Mjpeg {
                ranges,
                width,
                height,
                ..
            } => format!(
                "MJPEG file {} ({} frames of {width}x{height}, passed through), in a loop",
                self.path.display(),
                ranges.len()
            ),
        }
    }

    fn needs_pacing(&self) -> bool {
        true
    }
}

/// Reads a whole MJPEG file and finds each frame in it.
fn split_mjpeg(mut file: File) -> anyhow::Result<Frames> {
    let mut data = Vec::new();
    file.read_to_end(&mut data)?;
    let mut ranges = Vec::new();
    let mut position = 0;
    while position < data.len() {
        // Skip padding between frames.
        match data[position..].windows(2).position(|w| w == [0xff, 0xd8]) {
            Some(offset) => position += offset,
            None => break,
        }
        let length = framewire_proto::jpeg::complete_length(&data[position..])
            .with_context(|| format!("frame {} at byte {position}", ranges.len()))?;
        ranges.push((position, position + length));
        position += length;
    }
    let (first_start, first_end) = *ranges
        .first()
        .ok_or_else(|| anyhow!("it holds no JPEG frame"))?;
    let header = framewire_proto::jpeg::read_header(&data[first_start..first_end])?;
    Ok(Frames::Mjpeg {
        data: data.into(),
        ranges,
        next: 0,
        width: header.width,
        height: header.height,
    })
}

/// Reads YUV4MPEG2 frames one by one, starting over at the end.
struct Y4mReader {
    input: BufReader<File>,
    width: u32,
    height: u32,
    sampling: ChromaSampling,
    /// `Cmono`: the file has no chroma planes; ours stay neutral grey.
    greyscale: bool,
    frame_rate: String,
    first_frame_offset: u64,
}

impl Y4mReader {
    fn new(file: File) -> anyhow::Result<Y4mReader> {
        let mut input = BufReader::new(file);
        let mut header = String::new();
        input.read_line(&mut header)?;
        let (mut width, mut height) = (0u32, 0u32);
        let (mut sampling, mut greyscale, mut frame_rate) =
            (ChromaSampling::Yuv420, false, "an unknown rate".to_owned());
        for token in header.split_whitespace().skip(1) {
            let (tag, value) = token.split_at(1);
            match tag {
                "W" => width = value.parse().context("bad width (W)")?,
                "H" => height = value.parse().context("bad height (H)")?,
                "F" => frame_rate = format!("{} fps", value.replace(':', "/")),
                "C" => match value {
                    c if c.starts_with("420") => sampling = ChromaSampling::Yuv420,
                    "422" => sampling = ChromaSampling::Yuv422,
                    "mono" => greyscale = true,
                    other => bail!(
                        "colour format C{other} is not supported (use 4:2:0, 4:2:2 or mono: \
                         ffmpeg -i INPUT -pix_fmt yuv420p OUTPUT.y4m)"
                    ),
                },
                _ => {}
            }
        }
        if !(1..=16384).contains(&width) || !(1..=16384).contains(&height) {
            bail!("its header gives no usable size ({width}x{height})");
        }
        let first_frame_offset = input.stream_position()?;
        Ok(Y4mReader {
            input,
            width,
            height,
            sampling,
            greyscale,
            frame_rate,
            first_frame_offset,
        })
    }

    fn next_picture(&mut self) -> anyhow::Result<PlanarImage> {
        let mut frame_header = String::new();
        if self.input.read_line(&mut frame_header)? == 0 {
            self.input.seek(SeekFrom::Start(self.first_frame_offset))?;
            self.input.read_line(&mut frame_header)?;
        }
        if !frame_header.starts_with("FRAME") {
            bail!(
                "expected a FRAME header, found {:?}",
                frame_header.chars().take(16).collect::<String>()
            );
        }
        let mut image = PlanarImage::new(self.width, self.height, self.sampling);
        let (w, h) = (self.width as usize, self.height as usize);
        let chroma = (w.div_ceil(2), h.div_ceil(self.sampling.vertical_factor()));
        let plane_sizes = [(w, h), chroma, chroma];
        let planes = if self.greyscale { 1 } else { 3 };
        for (index, &(columns, rows)) in plane_sizes.iter().enumerate().take(planes) {
            let stride = image.strides[index];
            for row in 0..rows {
                let line = &mut image.planes[index][row * stride..row * stride + columns];
                self.input
                    .read_exact(line)
                    .context("the file ends inside a frame")?;
            }
        }
        Ok(image)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_file(name: &str, contents: &[u8]) -> PathBuf {
        let path = std::env::temp_dir().join(format!("framewire-{}-{name}", std::process::id()));
        std::fs::write(&path, contents).unwrap();
        path
    }

    fn y4m(width: usize, height: usize, colour: &str, frames: &[u8]) -> Vec<u8> {
        let mut data =
            format!("YUV4MPEG2 W{width} H{height} F30:1 Ip A1:1 C{colour}\n").into_bytes();
        let chroma = width.div_ceil(2)
            * if colour == "422" {
                height
            } else {
                height.div_ceil(2)
            };
        for &luma in frames {
            data.extend_from_slice(b"FRAME\n");
            data.extend(std::iter::repeat_n(luma, width * height));
            data.extend(std::iter::repeat_n(100, chroma));
            data.extend(std::iter::repeat_n(200, chroma));
        }
        data
    }

    fn planar(frame: RawFrame) -> PlanarImage {
        match frame.picture {
            Picture::Planar(image) => image,
            Picture::Jpeg { .. } => panic!("expected raw planes"),
        }
    }

    #[test]
    fn y4m_frames_come_out_in_order_and_loop() {
        for (colour, sampling) in [
            ("420jpeg", ChromaSampling::Yuv420),
            ("422", ChromaSampling::Yuv422),
        ] {
            let path = temp_file(
                &format!("{colour}.y4m"),
                &y4m(20, 10, colour, &[10, 20, 30]),
            );
            let mut source = FileSource::open(&path).unwrap();
            let lumas: Vec<u8> = (0..5)
                .map(|_| planar(source.next_frame().unwrap().unwrap()).planes[0][0])
                .collect();
            assert_eq!(lumas, [10, 20, 30, 10, 20], "{colour}");
            let image = planar(source.next_frame().unwrap().unwrap());
            assert_eq!(
                (image.width, image.height, image.sampling),
                (20, 10, sampling)
            );
            assert_eq!(image.planes[1][0], 100);
            assert_eq!(image.planes[2][image.strides[2] + 9], 200);
            std::fs::remove_file(path).unwrap();
        }
    }

    #[test]
    fn a_y4m_cut_inside_a_frame_is_an_error_not_a_panic() {
        let mut data = y4m(20, 10, "420", &[10]);
        data.truncate(data.len() - 7);
        let path = temp_file("cut.y4m", &data);
        let error = FileSource::open(&path).unwrap().next_frame().unwrap_err();
        assert!(
            format!("{error:#}").contains("ends inside a frame"),
            "{error:#}"
        );
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn unsupported_and_unknown_files_say_what_would_work() {
        let path = temp_file("444.y4m", &y4m(4, 4, "444", &[]));
        let error = format!("{:#}", FileSource::open(&path).err().unwrap());
        assert!(
            error.contains("C444 is not supported") && error.contains("yuv420p"),
            "{error}"
        );
        let text = temp_file("notes.txt", b"hello");
        let error = format!("{:#}", FileSource::open(&text).err().unwrap());
        assert!(error.contains("neither Y4M"), "{error}");
        std::fs::remove_file(path).unwrap();
        std::fs::remove_file(text).unwrap();
    }

    #[test]
    fn mjpeg_frames_pass_through_byte_for_byte() {
        let encoder = crate::encoder::JpegEncoder::new(80);
        let jpegs: Vec<Vec<u8>> = [40u8, 160]
            .iter()
            .map(|&luma| {
                let mut image = PlanarImage::new(32, 16, ChromaSampling::Yuv420);
                image.planes[0].fill(luma);
                encoder.encode(image.clone().into()).unwrap()
            })
            .collect();
        let mut file = jpegs[0].clone();
        file.extend_from_slice(&[0, 0, 0]); // padding between frames, as some cameras write
        file.extend_from_slice(&jpegs[1]);
        let path = temp_file("clip.mjpeg", &file);
        let mut source = FileSource::open(&path).unwrap();
        for expected in [&jpegs[0], &jpegs[1], &jpegs[0]] {
            match source.next_frame().unwrap().unwrap().picture {
                Picture::Jpeg {
                    data,
                    width,
                    height,
                } => {
                    assert_eq!(&data[..], &expected[..]);
                    assert_eq!((width, height), (32, 16));
                }
                Picture::Planar(_) => panic!("MJPEG must pass through"),
            }
        }
        std::fs::remove_file(path).unwrap();
    }
}
