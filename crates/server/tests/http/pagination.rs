//! Paging through events: every event exactly once and in order, cursors, `hasMore`, `Link`,
//! tailing a live session, and refused queries.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::{Api, TestApp, assert_ordered, event, ids, seqs};
use serde_json::{Value, json};

/// A session holding `n` events `e1..=en`; returns its id and the stored events.
async fn session_with(api: &Api, n: usize) -> (String, Vec<Value>) {
    let session = api.new_session().await;
    let event_ids: Vec<String> = (1..=n).map(|i| format!("e{i}")).collect();
    let stored = api.append_all(&session, &event_ids).await;
    (session, stored)
}

fn cursor_of(body: &Value) -> String {
    body["nextCursor"]
        .as_str()
        .unwrap_or_else(|| panic!("a nextCursor: {body}"))
        .to_owned()
}

#[tokio::test]
async fn walks_in_both_orders_return_every_event_once_in_order() {
    let app = TestApp::spawn().await;
    let (session, stored) = session_with(&app, 23).await;
    for limit in [1, 2, 5, 7, 22, 23, 24, 50, 500] {
        let pages = app.walk_pages(&session, "asc", limit).await;
        let expected_pages = 23_usize.div_ceil(limit as usize);
        assert_eq!(
            pages.len(),
            expected_pages,
            "limit {limit}: full pages, then stop"
        );
        let asc: Vec<Value> = pages.into_iter().flatten().collect();
        assert_eq!(asc, stored, "asc, limit {limit}");
        assert_ordered(&asc, "asc");

        let mut desc = app.walk(&session, "desc", limit).await;
        assert_ordered(&desc, "desc");
        desc.reverse();
        assert_eq!(desc, stored, "desc, limit {limit}");
    }
}

#[tokio::test]
async fn defaults_are_asc_and_fifty() {
    let app = TestApp::spawn().await;
    let (session, stored) = session_with(&app, 60).await;
    let reply = app.get(&format!("/sessions/{session}/events")).await;
    let body = reply.expect(200);
    assert_eq!(body["data"].as_array().unwrap().as_slice(), &stored[..50]);
    assert_eq!(body["hasMore"], true);
    assert!(reply.header("link").is_some());
    let rest = app
        .page(&session, &format!("cursor={}", cursor_of(&body)))
        .await
        .expect(200);
    assert_eq!(rest["data"].as_array().unwrap().as_slice(), &stored[50..]);
    assert_eq!(rest["hasMore"], false);
}

#[tokio::test]
async fn has_more_next_cursor_and_link_follow_the_spec() {
    let app = TestApp::spawn().await;
    // an empty session without a cursor: nextCursor null, no Link
    let empty = app.new_session().await;
    for order in ["asc", "desc"] {
        let reply = app.page(&empty, &format!("order={order}")).await;
        let body = reply.expect(200);
        assert_eq!(
            body,
            json!({"data": [], "hasMore": false, "nextCursor": null})
        );
        assert_eq!(reply.header("link"), None);
    }

    let (session, stored) = session_with(&app, 5).await;
    // a page with more after it: hasMore, a cursor, and a Link that reads on
    let reply = app.page(&session, "limit=2").await;
    let first = reply.expect(200);
    assert_eq!(first["hasMore"], true);
    let link = reply.header("link").expect("Link with hasMore");
    assert!(
        link.starts_with('<') && link.ends_with("rel=\"next\""),
        "{link}"
    );
    let target = &link[1..link.find('>').unwrap()];
    assert!(
        target.starts_with(&format!("/sessions/{session}/events?")),
        "{link}"
    );
    let via_link = app.get(target).await.expect(200);
    let via_cursor = app
        .page(&session, &format!("limit=2&cursor={}", cursor_of(&first)))
        .await
        .expect(200);
    assert_eq!(via_link, via_cursor);
    assert_eq!(
        via_cursor["data"].as_array().unwrap().as_slice(),
        &stored[2..4]
    );

    // the last page exactly full: hasMore false, the cursor still set, no Link
    let reply = app
        .page(
            &session,
            &format!("limit=1&cursor={}", cursor_of(&via_cursor)),
        )
        .await;
    let last = reply.expect(200);
    assert_eq!(last["data"].as_array().unwrap().as_slice(), &stored[4..]);
    assert_eq!(last["hasMore"], false);
    assert_eq!(reply.header("link"), None);
    let end = cursor_of(&last);

    // an empty page returns the cursor that was sent
    for _ in 0..2 {
        let reply = app.page(&session, &format!("cursor={end}")).await;
        let body = reply.expect(200);
        assert_eq!(
            body,
            json!({"data": [], "hasMore": false, "nextCursor": end})
        );
        assert_eq!(reply.header("link"), None);
    }

    // desc: the end of a desc walk is an empty page too, with its cursor
    let desc = app.page(&session, "order=desc&limit=5").await.expect(200);
    assert_eq!(desc["hasMore"], false);
    assert_eq!(seqs(desc["data"].as_array().unwrap()), [5, 4, 3, 2, 1]);
    let desc_end = cursor_of(&desc);
    let after = app
        .page(&session, &format!("order=desc&cursor={desc_end}"))
        .await
        .expect(200);
    assert_eq!(
        after,
        json!({"data": [], "hasMore": false, "nextCursor": desc_end})
    );
}

