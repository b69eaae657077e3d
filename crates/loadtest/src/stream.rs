//! The `stream` scenario: many live streams (SSE) open while events are appended, then the
//! sessions completed. Every stream must receive every event of its session exactly once, in
//! `seq` order, then `session-closed`; the delivery latency (append acknowledged → event
//! received by a stream) is measured. With `--server-pid`, the server's CPU and RSS are read
//! from `/proc` while the streams sit idle.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::BodyExt;
use serde_json::{Value, json};

use crate::client::{Conn, Target};

pub struct Plan {
    pub streams: usize,
    pub sessions: usize,
    pub events: usize,
    pub appenders: usize,
    pub idle: Duration,
    pub server_pid: Option<u32>,
    pub prefix: String,
    pub timeout: Duration,
}

/// What one stream saw: `(seq, eventId, when)` per event, and whether `session-closed` came.
#[derive(Default)]
struct Seen {
    events: Vec<(u64, String, Instant)>,
    closed: bool,
}

async fn read_stream(target: Target, timeout: Duration, path: String) -> anyhow::Result<Seen> {
    let conn = Conn::new(target, timeout);
    let (mut body, _sender) = conn.open_stream(&path).await?;
    let mut seen = Seen::default();
    let mut buffer = String::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.context("stream read")?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let now = Instant::now();
        buffer.push_str(std::str::from_utf8(&data).context("stream text")?);
        while let Some(at) = buffer.find("\n\n") {
            let block: String = buffer.drain(..at + 2).collect();
            let event = block.lines().find_map(|l| l.strip_prefix("event: "));
            let data = block.lines().find_map(|l| l.strip_prefix("data: "));
            match (event, data) {
                (Some("event"), Some(data)) => {
                    let e: Value = serde_json::from_str(data).context("event data")?;
                    let seq = e["seq"].as_u64().context("seq")?;
                    let id = e["eventId"].as_str().context("eventId")?.to_owned();
                    seen.events.push((seq, id, now));
                }
                (Some("session-closed"), _) => seen.closed = true,
                _ => {}
            }
        }
        if seen.closed {
            break;
        }
    }
    Ok(seen)
}

/// CPU seconds (user + system) and RSS in KiB of a process, from `/proc`.
fn usage(pid: u32) -> anyhow::Result<(f64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .context("stat")?
        .1
        .split_whitespace()
        .collect();
    // After ")": state is field 3, utime 14, stime 15 (1-based in proc(5)).
    let ticks: u64 = fields[11].parse::<u64>()? + fields[12].parse::<u64>()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .context("VmRSS")?
        .parse()?;
    Ok((ticks as f64 / 100.0, rss))
}

