//! The other two representations of a session's event list, chosen by `Accept`: a live
//! Server-Sent Events stream (`text/event-stream`) and an NDJSON export
//! (`application/x-ndjson`). Both read the store page by page from a position, so memory stays
//! constant whatever the session's length; the SSE `id` of each event is the ordinary page
//! cursor positioned after it.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use actix_web::HttpRequest;
use actix_web::http::header;
use actix_web::web::Bytes;
use domain::{Order, PageRequest, ProjectId, Repository, SessionId};
use futures_util::Stream;

use crate::cursor::CursorCodec;
use crate::responses::{Event, Session};
use crate::tail::{Subscription, Wake};

pub const EVENT_STREAM: &str = "text/event-stream";
pub const NDJSON: &str = "application/x-ndjson";

/// Events read per store call while streaming.
const STREAM_PAGE: u32 = 200;

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

/// What a stream reads: one session of one project, from a position.
pub struct Source {
    pub repo: Arc<dyn Repository>,
    pub cursors: CursorCodec,
    pub project: ProjectId,
    pub session: SessionId,
    /// The `seq` after which events are sent.
    pub after: u64,
}

impl Source {
    async fn page(&self, limit: u32) -> Option<domain::EventPage> {
        let request = PageRequest {
            after: Some(self.after),
            order: Order::Asc,
            limit,
        };
        match self
            .repo
            .list_events(&self.project, &self.session, request)
            .await
        {
            Ok(page) => Some(page),
            Err(e) => {
                // The response has started: the stream ends, and the client resumes from the
                // last event it received.
                tracing::warn!(error = %e, "stream ended by a storage error");
                None
            }
        }
    }
}

fn json_line(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).expect("response bodies serialize")
}

/// The NDJSON export: every event after the position that is stored when the export starts
/// (`through`: the session's `lastSeq` then), one JSON object per line, a page per chunk.
pub fn export(source: Source, through: u64) -> impl Stream<Item = Result<Bytes, actix_web::Error>> {
    futures_util::stream::unfold(Some(source), move |source| async move {
        let mut source = source?;
        if source.after >= through {
            return None;
        }
        let page = source.page(EXPORT_PAGE).await?;
        let mut chunk = String::new();
        for event in page.events.iter().filter(|e| e.seq <= through) {
            chunk.push_str(&json_line(&Event::from(event)));
            chunk.push('\n');
            source.after = event.seq;
        }
        if chunk.is_empty() {
            return None;
        }
        let next = page.has_more.then_some(source);
        Some((Ok(Bytes::from(chunk)), next))
    })
}

/// Events read per store call by an export.
const EXPORT_PAGE: u32 = 500;

/// A live stream's state between two chunks.
pub struct Live {
    pub source: Source,
    pub subscription: Subscription,
    pub keep_alive: Duration,
    /// Frames ready to send.
    pending: VecDeque<Bytes>,
    finished: bool,
}

impl Live {
    pub fn new(source: Source, subscription: Subscription, keep_alive: Duration) -> Self {
        // The first chunk asks `EventSource` to reconnect after 2 s (with `Last-Event-ID`).
        let pending = VecDeque::from([Bytes::from_static(b"retry: 2000\n\n")]);
        Self {
            source,
            subscription,
            keep_alive,
            pending,
            finished: false,
        }
    }

    /// Appends one SSE frame to `out`; `id` is the `seq` the frame's cursor stands after.
    fn frame(&self, out: &mut String, id: Option<u64>, event: &str, data: &str) {
        if let Some(seq) = id {
            let cursor = self
                .source
                .cursors
                .encode(&self.source.session, Order::Asc, seq);
            out.push_str("id: ");
            out.push_str(&cursor);
            out.push('\n');
        }
        out.push_str("event: ");
        out.push_str(event);
        out.push_str("\ndata: ");
        out.push_str(data);
        out.push_str("\n\n");
    }

    /// The next chunk: frames already made, else the events after the position, else — caught
    /// up — `session-closed` when the session is closed, else a wait for a change.
    async fn next(&mut self) -> Option<Bytes> {
        loop {
            if let Some(chunk) = self.pending.pop_front() {
                return Some(chunk);
            }
            if self.finished {
                return None;
            }
            let version = self.subscription.seen();
            let page = self.source.page(STREAM_PAGE).await?;
            if !page.events.is_empty() {
                let mut chunk = String::new();
                for event in &page.events {
                    let data = json_line(&Event::from(event));
                    self.frame(&mut chunk, Some(event.seq), "event", &data);
                    self.source.after = event.seq;
                }
                return Some(Bytes::from(chunk));
            }
            // Caught up. A version beyond the position with no event after it is the close
            // (see `domain::Session::version`).
            if version > self.source.after {
                let session = match self
                    .source
                    .repo
                    .get_session(&self.source.project, &self.source.session)
                    .await
                {
                    Ok(session) => session,
                    Err(e) => {
                        tracing::warn!(error = %e, "stream ended by a storage error");
                        return None;
                    }
                };
                self.finished = true;
                let mut frame = String::new();
                let data = json_line(&Session::from(&session));
                self.frame(&mut frame, None, "session-closed", &data);
                return Some(Bytes::from(frame));
            }
            match self.subscription.wait(self.keep_alive).await {
                Wake::Changed => continue,
                Wake::Idle => return Some(Bytes::from_static(b": keep-alive\n\n")),
                Wake::Closing => return None,
            }
        }
    }

    /// The stream of chunks; it ends after `session-closed`, on shutdown, or on a storage error.
    pub fn into_stream(self) -> impl Stream<Item = Result<Bytes, actix_web::Error>> {
        futures_util::stream::unfold(self, |mut live| async move {
            let chunk = live.next().await?;
            Some((Ok(chunk), live))
        })
    }
}
