//! The window: every stream in its tile, live, with its figures and a
//! warning when it stops.
//!
//! A winit event loop on the main thread owns the GPU surface ([`surface`]
//! opens the device and keeps the surface at the window's size; [`renderer`]
//! draws). Decoder threads leave each stream's newest picture in the
//! [`mailbox`] and wake the loop once; the loop keeps the picture in the
//! stream's tile ([`tiles`]), uploads it when the tile is visible and
//! redraws once for however many pictures came, with vsync: what goes where
//! is the [`scene`], a pure function of the tiles. With no new frames and
//! nothing changing, nothing is redrawn and the loop sleeps. Up to 16
//! streams tile in a grid ([`layout`]); [`keys`] pick one, toggle the
//! overlay ([`text`]), take snapshots, pause, go fullscreen. A tile that
//! is not on screen (another stream shown alone, the window minimised or
//! covered) pauses its sender ([`crate::stream::pause`]) unless the receiver
//! records.

mod display;
mod keys;
mod layout;
mod mailbox;
mod paint;
mod renderer;
mod scene;
mod schedule;
mod surface;
mod text;
mod tiles;
mod visibility;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use framewire_proto::Limit;
use framewire_proto::shutdown::StopSignal;
use winit::application::ApplicationHandler;
use winit::dpi::LogicalSize;
use winit::event::{ElementState, WindowEvent};
use winit::event_loop::{ActiveEventLoop, ControlFlow, EventLoop, EventLoopProxy};
use winit::window::{Fullscreen, Window, WindowId};

use crate::decode::PictureSink;
use crate::snapshot::{self, Shot};
use crate::stream::Stream;
use crate::stream::liveness::Status;
pub use keys::KEYS_HELP;
use keys::{Action, action_of};
use mailbox::{Mailbox, WindowSink};
use paint::Gpu;
use renderer::Renderer;
use surface::WindowSurface;
use tiles::{Placement, TextTexture, Tile};

/// How often the overlay's figures and the title are refreshed.
const FIGURES_INTERVAL: Duration = Duration::from_millis(500);

/// How long a notice (a saved snapshot) stays on screen.
const NOTICE_TIME: Duration = Duration::from_secs(4);
/// The overlay is sized for lines this long, whatever its figures say.
const OVERLAY_COLUMNS: usize = 44;

/// What other threads tell the event loop.
#[derive(Debug)]
pub enum Wake {
    /// Decoded frames are waiting in the mailbox.
    FramesReady,
    /// Something to tell the user on screen (a snapshot's path).
    Notice(String),
    /// Ctrl-C, SIGTERM or `--frames` asked the receiver to stop.
    Quit,
}

/// A window that is ready to run, and the sink decoders feed it through.
pub struct WindowView {
    event_loop: EventLoop<Wake>,
    app: App,
}

/// Where a picture's YCbCr becomes RGB for the window (`--colour-conversion`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ColourConversion {
    /// In the shader on a GPU; in the decoder when the adapter is a
    /// software renderer, which pays for every texture read on the CPU.
    #[default]
    Auto,
    /// Always in the shader (planes uploaded, 1.5 bytes a pixel at 4:2:0).
    Shader,
    /// Always in the decoder (RGBA uploaded, 4 bytes a pixel).
    Decoder,
}

impl WindowView {
    /// Opens the connection to the display; the window itself appears on
    /// `run`. Snapshots (S) go to `snapshot_dir`. With `pause_hidden`, the
    /// senders of tiles nobody can see are paused (not while recording:
    /// the recording needs their frames).
    pub fn new(
        listening_on: String,
        snapshot_dir: PathBuf,
        colour: ColourConversion,
        pause_hidden: bool,
    ) -> anyhow::Result<(WindowView, Arc<dyn PictureSink>)> {
        let event_loop = display::event_loop()?;
        let mailbox = Arc::new(Mailbox::default());
        let sink = Arc::new(WindowSink {
            mailbox: mailbox.clone(),
            proxy: event_loop.create_proxy(),
        });
        let app = App {
            mailbox,
            proxy: event_loop.create_proxy(),
            listening_on,
            snapshot_dir,
            colour,
            window: None,
            gpu: None,
            tiles: Vec::new(),
            not_shown: Vec::new(),
            selected: None,
            pause_hidden,
            occluded: false,
            window_hidden: false,
            overlay_visible: true,
            paused: false,
            notice: None,
            banner: None,
            figures_refreshed_at: Instant::now(),
            title: String::new(),
            redraw_wanted: false,
            redraws: 0,
            error: None,
        };
        Ok((WindowView { event_loop, app }, sink))
    }

