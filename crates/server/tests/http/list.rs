//! `GET /sessions`: finding a project's sessions. Filters, orders, cursors bound to their
//! filters and order, `Link`, and every bad parameter named.

use crate::common;

use common::TestApp;
use serde_json::{Value, json};

/// Creates sessions `prefix00`, `prefix01`, … one after the other, with `metadata(i)`.
async fn create(
    app: &TestApp,
    prefix: &str,
    n: usize,
    metadata: impl Fn(usize) -> Value,
) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let id = format!("{prefix}{i:02}");
        app.create_session(&json!({ "sessionId": id, "metadata": metadata(i) }))
            .await
            .created(&format!("/sessions/{id}"));
        ids.push(id);
    }
    ids
}

fn ids(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .unwrap_or_else(|| panic!("a page: {page}"))
        .iter()
        .map(|s| s["sessionId"].as_str().unwrap().to_owned())
        .collect()
}

/// Follows `Link` from `GET /sessions?{query}` while there is one, checking each page; returns
/// the ids seen, in walk order.
async fn walk(app: &TestApp, query: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let mut path = format!("/sessions?{query}");
    loop {
        let reply = app.get(&path).await;
        let page = reply.expect(200);
        seen.extend(ids(&page));
        let link = reply.header("link");
        assert_eq!(
            page["hasMore"].as_bool(),
            Some(link.is_some()),
            "Link with hasMore: {page}"
        );
        let Some(link) = link else {
            break;
        };
        let cursor = page["nextCursor"].as_str().expect("a cursor with hasMore");
        let target = link
            .strip_prefix('<')
            .and_then(|l| l.strip_suffix(">; rel=\"next\""))
            .unwrap_or_else(|| panic!("a next link: {link}"));
        assert!(target.starts_with("/sessions?"), "{target}");
        assert!(target.ends_with(&format!("cursor={cursor}")), "{target}");
        path = target.to_owned();
    }
    seen
}

fn reversed(mut ids: Vec<String>) -> Vec<String> {
    ids.reverse();
    ids
}

#[tokio::test]
async fn lists_newest_first_in_pages_with_link_and_cursors() {
    let app = TestApp::spawn().await;
    let empty = app.get("/sessions").await.expect(200);
    assert_eq!(
        empty,
        json!({"data": [], "hasMore": false, "nextCursor": null})
    );
    let created = create(&app, "s", 7, |i| json!({"n": i})).await;
    app.append("s03", &common::event("e1")).await.expect(201);

    let reply = app.get("/sessions?limit=3").await;
    let first = reply.expect(200);
    assert_eq!(ids(&first), ["s06", "s05", "s04"]);
    assert_eq!(first["hasMore"], true);
    let cursor = first["nextCursor"].as_str().unwrap();
    assert_eq!(
        reply.header("link").as_deref(),
        Some(format!("</sessions?limit=3&order=desc&cursor={cursor}>; rel=\"next\"").as_str())
    );
    // Sessions as `GET /sessions/{id}` has them, without `events`.
    for s in first["data"].as_array().unwrap() {
        assert!(s.get("events").is_none(), "{s}");
        assert_eq!(*s, app.session(s["sessionId"].as_str().unwrap()).await);
    }
    assert_eq!(walk(&app, "limit=3").await, reversed(created.clone()));
    assert_eq!(walk(&app, "limit=2&order=asc").await, created);
    assert_eq!(walk(&app, "").await, reversed(created.clone()));
    let listed = app.get("/sessions?limit=7&order=asc").await.expect(200);
    assert_eq!(listed["data"][3]["eventCount"], 1);
    assert_eq!(listed["data"][3]["status"], "active");
    // The last page: no more, no Link, and its cursor reads nothing new later.
    let reply = app.get("/sessions?limit=7").await;
    let all = reply.expect(200);
    assert_eq!(
        (all["hasMore"].clone(), reply.header("link")),
        (json!(false), None)
    );
    let after = app
        .get(&format!(
            "/sessions?limit=7&cursor={}",
            all["nextCursor"].as_str().unwrap()
        ))
        .await
        .expect(200);
    assert_eq!(after["data"], json!([]));
    assert_eq!(
        after["nextCursor"], all["nextCursor"],
        "an empty page keeps the cursor"
    );
}

#[tokio::test]
async fn an_ascending_walk_meets_new_sessions_at_its_end() {
    let app = TestApp::spawn().await;
    create(&app, "old", 4, |_| json!({})).await;
    let page = app.get("/sessions?order=asc&limit=10").await.expect(200);
    assert_eq!(page["hasMore"], false);
    let cursor = page["nextCursor"].as_str().unwrap().to_owned();
    // Ids that sort before the old ones, created in the same millisecond or not.
    let new = create(&app, "a-new", 3, |_| json!({})).await;
    let tail = app
        .get(&format!("/sessions?order=asc&limit=10&cursor={cursor}"))
        .await
        .expect(200);
    assert_eq!(ids(&tail), new);
}

