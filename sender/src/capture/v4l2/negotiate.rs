//! Choosing a camera mode: which pixel format, frame size and frame rate to
//! ask a V4L2 device for, given what it offers and what the user asked.
//!
//! Pure functions over a list of [`Offer`]s, so they can be tested against
//! the capability lists of real cameras without the cameras. The rules:
//! the size closest to the one asked wins (exact first, then the nearest
//! area and shape); then the rate that meets the one asked (the lowest such,
//! or the fastest the camera has); then the format, MJPEG first because it is
//! passed through without any work on the board, then the raw formats that
//! are cheapest to encode. The choice carries a sentence saying why.

use std::cmp::Ordering;

use super::format::PixelFormat;

/// A frame interval as V4L2 gives it: seconds per frame, as a fraction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interval {
    pub numerator: u32,
    pub denominator: u32,
}

impl Interval {
    /// One frame every 1/`fps` s.
    pub fn per_second(fps: u32) -> Interval {
        Interval {
            numerator: 1,
            denominator: fps,
        }
    }

    pub fn fps(self) -> f64 {
        if self.numerator == 0 {
            return 0.0;
        }
        self.denominator as f64 / self.numerator as f64
    }
}

/// One frame size of one pixel format that a camera offers, with its rates.
#[derive(Clone, Debug, PartialEq)]
pub struct Offer {
    /// The four-character code, also for formats framewire cannot read.
    pub fourcc: [u8; 4],
    pub width: u32,
    pub height: u32,
    /// Empty when the driver does not enumerate rates.
    pub intervals: Vec<Interval>,
}

impl Offer {
    fn format(&self) -> Option<PixelFormat> {
        PixelFormat::from_fourcc(self.fourcc)
    }
}

/// What the user asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request {
    /// `None`: no `--format` given, the sender chooses.
    pub format: Option<PixelFormat>,
    pub width: u32,
    pub height: u32,
    /// 0: the fastest the camera offers.
    pub fps: u32,
}

/// The mode to set, and why it was chosen.
#[derive(Clone, Debug, PartialEq)]
pub struct Choice {
    pub format: PixelFormat,
    pub width: u32,
    pub height: u32,
    /// `None` when the camera lists no rates: its own default is kept.
    pub interval: Option<Interval>,
    pub reason: String,
}

/// No offer fits the request.
#[derive(Debug, thiserror::Error)]
#[error("{problem}; the camera offers {offers}")]
pub struct NoUsableMode {
    problem: String,
    offers: String,
}

/// Picks the mode closest to `request` among `offers`.
pub fn choose(offers: &[Offer], request: Request) -> Result<Choice, NoUsableMode> {
    let fail = |problem: String| NoUsableMode {
        problem,
        offers: summary(offers),
    };
    let best = offers
        .iter()
        .filter_map(|offer| {
            let format = offer.format()?;
            (request.format.is_none_or(|wanted| wanted == format))
                .then(|| Candidate::new(offer, format, request))
        })
        .min_by(Candidate::compare)
        .ok_or_else(|| {
            fail(match request.format {
                Some(format) => format!("the camera does not offer {format}"),
                None => format!(
                    "the camera offers no format framewire can read ({})",
                    PixelFormat::ALL.map(|f| f.to_string()).join(", ")
                ),
            })
        })?;
    let reason = best.reason(offers, request);
    Ok(Choice {
        format: best.format,
        width: best.offer.width,
        height: best.offer.height,
        interval: best.interval,
        reason,
    })
}

/// One offer scored against the request.
struct Candidate<'a> {
    offer: &'a Offer,
    format: PixelFormat,
    interval: Option<Interval>,
    /// 0 for the size asked; grows with the difference in area and shape.
    size_miss: f64,
    /// 0 when the rate asked is met; else the missing fraction of it.
    rate_shortfall: f64,
}