    /// Runs the window until it is closed or `stop` is signalled.
    pub fn run(self, stop: &StopSignal) -> anyhow::Result<()> {
        let WindowView {
            event_loop,
            mut app,
        } = self;
        watch_stop(stop.clone(), event_loop.create_proxy());
        event_loop
            .run_app(&mut app)
            .context("the window's event loop failed")?;
        log::info!(
            "the window drew {} times, for {} new frames",
            app.redraws,
            app.tiles
                .iter()
                .map(|tile| tile.stream.counters().shown)
                .sum::<u64>()
        );
        app.error.map_or(Ok(()), Err)
    }
}

/// Wakes the event loop with [`Wake::Quit`] once `stop` is signalled.
fn watch_stop(stop: StopSignal, proxy: EventLoopProxy<Wake>) {
    std::thread::spawn(move || {
        smol::block_on(stop.stopped());
        let _ = proxy.send_event(Wake::Quit);
    });
}

/// A message at the bottom of the window for a few seconds.
struct Notice {
    text: String,
    until: Instant,
    texture: Option<TextTexture>,
}

struct App {
    mailbox: Arc<Mailbox>,
    proxy: EventLoopProxy<Wake>,
    listening_on: String,
    snapshot_dir: PathBuf,
    colour: ColourConversion,
    window: Option<Arc<Window>>,
    gpu: Option<Gpu>,
    tiles: Vec<Tile>,
    /// Streams left out because every tile shows a live one.
    not_shown: Vec<Arc<Stream>>,
    /// The tile shown alone (keys 1-9), or the grid.
    selected: Option<usize>,
    /// Whether the senders of tiles nobody can see are paused.
    pause_hidden: bool,
    /// Another window covers this one whole (as the display says).
    occluded: bool,
    /// The window is minimised or covered: no tile can be seen.
    window_hidden: bool,
    overlay_visible: bool,
    paused: bool,
    notice: Option<Notice>,
    /// "waiting for senders" or "paused", centred at the bottom.
    banner: Option<TextTexture>,
    figures_refreshed_at: Instant,
    title: String,
    /// Something changed that the screen does not show yet.
    redraw_wanted: bool,
    /// Times the window was drawn (for the log: with no change, none).
    redraws: u64,
    error: Option<anyhow::Error>,
}

impl App {
    fn open_window(&mut self, event_loop: &ActiveEventLoop) -> anyhow::Result<()> {
        let attributes = Window::default_attributes()
            .with_title("framewire")
            .with_inner_size(LogicalSize::new(1280.0, 720.0));
        let window = Arc::new(
            event_loop
                .create_window(attributes)
                .context("cannot create a window")?,
        );
        let surface = WindowSurface::open(window.clone()).map_err(|error| {
            anyhow::anyhow!(
                "cannot draw in the window: {error:#}. It needs a Vulkan, Metal or DirectX 12 \
                 driver (on Debian/Ubuntu without a GPU: sudo apt-get install \
                 mesa-vulkan-drivers); or run with --headless"
            )
        })?;
        let rgba = match self.colour {
            ColourConversion::Auto => surface.software,
            ColourConversion::Shader => false,
            ColourConversion::Decoder => true,
        };
        if rgba && self.colour == ColourConversion::Auto {
            log::info!(
                "a software renderer draws: the decoders convert pictures to RGBA (cheaper on the \
                 CPU than its shader's three texture reads a pixel; --colour-conversion shader \
                 to change)"
            );
        }
        self.mailbox.set_rgba_only(rgba);
        let renderer = Renderer::new(&surface.device, surface.format());
        self.window = Some(window);
        self.gpu = Some(Gpu { surface, renderer });
        self.redraw_wanted = true;
        Ok(())
    }

