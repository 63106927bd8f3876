//! The README's quick start on a newcomer's machine: a fresh Debian 12 root
//! (`tools/fresh-machine.sh`: debootstrap's base system, a desktop's Vulkan
//! driver and X11 libraries, the Rust toolchain, and nothing this host
//! installed), a clone of this repository's committed state, and the
//! README's first command exactly as written, run by an ordinary user with
//! sudo. It must find and install what the build lacks, build, and open the
//! window with the moving test pattern (pixels of a screenshot of the X
//! server it draws on).
//!
//! Needs root, debootstrap, Xvfb, xwd, xdotool and the network to Debian's
//! mirror and the crate registry, and builds everything in release mode
//! from nothing (about 10 minutes): ignored by default, run by `.ci/run`.
//! With `FRAMEWIRE_FRESH_ROOT` naming a root that `tools/fresh-machine.sh
//! make` just made, the test uses (and then removes) that one.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use framewire_tests::xvfb::{SCREEN_TOLERANCE, Xvfb};
use framewire_tests::*;

/// The first line of the README's quick-start code block, without its comment.
fn first_quick_start_command() -> String {
    let readme = std::fs::read_to_string(workspace().join("README.md")).unwrap();
    let section = &readme[readme
        .find("## Quick start")
        .expect("a quick start section")..];
    let block = &section[section.find("```sh\n").expect("a shell block") + 6..];
    let line = block.lines().next().unwrap();
    line.split(" #").next().unwrap().trim().to_owned()
}

#[test]
#[ignore = "builds a fresh Debian root and the release programs in it (about 10 min); .ci/run runs it"]
fn the_first_command_opens_the_demo_on_a_fresh_machine() {
    let command = first_quick_start_command();
    let fresh_machine = workspace().join("tools/fresh-machine.sh");
    // `.ci/run` makes the root while it builds other things (debootstrap
    // waits on the network, not the cores) and hands it over here.
    let (dir, root) = match std::env::var_os("FRAMEWIRE_FRESH_ROOT") {
        Some(made) => (PathBuf::from(&made), PathBuf::from(made)),
        None => {
            // Not in /tmp: debootstrap makes device nodes, which a /tmp
            // mounted nodev (systemd's tmp.mount) forbids.
            let dir = PathBuf::from(format!(
                "/var/tmp/framewire-quick-start-{}",
                std::process::id()
            ));
            std::fs::create_dir(&dir).unwrap();
            let root = dir.join("root");
            let started = Instant::now();
            let made = Command::new(&fresh_machine)
                .arg("make")
                .arg(&root)
                .arg(workspace())
                .status()
                .unwrap();
            assert!(made.success(), "cannot make the fresh machine");
            eprintln!("fresh machine made in {:.0?}", started.elapsed());
            (dir, root)
        }
    };

    let xvfb = Xvfb::start(1280, 720);
    let started = Instant::now();
    let mut demo = Process::start(
        &fresh_machine,
        &["run", root.to_str().unwrap(), &command],
        &[("DISPLAY", &xvfb.display)],
    );
    // The window shows the pattern once the receiver has admitted the sender.
    demo.wait_for_log("is 'demo'", Duration::from_secs(45 * 60));
    let shown = xvfb.screenshot_showing((0.0, 0.0, 1280.0, 720.0));
    eprintln!(
        "'{command}' showed the demo after {:.0?}",
        started.elapsed()
    );
    let log = demo.log_text();
    assert_pattern_at(
        &shown,
        (0.0, 0.0, 1280.0, 720.0),
        SCREEN_TOLERANCE,
        &format!("the demo window; its log:\n{log}"),
    );
    // It moves: the frame counter and the square change between screenshots.
    std::thread::sleep(Duration::from_millis(500));
    let later = xvfb.screenshot();
    let changed = shown
        .rgba
        .chunks(4)
        .zip(later.rgba.chunks(4))
        .filter(|(a, b)| a != b)
        .count();
    assert!(changed > 1000, "only {changed} pixels changed in 0.5 s");
    // What the fresh machine lacked was found, named and installed.
    for package in ["libclang-dev", "nasm", "gcc"] {
        assert!(
            log.lines()
                .any(|line| line.starts_with("+ apt-get install") && line.contains(package)),
            "{package} not installed; the log:\n{log}"
        );
    }
    // Closed as a user closes it; its exit status comes back through the
    // root's user session.
    xvfb.press("q");
    assert!(
        demo.wait_exit(Duration::from_secs(30)).success(),
        "the demo did not end cleanly on q; its log:\n{}",
        demo.log_text()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
