//! The outbound HTTP adapter: [`HttpSender`], the service's [`WebhookSender`] (SPEC "Webhooks":
//! delivery and safety).
//!
//! - **Destinations at every connection.** Host names are resolved by [`Guarded`], which keeps
//!   only the addresses `Destinations::admits` (no loopback, private, link-local… unless
//!   `WEBHOOK_ALLOW_PRIVATE`), so a DNS answer that changed since registration cannot reach
//!   inside; a URL naming an address is judged before connecting (reqwest resolves no literal).
//!   Proxies from the environment are not used (they would connect in our place).
//! - **No redirect** is followed (a 3xx is the attempt's status: a failure).
//! - **`WEBHOOK_TIMEOUT`** bounds the whole attempt; at most [`MAX_REPLY_BYTES`] of the reply
//!   are read, the rest dropped with the connection.
//! - `Retry-After` in seconds is passed on (the domain decides whether it is honoured).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use domain::webhook::{AttemptResult, OutgoingWebhook, WebhookReply};
use domain::{Destinations, WebhookSender};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::RETRY_AFTER;

/// The most of a reply read (SPEC: "at most 64 KiB of a reply is read").
pub const MAX_REPLY_BYTES: usize = 64 * 1024;

/// The refusal of a destination whose every address is internal.
const REFUSED: &str = "destination refused: internal address";

/// Resolves host names to the addresses the destinations admit; none left is an error.
struct Guarded(Destinations);

impl Resolve for Guarded {
    fn resolve(&self, name: Name) -> Resolving {
        let destinations = self.0;
        Box::pin(async move {
            let found = tokio::net::lookup_host((name.as_str(), 0)).await?;
            let admitted: Vec<SocketAddr> = found.filter(|a| destinations.admits(a.ip())).collect();
            if admitted.is_empty() {
                return Err(REFUSED.into());
            }
            Ok(Box::new(admitted.into_iter()) as Addrs)
        })
    }
}

/// Sends webhook attempts with one connection pool.
pub struct HttpSender {
    client: reqwest::Client,
    destinations: Destinations,
}

impl HttpSender {
    pub fn new(destinations: Destinations, timeout: Duration) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent("conversation-sessions-webhooks/1")
            .dns_resolver(Arc::new(Guarded(destinations)))
            .build()
            .map_err(|e| format!("webhook HTTP client: {e}"))?;
        Ok(Self {
            client,
            destinations,
        })
    }

    /// Whether a URL naming an address (not a host name) may be connected to.
    fn literal_admitted(&self, request: &OutgoingWebhook) -> bool {
        let host = request.url.host();
        let host = host.trim_start_matches('[').trim_end_matches(']');
        match host.parse::<IpAddr>() {
            Ok(ip) => self.destinations.admits(ip),
            Err(_) => true,
        }
    }
}

/// A short reason for people, with no detail of this side (addresses, paths).
fn reason(e: &reqwest::Error) -> String {
    let refused = std::iter::successors(Some(e as &dyn std::error::Error), |e| e.source())
        .any(|e| e.to_string().contains(REFUSED));
    if refused {
        REFUSED.into()
    } else if e.is_timeout() {
        "timeout".into()
    } else if e.is_connect() {
        "connection failed".into()
    } else {
        "request failed".into()
    }
}

/// A `Retry-After` value (RFC 9110 §10.2.3: `delay-seconds` or an `HTTP-date`) as the
/// milliseconds to wait from `now`: a date already past is no wait; anything else is `None`.
fn retry_after(value: &str, now: SystemTime) -> Option<u64> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(seconds.saturating_mul(1_000));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    let wait = at.duration_since(now).unwrap_or(Duration::ZERO);
    Some(u64::try_from(wait.as_millis()).unwrap_or(u64::MAX))
}

#[async_trait]
impl WebhookSender for HttpSender {
    async fn send(&self, request: OutgoingWebhook) -> WebhookReply {
        let failed = |why: String| WebhookReply {
            result: AttemptResult::Error(why),
            retry_after_ms: None,
        };
        if !self.literal_admitted(&request) {
            return failed(REFUSED.into());
        }
        let mut builder = self.client.post(request.url.as_str());
        for (name, value) in &request.headers {
            builder = builder.header(*name, value);
        }
        let mut response = match builder.body(request.body).send().await {
            Ok(response) => response,
            Err(e) => return failed(reason(&e)),
        };
        let status = response.status().as_u16();
        let retry_after_ms = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| retry_after(v, SystemTime::now()));
        // Read (and drop) at most MAX_REPLY_BYTES: the status decides, the body only keeps the
        // connection reusable when it is short.
        let mut read = 0;
        while read < MAX_REPLY_BYTES {
            match response.chunk().await {
                Ok(Some(chunk)) => read += chunk.len(),
                Ok(None) | Err(_) => break,
            }
        }
        WebhookReply {
            result: AttemptResult::Status(status),
            retry_after_ms,
        }
    }
}