impl<'a> Candidate<'a> {
    fn new(offer: &'a Offer, format: PixelFormat, request: Request) -> Candidate<'a> {
        let ratio = |a: f64, b: f64| (a / b).ln().abs();
        let (w, h) = (offer.width.max(1) as f64, offer.height.max(1) as f64);
        let (asked_w, asked_h) = (request.width.max(1) as f64, request.height.max(1) as f64);
        let size_miss = ratio(w * h, asked_w * asked_h) + ratio(w / h, asked_w / asked_h);
        let fastest = offer
            .intervals
            .iter()
            .copied()
            .max_by(|a, b| a.fps().total_cmp(&b.fps()));
        let asked = request.fps as f64;
        let slowest_enough = offer
            .intervals
            .iter()
            .copied()
            .filter(|interval| interval.fps() + 0.01 >= asked)
            .min_by(|a, b| a.fps().total_cmp(&b.fps()));
        let interval = if request.fps == 0 {
            fastest
        } else {
            slowest_enough.or(fastest)
        };
        let rate_shortfall = match interval {
            Some(interval) if request.fps > 0 => ((asked - interval.fps()) / asked).max(0.0),
            _ => 0.0,
        };
        Candidate {
            offer,
            format,
            interval,
            size_miss,
            rate_shortfall,
        }
    }

    fn compare(a: &Candidate, b: &Candidate) -> Ordering {
        let close = |x: f64, y: f64| (x - y).abs() < 1e-9;
        if !close(a.size_miss, b.size_miss) {
            return a.size_miss.total_cmp(&b.size_miss);
        }
        if !close(a.rate_shortfall, b.rate_shortfall) {
            return a.rate_shortfall.total_cmp(&b.rate_shortfall);
        }
        a.format.cmp(&b.format)
    }

    fn reason(&self, offers: &[Offer], request: Request) -> String {
        let asked = describe_mode(request.width, request.height, request.fps as f64);
        let mut reason = match (self.format.is_compressed(), request.format) {
            (true, _) => "MJPEG from the camera is passed through, no encoding on the board".into(),
            (false, Some(format)) => format!("{format} as asked, encoded with mozjpeg"),
            (false, None)
                if offers
                    .iter()
                    .any(|o| o.format() == Some(PixelFormat::Mjpeg)) =>
            {
                format!(
                    "the camera's MJPEG does not come as close to {asked}, so raw {} is encoded with mozjpeg",
                    self.format
                )
            }
            (false, None) => format!(
                "the camera offers no MJPEG, so raw {} is encoded with mozjpeg",
                self.format
            ),
        };
        if (self.offer.width, self.offer.height) != (request.width, request.height) {
            reason += &format!(
                "; {}x{} is not offered, {}x{} is the closest",
                request.width, request.height, self.offer.width, self.offer.height
            );
        }
        if self.rate_shortfall > 0.0 {
            reason += &format!(
                "; {} fps is not offered at this size, {} is the fastest",
                request.fps,
                format_fps(self.interval.map_or(0.0, Interval::fps))
            );
        }
        reason
    }
}

impl Choice {
    /// E.g. "MJPEG 1280x720 at 30 fps".
    pub fn describe(&self) -> String {
        format!(
            "{} {}",
            self.format,
            describe_mode(
                self.width,
                self.height,
                self.interval.map_or(0.0, Interval::fps)
            )
        )
    }
}

fn describe_mode(width: u32, height: u32, fps: f64) -> String {
    if fps > 0.0 {
        format!("{width}x{height} at {} fps", format_fps(fps))
    } else {
        format!("{width}x{height}")
    }
}

/// 30 as "30", 12.5 as "12.5", 29.97 as "29.97".
pub fn format_fps(fps: f64) -> String {
    let text = format!("{fps:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// One line listing every format, size and rate, e.g.
/// "MJPG 1280x720 (30, 15 fps), 640x480 (30 fps); YUYV 640x480 (30 fps)".
pub fn summary(offers: &[Offer]) -> String {
    if offers.is_empty() {
        return "no capture formats at all".into();
    }
    let mut groups: Vec<([u8; 4], Vec<String>)> = Vec::new();
    for offer in offers {
        let rates: Vec<String> = offer
            .intervals
            .iter()
            .map(|interval| format_fps(interval.fps()))
            .collect();
        let size = if rates.is_empty() {
            format!("{}x{}", offer.width, offer.height)
        } else {
            format!(
                "{}x{} ({} fps)",
                offer.width,
                offer.height,
                rates.join(", ")
            )
        };
        match groups.iter_mut().find(|(code, _)| *code == offer.fourcc) {
            Some((_, sizes)) => sizes.push(size),
            None => groups.push((offer.fourcc, vec![size])),
        }
    }
    groups
        .into_iter()
        .map(|(code, sizes)| format!("{} {}", String::from_utf8_lossy(&code), sizes.join(", ")))
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Offers of `fourcc` at each size, each with the given rates.
    fn offers(fourcc: &[u8; 4], sizes: &[(u32, u32)], rates: &[u32]) -> Vec<Offer> {
        sizes
            .iter()
            .map(|&(width, height)| Offer {
                fourcc: *fourcc,
                width,
                height,
                intervals: rates.iter().map(|&fps| Interval::per_second(fps)).collect(),
            })
            .collect()
    }

    /// Logitech C920 (uvcvideo): YUYV everywhere but only 5 fps at 1080p,
    /// MJPEG at 30 fps at every size, and H264 (which framewire ignores).
    fn logitech_c920() -> Vec<Offer> {
        let sizes = [
            (640, 480),
            (160, 90),
            (320, 240),
            (800, 600),
            (1280, 720),
            (1920, 1080),
        ];
        let mut all = offers(b"YUYV", &sizes[..4], &[30, 24, 20, 15, 10, 5]);
        all.extend(offers(b"YUYV", &[(1280, 720)], &[10, 5]));
        all.extend(offers(b"YUYV", &[(1920, 1080)], &[5]));
        all.extend(offers(b"H264", &sizes, &[30, 24, 15]));
        all.extend(offers(b"MJPG", &sizes, &[30, 24, 20, 15, 10, 5]));
        all
    }

    /// A cheap UVC camera: MJPEG only above 640x480, YUYV only up to it.
    fn cheap_uvc() -> Vec<Offer> {
        let mut all = offers(b"YUYV", &[(640, 480), (320, 240)], &[30, 15]);
        all.extend(offers(b"MJPG", &[(1280, 720), (1920, 1080)], &[30, 15]));
        all
    }

    /// A Raspberry Pi camera module through libcamerify (v4l2-compat):
    /// raw formats only, no MJPEG.
    fn pi_camera_libcamerify() -> Vec<Offer> {
        let sizes = [(640, 480), (1280, 720), (1920, 1080), (2304, 1296)];
        let mut all = offers(b"YU12", &sizes, &[60, 30]);
        all.extend(offers(b"NV12", &sizes, &[60, 30]));
        all.extend(offers(b"YUYV", &sizes, &[30]));
        all.extend(offers(b"BGR3", &sizes, &[30]));
        all
    }

    /// A USB HDMI grabber (MS2109 class): MJPEG up to 1080p60, YUYV at 5-10 fps.
    fn hdmi_grabber() -> Vec<Offer> {
        let sizes = [(1920, 1080), (1280, 720), (720, 576), (640, 480)];
        let mut all = offers(b"MJPG", &sizes, &[60, 50, 30, 20, 10]);
        all.extend(offers(b"YUYV", &sizes[..1], &[5]));
        all.extend(offers(b"YUYV", &sizes[1..], &[10]));
        all
    }

    fn ask(width: u32, height: u32, fps: u32) -> Request {
        Request {
            format: None,
            width,
            height,
            fps,
        }
    }

    fn chosen(offers: &[Offer], request: Request) -> (PixelFormat, u32, u32, f64) {
        let choice = choose(offers, request).unwrap();
        let fps = choice.interval.map_or(0.0, Interval::fps);
        (choice.format, choice.width, choice.height, fps)
    }

    #[test]
    fn the_c920_streams_mjpeg_at_every_size_asked() {
        let c920 = logitech_c920();
        for (w, h) in [(1920, 1080), (1280, 720), (640, 480)] {
            assert_eq!(
                chosen(&c920, ask(w, h, 30)),
                (PixelFormat::Mjpeg, w, h, 30.0)
            );
        }
        let choice = choose(&c920, ask(1280, 720, 30)).unwrap();
        assert!(
            choice.reason.contains("passed through"),
            "{}",
            choice.reason
        );
        // 15 fps asked: the lowest rate that meets it, not the fastest.
        assert_eq!(chosen(&c920, ask(1280, 720, 15)).3, 15.0);
        // 0: as fast as the camera goes.
        assert_eq!(chosen(&c920, ask(1280, 720, 0)).3, 30.0);
    }

    #[test]
    fn explicit_formats_are_obeyed_and_rates_fall_back_to_the_fastest() {
        let request = Request {
            format: Some(PixelFormat::Yuyv),
            ..ask(1920, 1080, 30)
        };
        let choice = choose(&logitech_c920(), request).unwrap();
        assert_eq!(choice.describe(), "YUYV 1920x1080 at 5 fps");
        assert!(
            choice
                .reason
                .contains("30 fps is not offered at this size, 5 is the fastest"),
            "{}",
            choice.reason
        );
    }

    #[test]
    fn the_cheap_camera_uses_raw_yuyv_where_its_mjpeg_does_not_reach() {
        let cheap = cheap_uvc();
        assert_eq!(
            chosen(&cheap, ask(640, 480, 30)),
            (PixelFormat::Yuyv, 640, 480, 30.0)
        );
        let reason = choose(&cheap, ask(640, 480, 30)).unwrap().reason;
        assert!(reason.contains("MJPEG does not come as close"), "{reason}");
        assert_eq!(
            chosen(&cheap, ask(1280, 720, 30)),
            (PixelFormat::Mjpeg, 1280, 720, 30.0)
        );
        // 800x600 is not offered: 640x480 (same shape) is closer than 1280x720.
        let choice = choose(&cheap, ask(800, 600, 30)).unwrap();
        assert_eq!((choice.width, choice.height), (640, 480));
        assert!(choice.reason.contains("800x600 is not offered"));
    }

    #[test]
    fn the_pi_camera_prefers_planar_4_2_0_over_packed_and_skips_unknown_formats() {
        let pi = pi_camera_libcamerify();
        assert_eq!(
            chosen(&pi, ask(1280, 720, 30)),
            (PixelFormat::Nv12, 1280, 720, 30.0)
        );
        let reason = choose(&pi, ask(1280, 720, 30)).unwrap().reason;
        assert!(reason.contains("offers no MJPEG"), "{reason}");
        assert_eq!(
            chosen(&pi, ask(1280, 720, 60)),
            (PixelFormat::Nv12, 1280, 720, 60.0)
        );
        let error = choose(
            &pi,
            Request {
                format: Some(PixelFormat::Mjpeg),
                ..ask(1280, 720, 30)
            },
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("does not offer MJPEG"), "{error}");
        assert!(error.contains("BGR3 640x480 (30 fps)"), "{error}");
    }

    #[test]
    fn the_hdmi_grabber_streams_mjpeg_and_its_raw_modes_lose_on_rate() {
        let grabber = hdmi_grabber();
        assert_eq!(
            chosen(&grabber, ask(1920, 1080, 60)),
            (PixelFormat::Mjpeg, 1920, 1080, 60.0)
        );
        assert_eq!(
            chosen(&grabber, ask(1280, 720, 25)),
            (PixelFormat::Mjpeg, 1280, 720, 30.0)
        );
    }

    #[test]
    fn a_camera_with_nothing_usable_is_an_error_listing_its_offers() {
        let h264_only = offers(b"H264", &[(1920, 1080)], &[30]);
        let error = choose(&h264_only, ask(1920, 1080, 30))
            .unwrap_err()
            .to_string();
        assert!(error.contains("no format framewire can read"), "{error}");
        assert!(error.contains("H264 1920x1080 (30 fps)"), "{error}");
        let error = choose(&[], ask(640, 480, 30)).unwrap_err().to_string();
        assert!(error.contains("no capture formats at all"), "{error}");
    }

    #[test]
    fn drivers_without_rate_lists_keep_their_own_rate() {
        let no_rates = offers(b"YUYV", &[(640, 480)], &[]);
        let choice = choose(&no_rates, ask(640, 480, 30)).unwrap();
        assert_eq!(choice.interval, None);
        assert_eq!(choice.describe(), "YUYV 640x480");
    }

    #[test]
    fn fractional_rates_print_plainly() {
        assert_eq!(format_fps(30.0), "30");
        assert_eq!(format_fps(12.5), "12.5");
        let ntsc = Interval {
            numerator: 1001,
            denominator: 30000,
        };
        assert_eq!(format_fps(ntsc.fps()), "29.97");
        // 29.97 meets a request for 30 only approximately: still chosen over 15.
        let mut camera = offers(b"YUYV", &[(640, 480)], &[15]);
        camera[0].intervals.push(ntsc);
        assert_eq!(chosen(&camera, ask(640, 480, 30)).3, ntsc.fps());
    }
}
