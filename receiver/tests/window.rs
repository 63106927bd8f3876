//! The window as a user sees it: under a real X server (Xvfb) with Mesa's
//! Vulkan driver (lavapipe), the receiver shows the sender's test pattern
//! scaled to fit with black bars, and a screenshot's pixels prove it. The
//! environment also names a Wayland display that does not answer, so the
//! fallback to X11 is exercised on every run.
//!
//! Needs Xvfb, xwd (x11-apps) and mesa-vulkan-drivers; `.ci/run` installs them.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;

/// A private X server on a display number it picks itself.
struct Xvfb {
    child: Child,
    display: String,
}

impl Xvfb {
    fn start(width: u32, height: u32) -> Xvfb {
        let mut child = Command::new("Xvfb")
            .args(["-displayfd", "1", "-nolisten", "tcp", "-screen", "0", &format!("{width}x{height}x24")])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start Xvfb: install it (Debian/Ubuntu: apt-get install xvfb x11-apps mesa-vulkan-drivers)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(
            !line.trim().is_empty(),
            "Xvfb did not report its display number"
        );
        Xvfb {
            child,
            display: format!(":{}", line.trim()),
        }
    }

    /// The whole screen, as RGBA.
    fn screenshot(&self) -> Image {
        let output = Command::new("xwd")
            .args(["-root", "-silent", "-display", &self.display])
            .output()
            .expect("cannot run xwd: install x11-apps");
        assert!(
            output.status.success(),
            "xwd failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        parse_xwd(&output.stdout)
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Decodes an X window dump (TrueColor, 24 or 32 bits per pixel) into RGBA.
fn parse_xwd(dump: &[u8]) -> Image {
    let word =
        |index: usize| u32::from_be_bytes(dump[index * 4..index * 4 + 4].try_into().unwrap());
    let (header_size, width, height) = (word(0) as usize, word(4) as usize, word(5) as usize);
    let (byte_order, bits_per_pixel, bytes_per_line) =
        (word(7), word(11) as usize, word(12) as usize);
    let masks = [word(14), word(15), word(16)];
    let colour_entries = word(19) as usize;
    assert!(
        bits_per_pixel == 32 || bits_per_pixel == 24,
        "unsupported xwd: {bits_per_pixel} bpp"
    );
    let pixels = &dump[header_size + colour_entries * 12..];
    let bytes_per_pixel = bits_per_pixel / 8;
    let mut rgba = Vec::with_capacity(width * height * 4);
    for y in 0..height {
        for x in 0..width {
            let at = y * bytes_per_line + x * bytes_per_pixel;
            let mut raw = [0u8; 4];
            raw[..bytes_per_pixel].copy_from_slice(&pixels[at..at + bytes_per_pixel]);
            let value = if byte_order == 0 {
                u32::from_le_bytes(raw)
            } else {
                u32::from_be_bytes(raw) >> (32 - bits_per_pixel)
            };
            for mask in masks {
                rgba.push(((value & mask) >> mask.trailing_zeros()) as u8);
            }
            rgba.push(255);
        }
    }
    Image {
        width,
        height,
        rgba,
    }
}

#[test]
fn the_window_shows_the_pattern_scaled_to_fit_with_black_bars() {
    let xvfb = Xvfb::start(1280, 720);
    let dir = scratch_dir("window");
    let runtime_dir = dir.join("xdg");
    std::fs::create_dir_all(&runtime_dir).unwrap();
    let mut receiver = Receiver::start_in(
        dir,
        "127.0.0.1:0",
        &["--window"],
        &[
            ("DISPLAY", &xvfb.display),
            ("WAYLAND_DISPLAY", "wayland-nobody-home"),
            ("XDG_RUNTIME_DIR", runtime_dir.to_str().unwrap()),
        ],
    );
    receiver
        .process
        .wait_for_log("nothing answers", Duration::from_secs(1));
    let _sender = start_sender(
        &receiver.address(),
        &["--size", "640x480", "--fps", "30", "--name", "window"],
    );
    receiver
        .process
        .wait_for_log("is 'window'", Duration::from_secs(30));
    std::thread::sleep(Duration::from_secs(2));
    let screen = xvfb.screenshot();
    let report = receiver.stop();
    assert!(
        field(&report, "frames_shown") > 10,
        "frames reach the screen: {report:#}"
    );

    // The window (1280x720 at the top left; Xvfb has no window manager)
    // shows the 4:3 picture 1.5x enlarged to 960x720, centred between black bars.
    let (scale, left) = (1.5, 160.0);
    let at = |x: f64, y: f64| ((left + x * scale) as usize, (y * scale) as usize);
    for (bar, colour) in PATTERN_BARS.iter().enumerate() {
        let (x, y) = at((2 * bar + 1) as f64 * 40.0, 160.0);
        screen.assert_colour(x, y, *colour, 10, &format!("bar {bar} on screen"));
    }
    let (x, y) = at(636.0, 326.0);
    screen.assert_colour(x, y, [40, 40, 40], 10, "grey band on screen");
    for (x, y) in [(80, 360), (1200, 360), (2, 2), (1277, 717)] {
        screen.assert_colour(x, y, [0, 0, 0], 0, "letterbox");
    }
}
