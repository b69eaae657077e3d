//! Before the measured phase: the fixed sessions of `append`/`page` created (or found), and the
//! paths of every full page collected.

use std::sync::Arc;

use bytes::Bytes;

use super::run::Ctx;
use super::shares::{PageMeta, SessionMeta};
use crate::client::{Conn, encode_query};
use crate::ledger::{Baseline, Ledger};
use crate::verify::snippet;

/// Creates (or finds) the fixed sessions of `append`/`page`: returns each one's event count and
/// records pre-existing ones as baselines in the ledger.
pub async fn setup_sessions(
    ctx: &Arc<Ctx>,
    connections: usize,
    ledger: &mut Ledger,
) -> anyhow::Result<Vec<u64>> {
    let n = ctx.sessions.len();
    let workers = connections.clamp(1, n.max(1));
    let mut tasks = Vec::new();
    for w in 0..workers {
        let ctx = Arc::clone(ctx);
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::new(ctx.target.clone(), ctx.timeout);
            let mut found = Vec::new();
            for s in (w..n).step_by(workers) {
                let id = &ctx.sessions[s];
                let body = Bytes::from(format!(
                    r#"{{"sessionId":"{id}","language":"en-US","metadata":{{"purpose":"loadtest"}}}}"#
                ));
                let response = conn.post("/sessions", body).await?;
                ctx.progress.response(response.status);
                match response.status {
                    201 => found.push((s, None)),
                    200 => {
                        let meta: SessionMeta = serde_json::from_slice(&response.body)?;
                        if meta.status == "completed" || meta.status == "failed" {
                            anyhow::bail!("session {id} exists and is {}", meta.status);
                        }
                        found.push((
                            s,
                            Some(Baseline {
                                event_count: meta.event_count,
                                last_seq: meta.last_seq,
                            }),
                        ));
                    }
                    status => anyhow::bail!(
                        "POST /sessions for {id} answered {status}: {}",
                        snippet(&response.body)
                    ),
                }
            }
            Ok::<_, anyhow::Error>(found)
        }));
    }
    let mut counts = vec![0u64; n];
    for task in tasks {
        for (s, baseline) in task.await?? {
            if let Some(b) = baseline {
                counts[s] = b.event_count;
                ledger.session(&ctx.sessions[s]).baseline = Some(b);
            } else {
                ledger.session(&ctx.sessions[s]);
            }
        }
    }
    Ok(counts)
}

/// Walks every session with the page size of the run and returns the path of each full page.
pub async fn collect_page_paths(
    ctx: &Arc<Ctx>,
    connections: usize,
) -> anyhow::Result<Vec<Vec<String>>> {
    let n = ctx.sessions.len();
    let workers = connections.clamp(1, n.max(1));
    let mut tasks = Vec::new();
    for w in 0..workers {
        let ctx = Arc::clone(ctx);
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::new(ctx.target.clone(), ctx.timeout);
            let query = ctx.page_query();
            let mut out = Vec::new();
            for s in (w..n).step_by(workers) {
                let id = &ctx.sessions[s];
                let mut paths = Vec::new();
                let mut path = format!("/sessions/{id}/events?{query}");
                loop {
                    let response = conn.get(&path).await?;
                    ctx.progress.response(response.status);
                    if response.status != 200 {
                        anyhow::bail!(
                            "GET {path} answered {}: {}",
                            response.status,
                            snippet(&response.body)
                        );
                    }
                    let meta: PageMeta = serde_json::from_slice(&response.body)?;
                    if meta.next_cursor.is_none() {
                        // An empty session: no page to read at depth.
                        break;
                    }
                    paths.push(path);
                    match (meta.has_more, meta.next_cursor) {
                        (true, Some(cursor)) => {
                            path = format!(
                                "/sessions/{id}/events?{query}&cursor={}",
                                encode_query(&cursor)
                            );
                        }
                        _ => break,
                    }
                }
                out.push((s, paths));
            }
            Ok::<_, anyhow::Error>(out)
        }));
    }
    let mut all = vec![Vec::new(); n];
    for task in tasks {
        for (s, paths) in task.await?? {
            all[s] = paths;
        }
    }
    Ok(all)
}
