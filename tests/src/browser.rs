//! A real browser for the web tests: Debian's Chromium, headless, driven
//! over WebDriver by its own chromedriver. [`Browser::start`] starts both
//! on free ports; the methods are the WebDriver commands the tests use
//! (open a page, run a script, click, type, take a screenshot). A browser holds
//! [`crate::measuring_alone`] while it lives: its frame rate is measured.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

use crate::{Image, Process, free_port};

/// Chromium and its driver, with one session.
pub struct Browser {
    driver: Process,
    base: String,
    session: String,
    agent: ureq::Agent,
    /// Where the browser saves what the page downloads.
    pub downloads: PathBuf,
    /// Chromium takes both cores when it draws: one browser at a time.
    _alone: std::sync::MutexGuard<'static, ()>,
}

/// The browser and its driver, from `FRAMEWIRE_TEST_CHROMIUM` and
/// `FRAMEWIRE_TEST_CHROMEDRIVER`, else Debian's.
fn programs() -> (PathBuf, PathBuf) {
    let chromium = std::env::var_os("FRAMEWIRE_TEST_CHROMIUM")
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    let driver = std::env::var_os("FRAMEWIRE_TEST_CHROMEDRIVER")
        .map_or_else(|| PathBuf::from("/usr/bin/chromedriver"), PathBuf::from);
    for program in [&chromium, &driver] {
        assert!(
            program.exists(),
            "{} is missing: `apt-get install chromium chromium-driver` (CI installs them)",
            program.display()
        );
    }
    (chromium, driver)
}

impl Browser {
    /// Starts headless Chromium with a `width` x `height` viewport.
    pub fn start(width: u32, height: u32) -> Browser {
        Self::launch(width, height, json!({}))
    }

    /// The same as a phone: a `width` x `height` screen (narrower than
    /// desktop Chromium's smallest window) with touch, as Chromium's device
    /// emulation makes it.
    pub fn start_phone(width: u32, height: u32) -> Browser {
        let metrics = json!({"deviceMetrics": {"width": width, "height": height, "pixelRatio": 1.0, "touch": true}});
        Self::launch(width.max(500), height, metrics)
    }

    fn launch(width: u32, height: u32, mobile_emulation: Value) -> Browser {
        let alone = crate::measuring_alone();
        let downloads = crate::scratch_dir(&format!("browser-downloads-{}", free_port()));
        let (chromium, driver_program) = programs();
        let port = free_port();
        let driver = Process::start(&driver_program, &[&format!("--port={port}")], &[]);
        let base = format!("http://127.0.0.1:{port}");
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(60))
            .build();
        let started = Instant::now();
        while agent.get(&format!("{base}/status")).call().is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "chromedriver did not start; log:\n{}",
                driver.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu",
                    "--disable-dev-shm-usage", "--hide-scrollbars",
                    "--force-device-scale-factor=1",
                    format!("--window-size={width},{height}"),
                ],
                "mobileEmulation": mobile_emulation,
                "prefs": {
                    "download.default_directory": downloads,
                    "download.prompt_for_download": false,
                },
            },
        }}});
        let created = agent
            .post(&format!("{base}/session"))
            .send_json(capabilities)
            .unwrap_or_else(|e| panic!("no browser session: {e}; log:\n{}", driver.log_text()))
            .into_json::<Value>()
            .unwrap();
        let session = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session in {created}"))
            .to_owned();
        Browser {
            driver,
            base,
            session,
            agent,
            downloads,
            _alone: alone,
        }
    }

    fn command(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let request = self.agent.request(method, &url);
        let response = match body {
            Some(body) => request.send_json(body),
            None => request.call(),
        };
        match response {
            Ok(response) => response.into_json::<Value>().unwrap()["value"].take(),
            Err(ureq::Error::Status(code, response)) => panic!(
                "WebDriver {method} {path}: {code} {}",
                response.into_string().unwrap_or_default()
            ),
            Err(error) => panic!("WebDriver {method} {path}: {error}"),
        }
    }

    /// Opens `url` and waits until it has loaded.
    pub fn open(&self, url: &str) {
        self.command("POST", "/url", Some(json!({ "url": url })));
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the
    /// page and returns what it returns.
    pub fn script(&self, script: &str, args: Value) -> Value {
        self.command(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": args })),
        )
    }

    /// Waits up to `timeout` until `script` returns true; false if it never did.
    pub fn wait_for(&self, script: &str, timeout: Duration) -> bool {
        let started = Instant::now();
        while started.elapsed() < timeout {
            if self.script(script, json!([])) == Value::Bool(true) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// The WebDriver id of the first element `selector` matches.
    fn element(&self, selector: &str) -> String {
        let found = self.command(
            "POST",
            "/element",
            Some(json!({ "using": "css selector", "value": selector })),
        );
        found
            .as_object()
            .and_then(|object| object.values().next())
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no element {selector}: {found}"))
            .to_owned()
    }

    /// Clicks the first element `selector` matches, as a user would.
    pub fn click(&self, selector: &str) {
        let element = self.element(selector);
        self.command(
            "POST",
            &format!("/element/{element}/click"),
            Some(json!({})),
        );
    }

    /// Types `text` into the first element `selector` matches.
    pub fn type_into(&self, selector: &str, text: &str) {
        let element = self.element(selector);
        let value = json!({ "text": text });
        self.command("POST", &format!("/element/{element}/value"), Some(value));
    }

    /// The page as the browser shows it now.
    pub fn screenshot(&self) -> Image {
        let encoded = self.command("GET", "/screenshot", None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().expect("a base64 screenshot"))
            .unwrap();
        Image::from_png(&png)
    }

    /// The browser's log so far (chromedriver's), for failure messages.
    pub fn log_text(&self) -> String {
        self.driver.log_text()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let url = format!("{}/session/{}", self.base, self.session);
        let _ = self.agent.delete(&url).call();
    }
}
