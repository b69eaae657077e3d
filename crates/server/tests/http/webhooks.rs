//! Webhook endpoints under `/admin/webhooks` (SPEC "Webhooks"): registered with a secret shown
//! once, listed, read, changed, rotated and deleted by the admin key; every bad request is a
//! 400 naming its field and stores nothing. Who may call them is in `access`; the document in
//! `contract`.

use crate::common;

use base64::Engine;
use common::{Api, Reply, TestApp};
use reqwest::Method;
use serde_json::{Value, json};

const URL: &str = "https://hooks.example.com/calls";

async fn send_json(api: &Api, method: Method, path: &str, body: &Value) -> Reply {
    api.send(api.raw(method, path, Some("application/json"), body.to_string()))
        .await
}

/// The bytes of a `whsec_` secret.
fn secret_bytes(secret: &Value) -> Vec<u8> {
    let text = secret.as_str().expect("a secret");
    let encoded = text.strip_prefix("whsec_").expect("whsec_ prefix");
    base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .expect("base64")
}

fn assert_no_secret(endpoint: &Value) {
    assert!(endpoint.get("secret").is_none(), "{endpoint}");
}

#[tokio::test]
async fn endpoints_are_registered_listed_changed_rotated_and_deleted() {
    let app = TestApp::spawn_with_keys(&[]).await;
    app.mint_key("acme", &["read"]).await;
    let admin = app.admin();

    let body = json!({"project": "acme", "url": URL, "events": ["session.completed", "event.appended", "session.completed"], "description": "post-call jobs"});
    let reply = admin.post_json("/admin/webhooks", &body).await;
    let created = reply.expect(201);
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(
        reply.header("location").as_deref(),
        Some(format!("/admin/webhooks/{id}").as_str())
    );
    assert!(
        id.starts_with("wh_") && id.len() == 19,
        "{id}: wh_ + 16 hex digits"
    );
    assert_eq!(secret_bytes(&created["secret"]).len(), 32);
    assert_eq!(created["project"], "acme");
    assert_eq!(created["url"], URL);
    assert_eq!(
        created["events"],
        json!(["session.completed", "event.appended"]),
        "each type once, in the documented order"
    );
    assert_eq!(created["description"], "post-call jobs");
    assert_eq!(created["enabled"], true);
    assert_eq!(created["createdAt"], created["updatedAt"]);

    let read = admin
        .get(&format!("/admin/webhooks/{id}"))
        .await
        .expect(200);
    assert_no_secret(&read);
    let mut without_secret = created.clone();
    without_secret.as_object_mut().unwrap().remove("secret");
    assert_eq!(read, without_secret);
    let list = admin.get("/admin/webhooks?project=acme").await.expect(200);
    assert_eq!(list, json!({"data": [without_secret]}));

    // A second one, listed after the first; another project's list is empty.
    let second = admin
        .post_json(
            "/admin/webhooks",
            &json!({"project": "acme", "url": "https://other.example.com/", "events": ["session.erased"]}),
        )
        .await
        .expect(201);
    assert_eq!(second["description"], Value::Null);
    let list = admin.get("/admin/webhooks?project=acme").await.expect(200);
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [id.as_str(), second["id"].as_str().unwrap()]);
    app.mint_key("globex", &["read"]).await;
    assert_eq!(
        admin
            .get("/admin/webhooks?project=globex")
            .await
            .expect(200),
        json!({"data": []})
    );

    // A patch sets what it names and nothing else; null removes the description.
    let path = format!("/admin/webhooks/{id}");
    let patched = send_json(
        &admin,
        Method::PATCH,
        &path,
        &json!({"enabled": false, "description": null}),
    )
    .await
    .expect(200);
    assert_no_secret(&patched);
    assert_eq!(patched["enabled"], false);
    assert_eq!(patched["description"], Value::Null);
    assert_eq!(patched["url"], URL);
    assert_eq!(patched["events"], created["events"]);
    assert_eq!(patched["createdAt"], created["createdAt"]);
    let patched = send_json(
        &admin,
        Method::PATCH,
        &path,
        &json!({"url": "https://new.example.com/hook", "events": ["event.redacted"]}),
    )
    .await
    .expect(200);
    assert_eq!(patched["url"], "https://new.example.com/hook");
    assert_eq!(patched["events"], json!(["event.redacted"]));
    assert_eq!(patched["enabled"], false, "kept");
    assert_eq!(
        send_json(&admin, Method::PATCH, &path, &json!({}))
            .await
            .expect(200)["url"],
        "https://new.example.com/hook",
        "an empty patch changes nothing"
    );
    assert_eq!(admin.get(&path).await.expect(200)["enabled"], false);

    // Rotation: a new secret, shown once.
    let rotated = admin
        .send(admin.request(Method::POST, &format!("{path}/rotate-secret")))
        .await
        .expect(200);
    assert_eq!(secret_bytes(&rotated["secret"]).len(), 32);
    assert_ne!(rotated["secret"], created["secret"]);
    assert_eq!(rotated["id"], created["id"]);
    assert_no_secret(&admin.get(&path).await.expect(200));

    // Deletion: gone for every operation.
    let deleted = admin.send(admin.request(Method::DELETE, &path)).await;
    assert_eq!(deleted.status, 204, "{}", deleted.text());
    assert!(deleted.body.is_empty());
    admin.get(&path).await.problem(404, "not-found");
    for (method, path) in [
        (Method::DELETE, path.clone()),
        (Method::PATCH, path.clone()),
        (Method::POST, format!("{path}/rotate-secret")),
    ] {
        send_json(&admin, method, &path, &json!({}))
            .await
            .problem(404, "not-found");
    }
    let list = admin.get("/admin/webhooks?project=acme").await.expect(200);
    assert_eq!(list["data"].as_array().unwrap().len(), 1, "{list}");
}