    /// Takes the decoded pictures into their tiles.
    fn take_frames(&mut self) {
        let now = Instant::now();
        for frame in self.mailbox.take_all() {
            let index = match self
                .tiles
                .iter()
                .position(|t| t.stream.id() == frame.stream.id())
            {
                Some(index) => index,
                None => match self.place(frame.stream.clone(), now) {
                    Some(index) => {
                        self.hide_unseen();
                        index
                    }
                    None => continue,
                },
            };
            let visible = self.is_visible(index);
            let tile = &mut self.tiles[index];
            tile.note_frame(now);
            if self.paused {
                continue;
            }
            if tile.unshown && visible {
                // Replaced before the screen could show it. (A tile hidden
                // by the choice of one stream drops nothing.)
                tile.stream.note_dropped_before_show();
            }
            tile.picture = frame.picture;
            tile.picture_charge = Some(frame.charge);
            tile.capture_time_us = frame.capture_time_us;
            tile.unshown = true;
            self.redraw_wanted |= visible;
        }
    }

    /// Gives a new stream its tile; None when the grid is full of live ones.
    fn place(&mut self, stream: Arc<Stream>, now: Instant) -> Option<usize> {
        let statuses: Vec<Status> = self.tiles.iter().map(|t| t.status(now)).collect();
        let name = stream.name();
        let existing = self.tiles.iter().map(|t| t.name.as_str()).zip(statuses);
        let tile = Tile::new(stream, now);
        match tiles::place(existing, &name) {
            Placement::Return(index) | Placement::Replace(index) => {
                self.tiles[index] = tile;
                Some(index)
            }
            Placement::Add => {
                self.tiles.push(tile);
                Some(self.tiles.len() - 1)
            }
            Placement::NoRoom => {
                // Said once per stream, not once per frame.
                self.not_shown.retain(|stream| stream.is_connected());
                if !self.not_shown.iter().any(|s| s.id() == tile.stream.id()) {
                    log::warn!(
                        "stream '{name}' is not shown: all {} tiles show live streams",
                        tiles::MAX_TILES
                    );
                    self.not_shown.push(tile.stream);
                }
                None
            }
        }
    }

    /// Carries out a key's action; each one is logged.
    fn press(&mut self, action: Action, event_loop: &ActiveEventLoop) {
        let was_selected = self.selected;
        match action {
            Action::Quit => {
                log::info!("quitting (key)");
                event_loop.exit();
            }
            Action::Grid => {
                log::info!("showing the grid");
                self.selected = None;
            }
            Action::Solo(index) => {
                let Some(tile) = self.tiles.get_mut(index) else {
                    return;
                };
                log::info!("showing '{}' alone", tile.name);
                tile.unshown |= tile.picture.width > 0; // its texture may be behind
                self.selected = Some(index);
            }
            Action::ToggleOverlay => {
                self.overlay_visible = !self.overlay_visible;
                log::info!(
                    "overlay {}",
                    if self.overlay_visible { "on" } else { "off" }
                );
                self.figures_refreshed_at = Instant::now() - FIGURES_INTERVAL;
            }
            Action::Snapshot => self.save_snapshots(),
            Action::TogglePause => {
                self.paused = !self.paused;
                log::info!("display {}", if self.paused { "paused" } else { "resumed" });
            }
            Action::ToggleFullscreen => {
                if let Some(window) = &self.window {
                    let fullscreen = window.fullscreen().is_none();
                    log::info!("fullscreen {}", if fullscreen { "on" } else { "off" });
                    window.set_fullscreen(fullscreen.then_some(Fullscreen::Borderless(None)));
                }
            }
        }
        if was_selected.is_some() && self.selected.is_none() {
            // Back to the grid: hidden tiles' textures are behind.
            for tile in &mut self.tiles {
                tile.unshown |= tile.picture.width > 0;
            }
        }
        if was_selected != self.selected {
            self.hide_unseen();
        }
        self.redraw_wanted = true;
    }

