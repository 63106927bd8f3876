//! The receiver's downloads, as a user without a Rust toolchain unpacks
//! them (`tools/package-receiver.sh` makes them): the Windows zip holds the
//! program, the README and the licences, and what it holds runs (under
//! Wine); the amd64 `.deb` declares what the program opens at run time and
//! installs a program that runs. Ignored by default: `.ci/run` builds the
//! packages first and runs this.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use framewire_tests::wine::Wine;
use framewire_tests::*;

const MINUTE: Duration = Duration::from_secs(60);

/// The guide's pages and pictures (`docs/`), which the README links to and
/// the packages carry beside it.
fn guide_files() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(workspace().join("docs"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".md") || name.ends_with(".png"))
        .collect();
    names.sort();
    assert!(names.len() > 10, "the guide: {names:?}");
    names
}

/// The one file in `target/DIR` whose name ends with `suffix`.
fn package(dir: &str, suffix: &str) -> PathBuf {
    let dir = target_dir().join(dir);
    let found: Vec<PathBuf> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.to_string_lossy().ends_with(suffix))
        .collect();
    match found.as_slice() {
        [one] => one.clone(),
        _ => panic!(
            "want one *{suffix} in {}, found {found:?}: run tools/package-receiver.sh (or .ci/run)",
            dir.display()
        ),
    }
}

/// Runs `program` with `args`; its stdout, or the failure with stderr.
fn output_of(program: &str, args: &[&str], file: &Path) -> String {
    let output = Command::new(program)
        .args(args)
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        output.status.success(),
        "{program} {args:?} {}: {}",
        file.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
#[ignore = "needs the packages (tools/package-receiver.sh) and Wine; .ci/run makes them and runs this"]
fn the_windows_zip_holds_the_receiver_readme_guide_and_licences_and_its_program_runs() {
    let zip = package("windows", "-windows-x86_64.zip");
    let mut listed: Vec<String> = output_of("unzip", &["-Z1"], &zip)
        .lines()
        .map(str::to_owned)
        .collect();
    listed.sort();
    let mut expected: Vec<String> = [
        "LICENSE-APACHE",
        "LICENSE-MIT",
        "README.md",
        "framewire-receiver.exe",
    ]
    .map(str::to_owned)
    .into();
    expected.extend(guide_files().iter().map(|name| format!("docs/{name}")));
    expected.sort();
    assert_eq!(
        listed, expected,
        "the zip holds the program, the README and the guide it links to"
    );

    let unpacked = scratch_dir("package-zip");
    output_of("unzip", &["-q", "-d", unpacked.to_str().unwrap()], &zip);
    let exe = unpacked.join("framewire-receiver.exe");
    let mut version = Wine::get().start(&exe, &["--version"], &[]);
    assert!(version.wait_exit(MINUTE).success());
    let expected = format!("framewire-receiver {}", env!("CARGO_PKG_VERSION"));
    assert!(
        version.log_text().contains(&expected),
        "{}",
        version.log_text()
    );

    // The zip has no sender: the demo says where to get one.
    let mut demo = Wine::get().start(
        &exe,
        &["--demo", "--headless", "--listen", "127.0.0.1:0"],
        &[],
    );
    assert!(!demo.wait_exit(MINUTE).success());
    assert!(
        demo.log_text()
            .contains("framewire-sender --connect ADDRESS-OF-THIS-COMPUTER:"),
        "{}",
        demo.log_text()
    );
}

#[test]
#[ignore = "needs the packages (tools/package-receiver.sh); .ci/run makes them and runs this"]
fn the_amd64_deb_names_what_the_receiver_opens_at_run_time_and_installs_a_program_that_runs() {
    let deb = package("debian", "_amd64.deb");
    assert!(
        deb.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("framewire-receiver_"),
        "{}",
        deb.display()
    );
    let control = output_of("dpkg-deb", &["--field"], &deb);
    let field = |name: &str| {
        control
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{name}: ")).map(str::to_owned))
            .unwrap_or_else(|| panic!("no {name} in {}", deb.display()))
    };
    assert_eq!(field("Package"), "framewire-receiver");
    assert_eq!(field("Architecture"), "amd64");
    let depends = field("Depends");
    for library in [
        "libc6",
        "libvulkan1",
        "libx11-xcb1",
        "libxkbcommon-x11-0",
        "libxcursor1",
    ] {
        assert!(depends.contains(library), "Depends: {depends}");
    }
    // Every dependency is one that apt can install: of each `a | b`, at
    // least one is a package of this Debian (vulkan-icd is provided by
    // every Vulkan driver's package).
    for alternatives in depends.split(", ") {
        let installable = alternatives.split(" | ").any(|package| {
            let name = package.split(' ').next().unwrap();
            Command::new("apt-cache")
                .args(["show", "--no-all-versions", name])
                .output()
                .is_ok_and(|output| output.status.success() && !output.stdout.is_empty())
        });
        assert!(
            installable,
            "no package for '{alternatives}' in Depends: {depends}"
        );
    }

    let root = scratch_dir("package-deb");
    let extracted = Command::new("dpkg-deb")
        .arg("--extract")
        .arg(&deb)
        .arg(&root)
        .status()
        .expect("dpkg-deb");
    assert!(extracted.success(), "cannot unpack {}", deb.display());
    let guide = guide_files()
        .into_iter()
        .map(|name| format!("usr/share/doc/framewire-receiver/docs/{name}"));
    for file in [
        "usr/bin/framewire-receiver".to_owned(),
        "usr/share/doc/framewire-receiver/README.md".to_owned(),
    ]
    .into_iter()
    .chain(guide)
    {
        assert!(
            root.join(&file).is_file(),
            "{file} is not in {}",
            deb.display()
        );
    }
    let version = Command::new(root.join("usr/bin/framewire-receiver"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(version.status.success());
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("framewire-receiver {}", env!("CARGO_PKG_VERSION"))
    );
}