#[tokio::test]
async fn filters_by_status_creation_time_and_metadata() {
    let app = TestApp::spawn().await;
    let agent = |i: usize| if i.is_multiple_of(2) { "ann" } else { "bob" };
    create(
        &app,
        "s",
        8,
        |i| json!({"agent": agent(i), "campaign": if i < 4 { "spring" } else { "fall" }, "n": i}),
    )
    .await;
    for id in ["s01", "s02", "s05"] {
        app.append(id, &common::event("e1")).await.expect(201);
    }
    app.complete("s02", None).await.expect(200);
    app.complete("s05", Some(&json!({"status": "failed"})))
        .await
        .expect(200);
    let s03 = app.session("s03").await;
    let s06 = app.session("s06").await;
    let (after, before) = (
        s03["createdAt"].as_str().unwrap(),
        s06["createdAt"].as_str().unwrap(),
    );
    // Sessions created in one millisecond share a `createdAt`: bounds are exclusive on it.
    let all = app.get("/sessions?limit=100").await.expect(200);
    let created = |id: &str| {
        all["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["sessionId"] == id)
            .unwrap()["createdAt"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let within = |ids: &[&'static str], lo: Option<&str>, hi: Option<&str>| -> Vec<&'static str> {
        ids.iter()
            .copied()
            .filter(|id| {
                let t = created(id);
                lo.is_none_or(|lo| t.as_str() > lo) && hi.is_none_or(|hi| t.as_str() < hi)
            })
            .collect()
    };
    let cases: Vec<(String, Vec<&str>)> = vec![
        (
            "status=initiated".into(),
            vec!["s07", "s06", "s04", "s03", "s00"],
        ),
        ("status=active".into(), vec!["s01"]),
        ("status=completed,failed".into(), vec!["s05", "s02"]),
        (
            "status=failed,completed,active".into(),
            vec!["s05", "s02", "s01"],
        ),
        (
            "metadata.agent=ann".into(),
            vec!["s06", "s04", "s02", "s00"],
        ),
        (
            "metadata.agent=ann&metadata.campaign=spring".into(),
            vec!["s02", "s00"],
        ),
        (
            "metadata.agent=ann&status=initiated&metadata.campaign=fall".into(),
            vec!["s06", "s04"],
        ),
        ("metadata.n=1".into(), vec![]),
        ("metadata.agent=Ann".into(), vec![]),
        (
            format!("createdAfter={after}&createdBefore={before}"),
            within(
                &["s07", "s06", "s05", "s04", "s03"],
                Some(after),
                Some(before),
            ),
        ),
        (
            format!("createdAfter={after}&status=initiated"),
            within(&["s07", "s06", "s04", "s03"], Some(after), None),
        ),
        (
            format!("createdBefore={before}&order=asc&metadata.agent=bob"),
            within(&["s01", "s03", "s05", "s07"], None, Some(before)),
        ),
    ];
    for (query, expected) in cases {
        let query = query.replace('+', "%2B");
        assert_eq!(
            walk(&app, &format!("{query}&limit=1")).await,
            expected,
            "{query}"
        );
        assert_eq!(walk(&app, &query).await, expected, "{query}");
    }
}

#[tokio::test]
async fn bad_parameters_are_each_named() {
    let app = TestApp::spawn().await;
    let reply = app
        .get("/sessions?limit=0&order=up&status=done&createdAfter=today&createdBefore=x&foo=1&metadata.a=1&metadata.a=2")
        .await;
    let problem = reply.problem(400, "validation-failed");
    let mut fields = common::error_fields(&problem);
    fields.sort();
    assert_eq!(
        fields,
        [
            "createdAfter",
            "createdBefore",
            "foo",
            "limit",
            "metadata.a",
            "order",
            "status"
        ]
    );
    let six: String = (0..6).map(|i| format!("&metadata.k{i}=v")).collect();
    app.get(&format!("/sessions?limit=5{six}"))
        .await
        .invalid_field("metadata");
    // Five are fine, and an empty key or value is a key or value.
    let five: String = (0..5).map(|i| format!("&metadata.k{i}=v")).collect();
    app.get(&format!("/sessions?limit=5{five}"))
        .await
        .expect(200);
    app.get("/sessions?metadata.=&metadata.%3D=%2B")
        .await
        .expect(200);
}

#[tokio::test]
async fn a_cursor_is_bound_to_its_filters_and_order() {
    let app = TestApp::spawn().await;
    create(
        &app,
        "s",
        4,
        |i| json!({"agent": if i < 2 { "ann" } else { "bob" }}),
    )
    .await;
    let page = app
        .get("/sessions?limit=1&status=initiated&metadata.agent=ann")
        .await
        .expect(200);
    let cursor = page["nextCursor"].as_str().unwrap();
    // The same filters, in another spelling, are the same filters.
    app.get(&format!(
        "/sessions?metadata.agent=ann&status=initiated&limit=3&cursor={cursor}"
    ))
    .await
    .expect(200);
    app.get(&format!(
        "/sessions?status=initiated,initiated&metadata.agent=ann&cursor={cursor}"
    ))
    .await
    .expect(200);
    for other in [
        "",
        "status=initiated",
        "metadata.agent=ann",
        "status=active&metadata.agent=ann",
        "status=initiated&metadata.agent=bob",
        "status=initiated&metadata.agent=ann&metadata.x=y",
        "status=initiated&metadata.agent=ann&order=asc",
        "status=initiated&metadata.agent=ann&createdAfter=2000-01-01T00:00:00Z",
    ] {
        app.get(&format!("/sessions?{other}&cursor={cursor}"))
            .await
            .problem(400, "invalid-cursor");
    }
    // An event cursor is no session cursor.
    app.append("s00", &common::event("e1")).await.expect(201);
    app.append("s00", &common::event("e2")).await.expect(201);
    let events = app.page("s00", "limit=1").await.expect(200);
    let event_cursor = events["nextCursor"].as_str().unwrap();
    app.get(&format!("/sessions?order=asc&cursor={event_cursor}"))
        .await
        .problem(400, "invalid-cursor");
}

// Projects: the store keeps each project's sessions apart (conformance
// `sessions_list_shows_only_the_projects_sessions`, both stores). Over HTTP, a test listing
// with two API keys of two projects belongs here once API keys are merged (lead: add it).

#[tokio::test]
async fn the_document_describes_the_filters_and_the_metadata_family() {
    let app = TestApp::spawn().await;
    let doc = app.get("/openapi.json").await.expect(200);
    let operation = &doc["paths"]["/sessions"]["get"];
    assert_eq!(operation["operationId"], "listSessions");
    let parameters = operation["parameters"].as_array().unwrap();
    let named = |name: &str| {
        parameters
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{name} is documented: {operation}"))
            .clone()
    };
    assert_eq!(named("order")["schema"]["default"], "desc");
    assert_eq!(named("limit")["schema"]["maximum"], 500);
    let status = named("status");
    let pattern = status["schema"]["pattern"].as_str().unwrap();
    assert!(
        pattern.contains("initiated") && pattern.contains("failed"),
        "{status}"
    );
    assert!(
        status["schema"]["examples"]
            .as_array()
            .is_some_and(|e| !e.is_empty())
    );
    for time in ["createdAfter", "createdBefore"] {
        assert_eq!(named(time)["schema"]["format"], "date-time");
    }
    let family = &operation["x-query-parameter-families"][0];
    assert_eq!(family["name"], "metadata.<key>");
    assert_eq!(family["maxCount"], 5);
    assert!(
        family["examples"]
            .as_object()
            .is_some_and(|e| !e.is_empty())
    );
    let described = operation["description"].as_str().unwrap();
    assert!(described.contains("metadata.<key>=<value>"), "{described}");
    let page = &operation["responses"]["200"];
    assert!(page["headers"]["Link"].is_object(), "{page}");
    assert_eq!(
        page["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/SessionPage"
    );
}

/// With keys: a project's list holds its own sessions only, also when another project uses the
/// same session ids.
#[tokio::test]
async fn a_key_lists_its_own_projects_sessions_only() {
    let app = crate::common::TestApp::spawn_with_keys(&[]).await;
    let a = app.mint_key("list-a", &["read", "write"]).await;
    let b = app.mint_key("list-b", &["read", "write"]).await;
    for id in ["shared", "only-a"] {
        a.api
            .create_session(&serde_json::json!({"sessionId": id, "metadata": {"owner": "a"}}))
            .await
            .expect(201);
    }
    b.api
        .create_session(&serde_json::json!({"sessionId": "shared", "metadata": {"owner": "b"}}))
        .await
        .expect(201);
    let listed = |api: crate::common::Api| async move {
        let page = api.get("/sessions?limit=50").await.expect(200);
        let mut found: Vec<(String, String)> = page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["sessionId"].as_str().unwrap().to_owned(),
                    s["metadata"]["owner"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        found.sort();
        found
    };
    let own = |ids: &[&str], owner: &str| -> Vec<(String, String)> {
        ids.iter()
            .map(|id| (id.to_string(), owner.to_owned()))
            .collect()
    };
    assert_eq!(listed(a.api.clone()).await, own(&["only-a", "shared"], "a"));
    assert_eq!(listed(b.api.clone()).await, own(&["shared"], "b"));
    let filtered = b.api.get("/sessions?metadata.owner=a").await.expect(200);
    assert_eq!(filtered["data"], serde_json::json!([]));
}
