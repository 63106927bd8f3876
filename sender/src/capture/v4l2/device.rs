//! What a V4L2 device is and offers, and setting it up: finding capture
//! devices, reading their formats, sizes, rates and controls (for
//! `--list-devices` and for choosing a mode), setting controls given by
//! name (`--ctrl exposure_time_absolute=200`) and setting the chosen mode.
//!
//! The `v4l` crate unwraps some strings the driver returns; a quirky driver
//! must not crash the sender, so those calls are fenced with `catch_unwind`
//! and become errors.

use std::fmt::Write as _;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use v4l::capability::Flags;
use v4l::control::{self, Control, Value};
use v4l::frameinterval::FrameIntervalEnum;
use v4l::framesize::FrameSizeEnum;
use v4l::video::Capture;
use v4l::{Device, Format, FourCC, Fraction};

use super::format::PixelFormat;
use super::negotiate::{Choice, Interval, Offer, format_fps};
use super::raw::RawLayout;

/// Sizes offered by "stepwise" drivers are reduced to these common ones
/// (plus the size asked for), so the list stays short and readable.
const COMMON_SIZES: [(u32, u32); 6] = [
    (320, 240),
    (640, 480),
    (800, 600),
    (1280, 720),
    (1920, 1080),
    (3840, 2160),
];

/// Runs a `v4l` call that may panic on odd driver strings.
fn fenced<T>(what: &str, call: impl FnOnce() -> io::Result<T>) -> io::Result<T> {
    panic::catch_unwind(AssertUnwindSafe(call)).unwrap_or_else(|_| {
        Err(io::Error::other(format!(
            "{what}: the driver returned data that cannot be read"
        )))
    })
}

/// Opens `path` and checks that it is a streaming video capture device.
pub fn open_capture(path: &Path) -> anyhow::Result<Device> {
    let device =
        Device::with_path(path).with_context(|| format!("cannot open {}", path.display()))?;
    let caps = fenced("VIDIOC_QUERYCAP", || device.query_caps())
        .with_context(|| format!("{} is not a V4L2 device", path.display()))?;
    if !caps.capabilities.contains(Flags::VIDEO_CAPTURE) {
        bail!(
            "{} ({}, {}) is not a video capture device (it may be the metadata or output \
             node of a camera; see `framewire-sender --list-devices`)",
            path.display(),
            caps.card,
            caps.driver
        );
    }
    if !caps.capabilities.contains(Flags::STREAMING) {
        bail!(
            "{} ({}) cannot stream with mapped buffers",
            path.display(),
            caps.card
        );
    }
    Ok(device)
}

/// The `/dev/video*` nodes that are video capture devices, in number order.
pub fn capture_devices() -> Vec<PathBuf> {
    let mut nodes: Vec<(u32, PathBuf)> = std::fs::read_dir("/dev")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let number = name.strip_prefix("video")?.parse().ok()?;
            Some((number, entry.path()))
        })
        .collect();
    nodes.sort();
    nodes
        .into_iter()
        .map(|(_, path)| path)
        .filter(|path| open_capture(path).is_ok())
        .collect()
}

/// Every format, size and rate the device offers. Stepwise and continuous
/// sizes are reduced to `near` and the common sizes in their range.
pub fn read_offers(device: &Device, near: (u32, u32)) -> io::Result<Vec<Offer>> {
    let mut offers = Vec::new();
    for format in fenced("VIDIOC_ENUM_FMT", || device.enum_formats())? {
        let sizes = fenced("VIDIOC_ENUM_FRAMESIZES", || {
            device.enum_framesizes(format.fourcc)
        })
        .unwrap_or_default();
        for size in sizes {
            for (width, height) in size_candidates(&size.size, near) {
                let intervals = fenced("VIDIOC_ENUM_FRAMEINTERVALS", || {
                    device.enum_frameintervals(format.fourcc, width, height)
                })
                .unwrap_or_default()
                .into_iter()
                .flat_map(|interval| interval_candidates(&interval.interval))
                .collect();
                offers.push(Offer {
                    fourcc: format.fourcc.repr,
                    width,
                    height,
                    intervals,
                });
            }
        }
    }
    Ok(offers)
}

