//! `webhook-receiver`: the local receiver of `scripts/bench-webhooks`. Answers 204 (or the
//! STATUS given) to every request; for each `webhook-id`'s first arrival, writes the milliseconds since the commit its
//! body's `timestamp` names, one per line, to the file given (emptied by a `DELETE /`). One
//! thread, a few microseconds per request: on a machine it shares with the service, the
//! benchmark measures the service, not its receiver.
//!
//! Usage: webhook-receiver PORT DELAYS_FILE [STATUS]

use std::collections::HashSet;
use std::fs::File;
use std::io::Write;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

struct Seen {
    ids: HashSet<String>,
    out: File,
    path: String,
}

async fn answer(
    request: Request<hyper::body::Incoming>,
    seen: Arc<Mutex<Seen>>,
    status: StatusCode,
) -> Result<Response<Empty<Bytes>>, hyper::Error> {
    let reset = request.method() == Method::DELETE;
    let id = request
        .headers()
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = request.into_body().collect().await?.to_bytes();
    let now = domain::Timestamp::now();
    let mut seen = seen.lock().expect("not poisoned");
    if reset {
        seen.ids.clear();
        seen.out = File::create(&seen.path).expect("the delays file");
    } else if let Some(id) = id
        && seen.ids.insert(id)
    {
        let committed = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|b| b["timestamp"].as_str().map(str::to_owned))
            .and_then(|t| domain::Timestamp::parse_rfc3339(&t).ok());
        if let Some(committed) = committed {
            let delay = now.millis() - committed.millis();
            let _ = writeln!(seen.out, "{delay}");
        }
    }
    let mut reply = Response::new(Empty::new());
    *reply.status_mut() = status;
    Ok(reply)
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (port, path, status) = match args.as_slice() {
        [_, port, path] => (port, path, StatusCode::NO_CONTENT),
        [_, port, path, status] => (port, path, StatusCode::from_bytes(status.as_bytes())?),
        _ => anyhow::bail!("usage: webhook-receiver PORT DELAYS_FILE [STATUS]"),
    };
    let seen = Arc::new(Mutex::new(Seen {
        ids: HashSet::new(),
        out: File::create(path)?,
        path: path.clone(),
    }));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = TcpListener::bind(("127.0.0.1", port.parse::<u16>()?)).await?;
        loop {
            let (stream, _) = listener.accept().await?;
            let seen = seen.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request| answer(request, seen.clone(), status));
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}
