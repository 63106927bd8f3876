//! The Windows machine of the tests: Debian's Wine running the receiver's
//! `x86_64-pc-windows-gnu` build in a Wine prefix of the tests' own (made
//! once under the target directory, then reused). The prefix gets the one
//! piece that Wine 8.0 lacks and real Windows has, `bcryptprimitives.dll`
//! (see `tests/wine/bcryptprimitives.c`), built with mingw-w64. Programs are
//! given Windows paths (`Z:\…` is this machine's `/`), as a Windows user
//! would type them. Needs wine, wine64 and gcc-mingw-w64-x86-64; `.ci/run`
//! installs them and builds the receiver for Windows.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use super::xvfb::Xvfb;
use super::{Process, built_program, target_dir, workspace};

/// Wine's loader for 64-bit programs (plain `wine` exits 53 on them).
const LOADER: &str = "/usr/lib/wine/wine64";
const SERVER: &str = "/usr/lib/wine/wineserver";
/// Where cargo puts the receiver built for Windows.
const WINDOWS_TARGET: &str = "x86_64-pc-windows-gnu";

/// A Windows machine: a Wine prefix ready to run the receiver, and the X
/// display its programs show their windows on, if any.
pub struct Wine {
    prefix: PathBuf,
    display: String,
    /// A copy of the shared prefix, removed with this value.
    copied: bool,
}

impl Wine {
    /// The shared machine without a screen, made on first use (under a
    /// minute) by whichever test comes first; the others wait for it.
    pub fn get() -> &'static Wine {
        static WINE: OnceLock<Wine> = OnceLock::new();
        WINE.get_or_init(Wine::prepare)
    }

    /// A machine of its own whose screen is `xvfb`, in `dir`: a copy of the
    /// shared prefix (about 700 MB, a second to copy), because Wine runs
    /// one desktop per prefix, on the display of the program that came
    /// first.
    pub fn with_screen(xvfb: &Xvfb, dir: &Path) -> Wine {
        let shared = Wine::get();
        let prefix = dir.join("wine-prefix");
        let status = Command::new("cp")
            .arg("-a")
            .arg(&shared.prefix)
            .arg(&prefix)
            .status()
            .expect("cp");
        assert!(status.success(), "cannot copy {}", shared.prefix.display());
        Wine {
            prefix,
            display: xvfb.display.clone(),
            copied: true,
        }
    }

    fn prepare() -> Wine {
        let wine = Wine {
            prefix: target_dir().join("wine-prefix"),
            display: String::new(),
            copied: false,
        };
        let ready = wine.prefix.join("framewire-ready");
        if !ready.exists() {
            let _ = std::fs::remove_dir_all(&wine.prefix);
            wine.run_to_end(LOADER, &["wineboot", "-i"]);
            wine.run_to_end(SERVER, &["-w"]);
            std::fs::write(&ready, "made by the framewire tests\n").unwrap();
        }
        wine.install_process_prng();
        wine
    }

    /// Builds the stand-in `bcryptprimitives.dll` into the prefix's system
    /// directory, where Windows keeps its own.
    fn install_process_prng(&self) {
        let source = workspace().join("tests/wine/bcryptprimitives.c");
        let dll = self
            .prefix
            .join("drive_c/windows/system32/bcryptprimitives.dll");
        let status = Command::new("x86_64-w64-mingw32-gcc")
            .args(["-shared", "-O2", "-o"])
            .arg(&dll)
            .arg(&source)
            .arg("-ladvapi32")
            .status()
            .expect("x86_64-w64-mingw32-gcc: install gcc-mingw-w64-x86-64");
        assert!(status.success(), "cannot build {}", dll.display());
    }

    /// Runs a Wine tool in the prefix to its end.
    fn run_to_end(&self, program: &str, args: &[&str]) {
        let status = Command::new(program)
            .args(args)
            .envs(self.environment())
            .status()
            .unwrap_or_else(|e| panic!("cannot run {program}: {e} (install wine and wine64)"));
        assert!(status.success(), "{program} {args:?} failed: {status}");
    }

    fn environment(&self) -> [(&'static str, &str); 4] {
        [
            ("WINEPREFIX", self.prefix.to_str().unwrap()),
            // Empty: no screen, even if the tests run on a desktop.
            ("DISPLAY", &self.display),
            ("WINEDEBUG", "-all"),
            // No Mono or Gecko: nothing here is .NET or HTML, and Wine
            // would otherwise ask to download them.
            ("WINEDLLOVERRIDES", "mscoree,mshtml="),
        ]
    }

    /// Starts a Windows program with `args` and more environment `env`.
    pub fn start(&self, program: &Path, args: &[&str], env: &[(&str, &str)]) -> Process {
        let program = windows_path(program);
        let mut all_args = vec![program.as_str()];
        all_args.extend_from_slice(args);
        let mut all_env = self.environment().to_vec();
        all_env.extend_from_slice(env);
        Process::start(Path::new(LOADER), &all_args, &all_env)
    }

    /// The Windows user's `%APPDATA%` as a path on this machine (Wine names
    /// the user after this machine's; `Public` is everyone's).
    pub fn appdata(&self) -> PathBuf {
        let users = self.prefix.join("drive_c/users");
        std::fs::read_dir(&users)
            .unwrap_or_else(|e| panic!("no users in {}: {e}", users.display()))
            .map(|entry| entry.unwrap().path())
            .filter(|user| user.file_name().is_some_and(|name| name != "Public"))
            .map(|user| user.join("AppData/Roaming"))
            .find(|roaming| roaming.is_dir())
            .unwrap_or_else(|| panic!("no AppData\\Roaming under {}", users.display()))
    }
}

impl Drop for Wine {
    fn drop(&mut self) {
        if self.copied {
            // Its wineserver first, which would keep files open.
            let _ = Command::new(SERVER)
                .arg("-k")
                .env("WINEPREFIX", &self.prefix)
                .status();
            let _ = std::fs::remove_dir_all(&self.prefix);
        }
    }
}

/// `path` as Windows programs under Wine see it: `/tmp/x` is `Z:\tmp\x`.
pub fn windows_path(path: &Path) -> String {
    assert!(path.is_absolute(), "{} is not absolute", path.display());
    format!("Z:{}", path.to_str().unwrap().replace('/', "\\"))
}

/// The receiver built for Windows (`cargo build --release --target
/// x86_64-pc-windows-gnu -p framewire-receiver`, which `.ci/run` does), or
/// the one that `FRAMEWIRE_TEST_WINDOWS_RECEIVER` names.
pub fn windows_receiver_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("FRAMEWIRE_TEST_WINDOWS_RECEIVER") {
        return PathBuf::from(path);
    }
    let path = target_dir().join(format!("{WINDOWS_TARGET}/release/framewire-receiver.exe"));
    built_program(
        &path,
        "receiver",
        &format!(
            "cargo build --release --target {WINDOWS_TARGET} -p framewire-receiver (or .ci/run)"
        ),
    )
}
