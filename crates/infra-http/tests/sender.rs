//! The webhook sender against real sockets: internal destinations refused at connection time
//! (an address in the URL, or a name resolving to one) without connecting, unless allowed; no
//! redirect followed; a reply's status and `Retry-After`; a receiver that never answers is a
//! timeout; a huge reply is not read whole.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use domain::webhook::{AttemptResult, OutgoingWebhook};
use domain::{Destinations, WebhookSender, WebhookUrl};
use infra_http::HttpSender;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A listener answering every connection with `reply` (after `delay`), counting connections.
async fn listener(reply: Vec<u8>, delay: Duration) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = connections.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            let reply = reply.clone();
            tokio::spawn(async move {
                let mut buffer = [0_u8; 4096];
                let _ = stream.read(&mut buffer).await;
                tokio::time::sleep(delay).await;
                let _ = stream.write_all(&reply).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    (port, connections)
}

fn request(url: &str) -> OutgoingWebhook {
    OutgoingWebhook {
        url: WebhookUrl::parse(url, Destinations::AllowPrivate).unwrap(),
        headers: vec![("content-type", "application/json".into())],
        body: b"{}".to_vec(),
    }
}

fn sender(destinations: Destinations) -> HttpSender {
    HttpSender::new(destinations, Duration::from_secs(1)).unwrap()
}

const OK: &[u8] = b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n";

#[tokio::test]
async fn internal_destinations_are_refused_without_connecting() {
    let (port, connections) = listener(OK.to_vec(), Duration::ZERO).await;
    let public_only = sender(Destinations::PublicOnly);
    for url in [
        format!("http://127.0.0.1:{port}/hook"),
        format!("http://localhost:{port}/hook"),
        format!("http://[::ffff:127.0.0.1]:{port}/hook"),
    ] {
        let reply = public_only.send(request(&url)).await;
        assert_eq!(
            reply.result,
            AttemptResult::Error("destination refused: internal address".into()),
            "{url}"
        );
    }
    assert_eq!(connections.load(Ordering::SeqCst), 0, "never connected");
    // Allowed (WEBHOOK_ALLOW_PRIVATE): the same destination answers.
    let reply = sender(Destinations::AllowPrivate)
        .send(request(&format!("http://localhost:{port}/hook")))
        .await;
    assert_eq!(reply.result, AttemptResult::Status(204));
    assert_eq!(connections.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_redirect_is_an_answer_not_followed() {
    let (target, followed) = listener(OK.to_vec(), Duration::ZERO).await;
    let redirect = format!(
        "HTTP/1.1 307 Temporary Redirect\r\nlocation: http://127.0.0.1:{target}/\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    );
    let (port, _) = listener(redirect.into_bytes(), Duration::ZERO).await;
    let reply = sender(Destinations::AllowPrivate)
        .send(request(&format!("http://127.0.0.1:{port}/")))
        .await;
    assert_eq!(reply.result, AttemptResult::Status(307));
    assert_eq!(followed.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn retry_after_is_read_and_a_silent_receiver_times_out() {
    let busy =
        b"HTTP/1.1 503 Busy\r\nretry-after: 7\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
    let (port, _) = listener(busy.to_vec(), Duration::ZERO).await;
    let reply = sender(Destinations::AllowPrivate)
        .send(request(&format!("http://127.0.0.1:{port}/")))
        .await;
    assert_eq!(
        (reply.result, reply.retry_after_ms),
        (AttemptResult::Status(503), Some(7_000))
    );
    let (silent, _) = listener(OK.to_vec(), Duration::from_secs(5)).await;
    let started = Instant::now();
    let reply = sender(Destinations::AllowPrivate)
        .send(request(&format!("http://127.0.0.1:{silent}/")))
        .await;
    assert_eq!(reply.result, AttemptResult::Error("timeout".into()));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

/// `Retry-After` as an HTTP date (RFC 9110 §10.2.3: `HTTP-date / delay-seconds`): the wait
/// until that time; a date already past is no wait; anything else is no `Retry-After`.
#[tokio::test]
async fn retry_after_as_an_http_date_is_the_time_until_it() {
    let in_30_s = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(30));
    // The wait expected, in milliseconds (`None`: no `Retry-After`).
    let cases = [
        // The date has a resolution of one second: 29 to 30 seconds from now.
        (in_30_s, Some(28_500..=30_000)),
        ("Sun, 06 Nov 1994 08:49:37 GMT".into(), Some(0..=0)),
        ("tomorrow".into(), None),
        ("-5".into(), None),
    ];
    for (value, expected) in cases {
        let busy = format!(
            "HTTP/1.1 429 Slow Down\r\nretry-after: {value}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        );
        let (port, _) = listener(busy.into_bytes(), Duration::ZERO).await;
        let reply = sender(Destinations::AllowPrivate)
            .send(request(&format!("http://127.0.0.1:{port}/")))
            .await;
        assert_eq!(reply.result, AttemptResult::Status(429));
        let as_expected = match (&expected, reply.retry_after_ms) {
            (Some(wait), Some(ms)) => wait.contains(&ms),
            (None, None) => true,
            _ => false,
        };
        assert!(as_expected, "{value}: {:?}", reply.retry_after_ms);
    }
}

#[tokio::test]
async fn a_huge_reply_is_not_read_whole() {
    let mut huge = b"HTTP/1.1 200 OK\r\ncontent-length: 104857600\r\n\r\n".to_vec();
    huge.extend(std::iter::repeat_n(b'x', 1024 * 1024));
    let (port, _) = listener(huge, Duration::ZERO).await;
    let reply = sender(Destinations::AllowPrivate)
        .send(request(&format!("http://127.0.0.1:{port}/")))
        .await;
    // 100 MiB announced, 1 MiB sent, the connection then held open by nobody: the sender stops
    // after 64 KiB and answers with the status.
    assert_eq!(reply.result, AttemptResult::Status(200));
}
