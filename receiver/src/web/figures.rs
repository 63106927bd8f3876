//! The figures the web serves: `/api/streams` (JSON: each stream's state
//! and the exit report's figures for it) and `/metrics` (Prometheus' text
//! format). Both are made from the same [`StreamReport`]s as the exit
//! report, so they always agree with it.

use std::fmt::Write;

use serde::Serialize;

use crate::report::{Registry, StreamReport};
use crate::stream::liveness::Status;
use crate::web::streams::{Listed, listing, status_of};
use crate::web::viewers::Viewers;

/// One stream as `/api/streams` and the page's state messages list it.
#[derive(Serialize)]
pub struct StreamState {
    /// The stream's name in URLs (`/streams/{key}.mjpg`).
    pub key: String,
    /// "live", "stale", "paused" or "disconnected".
    pub status: &'static str,
    /// What the tile shows over the picture: "stale 3.2 s", "paused", "disconnected".
    pub marker: Option<String>,
    pub since_last_frame_s: f64,
    #[serde(flatten)]
    pub figures: StreamReport,
}

impl StreamState {
    pub fn of(listed: &Listed) -> StreamState {
        let status = status_of(&listed.stream);
        StreamState {
            key: listed.key.clone(),
            status: match status {
                Status::Live => "live",
                Status::Stale(_) => "stale",
                Status::Paused => "paused",
                Status::Disconnected => "disconnected",
            },
            marker: status.marker(),
            since_last_frame_s: listed.stream.since_last_decoded().as_secs_f64(),
            figures: StreamReport::of(&listed.stream),
        }
    }
}

/// `/api/streams`.
#[derive(Serialize)]
pub struct StreamsDocument {
    pub streams: Vec<StreamState>,
    pub viewers: usize,
    pub max_viewers: usize,
}

/// Every listed stream's state.
pub fn states(registry: &Registry) -> Vec<StreamState> {
    listing(registry).iter().map(StreamState::of).collect()
}

/// The JSON of `/api/streams`.
pub fn streams_json(registry: &Registry, viewers: &Viewers) -> String {
    let document = StreamsDocument {
        streams: states(registry),
        viewers: viewers.watching(),
        max_viewers: viewers.limit(),
    };
    serde_json::to_string_pretty(&document).unwrap_or_default()
}

/// What `/metrics` adds to the streams' figures.
pub struct ReceiverFigures<'a> {
    pub viewers: &'a Viewers,
    pub memory_used: usize,
    pub memory_limit: usize,
}

/// The text of `/metrics`: per stream (label `stream`, its key) frames,
/// drops, bytes, decode time and latency quantiles; for the receiver its
/// viewers and memory.
pub fn prometheus(registry: &Registry, receiver: &ReceiverFigures) -> String {
    let listed = listing(registry);
    let reports: Vec<(String, StreamReport, bool)> = listed
        .iter()
        .map(|l| {
            (
                l.key.clone(),
                StreamReport::of(&l.stream),
                l.stream.is_connected(),
            )
        })
        .collect();
    let mut text = String::new();
    let per_stream = |text: &mut String,
                      name: &str,
                      kind: &str,
                      help: &str,
                      value: &dyn Fn(&StreamReport, bool) -> Option<f64>| {
        let _ = writeln!(text, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (key, report, connected) in &reports {
            if let Some(value) = value(report, *connected) {
                let _ = writeln!(text, "{name}{{stream=\"{}\"}} {value}", label(key));
            }
        }
    };
    per_stream(
        &mut text,
        "framewire_stream_connected",
        "gauge",
        "1 while the stream's sender is connected.",
        &|_, connected| Some(f64::from(u8::from(connected))),
    );
    per_stream(
        &mut text,
        "framewire_frames_received_total",
        "counter",
        "Frames received from the sender.",
        &|r, _| Some(r.frames_received as f64),
    );
    per_stream(
        &mut text,
        "framewire_frames_decoded_total",
        "counter",
        "Frames decoded.",
        &|r, _| Some(r.frames_decoded as f64),
    );
    per_stream(
        &mut text,
        "framewire_frames_dropped_total",
        "counter",
        "Frames replaced by a newer one before being decoded or shown.",
        &|r, _| Some(r.frames_dropped as f64),
    );
    per_stream(
        &mut text,
        "framewire_frames_missing_total",
        "counter",
        "Frames the sender numbered but never sent (dropped on its side).",
        &|r, _| Some(r.sequence_gaps as f64),
    );
    per_stream(
        &mut text,
        "framewire_decode_errors_total",
        "counter",
        "Frames that did not decode.",
        &|r, _| Some(r.decode_errors as f64),
    );
    per_stream(
        &mut text,
        "framewire_received_bytes_total",
        "counter",
        "Bytes of complete messages received.",
        &|r, _| Some(r.bytes as f64),
    );
    per_stream(
        &mut text,
        "framewire_decode_seconds_mean",
        "gauge",
        "Mean time to decode one frame.",
        &|r, _| Some(r.decode_ms_mean / 1e3),
    );
    let _ = writeln!(
        text,
        "# HELP framewire_latency_seconds Capture to decoded latency.\n\
         # TYPE framewire_latency_seconds summary"
    );
    for (key, report, _) in &reports {
        let quantiles = [
            ("0.5", report.latency_ms_p50),
            ("0.95", report.latency_ms_p95),
            ("0.99", report.latency_ms_p99),
        ];
        for (quantile, ms) in quantiles {
            if let Some(ms) = ms {
                let _ = writeln!(
                    text,
                    "framewire_latency_seconds{{stream=\"{}\",quantile=\"{quantile}\"}} {}",
                    label(key),
                    ms / 1e3
                );
            }
        }
        let _ = writeln!(
            text,
            "framewire_latency_seconds_count{{stream=\"{}\"}} {}",
            label(key),
            report.latency_samples
        );
    }
    let viewers = receiver.viewers;
    let receiver_wide: [(&str, &str, &str, f64); 7] = [
        (
            "framewire_viewers",
            "gauge",
            "Web viewers watching now (pages and MJPEG clients).",
            viewers.watching() as f64,
        ),
        (
            "framewire_viewers_turned_away_total",
            "counter",
            "Viewers refused because --max-viewers were watching.",
            viewers.turned_away() as f64,
        ),
        (
            "framewire_viewer_frames_sent_total",
            "counter",
            "Frames sent to web viewers.",
            viewers.frames_sent() as f64,
        ),
        (
            "framewire_viewer_frames_refused_total",
            "counter",
            "Frames not sent to a viewer because the memory budget was spent.",
            viewers.refused_over_budget() as f64,
        ),
        (
            "framewire_viewer_bytes_in_flight",
            "gauge",
            "Bytes of frames on their way to web viewers (part of the memory in use).",
            viewers.bytes_in_flight() as f64,
        ),
        (
            "framewire_memory_used_bytes",
            "gauge",
            "Memory charged to the budget (--max-memory).",
            receiver.memory_used as f64,
        ),
        (
            "framewire_memory_limit_bytes",
            "gauge",
            "The memory budget (--max-memory).",
            receiver.memory_limit as f64,
        ),
    ];
    for (name, kind, help, value) in receiver_wide {
        let _ = writeln!(
            text,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    }
    text
}

/// A Prometheus label value: backslash, quote and newline escaped (keys
/// have none, but the format asks for it).
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
