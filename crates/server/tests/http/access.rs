//! Access control in keys mode (`ADMIN_KEY` set): credentials before anything else, scopes,
//! the admin key's and project keys' limits, isolation between projects, key management.
//!
//! [`OPERATIONS`] is the table of every protected operation: a new endpoint is one more row
//! (method, path with `{s}`/`{e}` for the session and event, body, the scope it needs, and
//! what it answers for a session that does not exist), and every test here covers it.

use crate::common;

use std::time::Duration;

use common::{Api, Reply, TestApp, event};
use reqwest::Method;
use serde_json::{Value, json};

/// One protected operation.
struct Operation {
    method: Method,
    /// `{s}`: a session id, `{e}`: an event id.
    path: &'static str,
    body: Option<fn() -> Value>,
    scope: &'static str,
    /// Another representation of the resource (`Accept`), for streams and exports.
    accept: Option<&'static str>,
}

const fn op(
    method: Method,
    path: &'static str,
    body: Option<fn() -> Value>,
    scope: &'static str,
) -> Operation {
    Operation {
        method,
        path,
        body,
        scope,
        accept: None,
    }
}

/// `GET path` as another representation: `text/event-stream` or `application/x-ndjson`.
const fn get_as(path: &'static str, accept: &'static str) -> Operation {
    Operation {
        method: Method::GET,
        path,
        body: None,
        scope: "read",
        accept: Some(accept),
    }
}

/// Every operation on sessions and events: the table to extend with each new endpoint.
const OPERATIONS: &[Operation] = &[
    op(Method::GET, "/sessions/{s}", None, "read"),
    op(Method::GET, "/sessions/{s}/events", None, "read"),
    op(Method::GET, "/sessions/{s}/events/{e}", None, "read"),
    get_as("/sessions/{s}/events", "text/event-stream"),
    get_as("/sessions/{s}/events", "application/x-ndjson"),
    op(Method::GET, "/sessions", None, "read"),
    op(
        Method::POST,
        "/sessions/{s}/events",
        Some(|| event("new-event")),
        "write",
    ),
    op(
        Method::POST,
        "/sessions/{s}/events:batch",
        Some(|| json!({"events": [event("new-batch-event"), event("new-event")]})),
        "write",
    ),
    op(
        Method::POST,
        "/sessions/{s}/complete",
        Some(|| json!({"status": "failed"})),
        "write",
    ),
    op(
        Method::POST,
        "/sessions/{s}/events/{e}/redact",
        None,
        "delete",
    ),
    op(Method::DELETE, "/sessions/{s}", None, "delete"),
    // Last: creating `{s}` in another project makes it exist there.
    op(
        Method::POST,
        "/sessions",
        Some(|| json!({"sessionId": "{s}", "metadata": {"owner": "other"}})),
        "write",
    ),
];

impl Operation {
    fn path(&self, session: &str, event: &str) -> String {
        self.path.replace("{s}", session).replace("{e}", event)
    }

    fn body(&self, session: &str) -> Option<Value> {
        self.body.map(|make| {
            let text = make().to_string().replace("{s}", session);
            serde_json::from_str(&text).expect("a JSON body")
        })
    }

    fn describe(&self) -> String {
        match self.accept {
            Some(accept) => format!("{} {} as {accept}", self.method, self.path),
            None => format!("{} {}", self.method, self.path),
        }
    }

