//! The other two representations of a session's event list, chosen by `Accept`: a live
//! Server-Sent Events stream (`text/event-stream`) and an NDJSON export
//! (`application/x-ndjson`). Both read the store page by page from a position, so memory stays
//! constant whatever the session's length; the SSE `id` of each event is the ordinary page
//! cursor positioned after it.

use actix_web::HttpRequest;
use actix_web::http::header;
use app::Events;
use domain::{Order, PageRequest};

use crate::paging::cursor::{CursorCodec, EventScope};

pub mod ndjson;
pub mod sse;

pub const EVENT_STREAM: &str = "text/event-stream";
pub const NDJSON: &str = "application/x-ndjson";

/// The representation a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Representation {
    Json,
    EventStream,
    NdJson,
}

impl Representation {
    /// By `Accept`: the supported type with the highest `q`; JSON on ties, without `Accept`,
    /// and for anything else (`*/*`, `text/html`, …).
    pub fn of(req: &HttpRequest) -> Self {
        let Some(accept) = req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
        else {
            return Self::Json;
        };
        let (mut best, mut best_q) = (Self::Json, 0.0_f32);
        for range in accept.split(',') {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            let candidate = match media.as_str() {
                EVENT_STREAM => Self::EventStream,
                NDJSON => Self::NdJson,
                "application/json" | "application/*" | "*/*" => Self::Json,
                _ => continue,
            };
            // JSON wins ties.
            let better = q > best_q || (q == best_q && candidate == Self::Json);
            if q > 0.0 && better {
                (best, best_q) = (candidate, q);
            }
        }
        best
    }
}

/// What a stream reads: one incarnation of one session of one project (its SSE ids are bound
/// to it), from a position.
pub struct Source {
    pub events: Events,
    pub cursors: CursorCodec,
    pub scope: EventScope,
    /// The `seq` after which events are sent.
    pub after: u64,
}

impl Source {
    /// The next page after `after`. An error is logged here; the response has started, so each
    /// representation decides what it means (SSE: the stream ends and the client resumes from
    /// the last event it received; an export: aborted, never ended as if complete).
    pub(crate) async fn page(&self, limit: u32) -> Result<domain::EventPage, StorageFailed> {
        let request = PageRequest {
            view: self.scope.view,
            after: Some(self.after),
            order: Order::Asc,
            limit,
        };
        self.events
            .page(&self.scope.project, &self.scope.session, request)
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "stream cut short by a storage error or an erasure");
                StorageFailed
            })
    }
}

/// A page a stream could not read (the error itself is in the log).
#[derive(Debug)]
pub(crate) struct StorageFailed;

pub(crate) fn json_line(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).expect("response bodies serialize")
}