fn size_candidates(size: &FrameSizeEnum, near: (u32, u32)) -> Vec<(u32, u32)> {
    match size {
        FrameSizeEnum::Discrete(size) => vec![(size.width, size.height)],
        FrameSizeEnum::Stepwise(range) => {
            let snap = |value: u32, min: u32, max: u32, step: u32| {
                let clamped = value.clamp(min, max);
                min + (clamped - min) / step.max(1) * step.max(1)
            };
            let mut sizes: Vec<(u32, u32)> = COMMON_SIZES
                .into_iter()
                .chain([near])
                .map(|(w, h)| {
                    (
                        snap(w, range.min_width, range.max_width, range.step_width),
                        snap(h, range.min_height, range.max_height, range.step_height),
                    )
                })
                .collect();
            sizes.sort();
            sizes.dedup();
            sizes
        }
    }
}

fn interval_candidates(interval: &FrameIntervalEnum) -> Vec<Interval> {
    let from = |fraction: Fraction| Interval {
        numerator: fraction.numerator,
        denominator: fraction.denominator,
    };
    match interval {
        FrameIntervalEnum::Discrete(fraction) => vec![from(*fraction)],
        // A range: its fastest and slowest ends, and the common rates inside.
        FrameIntervalEnum::Stepwise(range) => {
            let (fastest, slowest) = (from(range.min), from(range.max));
            let mut rates = vec![fastest, slowest];
            for fps in [60, 30, 25, 15, 10, 5] {
                let fps_f = fps as f64;
                if fps_f < fastest.fps() && fps_f > slowest.fps() {
                    rates.push(Interval::per_second(fps));
                }
            }
            rates
        }
    }
}

/// The mode a device streams in after [`configure`].
#[derive(Clone, Copy, Debug)]
pub struct Mode {
    pub format: PixelFormat,
    pub layout: RawLayout,
    /// Frames per second the driver settled on (0 if it does not say).
    pub fps: f64,
}

/// Sets the chosen format, size and rate; the driver may adjust them, and
/// what it settled on is returned.
pub fn configure(device: &Device, choice: &Choice) -> anyhow::Result<Mode> {
    let wanted = Format::new(
        choice.width,
        choice.height,
        FourCC::new(&choice.format.fourcc()),
    );
    let actual = device
        .set_format(&wanted)
        .context("the camera refused the format (VIDIOC_S_FMT)")?;
    let format = PixelFormat::from_fourcc(actual.fourcc.repr).ok_or_else(|| {
        anyhow!(
            "asked for {} but the camera switched to {}",
            choice.format,
            actual.fourcc
        )
    })?;
    if format != choice.format {
        bail!(
            "asked for {} but the camera switched to {format}",
            choice.format
        );
    }
    let mut fps = 0.0;
    if let Some(interval) = choice.interval {
        let parameters = v4l::video::capture::Parameters::new(Fraction::new(
            interval.numerator,
            interval.denominator,
        ));
        match device.set_params(&parameters) {
            Ok(set) => {
                fps = Interval {
                    numerator: set.interval.numerator,
                    denominator: set.interval.denominator,
                }
                .fps()
            }
            Err(error) => log::warn!("camera: cannot set the frame rate: {error}"),
        }
    }
    let layout = RawLayout {
        format,
        width: actual.width,
        height: actual.height,
        bytes_per_line: (actual.stride as usize)
            .max(RawLayout::packed(format, actual.width, actual.height).bytes_per_line),
    };
    Ok(Mode {
        format,
        layout,
        fps,
    })
}

/// A camera control as `--list-devices` shows it and `--ctrl` names it.
struct ControlInfo {
    description: control::Description,
    /// v4l2-ctl's name: lower case, words joined by underscores.
    name: String,
}