    /// Sends the request; a live stream that opens (200) is answered with its head only (it
    /// would not end), anything else with its whole body.
    async fn send(&self, api: &Api, session: &str, event: &str) -> Reply {
        let mut request = api.request(self.method.clone(), &self.path(session, event));
        if let Some(body) = self.body(session) {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        if let Some(accept) = self.accept {
            request = request.header("accept", accept);
        }
        send_for(api, request, self.accept).await
    }
}

/// Sends `request` made with `accept`: a live stream that opens (200) is answered with its head
/// only (it would not end), anything else with its whole body.
async fn send_for(api: &Api, request: reqwest::RequestBuilder, accept: Option<&str>) -> Reply {
    if accept != Some("text/event-stream") {
        return api.send(request).await;
    }
    let response = request.send().await.expect("stream request");
    let (status, headers) = (response.status().as_u16(), response.headers().clone());
    let body = if status == 200 {
        Vec::new()
    } else {
        response.bytes().await.unwrap().to_vec()
    };
    Reply {
        status,
        headers,
        body,
    }
}

/// A 401 as SPEC says: `unauthorized`, with `WWW-Authenticate: Bearer`.
fn assert_unauthorized(reply: &Reply, what: &str) {
    assert_eq!(reply.status, 401, "{what}: {}", reply.text());
    reply.problem(401, "unauthorized");
    assert_eq!(
        reply.header("www-authenticate").as_deref(),
        Some("Bearer"),
        "{what}"
    );
}

/// A session of `api`'s project with one event `e1`; returns its id.
async fn session_with_event(api: &Api) -> String {
    let session = api.new_session().await;
    api.append(&session, &event("e1")).await.expect(201);
    session
}

/// RFC 3339 for `seconds` from now.
fn later(seconds: i64) -> String {
    let now = domain::Timestamp::now().millis();
    domain::Timestamp::from_millis(now + seconds * 1000)
        .expect("a time in range")
        .to_rfc3339()
}

#[tokio::test]
async fn bad_credentials_are_401_before_anything_else() {
    let app = TestApp::spawn_with_keys(&[]).await;
    let owner = app.mint_key("acme", &["read", "write", "delete"]).await;
    let session = session_with_event(&owner.api).await;

    let revoked = app.mint_key("acme", &["read", "write", "delete"]).await;
    revoked
        .api
        .get(&format!("/sessions/{session}"))
        .await
        .expect(200);
    app.admin()
        .send(
            app.admin()
                .request(Method::DELETE, &format!("/admin/keys/{}", revoked.id)),
        )
        .await;
    let expiring = app
        .mint_key_with(json!({"project": "acme", "scopes": ["read", "write", "delete"], "expiresAt": later(1)}))
        .await;
    expiring
        .api
        .get(&format!("/sessions/{session}"))
        .await
        .expect(200);
    tokio::time::sleep(Duration::from_millis(2_100)).await;

    let (id, secret) = owner.key.split_once('.').unwrap();
    let unknown_id = format!("ak_{}.{secret}", "0".repeat(16));
    let wrong_secret = format!("{id}.{}", "0".repeat(64));
    let credentials: Vec<(&str, Option<String>)> = vec![
        ("no Authorization", None),
        ("another scheme", Some(format!("Basic {}", owner.key))),
        ("Bearer without a token", Some("Bearer ".into())),
        ("not a key", Some("Bearer hello".into())),
        (
            "a truncated key",
            Some(format!("Bearer {}", &owner.key[..40])),
        ),
        ("an unknown id", Some(format!("Bearer {unknown_id}"))),
        ("a wrong secret", Some(format!("Bearer {wrong_secret}"))),
        ("a revoked key", Some(format!("Bearer {}", revoked.key))),
        ("an expired key", Some(format!("Bearer {}", expiring.key))),
    ];
    for (what, header) in &credentials {
        let api = match header {
            Some(value) => app.api.with_header("authorization", value),
            None => app.api.clone(),
        };
        for operation in OPERATIONS {
            let reply = operation.send(&api, &session, "e1").await;
            assert_unauthorized(&reply, &format!("{what}: {}", operation.describe()));
        }
        // Whatever the path, method, body or session.
        for (method, path, body) in [
            (Method::GET, "/sessions/nope/nothing/here", ""),
            (Method::DELETE, "/sessions", ""),
            (Method::PUT, &*format!("/sessions/{session}"), "{}"),
            (Method::POST, "/sessions", "{not json"),
            (Method::POST, &*format!("/sessions/{session}/events"), "[]"),
            (Method::GET, "/sessions/..%2F", ""),
            (Method::GET, "/%73essions/x", ""),
        ] {
            let request = api
                .request(method.clone(), path)
                .header("content-type", "application/json")
                .body(body.to_owned());
            assert_unauthorized(
                &api.send(request).await,
                &format!("{what}: {method} {path}"),
            );
        }
    }
    // Nothing was written by any of them.
    let stored = owner.api.session(&session).await;
    assert_eq!(
        (stored["eventCount"].clone(), stored["status"].clone()),
        (json!(1), json!("active"))
    );
    // What needs no credentials still needs none.
    for path in [
        "/healthz",
        "/readyz",
        "/metrics",
        "/openapi.json",
        "/swagger-ui/",
    ] {
        assert_eq!(app.get(path).await.status, 200, "{path}");
    }
}

#[tokio::test]
async fn a_key_without_the_scope_is_403_and_with_it_is_admitted() {
    let app = TestApp::spawn_with_keys(&[]).await;
    let owner = app.mint_key("acme", &["read", "write", "delete"]).await;
    let all = ["read", "write", "delete"];
    for operation in OPERATIONS {
        let session = session_with_event(&owner.api).await;
        let others: Vec<&str> = all
            .iter()
            .copied()
            .filter(|s| *s != operation.scope)
            .collect();
        let lacking = app.mint_key("acme", &others).await;
        let reply = operation.send(&lacking.api, &session, "e1").await;
        let problem = reply.problem(403, "forbidden");
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains(operation.scope),
            "{problem}"
        );
        let only = app.mint_key("acme", &[operation.scope]).await;
        let reply = operation.send(&only.api, &session, "e1").await;
        assert!(
            reply.status < 400 || reply.status == 409,
            "{} with only {}: {}",
            operation.describe(),
            operation.scope,
            reply.text()
        );
    }
}