#[tokio::test]
async fn tailing_with_the_last_cursor_returns_only_new_events() {
    let app = TestApp::spawn().await;
    let (session, stored) = session_with(&app, 4).await;
    let first = app.page(&session, "limit=10").await.expect(200);
    assert_eq!(first["data"].as_array().unwrap(), &stored);
    let mut cursor = cursor_of(&first);
    let mut seen = stored.clone();
    for batch in 0..3 {
        let new_ids: Vec<String> = (0..3).map(|i| format!("b{batch}-{i}")).collect();
        let new = app.append_all(&session, &new_ids).await;
        let page = app
            .page(&session, &format!("limit=10&cursor={cursor}"))
            .await
            .expect(200);
        assert_eq!(
            page["data"].as_array().unwrap(),
            &new,
            "only the new events"
        );
        assert_eq!(page["hasMore"], false);
        cursor = cursor_of(&page);
        seen.extend(new);
        // polling again without new events: empty, same cursor
        let idle = app
            .page(&session, &format!("limit=10&cursor={cursor}"))
            .await
            .expect(200);
        assert_eq!(
            idle,
            json!({"data": [], "hasMore": false, "nextCursor": cursor})
        );
    }
    // a tail on a small limit: hasMore while more is already stored
    let new_ids: Vec<String> = (0..5).map(|i| format!("c{i}")).collect();
    let new = app.append_all(&session, &new_ids).await;
    let page = app
        .page(&session, &format!("limit=2&cursor={cursor}"))
        .await
        .expect(200);
    assert_eq!(page["data"].as_array().unwrap().as_slice(), &new[..2]);
    assert_eq!(page["hasMore"], true);
    seen.extend(new);
    assert_eq!(app.walk(&session, "asc", 3).await, seen);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_walk_during_concurrent_appends_sees_every_earlier_event_once_in_order() {
    let app = TestApp::spawn().await;
    let (session, before) = session_with(&app, 120).await;
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|t| {
            let (api, session, stop) = (app.api.clone(), session.clone(), stop.clone());
            tokio::spawn(async move {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) && n < 300 {
                    let id = format!("w{t}-{n}");
                    api.append(&session, &event(&id))
                        .await
                        .created(&format!("/sessions/{session}/events/{id}"));
                    n += 1;
                }
                n
            })
        })
        .collect();
    // several walks while the writers run
    for limit in [3, 7, 16] {
        let walked = app.walk(&session, "asc", limit).await;
        assert_ordered(&walked, "asc");
        assert!(walked.len() >= before.len());
        assert_eq!(&walked[..before.len()], before.as_slice(), "limit {limit}");
        let mut desc = app.walk(&session, "desc", limit).await;
        assert_ordered(&desc, "desc");
        desc.reverse();
        // a desc walk starts at the newest event at its first page: everything before the
        // walk is in it, once
        let desc_ids = ids(&desc);
        for id in ids(&before) {
            assert_eq!(desc_ids.iter().filter(|d| **d == id).count(), 1, "{id}");
        }
    }
    stop.store(true, Ordering::Relaxed);
    let mut written = 0;
    for w in writers {
        written += w.await.expect("a writer panicked");
    }
    let all = app.walk(&session, "asc", 500).await;
    assert_ordered(&all, "asc");
    assert_eq!(all.len(), before.len() + written);
    let s = app.session(&session).await;
    assert_eq!(s["eventCount"].as_u64(), Some(all.len() as u64));
    assert_eq!(s["lastSeq"].as_u64(), seqs(&all).last().copied());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tail_during_concurrent_appends_misses_nothing() {
    let app = TestApp::spawn().await;
    let session = app.new_session().await;
    let writers: Vec<_> = (0..3)
        .map(|t| {
            let (api, session) = (app.api.clone(), session.clone());
            tokio::spawn(async move {
                for n in 0..60 {
                    let id = format!("w{t}-{n}");
                    api.append(&session, &event(&id))
                        .await
                        .created(&format!("/sessions/{session}/events/{id}"));
                }
            })
        })
        .collect();
    let mut tailed: Vec<Value> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut idle_after_done = 0;
    let mut done = false;
    while idle_after_done < 2 {
        let query = match &cursor {
            Some(c) => format!("limit=4&cursor={c}"),
            None => "limit=4".to_owned(),
        };
        let page = app.page(&session, &query).await.expect(200);
        let data = page["data"].as_array().unwrap();
        tailed.extend(data.iter().cloned());
        if let Some(c) = page["nextCursor"].as_str() {
            cursor = Some(c.to_owned());
        }
        if !done && writers.iter().all(|w| w.is_finished()) {
            done = true;
        }
        if done && data.is_empty() {
            idle_after_done += 1;
        }
    }
    for w in writers {
        w.await.expect("a writer panicked");
    }
    assert_ordered(&tailed, "asc");
    assert_eq!(tailed, app.walk(&session, "asc", 500).await);
    assert_eq!(tailed.len(), 180);
}

