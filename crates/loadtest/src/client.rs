//! One HTTP/1.1 keep-alive connection per worker: requests go one after the other on it, and a
//! broken connection is replaced on the next request.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Where the server is: socket address and the `Host` header to send.
#[derive(Debug, Clone)]
pub struct Target {
    pub addr: SocketAddr,
    pub host: HeaderValue,
    /// `Authorization` of every request, when the server wants a key.
    pub authorization: Option<HeaderValue>,
}

impl Target {
    /// Parses `http://host:port[/]`; only plain HTTP is supported.
    pub fn parse(url: &str) -> anyhow::Result<Self> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| anyhow!("--url must start with http:// (got {url:?})"))?;
        let authority = rest.split('/').next().unwrap_or_default();
        if authority.is_empty() {
            return Err(anyhow!("--url has no host: {url:?}"));
        }
        let with_port = if authority.rsplit_once(':').is_some_and(|(h, p)| {
            !h.is_empty() && !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())
        }) {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        let addr = std::net::ToSocketAddrs::to_socket_addrs(&with_port)
            .with_context(|| format!("cannot resolve {with_port}"))?
            .next()
            .ok_or_else(|| anyhow!("{with_port} resolves to no address"))?;
        let host = HeaderValue::from_str(authority).context("host is not a valid header")?;
        Ok(Self {
            addr,
            host,
            authorization: None,
        })
    }

    /// The same target, sending `Authorization: Bearer <key>` when `key` is given.
    pub fn with_bearer(mut self, key: Option<&str>) -> anyhow::Result<Self> {
        if let Some(key) = key {
            let mut value = HeaderValue::from_str(&format!("Bearer {key}"))
                .context("the bearer key is not a valid header value")?;
            value.set_sensitive(true);
            self.authorization = Some(value);
        }
        Ok(self)
    }
}

/// A response with its body read in full.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// `Idempotent-Replayed: true` was present.
    pub replayed: bool,
    pub body: Bytes,
}

pub struct Conn {
    target: Target,
    timeout: Duration,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Conn {
    pub fn new(target: Target, timeout: Duration) -> Self {
        Self {
            target,
            timeout,
            sender: None,
        }
    }

    async fn connect(&self) -> anyhow::Result<SendRequest<Full<Bytes>>> {
        let stream = TcpStream::connect(self.target.addr)
            .await
            .with_context(|| format!("connect {}", self.target.addr))?;
        stream.set_nodelay(true)?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            // Ends when the sender is dropped or the peer closes; errors show up on the sender.
            let _ = connection.await;
        });
        Ok(sender)
    }

    pub async fn get(&mut self, path: &str) -> anyhow::Result<Response> {
        self.request(Method::GET, path, None).await
    }

    pub async fn post(&mut self, path: &str, body: Bytes) -> anyhow::Result<Response> {
        self.request(Method::POST, path, Some(body)).await
    }

    /// Sends one request and reads the whole response. On any error the connection is dropped,
    /// so a late response can never be taken for the answer to a later request.
    pub async fn request(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> anyhow::Result<Response> {
        let timeout = self.timeout;
        let result = tokio::time::timeout(timeout, self.request_inner(method, path, body)).await;
        match result {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(err)) => {
                self.sender = None;
                Err(err)
            }
            Err(_) => {
                self.sender = None;
                Err(anyhow!("no response within {timeout:?}"))
            }
        }
    }

    /// Opens a live stream (`Accept: text/event-stream`) on a connection of its own; answers
    /// its body, to be read frame by frame, and the connection's sender (keep it while reading).
    pub async fn open_stream(
        &self,
        path: &str,
    ) -> anyhow::Result<(hyper::body::Incoming, SendRequest<Full<Bytes>>)> {
        let mut sender = self.connect().await?;
        sender.ready().await?;
        let request = Request::builder()
            .method(Method::GET)
            .uri(path)
            .header(HOST, self.target.host.clone())
            .header("accept", "text/event-stream")
            .body(Full::new(Bytes::new()))?;
        let response = sender.send_request(request).await?;
        if response.status().as_u16() != 200 {
            bail!("stream {path} answered {}", response.status());
        }
        Ok((response.into_body(), sender))
    }

    async fn request_inner(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> anyhow::Result<Response> {
        if self.sender.as_ref().is_none_or(|s| s.is_closed()) {
            self.sender = Some(self.connect().await?);
        }
        let sender = self.sender.as_mut().expect("connected above");
        sender.ready().await?;
        let mut builder = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, self.target.host.clone());
        if let Some(authorization) = &self.target.authorization {
            builder = builder.header(AUTHORIZATION, authorization.clone());
        }
        if body.is_some() {
            builder = builder.header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        let request = builder.body(Full::new(body.unwrap_or_default()))?;
        let response = sender.send_request(request).await?;
        let status = response.status().as_u16();
        let replayed = response
            .headers()
            .get("idempotent-replayed")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true"));
        let body = response.into_body().collect().await?.to_bytes();
        Ok(Response {
            status,
            replayed,
            body,
        })
    }
}

/// Percent-encodes a query value (cursors are opaque: encode everything but unreserved bytes).
pub fn encode_query(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        let t = Target::parse("http://127.0.0.1:3000").unwrap();
        assert_eq!(t.addr.port(), 3000);
        assert_eq!(t.host, "127.0.0.1:3000");
        let t = Target::parse("http://127.0.0.1:8080/").unwrap();
        assert_eq!(t.addr.port(), 8080);
        let t = Target::parse("http://127.0.0.1").unwrap();
        assert_eq!(t.addr.port(), 80);
        assert!(Target::parse("https://127.0.0.1").is_err());
    }

    #[test]
    fn encodes_query_values() {
        assert_eq!(encode_query("abc-_.~9"), "abc-_.~9");
        assert_eq!(encode_query("a+b/c="), "a%2Bb%2Fc%3D");
    }
}