#[tokio::test]
async fn the_admin_key_cannot_touch_sessions_and_project_keys_cannot_touch_admin() {
    let app = TestApp::spawn_with_keys(&[]).await;
    let owner = app.mint_key("acme", &["read", "write", "delete"]).await;
    let session = session_with_event(&owner.api).await;
    let admin = app.admin();
    for operation in OPERATIONS {
        let reply = operation.send(&admin, &session, "e1").await;
        let problem = reply.problem(403, "forbidden");
        assert!(
            problem["detail"].as_str().unwrap().contains("admin key"),
            "{problem}"
        );
    }
    let webhook = register_webhook(&admin).await;
    let admin_routes = admin_routes(&owner.id, webhook["id"].as_str().unwrap());
    let unknown = app.api.with_header(
        "authorization",
        &format!("Bearer ak_{}.{}", "1".repeat(16), "2".repeat(64)),
    );
    for (method, path) in &admin_routes {
        let request = |api: &Api| {
            api.request(method.clone(), path)
                .header("content-type", "application/json")
                .body(json!({"project": "acme", "scopes": ["read"]}).to_string())
        };
        owner
            .api
            .send(request(&owner.api))
            .await
            .problem(403, "forbidden");
        // Unknown or missing credentials on /admin are 401, like everywhere.
        for api in [&app.api, &unknown] {
            assert_unauthorized(&api.send(request(api)).await, &format!("{method} {path}"));
        }
    }
    // The refused requests changed nothing.
    let stored = admin
        .get(&format!(
            "/admin/webhooks/{}",
            webhook["id"].as_str().unwrap()
        ))
        .await
        .expect(200);
    assert_eq!(stored["url"], webhook["url"]);
    assert_eq!(stored["updatedAt"], webhook["updatedAt"]);
    // The owner's key still works: the refused DELETE revoked nothing.
    owner
        .api
        .get(&format!("/sessions/{session}"))
        .await
        .expect(200);
}

