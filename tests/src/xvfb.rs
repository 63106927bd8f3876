//! A private X server (Xvfb) for the tests that look at a window: X clients
//! run on its display with a time limit, and screenshots (xwd) come back as
//! [`Image`]s. Needs Xvfb and x11-apps (xwd); xdotool for key presses.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use super::{Image, Placed, send_signal, shows_pattern_at};

/// How far a screen pixel may be from the colour sent (scaling blends edges).
pub const SCREEN_TOLERANCE: u8 = 10;

/// A private X server on a display number it picks itself.
pub struct Xvfb {
    child: Child,
    pub display: String,
}

impl Xvfb {
    pub fn start(width: u32, height: u32) -> Xvfb {
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

    /// Runs an X client on this display, given at most 30 s: a display
    /// server that stops answering fails the test instead of hanging it.
    pub fn x_client(&self, program: &str, args: &[&str]) -> Output {
        self.try_x_client(program, args)
            .unwrap_or_else(|error| panic!("{program} {args:?} failed: {error}"))
    }

    /// The same, with the client's complaint when it fails by itself.
    fn try_x_client(&self, program: &str, args: &[&str]) -> Result<Output, String> {
        let output = Command::new("timeout")
            .args(["30", program])
            .args(args)
            .env("DISPLAY", &self.display)
            .output()
            .expect("cannot run coreutils' timeout");
        match output.status.code() {
            Some(0) => Ok(output),
            Some(124) => panic!("{program} {args:?}: the X server did not answer in 30 s"),
            Some(127) => panic!(
                "{program} is missing: install it (Debian/Ubuntu: apt-get install xdotool x11-apps)"
            ),
            _ => Err(String::from_utf8_lossy(&output.stderr).into_owned()),
        }
    }

    /// Runs xdotool on this display: the receiver's window is `%1` after
    /// `search --sync --name framewire`; returns what it prints.
    pub fn xdotool(&self, args: &[&str]) -> String {
        let mut all = vec!["search", "--sync", "--name", "framewire"];
        all.extend_from_slice(args);
        String::from_utf8_lossy(&self.x_client("xdotool", &all).stdout).into_owned()
    }

    /// Presses `key` in the receiver's window.
    pub fn press(&self, key: &str) {
        self.xdotool(&["windowfocus", "--sync", "key", key]);
    }

    /// Screenshots until `shows` holds for one, for up to 10 s; returns the
    /// last. On a loaded machine the window may present a change a few
    /// frames late; the caller asserts on what it got.
    pub fn screenshot_when(&self, shows: impl Fn(&Image) -> bool) -> Image {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let screen = self.screenshot();
            if shows(&screen) || std::time::Instant::now() > deadline {
                return screen;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Screenshots until one shows the test pattern at `placed`, for up to 10 s.
    pub fn screenshot_showing(&self, placed: Placed) -> Image {
        self.screenshot_when(|screen| shows_pattern_at(screen, placed, SCREEN_TOLERANCE))
    }

    /// Sends `signal` to the X server (STOP: a display that stops answering).
    pub fn signal(&self, signal: &str) {
        send_signal(self.child.id(), signal);
    }

    /// The X server's process id (to read the CPU time it used).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The whole screen, as RGBA. xwd walks every window, and one that a
    /// program (Wine, say) destroys meanwhile fails the dump: then again.
    pub fn screenshot(&self) -> Image {
        let mut attempts = 0;
        loop {
            attempts += 1;
            match self.try_x_client("xwd", &["-root", "-silent"]) {
                Ok(output) => return parse_xwd(&output.stdout),
                Err(error) if error.contains("BadWindow") && attempts < 10 => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                Err(error) => panic!("xwd -root failed: {error}"),
            }
        }
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