    /// Saves the picture of the stream shown alone, or of every tile, as
    /// PNG on a thread of its own; the paths come back as a notice. A
    /// stream its sender has reduced (quality or size, for the link or this
    /// receiver) is asked for one frame at full quality and size, which is
    /// saved instead of the picture on screen when it comes in time.
    fn save_snapshots(&mut self) {
        let shots: Vec<Shot> = self
            .tiles
            .iter()
            .enumerate()
            .filter(|(index, tile)| self.is_visible(*index) && tile.picture.width > 0)
            .map(|(_, tile)| {
                let reduced = tile
                    .stream
                    .encoding()
                    .is_some_and(|encoding| encoding.limit != Limit::None);
                if reduced {
                    tile.stream.full_frame().ask();
                }
                Shot {
                    name: tile.name.clone(),
                    shown: tile.picture.clone(),
                    full_quality_from: reduced.then(|| tile.stream.clone()),
                }
            })
            .collect();
        if shots.is_empty() {
            self.show_notice("no picture to save yet".into());
            return;
        }
        let directory = self.snapshot_dir.clone();
        let proxy = self.proxy.clone();
        std::thread::spawn(move || {
            let text = snapshot::save_shots(&directory, shots);
            let _ = proxy.send_event(Wake::Notice(text));
        });
    }

    fn show_notice(&mut self, text: String) {
        self.notice = Some(Notice {
            text,
            until: Instant::now() + NOTICE_TIME,
            texture: None,
        });
        self.redraw_wanted = true;
    }
}

impl ApplicationHandler<Wake> for App {
    fn resumed(&mut self, event_loop: &ActiveEventLoop) {
        if self.window.is_some() {
            return;
        }
        if let Err(error) = self.open_window(event_loop) {
            self.error = Some(error);
            event_loop.exit();
        }
    }

    fn window_event(&mut self, event_loop: &ActiveEventLoop, _: WindowId, event: WindowEvent) {
        match event {
            WindowEvent::CloseRequested => event_loop.exit(),
            // The surface follows the window's size by itself at each redraw.
            WindowEvent::Resized(_) | WindowEvent::ScaleFactorChanged { .. } => {
                self.note_window_visibility(None);
                self.redraw_wanted = true;
            }
            WindowEvent::Occluded(occluded) => {
                self.note_window_visibility(Some(occluded));
                self.redraw_wanted |= !occluded;
            }
            // Minimising a window on X11 says nothing but that it lost
            // focus (and `tend` looks again twice a second).
            WindowEvent::Focused(_) => self.note_window_visibility(None),
            WindowEvent::RedrawRequested => self.redraw(),
            // Not a held key's repeats, nor the presses winit makes up for
            // keys already down when the window gains focus: a key pressed
            // as focus arrives would otherwise toggle twice.
            WindowEvent::KeyboardInput {
                event,
                is_synthetic: false,
                ..
            } if event.state == ElementState::Pressed && !event.repeat => {
                if let Some(action) = action_of(&event.logical_key) {
                    self.press(action, event_loop);
                }
            }
            _ => {}
        }
    }

    fn user_event(&mut self, event_loop: &ActiveEventLoop, event: Wake) {
        match event {
            Wake::FramesReady => self.take_frames(),
            Wake::Notice(text) => self.show_notice(text),
            Wake::Quit => event_loop.exit(),
        }
    }

    fn about_to_wait(&mut self, event_loop: &ActiveEventLoop) {
        let next = self.tend();
        if std::mem::take(&mut self.redraw_wanted)
            && let Some(window) = &self.window
        {
            window.request_redraw();
        }
        event_loop.set_control_flow(match next {
            Some(at) => ControlFlow::WaitUntil(at),
            None => ControlFlow::Wait,
        });
    }
}
