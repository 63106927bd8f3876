//! The window: shows the newest decoded frame, scaled to fit.
//!
//! A winit event loop on the main thread owns a `pixels` surface (wgpu). The
//! decoder threads put RGBA pictures into a latest-frame slot and wake the
//! loop; the loop uploads only the newest and redraws once, scaled up or down
//! to the window with the aspect ratio kept and black bars around it. The
//! title names the sender and shows its size, frame rate and latency. The
//! oldest connected stream is the one shown. Nothing is decoded here, and
//! with no new frames nothing is redrawn.

mod display;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use framewire_proto::shutdown::StopSignal;
use framewire_proto::slot::{SlotReceiver, latest_slot};
use pixels::{Pixels, ScalingMode, SurfaceTexture};
use winit::application::ApplicationHandler;
use winit::dpi::LogicalSize;
use winit::event::{ElementState, WindowEvent};
use winit::event_loop::{ActiveEventLoop, ControlFlow, EventLoop, EventLoopProxy};
use winit::keyboard::{Key, NamedKey};
use winit::window::{Window, WindowId};

use crate::decode::{DecodedFrame, FrameSink};
use crate::stats::{Registry, StreamStats};

/// How often the title's figures are refreshed.
const TITLE_INTERVAL: Duration = Duration::from_millis(500);

/// What other threads tell the event loop.
#[derive(Debug)]
pub enum Wake {
    /// A decoded frame is waiting in the slot.
    FrameReady,
    /// Ctrl-C, SIGTERM or `--frames` asked the receiver to stop.
    Quit,
}

/// A window that is ready to run, and the sink decoders feed it through.
pub struct WindowView {
    event_loop: EventLoop<Wake>,
    app: App,
}