fn read_controls(device: &Device) -> Vec<ControlInfo> {
    fenced("VIDIOC_QUERY_EXT_CTRL", || device.query_controls())
        .unwrap_or_default()
        .into_iter()
        // The values `--ctrl` can set: numbers, switches and menus.
        .filter(|description| {
            matches!(
                description.typ,
                control::Type::Integer
                    | control::Type::Integer64
                    | control::Type::Boolean
                    | control::Type::Menu
                    | control::Type::IntegerMenu
                    | control::Type::Bitmask
            )
        })
        .map(|description| ControlInfo {
            name: control_name(&description.name),
            description,
        })
        .collect()
}

/// "Exposure Time, Absolute" → "exposure_time_absolute", as v4l2-ctl says it.
pub fn control_name(label: &str) -> String {
    let mut name = String::new();
    for c in label.chars() {
        if c.is_ascii_alphanumeric() {
            name.push(c.to_ascii_lowercase());
        } else if !name.is_empty() && !name.ends_with('_') {
            name.push('_');
        }
    }
    name.trim_end_matches('_').to_owned()
}

/// Sets each `name=value` (value: a number, true/false, or a menu entry's name).
pub fn set_controls(device: &Device, settings: &[(String, String)]) -> anyhow::Result<()> {
    if settings.is_empty() {
        return Ok(());
    }
    let controls = read_controls(device);
    for (name, text) in settings {
        let Some(control) = controls.iter().find(|control| control.name == *name) else {
            let known: Vec<&str> = controls.iter().map(|c| c.name.as_str()).collect();
            bail!(
                "the camera has no control '{name}'; it has: {}",
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            );
        };
        let description = &control.description;
        let value = match description.typ {
            control::Type::Boolean => Value::Boolean(match text.as_str() {
                "1" | "true" | "on" | "yes" => true,
                "0" | "false" | "off" | "no" => false,
                _ => bail!("--ctrl {name}: '{text}' is not true/false"),
            }),
            _ => {
                let number = text.parse::<i64>().ok().or_else(|| {
                    description
                        .items
                        .as_ref()?
                        .iter()
                        .find_map(|(index, item)| {
                            control_name(&item.to_string())
                                .eq(&control_name(text))
                                .then_some(*index as i64)
                        })
                });
                let number = number.ok_or_else(|| {
                    anyhow!("--ctrl {name}: '{text}' is neither a number nor one of its choices")
                })?;
                if number < description.minimum || number > description.maximum {
                    bail!(
                        "--ctrl {name}={number} is out of range {}..={}",
                        description.minimum,
                        description.maximum
                    );
                }
                Value::Integer(number)
            }
        };
        device
            .set_control(Control {
                id: description.id,
                value,
            })
            .with_context(|| format!("the camera refused --ctrl {name}={text}"))?;
        log::info!("camera: {name} set to {text}");
    }
    Ok(())
}

/// The `--list-devices` report: every capture device with its driver,
/// card, bus, formats with sizes and rates, and controls with ranges.
pub fn describe_devices() -> String {
    let devices = capture_devices();
    if devices.is_empty() {
        return "no V4L2 capture devices found (no /dev/video* that can capture)\n".into();
    }
    let mut report = String::new();
    for path in devices {
        let _ = writeln!(report, "{}", describe_device(&path));
    }
    report
}