#[tokio::test]
async fn invalid_limits_and_orders_are_validation_failed() {
    let app = TestApp::spawn().await;
    let (session, _) = session_with(&app, 3).await;
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=abc", "limit"),
        ("limit=-1", "limit"),
        ("limit=", "limit"),
        ("limit=1.5", "limit"),
        ("limit=99999999999999999999", "limit"),
        ("order=up", "order"),
        ("order=", "order"),
        ("order=ASC", "order"),
        ("limit=2&limit=3", "limit"),
        ("page=2", "page"),
    ] {
        for path in [
            format!("/sessions/{session}/events?{query}"),
            format!("/sessions/{session}?{query}"),
        ] {
            let p = app.get(&path).await.invalid_field(field);
            assert_eq!(p["instance"], path.split('?').next().unwrap(), "{query}");
        }
    }
    // the bounds themselves are fine
    for query in ["limit=1", "limit=500", "order=asc", "order=desc"] {
        app.page(&session, query).await.expect(200);
    }
}

#[tokio::test]
async fn bad_cursors_are_invalid_cursor() {
    let app = TestApp::spawn().await;
    let (session, _) = session_with(&app, 6).await;
    let (other, _) = session_with(&app, 6).await;
    let asc = cursor_of(&app.page(&session, "limit=2").await.expect(200));
    let desc = cursor_of(&app.page(&session, "limit=2&order=desc").await.expect(200));
    let foreign = cursor_of(&app.page(&other, "limit=2").await.expect(200));
    // a cursor issued by another server (another store, another secret)
    let elsewhere = TestApp::spawn().await;
    elsewhere
        .create_session(&json!({"sessionId": session}))
        .await
        .created(&format!("/sessions/{session}"));
    elsewhere
        .append_all(
            &session,
            &["e1".to_owned(), "e2".to_owned(), "e3".to_owned()],
        )
        .await;
    let alien = cursor_of(&elsewhere.page(&session, "limit=2").await.expect(200));

    let mut tampered = Vec::new();
    for i in [0, asc.len() / 2, asc.len() - 1] {
        let mut bytes = asc.clone().into_bytes();
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        tampered.push(String::from_utf8(bytes).unwrap());
    }
    let mut cases: Vec<String> = vec![
        "cursor=".to_owned(),
        "cursor=garbage".to_owned(),
        "cursor=%00%01".to_owned(),
        "cursor=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_owned(),
        format!("cursor={}", &asc[..asc.len() - 2]),
        format!("cursor={asc}AA"),
        format!("cursor={foreign}"),
        format!("cursor={alien}"),
        format!("cursor={asc}&order=desc"),
        format!("cursor={desc}"),
        format!("cursor={desc}&order=asc"),
    ];
    cases.extend(tampered.iter().map(|t| format!("cursor={t}")));
    for query in &cases {
        for path in [
            format!("/sessions/{session}/events?{query}"),
            format!("/sessions/{session}?{query}"),
        ] {
            app.get(&path).await.problem(400, "invalid-cursor");
        }
    }
    // the genuine cursors work in their own order
    app.page(&session, &format!("cursor={asc}"))
        .await
        .expect(200);
    app.page(&session, &format!("cursor={desc}&order=desc"))
        .await
        .expect(200);
}

