//! The live Server-Sent Events stream of a session's events (`text/event-stream`).

use std::collections::VecDeque;
use std::time::Duration;

use actix_web::web::Bytes;
use app::{Subscription, Wake};
use domain::Order;
use futures_util::Stream;

use super::{Source, json_line};
use crate::http::responses::{Event, Session};

/// Events read per store call while streaming.
const STREAM_PAGE: u32 = 200;

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
                .encode(&self.source.scope, Order::Asc, seq);
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
            let page = self.source.page(STREAM_PAGE).await.ok()?;
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
                    .events
                    .followed(&self.source.scope.project, &self.source.scope.session)
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