pub async fn run(target: Target, plan: Plan) -> anyhow::Result<Value> {
    let mut setup = Conn::new(target.clone(), plan.timeout);
    let sessions: Vec<String> = (0..plan.sessions)
        .map(|i| format!("{}-stream{i}", plan.prefix))
        .collect();
    for s in &sessions {
        let body = Bytes::from(json!({ "sessionId": s }).to_string());
        let r = setup.post("/sessions", body).await?;
        if r.status != 201 && r.status != 200 {
            bail!("create {s}: {}", r.status);
        }
    }
    let idle_before = plan.server_pid.map(usage).transpose()?;
    let opened = Instant::now();
    let mut readers = Vec::with_capacity(plan.streams);
    for i in 0..plan.streams {
        let path = format!("/sessions/{}/events", sessions[i % sessions.len()]);
        let target = target.clone();
        let timeout = plan.timeout;
        readers.push(tokio::spawn(async move {
            read_stream(target, timeout, path).await
        }));
        // Let the connections in without a burst the listen backlog would drop.
        if i % 100 == 99 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    eprintln!(
        "loadtest stream: {} streams on {} sessions opened in {:?}",
        plan.streams,
        sessions.len(),
        opened.elapsed()
    );
    let mut idle = json!(null);
    if let Some(pid) = plan.server_pid {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (cpu0, _) = usage(pid)?;
        tokio::time::sleep(plan.idle).await;
        let (cpu1, rss) = usage(pid)?;
        let (_, rss_before) = idle_before.unwrap_or((0.0, 0));
        idle = json!({
            "seconds": plan.idle.as_secs_f64(),
            "cpu_percent": round1((cpu1 - cpu0) / plan.idle.as_secs_f64() * 100.0),
            "rss_mib": round1(rss as f64 / 1024.0),
            "rss_mib_before_streams": round1(rss_before as f64 / 1024.0),
        });
        eprintln!("loadtest stream: idle {idle}");
    }

    // Appends: `appenders` workers over the sessions' events; each ack time is kept.
    let acks: Arc<Mutex<HashMap<(String, String), Instant>>> = Arc::default();
    let started = Instant::now();
    let mut workers = Vec::new();
    for w in 0..plan.appenders {
        let (target, sessions, acks) = (target.clone(), sessions.clone(), acks.clone());
        let (events, appenders, timeout) = (plan.events, plan.appenders, plan.timeout);
        workers.push(tokio::spawn(async move {
            let mut conn = Conn::new(target, timeout);
            let mut n = w;
            while n < events * sessions.len() {
                let session = &sessions[n % sessions.len()];
                let id = format!("ev{}", n / sessions.len());
                let body = json!({"eventId": id, "type": "user_speech", "payload": {"n": n}});
                let path = format!("/sessions/{session}/events");
                let r = conn.post(&path, Bytes::from(body.to_string())).await?;
                if r.status != 201 {
                    bail!("append {path} {id}: {}", r.status);
                }
                acks.lock()
                    .unwrap()
                    .insert((session.clone(), id), Instant::now());
                n += appenders;
            }
            anyhow::Ok(())
        }));
    }
    for w in workers {
        w.await??;
    }
    let appended = started.elapsed();
    for s in &sessions {
        let r = setup
            .post(&format!("/sessions/{s}/complete"), Bytes::new())
            .await?;
        if r.status != 200 {
            bail!("complete {s}: {}", r.status);
        }
    }

    let acks = acks.lock().unwrap().clone();
    let mut latency = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?;
    let mut violations = Vec::new();
    for (i, reader) in readers.into_iter().enumerate() {
        let session = &sessions[i % sessions.len()];
        let seen = match tokio::time::timeout(plan.timeout * 4, reader).await {
            Ok(Ok(Ok(seen))) => seen,
            Ok(Ok(Err(e))) => {
                violations.push(format!("stream {i}: {e:#}"));
                continue;
            }
            Ok(Err(e)) => {
                violations.push(format!("stream {i}: {e}"));
                continue;
            }
            Err(_) => {
                violations.push(format!("stream {i}: no session-closed in time"));
                continue;
            }
        };
        if !seen.closed {
            violations.push(format!("stream {i}: ended without session-closed"));
        }
        let ids: Vec<&str> = seen.events.iter().map(|(_, id, _)| id.as_str()).collect();
        let expected: Vec<String> = (0..plan.events).map(|k| format!("ev{k}")).collect();
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        let mut want: Vec<&str> = expected.iter().map(String::as_str).collect();
        want.sort_unstable();
        if sorted != want {
            violations.push(format!(
                "stream {i}: {} events received, {} expected (each exactly once)",
                ids.len(),
                plan.events
            ));
        }
        if !seen.events.windows(2).all(|w| w[0].0 < w[1].0) {
            violations.push(format!("stream {i}: seqs not strictly increasing"));
        }
        for (_, id, at) in &seen.events {
            if let Some(ack) = acks.get(&(session.clone(), id.clone())) {
                let us = at.saturating_duration_since(*ack).as_micros() as u64;
                latency.record(us.max(1))?;
            }
        }
    }
    let ms = |q: f64| round1(latency.value_at_quantile(q) as f64 / 1000.0);
    let report = json!({
        "scenario": "stream",
        "streams": plan.streams,
        "sessions": plan.sessions,
        "events_per_session": plan.events,
        "append_seconds": round1(appended.as_secs_f64()),
        "deliveries": latency.len(),
        "delivery_latency_ms": { "p50": ms(0.5), "p99": ms(0.99), "max": ms(1.0) },
        "idle": idle,
        "violations": violations.len(),
    });
    for v in violations.iter().take(10) {
        eprintln!("violation: {v}");
    }
    Ok(report)
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}