impl WindowView {
    /// Opens the connection to the display; the window itself appears on `run`.
    pub fn new(
        registry: Arc<Registry>,
        listening_on: String,
    ) -> anyhow::Result<(WindowView, FrameSink)> {
        let event_loop = display::event_loop()?;
        let (frames_out, frames_in) = latest_slot::<DecodedFrame>();
        let proxy = event_loop.create_proxy();
        let sink_registry = registry.clone();
        // One wake-up per batch of frames: however many decoders publish
        // while the loop is busy, at most one FrameReady waits in its queue.
        let wake_pending = Arc::new(AtomicBool::new(false));
        let sink_wake_pending = wake_pending.clone();
        let sink: FrameSink = Arc::new(move |frame: DecodedFrame| {
            let shown = sink_registry.oldest_connected();
            if shown.is_none_or(|shown| shown.id != frame.stream.id) {
                return;
            }
            if let Ok(Some(replaced)) = frames_out.put(frame) {
                StreamStats::add(&replaced.stream.dropped_before_show, 1);
            }
            if !sink_wake_pending.swap(true, Ordering::AcqRel) {
                let _ = proxy.send_event(Wake::FrameReady);
            }
        });
        let app = App {
            registry,
            frames: frames_in,
            wake_pending,
            listening_on,
            window: None,
            pixels: None,
            current: None,
            unshown_frame: false,
            title: TitleFigures::default(),
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

/// Figures for the title, measured between two refreshes.
#[derive(Default)]
struct TitleFigures {
    refreshed_at: Option<Instant>,
    decoded_then: u64,
    text: String,
}

struct App {
    registry: Arc<Registry>,
    frames: SlotReceiver<DecodedFrame>,
    /// Set by the sink when it sends [`Wake::FrameReady`], cleared on handling it.
    wake_pending: Arc<AtomicBool>,
    listening_on: String,
    window: Option<Arc<Window>>,
    pixels: Option<Pixels<'static>>,
    /// The stream whose frame is on screen.
    current: Option<Arc<StreamStats>>,
    /// A frame was uploaded and has not been presented yet.
    unshown_frame: bool,
    title: TitleFigures,
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
        let size = window.inner_size();
        let surface = SurfaceTexture::new(size.width.max(1), size.height.max(1), window.clone());
        let mut pixels = Pixels::new(16, 9, surface).map_err(|error| {
            anyhow::anyhow!(
                "cannot draw in the window: {error}. It needs a Vulkan, Metal or DirectX 12 driver \
                 (on Debian/Ubuntu without a GPU: sudo apt-get install mesa-vulkan-drivers); \
                 or run with --headless"
            )
        })?;
        pixels.set_scaling_mode(ScalingMode::Fill);
        pixels.frame_mut().fill(0);
        self.window = Some(window);
        self.pixels = Some(pixels);
        Ok(())
    }

    /// Uploads the newest decoded frame, if any.
    fn take_newest_frame(&mut self) {
        let (Some(pixels), Some(window)) = (self.pixels.as_mut(), self.window.as_ref()) else {
            return;
        };
        self.wake_pending.store(false, Ordering::Release);
        let Some(frame) = self.frames.try_take() else {
            return;
        };
        if self.unshown_frame
            && let Some(previous) = &self.current
        {
            StreamStats::add(&previous.dropped_before_show, 1);
        }
        let buffer_size = pixels.texture().size();
        if (buffer_size.width, buffer_size.height) != (frame.width, frame.height)
            && let Err(error) = pixels.resize_buffer(frame.width, frame.height)
        {
            log::warn!(
                "cannot show a {}x{} frame: {error}",
                frame.width,
                frame.height
            );
            return;
        }
        pixels.frame_mut().copy_from_slice(&frame.rgba);
        self.current = Some(frame.stream);
        self.unshown_frame = true;
        window.request_redraw();
    }

    fn redraw(&mut self) {
        let Some(pixels) = self.pixels.as_ref() else {
            return;
        };
        match pixels.render() {
            Ok(()) if self.unshown_frame => {
                self.unshown_frame = false;
                if let Some(stream) = &self.current {
                    StreamStats::add(&stream.shown, 1);
                }
            }
            Ok(()) => {}
            Err(error) => log::warn!("cannot present a frame: {error}"),
        }
    }

    fn refresh_title(&mut self) {
        let now = Instant::now();
        if self
            .title
            .refreshed_at
            .is_some_and(|at| now - at < TITLE_INTERVAL)
        {
            return;
        }
        let elapsed = self
            .title
            .refreshed_at
            .map_or(TITLE_INTERVAL, |at| now - at);
        self.title.refreshed_at = Some(now);
        let text = match self.registry.oldest_connected() {
            None => format!("framewire — waiting for a sender on {}", self.listening_on),
            Some(stream) => {
                let decoded = stream.decoded.load(Ordering::Relaxed);
                let fps =
                    decoded.saturating_sub(self.title.decoded_then) as f64 / elapsed.as_secs_f64();
                self.title.decoded_then = decoded;
                let latency = stream
                    .latency_p50_ms()
                    .map_or(String::new(), |ms| format!(", latency {ms:.1} ms"));
                let width = stream.width.load(Ordering::Relaxed);
                let height = stream.height.load(Ordering::Relaxed);
                format!(
                    "framewire — {} ({}) {width}x{height}, {fps:.0} fps{latency}",
                    stream.name(),
                    stream.peer
                )
            }
        };
        if text != self.title.text {
            if let Some(window) = &self.window {
                window.set_title(&text);
            }
            self.title.text = text;
        }
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
            WindowEvent::Resized(size) => {
                if let Some(pixels) = self.pixels.as_mut()
                    && let Err(error) = pixels.resize_surface(size.width.max(1), size.height.max(1))
                {
                    log::warn!("cannot resize the window's surface: {error}");
                }
                if let Some(window) = &self.window {
                    window.request_redraw();
                }
            }
            WindowEvent::RedrawRequested => self.redraw(),
            WindowEvent::KeyboardInput { event, .. } if event.state == ElementState::Pressed => {
                match event.logical_key.as_ref() {
                    Key::Named(NamedKey::Escape) => event_loop.exit(),
                    Key::Character(key) if key.eq_ignore_ascii_case("q") => event_loop.exit(),
                    _ => {}
                }
            }
            _ => {}
        }
    }

    fn user_event(&mut self, event_loop: &ActiveEventLoop, event: Wake) {
        match event {
            Wake::FrameReady => self.take_newest_frame(),
            Wake::Quit => event_loop.exit(),
        }
    }

    fn about_to_wait(&mut self, event_loop: &ActiveEventLoop) {
        self.refresh_title();
        event_loop.set_control_flow(ControlFlow::WaitUntil(Instant::now() + TITLE_INTERVAL));
    }
}