#[tokio::test]
async fn another_projects_session_answers_exactly_as_an_absent_one() {
    let app = TestApp::spawn_with_keys(&[]).await;
    let a = app
        .mint_key("project-a", &["read", "write", "delete"])
        .await;
    let b = app
        .mint_key("project-b", &["read", "write", "delete"])
        .await;
    let session = a.api.new_session().await;
    let secret_payload =
        json!({"eventId": "e1", "type": "user_speech", "payload": {"text": "A's secret words"}});
    a.api.append(&session, &secret_payload).await.expect(201);
    let before = a.api.session(&session).await;
    for operation in OPERATIONS {
        let absent = common::unique("absent");
        let theirs = operation.send(&b.api, &session, "e1").await;
        let nothing = operation.send(&b.api, &absent, "e1").await;
        let what = operation.describe();
        assert_eq!(theirs.status, nothing.status, "{what}: {}", theirs.text());
        if theirs.status >= 400 {
            assert_eq!(theirs.json()["code"], nothing.json()["code"], "{what}");
        }
        assert!(
            !theirs.text().contains("secret words"),
            "{what}: {}",
            theirs.text()
        );
    }
    // Project A's session is as it was: B's writes went nowhere near it.
    assert_eq!(a.api.session(&session).await, before);
    let page = a.api.page(&session, "").await.expect(200);
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn keys_are_created_listed_and_revoked_by_the_admin() {
    let app = TestApp::spawn_with_keys(&[]).await;
    let admin = app.admin();
    let expires = later(3600);
    let reply = admin
        .post_json(
            "/admin/keys",
            &json!({"project": "acme", "scopes": ["write", "read"], "name": "pipeline eu-1", "expiresAt": expires}),
        )
        .await;
    let created = reply.expect(201);
    let key = created["key"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(key.starts_with(&format!("{id}.")), "{created}");
    assert_eq!(
        key.len(),
        3 + 16 + 1 + 64,
        "ak_ + 64-bit id . 256-bit secret"
    );
    assert_eq!(created["project"], "acme");
    assert_eq!(created["scopes"], json!(["read", "write"]));
    assert_eq!(created["name"], "pipeline eu-1");
    common::assert_utc_millis(&created["createdAt"]);
    common::assert_utc_millis(&created["expiresAt"]);
    let other = app.mint_key("other", &["read"]).await;

    let list = admin.get("/admin/keys?project=acme").await;
    let body = list.expect(200);
    let secret = key.split_once('.').unwrap().1;
    assert!(
        !list.text().contains(secret),
        "no secret in a list: {}",
        list.text()
    );
    let keys = body["data"].as_array().unwrap();
    assert_eq!(keys.len(), 1, "{body}");
    assert_eq!(keys[0]["id"], id.as_str());
    assert_eq!(keys[0]["revokedAt"], Value::Null);
    assert!(keys[0].get("key").is_none(), "{body}");
    let all = admin.get("/admin/keys").await.expect(200);
    assert_eq!(all["data"].as_array().unwrap().len(), 2, "{all}");
    assert!(!all.to_string().contains(secret));
    assert!(
        !all.to_string()
            .contains(other.key.split_once('.').unwrap().1)
    );
    assert_eq!(
        admin.get("/admin/keys?project=nobody").await.expect(200),
        json!({"data": []})
    );

    let user = app
        .api
        .with_header("authorization", &format!("Bearer {key}"));
    let session = user.new_session().await;
    let revoke = |id: String| {
        let admin = admin.clone();
        async move {
            admin
                .send(admin.request(Method::DELETE, &format!("/admin/keys/{id}")))
                .await
        }
    };
    let reply = revoke(id.clone()).await;
    assert_eq!(reply.status, 204, "{}", reply.text());
    assert_eq!(
        revoke(id.clone()).await.status,
        204,
        "revoking twice is 204"
    );
    assert_unauthorized(
        &user.get(&format!("/sessions/{session}")).await,
        "a revoked key, at once on the instance that revoked it",
    );
    let listed = admin.get("/admin/keys?project=acme").await.expect(200);
    common::assert_utc_millis(&listed["data"][0]["revokedAt"]);
    revoke("ak_0000000000000000".into())
        .await
        .problem(404, "not-found");
    revoke("not-a-key-id".into()).await.invalid_field("keyId");
    other
        .api
        .get("/sessions/none")
        .await
        .problem(404, "session-not-found");
}

#[tokio::test]
async fn bad_key_requests_are_400_and_store_nothing() {
    let app = TestApp::spawn_with_keys(&[]).await;
    let admin = app.admin();
    for (body, field) in [
        (json!({"scopes": ["read"]}), "project"),
        (json!({"project": "a b", "scopes": ["read"]}), "project"),
        (json!({"project": "acme"}), "scopes"),
        (json!({"project": "acme", "scopes": []}), "scopes"),
        (json!({"project": "acme", "scopes": ["admin"]}), "scopes"),
        (json!({"project": "acme", "scopes": "read"}), "scopes"),
        (
            json!({"project": "acme", "scopes": ["read"], "name": ""}),
            "name",
        ),
        (
            json!({"project": "acme", "scopes": ["read"], "name": 5}),
            "name",
        ),
        (
            json!({"project": "acme", "scopes": ["read"], "expiresAt": "tomorrow"}),
            "expiresAt",
        ),
        (
            json!({"project": "acme", "scopes": ["read"], "expiresAt": "2001-01-01T00:00:00Z"}),
            "expiresAt",
        ),
        (
            json!({"project": "acme", "scopes": ["read"], "colour": "blue"}),
            "colour",
        ),
    ] {
        admin
            .post_json("/admin/keys", &body)
            .await
            .invalid_field(field);
    }
    admin
        .post_raw("/admin/keys", Some("application/json"), "{nope")
        .await
        .problem(400, "malformed-json");
    admin
        .post_raw("/admin/keys", Some("text/plain"), "{}")
        .await
        .problem(415, "unsupported-media-type");
    admin
        .get("/admin/keys?project=a&project=b")
        .await
        .invalid_field("project");
    admin
        .get("/admin/keys?colour=1")
        .await
        .invalid_field("colour");
    assert_eq!(
        admin.get("/admin/keys").await.expect(200),
        json!({"data": []}),
        "nothing stored"
    );
}

/// Registers a webhook endpoint of project `acme` (which has a key) with the admin key.
async fn register_webhook(admin: &Api) -> Value {
    admin
        .post_json(
            "/admin/webhooks",
            &json!({"project": "acme", "url": "https://hooks.example.com/", "events": ["session.created"]}),
        )
        .await
        .expect(201)
}

/// Every operation under `/admin`: a new admin endpoint is one more row.
fn admin_routes(key_id: &str, webhook_id: &str) -> Vec<(Method, String)> {
    let webhook = format!("/admin/webhooks/{webhook_id}");
    vec![
        (Method::GET, "/admin/keys".to_owned()),
        (Method::POST, "/admin/keys".to_owned()),
        (Method::DELETE, format!("/admin/keys/{key_id}")),
        (Method::GET, "/admin/webhooks?project=acme".to_owned()),
        (Method::POST, "/admin/webhooks".to_owned()),
        (Method::GET, webhook.clone()),
        (Method::PATCH, webhook.clone()),
        (Method::DELETE, webhook.clone()),
        (Method::POST, format!("{webhook}/rotate-secret")),
        (Method::GET, format!("{webhook}/deliveries")),
        (
            Method::POST,
            format!("{webhook}/deliveries/msg_0000000000000001/resend"),
        ),
        (Method::POST, format!("{webhook}/replay")),
    ]
}

#[tokio::test]
async fn open_mode_has_no_admin_area() {
    let app = TestApp::spawn().await;
    for (method, path) in admin_routes("ak_0123456789abcdef", "wh_0123456789abcdef") {
        let request = app
            .request(method.clone(), &path)
            .header("content-type", "application/json")
            .body(
                json!({"project": "default", "url": "https://hooks.example.com/", "events": ["session.created"]})
                    .to_string(),
            );
        let problem = app.send(request).await.problem(403, "forbidden");
        assert!(
            problem["detail"].as_str().unwrap().contains("ADMIN_KEY"),
            "{method} {path}: {problem}"
        );
    }
    // And sessions need no credentials.
    app.new_session().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_key_text_reaches_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let log = dir.path().join("server.log");
    let server = common::ServerProcess::start_with(
        env!("CARGO_BIN_EXE_server"),
        &data_dir,
        dir.path(),
        &log,
        &[
            ("RUST_LOG", "debug"),
            ("LOG_FORMAT", "json"),
            ("ADMIN_KEY", common::ADMIN_KEY),
        ],
    )
    .await;
    let admin = server
        .api
        .with_header("authorization", &format!("Bearer {}", common::ADMIN_KEY));
    let created = admin
        .post_json(
            "/admin/keys",
            &json!({"project": "acme", "scopes": ["read", "write"]}),
        )
        .await
        .expect(201);
    let key = created["key"].as_str().unwrap().to_owned();
    let user = server
        .api
        .with_header("authorization", &format!("Bearer {key}"));
    let session = user.new_session().await;
    user.append(&session, &event("e1")).await.expect(201);
    let (id, secret) = key.split_once('.').unwrap();
    let wrong = format!("{id}.{}", "f".repeat(64));
    server
        .api
        .with_header("authorization", &format!("Bearer {wrong}"))
        .get(&format!("/sessions/{session}"))
        .await
        .expect(401);
    server
        .api
        .with_header("authorization", &format!("Bearer {}x", common::ADMIN_KEY))
        .get("/admin/keys")
        .await
        .expect(401);
    admin.get("/admin/keys").await.expect(200);
    admin
        .send(admin.request(Method::DELETE, &format!("/admin/keys/{id}")))
        .await;
    user.get(&format!("/sessions/{session}")).await.expect(401);
    // Webhook secrets: as created, and as rotated.
    let webhook = register_webhook(&admin).await;
    let webhook_path = format!("/admin/webhooks/{}", webhook["id"].as_str().unwrap());
    let rotated = admin
        .send(admin.request(Method::POST, &format!("{webhook_path}/rotate-secret")))
        .await
        .expect(200);
    admin.get(&webhook_path).await.expect(200);
    tokio::time::sleep(Duration::from_millis(300)).await;

    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("\"request\""),
        "the log has request lines: {text}"
    );
    for (what, needle) in [
        ("a key's secret", secret),
        ("a wrong secret", &wrong[20..]),
        ("the admin key", common::ADMIN_KEY),
        ("the key", key.as_str()),
        ("a bearer header", "Bearer "),
        ("a webhook secret", webhook["secret"].as_str().unwrap()),
        (
            "a rotated webhook secret",
            rotated["secret"].as_str().unwrap(),
        ),
        (
            "a webhook secret's bytes",
            &webhook["secret"].as_str().unwrap()[6..],
        ),
    ] {
        assert!(!text.contains(needle), "the log holds {what}: {text}");
    }
}

#[tokio::test]
async fn the_document_declares_the_bearer_scheme_on_every_protected_operation() {
    let app = TestApp::spawn_with_keys(&[]).await;
    let doc = app.get("/openapi.json").await.expect(200);
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["type"], "http",
        "{}",
        doc["components"]["securitySchemes"]
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    assert_eq!(doc["security"], json!([]), "public by default");
    for (method, path) in [
        ("post", "/admin/keys"),
        ("get", "/admin/keys"),
        ("delete", "/admin/keys/{keyId}"),
    ] {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} is documented"
        );
    }
    let mut protected = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let needs = path.starts_with("/sessions") || path.starts_with("/admin");
            let what = format!("{method} {path}");
            if needs {
                protected += 1;
                assert_eq!(operation["security"], json!([{"bearer": []}]), "{what}");
                for status in ["401", "403"] {
                    assert!(
                        operation["responses"].get(status).is_some(),
                        "{what}: {status}"
                    );
                }
            } else {
                assert!(operation.get("security").is_none(), "{what} needs nothing");
                assert!(operation["responses"].get("401").is_none(), "{what}");
            }
        }
    }
    // Rows for other representations (`accept`) are the same documented operation.
    let operations = OPERATIONS.iter().filter(|o| o.accept.is_none()).count();
    assert_eq!(
        protected,
        operations + admin_routes("", "").len(),
        "every table row and every admin operation"
    );
    // The 401 documents its header.
    let unauthorized = &doc["components"]["responses"]["Unauthorized"];
    assert!(
        unauthorized["headers"]["WWW-Authenticate"].is_object(),
        "{unauthorized}"
    );
}

