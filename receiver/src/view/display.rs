//! Connecting to the desktop's display server.
//!
//! winit prefers Wayland whenever `WAYLAND_DISPLAY` is set and does not fall
//! back to X11 when nothing answers there (stale variables in SSH sessions,
//! containers, CI). This module checks the Wayland socket first and picks X11
//! when it is dead, so the window opens wherever a display exists.

use anyhow::Context;
use winit::event_loop::EventLoop;

use super::Wake;

/// The event loop, on Wayland if it answers, else on X11.
pub fn event_loop() -> anyhow::Result<EventLoop<Wake>> {
    let mut builder = EventLoop::<Wake>::with_user_event();
    #[cfg(all(unix, not(target_vendor = "apple"), not(target_os = "android")))]
    if let Some(socket) = dead_wayland_socket() {
        use winit::platform::x11::EventLoopBuilderExtX11;
        log::info!("WAYLAND_DISPLAY is set but nothing answers at {socket}; using X11");
        builder.with_x11();
    }
    builder.build().context(
        "cannot connect to a display (is DISPLAY or WAYLAND_DISPLAY set? \
         on a machine without one, run with --headless)",
    )
}

/// The Wayland socket named by the environment, if it is set but dead.
#[cfg(all(unix, not(target_vendor = "apple"), not(target_os = "android")))]
fn dead_wayland_socket() -> Option<String> {
    let display = std::env::var_os("WAYLAND_DISPLAY").filter(|d| !d.is_empty())?;
    let path = match std::env::var_os("XDG_RUNTIME_DIR") {
        _ if std::path::Path::new(&display).is_absolute() => std::path::PathBuf::from(&display),
        Some(runtime_dir) => std::path::Path::new(&runtime_dir).join(&display),
        None => std::path::PathBuf::from(&display),
    };
    match std::os::unix::net::UnixStream::connect(&path) {
        Ok(_) => None,
        Err(_) => Some(path.display().to_string()),
    }
}
