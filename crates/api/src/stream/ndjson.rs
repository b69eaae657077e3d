//! The NDJSON export of a session's events (`application/x-ndjson`).

use actix_web::web::Bytes;
use app::StreamSlot;
use futures_util::Stream;

use super::{Source, json_line};
use crate::http::responses::Event;

/// The NDJSON export: every event after the position that is stored when the export starts
/// (`through`: the session's `lastSeq` then), one JSON object per line, a page per chunk. A page
/// that cannot be read (a storage error, the session erased meanwhile) aborts the response.
/// The export holds its stream `slot` until it ends or the client goes away.
pub fn export(
    source: Source,
    through: u64,
    slot: StreamSlot,
) -> impl Stream<Item = Result<Bytes, actix_web::Error>> {
    futures_util::stream::unfold(Some((source, slot)), move |state| async move {
        let (mut source, slot) = state?;
        if source.after >= through {
            return None;
        }
        let Ok(page) = source.page(EXPORT_PAGE).await else {
            // Aborted: the connection closes without the body's end, so the client sees an
            // error instead of a shorter export that looks complete.
            let cut = actix_web::error::ErrorServiceUnavailable("export cut short");
            return Some((Err(cut), None));
        };
        let mut chunk = String::new();
        for event in page.events.iter().filter(|e| e.seq <= through) {
            chunk.push_str(&json_line(&Event::from(event)));
            chunk.push('\n');
            source.after = event.seq;
        }
        if chunk.is_empty() {
            return None;
        }
        let next = page.has_more.then_some((source, slot));
        Some((Ok(Bytes::from(chunk)), next))
    })
}

/// Events read per store call by an export.
const EXPORT_PAGE: u32 = 500;