#[tokio::test]
async fn bad_webhook_requests_are_400_naming_the_field_and_store_nothing() {
    let app = TestApp::spawn_with_keys(&[]).await;
    app.mint_key("acme", &["read"]).await;
    let admin = app.admin();
    let valid = json!({"project": "acme", "url": URL, "events": ["session.completed"]});
    let with = |key: &str, value: Value| {
        let mut body = valid.clone();
        body[key] = value;
        body
    };
    let without = |key: &str| {
        let mut body = valid.clone();
        body.as_object_mut().unwrap().remove(key);
        body
    };
    let long = "d".repeat(257);
    let create_cases = [
        (without("project"), "project"),
        (with("project", json!("a b")), "project"),
        (with("project", json!("nobody")), "project"),
        (without("url"), "url"),
        (with("url", json!(5)), "url"),
        (with("url", json!("not a url")), "url"),
        (with("url", json!("http://hooks.example.com/")), "url"),
        (with("url", json!("ftp://hooks.example.com/")), "url"),
        (with("url", json!("https://127.0.0.1/hook")), "url"),
        (with("url", json!("https://10.1.2.3/hook")), "url"),
        (with("url", json!("https://169.254.169.254/latest")), "url"),
        (with("url", json!("https://[::1]/hook")), "url"),
        (with("url", json!("https://[::ffff:192.168.0.1]/")), "url"),
        (with("url", json!("https://localhost/hook")), "url"),
        (with("url", json!("https://2130706433/")), "url"),
        (
            with("url", json!("https://user:pw@hooks.example.com/")),
            "url",
        ),
        (with("url", json!("https://hooks.example.com/#top")), "url"),
        (without("events"), "events"),
        (with("events", json!([])), "events"),
        (with("events", json!(["session.started"])), "events"),
        (with("events", json!("session.completed")), "events"),
        (with("events", json!([1])), "events"),
        (with("description", json!("")), "description"),
        (with("description", json!(long)), "description"),
        (with("description", json!("a\u{7}b")), "description"),
        (with("description", json!(7)), "description"),
        (with("secret", json!("whsec_mine")), "secret"),
        (with("enabled", json!(false)), "enabled"),
    ];
    for (body, field) in &create_cases {
        admin
            .post_json("/admin/webhooks", body)
            .await
            .invalid_field(field);
    }
    admin
        .post_raw("/admin/webhooks", Some("application/json"), "{nope")
        .await
        .problem(400, "malformed-json");
    admin
        .post_raw("/admin/webhooks", Some("text/plain"), valid.to_string())
        .await
        .problem(415, "unsupported-media-type");
    admin
        .post_raw("/admin/webhooks", Some("application/json"), "")
        .await
        .problem(400, "malformed-json");

    // Changes of an existing endpoint: refused whole, the endpoint as it was.
    let endpoint = admin.post_json("/admin/webhooks", &valid).await.expect(201);
    let path = format!("/admin/webhooks/{}", endpoint["id"].as_str().unwrap());
    for (body, field) in [
        (json!({"url": "http://hooks.example.com/"}), "url"),
        (json!({"url": "https://192.168.1.1/"}), "url"),
        (json!({"url": null}), "url"),
        (json!({"events": []}), "events"),
        (json!({"events": null}), "events"),
        (json!({"enabled": "yes"}), "enabled"),
        (json!({"enabled": null}), "enabled"),
        (json!({"description": ""}), "description"),
        (json!({"project": "other"}), "project"),
        (json!({"enabled": false, "events": ["nope"]}), "events"),
        (json!([]), "body"),
    ] {
        send_json(&admin, Method::PATCH, &path, &body)
            .await
            .invalid_field(field);
    }
    let mut stored = endpoint.clone();
    stored.as_object_mut().unwrap().remove("secret");
    assert_eq!(admin.get(&path).await.expect(200), stored, "unchanged");

    // Ids and queries.
    for path in [
        "/admin/webhooks/nope",
        "/admin/webhooks/WH_0123456789abcdef",
        "/admin/webhooks/wh_0123456789ABCDEF",
    ] {
        admin.get(path).await.invalid_field("webhookId");
    }
    admin
        .get("/admin/webhooks/wh_0123456789abcdef")
        .await
        .problem(404, "not-found");
    for (query, field) in [
        ("", "project"),
        ("?project=a&project=b", "project"),
        ("?project=a%20b", "project"),
        ("?project=acme&colour=1", "colour"),
    ] {
        admin
            .get(&format!("/admin/webhooks{query}"))
            .await
            .invalid_field(field);
    }
    let list = admin.get("/admin/webhooks?project=acme").await.expect(200);
    assert_eq!(list, json!({"data": [stored]}), "only the valid one stored");
}

/// `WEBHOOK_ALLOW_PRIVATE=true` (tests, local development) admits internal addresses and
/// `http`; the rest of the rules stay.
#[tokio::test]
async fn internal_destinations_are_admitted_only_when_the_service_allows_them() {
    let app = TestApp::spawn_with_keys(&[("WEBHOOK_ALLOW_PRIVATE", "true")]).await;
    app.mint_key("acme", &["read"]).await;
    let admin = app.admin();
    for url in [
        "http://127.0.0.1:9/hook",
        "https://10.1.2.3/hook",
        "http://localhost:8080/",
    ] {
        let created = admin
            .post_json(
                "/admin/webhooks",
                &json!({"project": "acme", "url": url, "events": ["session.created"]}),
            )
            .await
            .expect(201);
        assert_eq!(created["url"], url);
    }
    for url in ["ftp://127.0.0.1/", "http://user:pw@127.0.0.1/"] {
        admin
            .post_json(
                "/admin/webhooks",
                &json!({"project": "acme", "url": url, "events": ["session.created"]}),
            )
            .await
            .invalid_field("url");
    }
}
