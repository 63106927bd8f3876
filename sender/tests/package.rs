//! The Debian packages for the board hold what a user installs: the binary,
//! the systemd unit and the default settings, and the binary needs nothing
//! but the C library.
//!
//! Ignored by a plain `cargo test`: `.ci/run` builds the packages with
//! cargo-deb first and runs this with `--include-ignored`.

use std::path::PathBuf;
use std::process::Command;

fn target_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_framewire-sender"))
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf()
}

fn check_package(architecture: &str, target: &str) {
    let directory = target_dir().join("debian");
    let package = std::fs::read_dir(&directory)
        .unwrap_or_else(|e| panic!("no packages in {}: {e}", directory.display()))
        .map(|entry| entry.unwrap().path())
        .find(|path| {
            path.to_string_lossy()
                .ends_with(&format!("_{architecture}.deb"))
        })
        .unwrap_or_else(|| panic!("no {architecture} package in {}", directory.display()));
    let listing = Command::new("dpkg-deb")
        .arg("--contents")
        .arg(&package)
        .output()
        .unwrap();
    assert!(listing.status.success());
    let listing = String::from_utf8_lossy(&listing.stdout);
    for expected in [
        "./usr/bin/framewire-sender",
        "./usr/lib/systemd/system/framewire-sender.service",
        "./etc/default/framewire-sender",
        "./usr/share/doc/framewire-sender/README.md",
    ] {
        assert!(
            listing.contains(expected),
            "{} lacks {expected}:\n{listing}",
            package.display()
        );
    }
    let control = Command::new("dpkg-deb")
        .args(["--field"])
        .arg(&package)
        .output()
        .unwrap();
    let control = String::from_utf8_lossy(&control.stdout);
    assert!(
        control.contains(&format!("Architecture: {architecture}")),
        "{control}"
    );
    assert!(control.contains("Depends: libc6"), "{control}");

    let postinst = Command::new("dpkg-deb")
        .arg("--info")
        .arg(&package)
        .arg("postinst")
        .output()
        .unwrap();
    let postinst = String::from_utf8_lossy(&postinst.stdout);
    assert!(
        postinst.contains("enable") && postinst.contains("framewire-sender.service"),
        "the service is not enabled on install:\n{postinst}"
    );

    let binary = target_dir().join(target).join("release/framewire-sender");
    let dynamic = Command::new("readelf")
        .arg("--dynamic")
        .arg(&binary)
        .output()
        .unwrap();
    let dynamic = String::from_utf8_lossy(&dynamic.stdout);
    for line in dynamic.lines().filter(|l| l.contains("(NEEDED)")) {
        let allowed = ["libc.so", "libm.so", "libgcc_s.so", "ld-linux"];
        assert!(
            allowed.iter().any(|a| line.contains(a)),
            "unexpected library: {line}"
        );
    }
}

#[test]
#[ignore = "needs the packages; .ci/run builds them and runs this"]
fn the_arm64_package_holds_binary_unit_and_settings() {
    check_package("arm64", "aarch64-unknown-linux-gnu");
}

#[test]
#[ignore = "needs the packages; .ci/run builds them and runs this"]
fn the_armhf_package_holds_binary_unit_and_settings() {
    check_package("armhf", "armv7-unknown-linux-gnueabihf");
}

#[test]
fn the_unit_runs_unprivileged_with_camera_access_and_reads_its_settings() {
    let unit = include_str!("../debian/framewire-sender.service");
    for line in [
        "EnvironmentFile=-/etc/default/framewire-sender",
        "DynamicUser=yes",
        "SupplementaryGroups=video",
        "Restart=on-failure",
    ] {
        assert!(unit.lines().any(|l| l == line), "unit lacks {line}");
    }
    // Every setting in the default file is one the sender reads.
    let settings = include_str!("../debian/framewire-sender.default");
    let help = Command::new(env!("CARGO_BIN_EXE_framewire-sender"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for line in settings
        .lines()
        .filter(|l| l.starts_with("FRAMEWIRE_") || l.starts_with("#FRAMEWIRE_"))
    {
        let name = line.trim_start_matches('#').split('=').next().unwrap();
        assert!(
            help.contains(&format!("env: {name}=")),
            "--help does not mention {name}"
        );
    }
}