/// In open mode the served document describes the running service (issue "Trust at the seams",
/// 13): no security scheme, no operation asking for credentials, no 401 anywhere; `/admin`
/// operations keep their 403 (open mode refuses them).
#[tokio::test]
async fn the_open_mode_document_declares_no_security() {
    let app = TestApp::spawn().await;
    let doc = app.get("/openapi.json").await.expect(200);
    assert!(
        doc["components"].get("securitySchemes").is_none(),
        "{}",
        doc["components"]["securitySchemes"]
    );
    assert_eq!(doc["security"], json!([]));
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let what = format!("{method} {path}");
            assert!(operation.get("security").is_none(), "{what}");
            assert!(operation["responses"].get("401").is_none(), "{what}");
            if path.starts_with("/admin") {
                assert!(operation["responses"].get("403").is_some(), "{what}");
                let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
                let request = app.api.request(method, &path.replace("{keyId}", "ak_x"));
                app.api.send(request).await.problem(403, "forbidden");
            }
        }
    }
}

/// Every way an event cursor is presented for `session`: a page's and the session read's
/// `cursor`, an SSE stream's `cursor` and `Last-Event-ID`, an export's `cursor`; each answer
/// with what it was.
async fn present_cursor(api: &Api, session: &str, cursor: &str) -> Vec<(&'static str, Reply)> {
    let events = format!("/sessions/{session}/events");
    let with_cursor = format!("{events}?cursor={cursor}");
    let ways: [(&str, String, Option<&str>, Option<&str>); 5] = [
        ("page", with_cursor.clone(), None, None),
        (
            "session",
            format!("/sessions/{session}?cursor={cursor}"),
            None,
            None,
        ),
        (
            "SSE cursor",
            with_cursor.clone(),
            Some("text/event-stream"),
            None,
        ),
        (
            "SSE Last-Event-ID",
            events,
            Some("text/event-stream"),
            Some(cursor),
        ),
        (
            "NDJSON cursor",
            with_cursor,
            Some("application/x-ndjson"),
            None,
        ),
    ];
    let mut answers = Vec::new();
    for (what, path, accept, last_event_id) in ways {
        let mut request = api.request(Method::GET, &path);
        if let Some(accept) = accept {
            request = request.header("accept", accept);
        }
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        answers.push((what, send_for(api, request, accept).await));
    }
    answers
}

