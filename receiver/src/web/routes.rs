//! What each web request gets: the page, its script and style, the login
//! form, the WebSocket, the stream URLs and the figures.
//!
//! Every route but the page's static files asks for the token when one is
//! set ([`auth`]); a wrong one waits at the gate senders' wrong tokens wait
//! at. `/streams/{key}.mjpg` and `/ws` take a viewer place
//! (`--max-viewers`) for as long as they last.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_tungstenite::WebSocketStream;
use async_tungstenite::tungstenite::handshake::derive_accept_key;
use async_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use bytes::Bytes;
use framewire_proto::shutdown::StopSignal;
use futures_lite::FutureExt;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, Limited, StreamBody};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use smol_hyper::rt::FuturesIo;

use crate::budget::MemoryBudget;
use crate::net::conn::Socket;
use crate::net::gate::Gate;
use crate::net::places::Place;
use crate::report::Registry;
use crate::tasks;
use crate::web::auth::{self, Verdict};
use crate::web::client::Client;
use crate::web::figures::{ReceiverFigures, prometheus, streams_json};
use crate::web::host::HostNames;
use crate::web::stall::StallGuard;
use crate::web::streams::find;
use crate::web::viewers::Viewers;
use crate::web::{mjpeg, socket};
use framewire_proto::deadline::within;

/// A response body: whole, or streamed (MJPEG).
pub type Body = UnsyncBoxBody<Bytes, std::io::Error>;

/// The sender's sequence number of the frame a `.jpg` holds.
const SEQUENCE_HEADER: header::HeaderName = header::HeaderName::from_static("x-framewire-sequence");

/// The largest login form accepted.
const MAX_FORM_BYTES: usize = 4096;
/// The longest a login form's body may take to arrive after its head: a
/// body that never comes holds no place for longer.
const BODY_TIMEOUT: Duration = Duration::from_secs(5);

const PAGE: &str = include_str!("page/index.html");
const SCRIPT: &str = include_str!("page/app.js");
const STYLE: &str = include_str!("page/style.css");
const LOGIN: &str = include_str!("page/login.html");

/// Everything the routes need, shared by all connections.
pub struct Site {
    pub registry: Arc<Registry>,
    pub viewers: Arc<Viewers>,
    pub budget: Arc<MemoryBudget>,
    pub token: Option<String>,
    pub gate: Arc<Gate>,
    /// Served over TLS: the cookie is marked Secure.
    pub secure: bool,
    /// The `Host` names answered besides addresses and `localhost`.
    pub hosts: HostNames,
    pub stop: StopSignal,
}

impl Site {
    /// The response to `request` from `client`, whose place is proved
    /// once a request has shown the token (or needs none).
    pub async fn respond(
        self: Arc<Self>,
        request: Request<Incoming>,
        client: Arc<Client>,
    ) -> Result<Response<Body>, Infallible> {
        let peer = client.peer;
        let path = request.uri().path().to_owned();
        let method = request.method().clone();
        let host = request
            .headers()
            .get(header::HOST)
            .map(|v| v.to_str().unwrap_or(""));
        if !self.hosts.allows(host) {
            return Ok(whole(
                StatusCode::FORBIDDEN,
                "text/plain",
                "this receiver answers to its address or localhost; name other host names \
                 with --web-host\n",
            ));
        }
        let response = match (&method, path.as_str()) {
            (&Method::GET | &Method::HEAD, "/app.js") => {
                whole(StatusCode::OK, "text/javascript", SCRIPT)
            }
            (&Method::GET | &Method::HEAD, "/style.css") => {
                whole(StatusCode::OK, "text/css", STYLE)
            }
            (&Method::POST, "/login") => self.login(request, peer, &client.place).await,
            (&Method::GET | &Method::HEAD, _) => {
                let verdict = auth::check(
                    self.token.as_deref(),
                    request.headers(),
                    request.uri().query(),
                );
                if matches!(verdict, Verdict::Open | Verdict::Passed) {
                    client.place.prove();
                }
                match verdict {
                    Verdict::Open => self.route(request, &path, &client),
                    Verdict::Passed => self.remembered(self.route(request, &path, &client), &path),
                    Verdict::Missing => self.unauthorised(&path, ""),
                    Verdict::Wrong => {
                        self.slow_down(peer).await;
                        self.unauthorised(&path, "That token is wrong.")
                    }
                }
            }
            _ => whole(
                StatusCode::METHOD_NOT_ALLOWED,
                "text/plain",
                "only GET here\n",
            ),
        };
        Ok(response)
    }

