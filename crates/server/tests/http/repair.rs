//! Seeing and repairing deliveries (SPEC "Webhooks"): an endpoint's deliveries listed with
//! their attempts, a message sent again, every message since a time sent again, an endpoint
//! failing every attempt for `WEBHOOK_DISABLE_AFTER` disabled, `webhook_backlog` — on a
//! receiver on a real port, and the new routes' bad requests refused, storing nothing.

use std::time::Duration;

use serde_json::{Value, json};

use super::deliveries::{SETTINGS, register, until_disabled};
use crate::common::receiver::{Receiver, answer};
use crate::common::{self, TestApp};

/// Every delivery of `endpoint` (with `query`), newest first, read in pages of `limit`.
async fn list_all(app: &TestApp, endpoint: &str, query: &str, limit: u32) -> Vec<Value> {
    let admin = app.admin();
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let mut path = format!("/admin/webhooks/{endpoint}/deliveries?limit={limit}{query}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = admin.get(&path).await.expect(200);
        let data = page["data"].as_array().unwrap();
        assert!(data.len() <= limit as usize, "{page}");
        all.extend(data.iter().cloned());
        assert_eq!(page["hasMore"], page["nextCursor"].is_string(), "{page}");
        match page["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return all,
        }
    }
    panic!("the pages of {endpoint} never end")
}