#[tokio::test]
async fn get_session_carries_a_page_of_its_events() {
    let app = TestApp::spawn().await;
    let (session, stored) = session_with(&app, 7).await;
    let reply = app.get(&format!("/sessions/{session}?limit=3")).await;
    let body = reply.expect(200);
    assert_eq!(body["sessionId"], session);
    assert_eq!(body["status"], "active");
    assert_eq!(
        (body["eventCount"].as_u64(), body["lastSeq"].as_u64()),
        (Some(7), Some(7))
    );
    let events = &body["events"];
    assert_eq!(events["data"].as_array().unwrap().as_slice(), &stored[..3]);
    assert_eq!(events["hasMore"], true);
    let link = reply.header("link").expect("Link with hasMore");
    assert!(link.contains("rel=\"next\""));
    // the cursor of the session's page continues on the events endpoint and back
    let next = app
        .page(&session, &format!("limit=3&cursor={}", cursor_of(events)))
        .await
        .expect(200);
    assert_eq!(next["data"].as_array().unwrap().as_slice(), &stored[3..6]);
    let last = app
        .get(&format!(
            "/sessions/{session}?limit=3&cursor={}",
            cursor_of(&next)
        ))
        .await
        .expect(200);
    assert_eq!(
        last["events"]["data"].as_array().unwrap().as_slice(),
        &stored[6..]
    );
    assert_eq!(last["events"]["hasMore"], false);
    // desc
    let desc = app
        .get(&format!("/sessions/{session}?order=desc&limit=2"))
        .await
        .expect(200);
    assert_eq!(seqs(desc["events"]["data"].as_array().unwrap()), [7, 6]);
    // an empty session
    let empty = app.new_session().await;
    let body = app.get(&format!("/sessions/{empty}")).await.expect(200);
    assert_eq!(
        body["events"],
        json!({"data": [], "hasMore": false, "nextCursor": null})
    );
    // the session part equals the session without events
    let mut plain = body.clone();
    plain.as_object_mut().unwrap().remove("events");
    assert_eq!(app.session(&empty).await, plain);
}

/// A cursor that is not one in form (what the documented pattern says) is 400
/// `invalid-cursor` before the session is looked up: whatever the session — absent, erased —
/// and in every representation. A well-formed cursor is checked against the session once it is
/// found: for an absent one 404, for an erased one 410.
#[tokio::test]
async fn a_malformed_cursor_is_400_whatever_the_session() {
    let app = TestApp::spawn().await;
    let (session, _) = session_with(&app, 3).await;
    let cursor = cursor_of(&app.page(&session, "limit=1").await.expect(200));
    let (erased, _) = session_with(&app, 3).await;
    let reply = app
        .send(app.request(reqwest::Method::DELETE, &format!("/sessions/{erased}")))
        .await;
    assert_eq!(reply.status, 204, "{}", reply.text());
    let absent = common::unique("absent");
    let malformed = [
        "cursor=".to_owned(),
        "cursor=garbage".to_owned(),
        "cursor=%F2%9D%A1%90%26%01".to_owned(),
        format!("cursor={}", "A".repeat(38)),
        format!("cursor={}", &cursor[..cursor.len() - 1]),
    ];
    for id in [&absent, &erased] {
        for query in &malformed {
            for (path, accept) in [
                (format!("/sessions/{id}/events?{query}"), None),
                (format!("/sessions/{id}?{query}"), None),
                (
                    format!("/sessions/{id}/events?{query}"),
                    Some("text/event-stream"),
                ),
                (
                    format!("/sessions/{id}/events?{query}"),
                    Some("application/x-ndjson"),
                ),
            ] {
                let mut request = app.request(reqwest::Method::GET, &path);
                if let Some(accept) = accept {
                    request = request.header("accept", accept);
                }
                app.send(request).await.problem(400, "invalid-cursor");
            }
        }
    }
    let well_formed = format!("cursor={cursor}");
    for path in [
        format!("/sessions/{absent}/events?{well_formed}"),
        format!("/sessions/{absent}?{well_formed}"),
    ] {
        app.get(&path).await.problem(404, "session-not-found");
    }
    for path in [
        format!("/sessions/{erased}/events?{well_formed}"),
        format!("/sessions/{erased}?{well_formed}"),
    ] {
        app.get(&path).await.problem(410, "session-erased");
    }
}