fn describe_device(path: &Path) -> String {
    let mut text = String::new();
    let device = match open_capture(path) {
        Ok(device) => device,
        Err(error) => return format!("{}: {error:#}\n", path.display()),
    };
    let caps = fenced("VIDIOC_QUERYCAP", || device.query_caps());
    let _ = writeln!(text, "{}", path.display());
    if let Ok(caps) = caps {
        let _ = writeln!(text, "  card:   {}", caps.card);
        let _ = writeln!(text, "  driver: {}", caps.driver);
        let _ = writeln!(text, "  bus:    {}", caps.bus);
    }
    for link in stable_paths(path) {
        let _ = writeln!(text, "  also:   {}", link.display());
    }
    let offers = read_offers(&device, (1280, 720)).unwrap_or_default();
    let _ = writeln!(text, "  formats:");
    let mut codes: Vec<[u8; 4]> = offers.iter().map(|offer| offer.fourcc).collect();
    codes.dedup();
    for code in codes {
        let name = String::from_utf8_lossy(&code).into_owned();
        let readable = PixelFormat::from_fourcc(code).map_or_else(
            || format!("{name} (not supported)"),
            |f| format!("{f} ({name})"),
        );
        let _ = writeln!(text, "    {readable}:");
        for offer in offers.iter().filter(|offer| offer.fourcc == code) {
            let rates: Vec<String> = offer
                .intervals
                .iter()
                .map(|i| format_fps(i.fps()))
                .collect();
            let _ = writeln!(
                text,
                "      {:>9}  {} fps",
                format!("{}x{}", offer.width, offer.height),
                if rates.is_empty() {
                    "?".to_owned()
                } else {
                    rates.join(", ")
                }
            );
        }
    }
    let controls = read_controls(&device);
    if !controls.is_empty() {
        let _ = writeln!(text, "  controls (--ctrl NAME=VALUE):");
        for control in controls {
            let d = &control.description;
            let current = device
                .control(d.id)
                .ok()
                .and_then(|c| match c.value {
                    Value::Integer(v) => Some(v.to_string()),
                    Value::Boolean(v) => Some(v.to_string()),
                    _ => None,
                })
                .unwrap_or_else(|| "?".into());
            let range = match (&d.typ, &d.items) {
                (control::Type::Boolean, _) => "true/false".to_owned(),
                (_, Some(items)) => items
                    .iter()
                    .map(|(index, item)| format!("{index}={item}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                _ => format!("{}..={} step {}", d.minimum, d.maximum, d.step),
            };
            let _ = writeln!(
                text,
                "    {:<28} {range} (default {}, now {current})",
                control.name, d.default
            );
        }
    }
    text
}

/// The `/dev/v4l/by-id` and `by-path` links that point at `device`; they
/// name the same camera after a replug, when `/dev/videoN` may change.
fn stable_paths(device: &Path) -> Vec<PathBuf> {
    let target = std::fs::canonicalize(device).unwrap_or_else(|_| device.to_owned());
    ["/dev/v4l/by-id", "/dev/v4l/by-path"]
        .iter()
        .flat_map(|dir| std::fs::read_dir(dir).into_iter().flatten().flatten())
        .map(|entry| entry.path())
        .filter(|link| std::fs::canonicalize(link).is_ok_and(|t| t == target))
        .collect()
}

/// Describes a rate for the log ("30 fps", or "the driver's own rate").
pub fn describe_rate(fps: f64) -> String {
    if fps > 0.0 {
        format!("{} fps", format_fps(fps))
    } else {
        "the driver's own rate".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_names_follow_v4l2_ctl() {
        assert_eq!(control_name("Brightness"), "brightness");
        assert_eq!(
            control_name("Exposure Time, Absolute"),
            "exposure_time_absolute"
        );
        assert_eq!(
            control_name("White Balance, Auto & Preset"),
            "white_balance_auto_preset"
        );
        assert_eq!(control_name("  Gain (dB) "), "gain_db");
    }

    #[test]
    fn stepwise_sizes_become_common_sizes_and_the_one_asked() {
        let range = FrameSizeEnum::Stepwise(v4l::framesize::Stepwise {
            min_width: 32,
            max_width: 2592,
            step_width: 2,
            min_height: 32,
            max_height: 1944,
            step_height: 2,
        });
        let sizes = size_candidates(&range, (1001, 555));
        assert!(sizes.contains(&(1280, 720)));
        assert!(
            sizes.contains(&(1000, 554)),
            "snapped to the step: {sizes:?}"
        );
        assert!(
            sizes.contains(&(2592, 1944)),
            "4K clamps to the maximum: {sizes:?}"
        );
        assert!(sizes.len() <= COMMON_SIZES.len() + 1);
    }
}