/// Waits (up to 10 s) until `endpoint` has no pending delivery: what the receiver got is
/// stored (a receiver sees a message before its attempt is settled).
async fn until_settled(app: &TestApp, endpoint: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !list_all(app, endpoint, "&status=pending", 50)
        .await
        .is_empty()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "{endpoint}: deliveries still pending"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `type eventId: status (codes of the attempts)` of each delivery.
fn shown(deliveries: &[Value]) -> Vec<String> {
    deliveries
        .iter()
        .map(|d| {
            let codes: Vec<String> = d["attempts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["statusCode"].to_string())
                .collect();
            let what = match d["eventId"].as_str() {
                Some(e) => format!("{} {e}", d["type"].as_str().unwrap()),
                None => d["type"].as_str().unwrap().to_owned(),
            };
            format!(
                "{what}: {} ({})",
                d["status"].as_str().unwrap(),
                codes.join(",")
            )
        })
        .collect()
}

#[tokio::test]
async fn deliveries_are_listed_with_their_attempts_and_sent_again_on_request() {
    // s1's creation fails every attempt (500; the schedule allows three), the rest succeed;
    // once sent again, everything succeeds.
    let receiver = Receiver::start(|r, before| {
        let created = r.body["type"] == "session.created";
        answer(if created && before < 3 { 500 } else { 200 })
    })
    .await;
    let app = TestApp::spawn_with_keys(&SETTINGS).await;
    let key = app.mint_key("acme", &["read", "write"]).await;
    let (hook, _) = register(&app, &receiver.url, &["session.created", "event.appended"]).await;
    key.api
        .create_session(&json!({"sessionId": "s1"}))
        .await
        .expect(201);
    key.api.append("s1", &common::event("e1")).await.expect(201);
    let got = receiver.until("3 + 1 attempts", |got| got.len() >= 4).await;
    let created_id = got[0].id().to_owned();
    let appended_id = got[3].id().to_owned();
    assert_eq!(
        got[3].described(),
        "s1 event.appended e1",
        "after the failed head"
    );

    until_settled(&app, &hook).await;
    for limit in [1, 2, 50] {
        let listed = list_all(&app, &hook, "", limit).await;
        assert_eq!(
            shown(&listed),
            [
                "event.appended e1: delivered (200)",
                "session.created: failed (500,500,500)",
            ],
            "pages of {limit}"
        );
    }
    let listed = list_all(&app, &hook, "", 50).await;
    let (appended, created) = (&listed[0], &listed[1]);
    assert_eq!(
        appended["messageId"],
        appended_id.as_str(),
        "the webhook-id"
    );
    assert_eq!(created["messageId"], created_id.as_str());
    assert_eq!(created["sessionId"], "s1");
    assert_eq!(created["eventId"], Value::Null);
    assert_eq!(created["nextAttemptAt"], Value::Null, "failed: never again");
    let attempt = &created["attempts"][0];
    assert_eq!(attempt["error"], Value::Null);
    assert!(attempt["durationMs"].as_u64().is_some(), "{attempt}");
    assert!(attempt["at"].as_str().unwrap().ends_with('Z'), "{attempt}");
    assert!(created["recordedAt"].as_str().unwrap() <= attempt["at"].as_str().unwrap());
    for (status, expected) in [("failed", 1), ("delivered", 1), ("pending", 0)] {
        let only = list_all(&app, &hook, &format!("&status={status}"), 1).await;
        assert_eq!(only.len(), expected, "{status}");
        assert!(only.iter().all(|d| d["status"] == status));
    }

    // One message again: the same webhook-id, now delivered.
    let admin = app.admin();
    let resend = format!("/admin/webhooks/{hook}/deliveries/{created_id}/resend");
    let answered = admin.post_json(&resend, &json!(null)).await.expect(202);
    assert_eq!(answered, json!({"resent": 1}));
    let got = receiver
        .until("the resent message", |got| got.len() >= 5)
        .await;
    assert_eq!(got[4].id(), created_id, "the same webhook-id");
    // The same message; its session as it stands now (active, one event).
    assert_eq!(got[4].body["type"], got[0].body["type"]);
    assert_eq!(got[4].body["timestamp"], got[0].body["timestamp"]);
    assert_eq!(got[4].body["data"]["session"]["eventCount"], 1);
    until_settled(&app, &hook).await;
    let again = list_all(&app, &hook, "&status=delivered", 50).await;
    assert_eq!(
        shown(&again),
        [
            "event.appended e1: delivered (200)",
            "session.created: delivered (500,500,500,200)",
        ]
    );

    // Everything since s1's creation again, in the session's order.
    let since = created["recordedAt"].clone();
    let replay = format!("/admin/webhooks/{hook}/replay");
    let answered = admin
        .post_json(&replay, &json!({ "since": since }))
        .await
        .expect(202);
    assert_eq!(answered, json!({"resent": 2}));
    let got = receiver.until("the replay", |got| got.len() >= 7).await;
    assert_eq!(
        [got[5].id(), got[6].id()],
        [created_id.as_str(), appended_id.as_str()],
        "replayed in order with their ids"
    );
    let later = json!({ "since": "2999-01-01T00:00:00Z" });
    assert_eq!(
        admin.post_json(&replay, &later).await.expect(202),
        json!({"resent": 0})
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.got().len(), 7, "nothing more");

    // Unknown message or endpoint: 404, nothing sent.
    let unknown = format!("/admin/webhooks/{hook}/deliveries/msg_00000000000000ff/resend");
    admin
        .post_json(&unknown, &json!(null))
        .await
        .problem(404, "not-found");
    let nobody = "/admin/webhooks/wh_0123456789abcdef";
    for (path, body) in [
        (
            format!("{nobody}/deliveries/{created_id}/resend"),
            json!(null),
        ),
        (format!("{nobody}/replay"), json!({ "since": since })),
    ] {
        admin
            .post_json(&path, &body)
            .await
            .problem(404, "not-found");
    }
    admin
        .get(&format!("{nobody}/deliveries"))
        .await
        .problem(404, "not-found");
}

#[tokio::test]
async fn bad_delivery_requests_are_400_and_change_nothing() {
    let receiver = Receiver::start(|_, _| answer(200)).await;
    let app = TestApp::spawn_with_keys(&SETTINGS).await;
    let key = app.mint_key("acme", &["read", "write"]).await;
    let (hook, _) = register(&app, &receiver.url, &["session.created"]).await;
    let (other, _) = register(&app, &receiver.url, &["session.created"]).await;
    for s in ["s1", "s2", "s3"] {
        key.api
            .create_session(&json!({ "sessionId": s }))
            .await
            .expect(201);
    }
    receiver
        .until("3 + 3 deliveries", |got| got.len() >= 6)
        .await;
    let admin = app.admin();
    let path = format!("/admin/webhooks/{hook}/deliveries");
    let first = admin.get(&format!("{path}?limit=1")).await.expect(200);
    let cursor = first["nextCursor"].as_str().unwrap().to_owned();
    let mut tampered = cursor.clone().into_bytes();
    tampered[10] = if tampered[10] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    for (query, field) in [
        ("?status=lost", "status"),
        ("?status=", "status"),
        ("?limit=0", "limit"),
        ("?limit=1001", "limit"),
        ("?limit=x", "limit"),
        ("?order=asc", "order"),
        ("?colour=1", "colour"),
        ("?status=failed&status=failed", "status"),
    ] {
        admin
            .get(&format!("{path}{query}"))
            .await
            .invalid_field(field);
    }
    // A cursor of this endpoint but another status, of another endpoint, altered, or of
    // another kind of walk.
    let other_path = format!("/admin/webhooks/{other}/deliveries");
    for url in [
        format!("{path}?status=pending&cursor={cursor}"),
        format!("{other_path}?cursor={cursor}"),
        format!("{path}?cursor={tampered}"),
        format!("{path}?cursor=abc"),
    ] {
        admin.get(&url).await.problem(400, "invalid-cursor");
    }
    for id in [
        "nope",
        "msg_",
        "msg_XYZ0000000000000",
        "MSG_0000000000000001",
    ] {
        admin
            .post_json(&format!("{path}/{id}/resend"), &json!(null))
            .await
            .invalid_field("messageId");
    }
    admin
        .get("/admin/webhooks/wh_nope/deliveries")
        .await
        .invalid_field("webhookId");
    let replay = format!("/admin/webhooks/{hook}/replay");
    for (body, field) in [
        (json!({}), "since"),
        (json!({ "since": null }), "since"),
        (json!({ "since": "yesterday" }), "since"),
        (json!({ "since": 5 }), "since"),
        (
            json!({ "since": "2026-01-01T00:00:00Z", "until": "x" }),
            "until",
        ),
        (json!([]), "body"),
    ] {
        admin.post_json(&replay, &body).await.invalid_field(field);
    }
    admin
        .post_raw(&replay, Some("application/json"), "{nope")
        .await
        .problem(400, "malformed-json");
    admin
        .post_raw(&replay, Some("text/plain"), "{}")
        .await
        .problem(415, "unsupported-media-type");
    // Nothing was sent again.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.got().len(), 6);
    let listed = list_all(&app, &hook, "", 50).await;
    assert!(
        listed
            .iter()
            .all(|d| d["attempts"].as_array().unwrap().len() == 1)
    );
}

#[tokio::test]
async fn an_endpoint_failing_every_attempt_for_disable_after_is_disabled() {
    let receiver = Receiver::start(|_, _| answer(500)).await;
    let app = TestApp::spawn_with_keys(&[
        ("WEBHOOK_ALLOW_PRIVATE", "true"),
        (
            "WEBHOOK_RETRY_SCHEDULE",
            "200ms,200ms,200ms,200ms,200ms,200ms,200ms,200ms,200ms,200ms",
        ),
        ("WEBHOOK_DISABLE_AFTER", "1s"),
    ])
    .await;
    let key = app.mint_key("acme", &["read", "write"]).await;
    let (hook, _) = register(&app, &receiver.url, &["session.created"]).await;
    key.api
        .create_session(&json!({"sessionId": "s1"}))
        .await
        .expect(201);
    until_disabled(&app, &hook, "never disabled").await;
    let got = receiver.got();
    let failing_for = got.last().unwrap().at - got[0].at;
    assert!(
        failing_for >= Duration::from_millis(950) && got.len() >= 4,
        "disabled after {failing_for:?} and {} attempts, not before WEBHOOK_DISABLE_AFTER",
        got.len()
    );
    assert!(
        got.len() <= 10,
        "disabled once the second passed: {}",
        got.len()
    );
    // Disabled: its message waits, pending, counted by webhook_backlog; nothing more is sent.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    assert_eq!(receiver.got().len(), got.len(), "nothing more sent");
    let metrics = app.get("/metrics").await.text();
    assert!(
        metrics.lines().any(|l| l == "webhook_backlog 1"),
        "webhook_backlog 1 in\n{metrics}"
    );
    let pending = list_all(&app, &hook, "&status=pending", 50).await;
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0]["attempts"].as_array().unwrap().len(), got.len());
}