    /// A request that has shown the token (or needs none).
    fn route(&self, request: Request<Incoming>, path: &str, client: &Client) -> Response<Body> {
        match path {
            "/" | "/index.html" => with_page_policy(whole(StatusCode::OK, "text/html", PAGE)),
            "/ws" => self.web_socket(request),
            "/api/streams" => whole(
                StatusCode::OK,
                "application/json",
                streams_json(&self.registry, &self.viewers),
            ),
            "/metrics" => whole(
                StatusCode::OK,
                "text/plain; version=0.0.4",
                prometheus(
                    &self.registry,
                    &ReceiverFigures {
                        viewers: &self.viewers,
                        memory_used: self.budget.used(),
                        memory_limit: self.budget.limit(),
                    },
                ),
            ),
            _ => match path.strip_prefix("/streams/") {
                Some(file) => self.stream_file(file, client),
                None => not_found(),
            },
        }
    }

    /// `/streams/{key}.jpg` (the newest frame) and `.mjpg` (all of them).
    fn stream_file(&self, file: &str, client: &Client) -> Response<Body> {
        if let Some(key) = file.strip_suffix(".jpg") {
            let Some(newest) = find(&self.registry, key).and_then(|stream| stream.newest()) else {
                return not_found();
            };
            let sequence = newest.sequence.to_string();
            let mut response = whole(StatusCode::OK, "image/jpeg", newest.jpeg);
            set(&mut response, SEQUENCE_HEADER, &sequence);
            return response;
        }
        let Some(key) = file.strip_suffix(".mjpg") else {
            return not_found();
        };
        if find(&self.registry, key).is_none() {
            return not_found();
        }
        let Some(viewer) = self.viewers.enter() else {
            return too_many_viewers(&self.viewers);
        };
        let body = mjpeg::body(
            self.registry.clone(),
            key.to_owned(),
            viewer,
            client.uptake.clone(),
        );
        let mut response = Response::new(BodyExt::boxed_unsync(StreamBody::new(body)));
        set(&mut response, header::CONTENT_TYPE, &mjpeg::content_type());
        no_store(response)
    }