fn assert_refused(answers: &[(&str, Reply)], what: &str) {
    for (way, reply) in answers {
        assert_eq!(reply.status, 400, "{what}, {way}: {}", reply.text());
        reply.problem(400, "invalid-cursor");
    }
}

fn assert_admitted(answers: &[(&str, Reply)], what: &str) {
    for (way, reply) in answers {
        assert_eq!(reply.status, 200, "{what}, {way}: {}", reply.text());
    }
}

/// SPEC "Projects and API keys" (issue "Trust at the seams", 3): an event cursor (page cursor
/// or SSE id) is bound to its project and its session's incarnation. Project B's cursor on
/// project A's session of the same id, and a cursor from before an erasure on the session
/// created again under that id, are 400 `invalid-cursor` in every representation.
#[tokio::test]
async fn event_cursors_are_bound_to_the_project_and_the_session_incarnation() {
    let app = TestApp::spawn_with_keys(&[
        ("TOMBSTONE_RETENTION", "1s"),
        ("RETENTION_SWEEP_INTERVAL", "100ms"),
    ])
    .await;
    let all = ["read", "write", "delete"];
    let a = app.mint_key("project-a", &all).await;
    let b = app.mint_key("project-b", &all).await;
    let id = common::unique("call");
    let fill = |api: Api| {
        let id = id.clone();
        async move {
            api.create_session(&json!({ "sessionId": id }))
                .await
                .expect(201);
            for e in ["e1", "e2", "e3"] {
                api.append(&id, &event(e)).await.expect(201);
            }
        }
    };
    fill(a.api.clone()).await;
    fill(b.api.clone()).await;
    let cursor_after_first = |api: Api| {
        let id = id.clone();
        async move {
            let page = api.page(&id, "limit=1").await.expect(200);
            page["nextCursor"].as_str().expect("a cursor").to_owned()
        }
    };
    let theirs = cursor_after_first(b.api.clone()).await;
    let ours = cursor_after_first(a.api.clone()).await;

    assert_refused(
        &present_cursor(&a.api, &id, &theirs).await,
        "project B's cursor on A's session",
    );
    assert_refused(
        &present_cursor(&b.api, &id, &ours).await,
        "project A's cursor on B's session",
    );
    assert_ne!(
        theirs, ours,
        "the same position in two projects: two cursors"
    );
    assert_admitted(&present_cursor(&a.api, &id, &ours).await, "A's own cursor");
    let page = a.api.page(&id, &format!("cursor={ours}")).await.expect(200);
    assert_eq!(common::ids(page["data"].as_array().unwrap()), ["e2", "e3"]);

    // Erased, then created again once its tombstone is gone: another incarnation.
    let erased = a
        .api
        .send(a.api.request(Method::DELETE, &format!("/sessions/{id}")))
        .await;
    assert_eq!(erased.status, 204, "{}", erased.text());
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let reply = a.api.create_session(&json!({ "sessionId": id })).await;
        if reply.status == 201 {
            break;
        }
        reply.problem(409, "session-erased");
        assert!(
            std::time::Instant::now() < deadline,
            "the tombstone is purged"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for e in ["n1", "n2", "n3"] {
        a.api.append(&id, &event(e)).await.expect(201);
    }
    assert_refused(
        &present_cursor(&a.api, &id, &ours).await,
        "a cursor of the erased incarnation",
    );
    let fresh = cursor_after_first(a.api.clone()).await;
    assert_admitted(&present_cursor(&a.api, &id, &fresh).await, "the new cursor");
    let page = a
        .api
        .page(&id, &format!("cursor={fresh}"))
        .await
        .expect(200);
    assert_eq!(common::ids(page["data"].as_array().unwrap()), ["n2", "n3"]);
    // B's session was never touched.
    assert_admitted(
        &present_cursor(&b.api, &id, &theirs).await,
        "B's own cursor",
    );
}