    /// `/ws`: answers the WebSocket handshake and starts the page's session
    /// once the connection is upgraded.
    fn web_socket(&self, mut request: Request<Incoming>) -> Response<Body> {
        let headers = request.headers();
        let asks_for_web_socket = headers
            .get(header::UPGRADE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
        let Some(key) = headers.get(header::SEC_WEBSOCKET_KEY) else {
            return whole(
                StatusCode::BAD_REQUEST,
                "text/plain",
                "not a WebSocket request\n",
            );
        };
        if !asks_for_web_socket
            || headers.get(header::SEC_WEBSOCKET_VERSION) != Some(&HeaderValue::from_static("13"))
        {
            return whole(
                StatusCode::BAD_REQUEST,
                "text/plain",
                "WebSocket version 13 only\n",
            );
        }
        if !same_origin(headers) {
            return whole(StatusCode::FORBIDDEN, "text/plain", "another site's page\n");
        }
        let Some(viewer) = self.viewers.enter() else {
            return too_many_viewers(&self.viewers);
        };
        let accept = derive_accept_key(key.as_bytes());
        let upgrade = hyper::upgrade::on(&mut request);
        let (registry, stop) = (self.registry.clone(), self.stop.clone());
        tasks::spawn(async move {
            let session = async {
                let upgraded = match upgrade.await {
                    Ok(upgraded) => upgraded,
                    Err(error) => return log::debug!("WebSocket upgrade failed: {error}"),
                };
                let Ok(parts) = upgraded.downcast::<FuturesIo<StallGuard<Socket>>>() else {
                    return log::error!("WebSocket upgrade: not our connection type");
                };
                let config = WebSocketConfig::default()
                    .max_message_size(Some(socket::MAX_PAGE_MESSAGE))
                    .max_frame_size(Some(socket::MAX_PAGE_MESSAGE));
                let stream = WebSocketStream::from_partially_read(
                    parts.io.into_inner().into_inner(),
                    parts.read_buf.to_vec(),
                    Role::Server,
                    Some(config),
                )
                .await;
                socket::run(stream, registry, viewer).await;
            };
            session.or(stop.stopped()).await;
        })
        .detach();
        let mut response = Response::new(empty());
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        set(&mut response, header::UPGRADE, "websocket");
        set(&mut response, header::CONNECTION, "Upgrade");
        set(&mut response, header::SEC_WEBSOCKET_ACCEPT, &accept);
        response
    }

    /// `POST /login`: the form's token, kept in a cookie when right.
    async fn login(
        &self,
        request: Request<Incoming>,
        peer: SocketAddr,
        place: &Place,
    ) -> Response<Body> {
        let body = within(
            BODY_TIMEOUT,
            Limited::new(request.into_body(), MAX_FORM_BYTES).collect(),
        )
        .await;
        let form = match body {
            Some(Ok(collected)) => collected.to_bytes(),
            Some(Err(_)) => {
                return whole(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "text/plain",
                    "form too large\n",
                );
            }
            None => {
                self.gate.refused(
                    peer.ip(),
                    &peer.to_string(),
                    "no complete login form within the body deadline (web)",
                );
                return whole(
                    StatusCode::REQUEST_TIMEOUT,
                    "text/plain",
                    "the form did not arrive in time\n",
                );
            }
        };
        match auth::check_form(self.token.as_deref(), &form) {
            Verdict::Open | Verdict::Passed => {
                place.prove();
                let mut response = Response::new(empty());
                *response.status_mut() = StatusCode::SEE_OTHER;
                set(&mut response, header::LOCATION, "/");
                if let Some(token) = &self.token {
                    set(
                        &mut response,
                        header::SET_COOKIE,
                        &auth::cookie(token, self.secure),
                    );
                }
                response
            }
            Verdict::Missing | Verdict::Wrong => {
                self.slow_down(peer).await;
                self.unauthorised("/", "That token is wrong.")
            }
        }
    }

    /// The page opened with the token in its URL (`/?token=...`) keeps it
    /// in the cookie, so its WebSocket and snapshots carry it too.
    fn remembered(&self, mut response: Response<Body>, path: &str) -> Response<Body> {
        if let (Some(token), "/" | "/index.html") = (&self.token, path) {
            set(
                &mut response,
                header::SET_COOKIE,
                &auth::cookie(token, self.secure),
            );
        }
        response
    }

    /// Waits as long as the gate makes a wrong token from `peer` wait.
    async fn slow_down(&self, peer: SocketAddr) {
        let wait = self.gate.penalise(peer.ip());
        self.gate.refused(
            peer.ip(),
            &peer.to_string(),
            "a wrong token on the web side",
        );
        smol::Timer::after(wait).await;
    }

    /// 401: the login form for the page, plain text for tools.
    fn unauthorised(&self, path: &str, message: &str) -> Response<Body> {
        let mut response = if path == "/" || path == "/index.html" {
            let page = LOGIN.replace("{message}", message);
            with_page_policy(whole(StatusCode::UNAUTHORIZED, "text/html", page))
        } else {
            whole(
                StatusCode::UNAUTHORIZED,
                "text/plain",
                "this receiver asks for its --token: send `Authorization: Bearer TOKEN`, \
                 or add ?token=TOKEN to the URL\n",
            )
        };
        set(
            &mut response,
            header::WWW_AUTHENTICATE,
            "Bearer realm=\"framewire\"",
        );
        response
    }
}

/// Whether a WebSocket request comes from a page of this server (browsers
/// always send Origin; other tools may send none).
fn same_origin(headers: &hyper::HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let origin_host = origin.split_once("://").map(|(_, rest)| rest);
    matches!((origin_host, host), (Some(a), Some(b)) if a.eq_ignore_ascii_case(b))
}

fn whole(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    let body = Full::new(body.into()).map_err(|never| match never {});
    let mut response = Response::new(BodyExt::boxed_unsync(body));
    *response.status_mut() = status;
    set(&mut response, header::CONTENT_TYPE, content_type);
    no_store(response)
}

fn empty() -> Body {
    BodyExt::boxed_unsync(Full::new(Bytes::new()).map_err(|never| match never {}))
}

fn not_found() -> Response<Body> {
    whole(
        StatusCode::NOT_FOUND,
        "text/plain",
        "no such stream or page\n",
    )
}

fn too_many_viewers(viewers: &Viewers) -> Response<Body> {
    whole(
        StatusCode::SERVICE_UNAVAILABLE,
        "text/plain",
        format!(
            "{} viewers are watching, the most this receiver allows (--max-viewers)\n",
            viewers.limit()
        ),
    )
}

/// Frames and figures are always new: nothing is cached.
fn no_store(mut response: Response<Body>) -> Response<Body> {
    set(&mut response, header::CACHE_CONTROL, "no-store");
    set(&mut response, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    response
}

/// The page runs only its own script and talks only to this server.
fn with_page_policy(mut response: Response<Body>) -> Response<Body> {
    set(
        &mut response,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'self'; img-src 'self' blob:; connect-src 'self'; frame-ancestors 'self'",
    );
    response
}

fn set(response: &mut Response<Body>, name: header::HeaderName, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        response.headers_mut().insert(name, value);
    }
}
