//! Erasure racing appends and completes on two instances sharing one store (own binary: the
//! race needs the store to itself). Writers keep appending through both instances (each with a
//! warm view of the session: on MongoDB, a top-`seq` hint) while the session is erased through
//! one of them; once `DELETE` has returned, nothing can be added through either, and nothing of
//! the session can be read through either.

mod common;

use std::time::Duration;

use common::{TestApp, event};
use reqwest::Method;
use serde_json::json;

async fn assert_erased(app: &TestApp, session: &str, late: &str) {
    app.append(session, &event(late))
        .await
        .problem(410, "session-erased");
    app.get(&format!("/sessions/{session}"))
        .await
        .problem(410, "session-erased");
    app.get(&format!("/sessions/{session}/events"))
        .await
        .problem(410, "session-erased");
    app.create_session(&json!({"sessionId": session}))
        .await
        .problem(409, "session-erased");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn appends_and_completes_racing_an_erasure_on_two_instances_add_nothing() {
    let (first, second) = TestApp::pair().await;
    for round in 0..4 {
        let session = first.new_session().await;
        // Both instances have written to the session before the race.
        for (i, app) in [&first, &second].into_iter().enumerate() {
            app.append(&session, &event(&format!("warm{i}")))
                .await
                .expect(201);
        }
        let writers: Vec<_> = (0..8)
            .map(|w| {
                let app = if w % 2 == 0 {
                    first.clone()
                } else {
                    second.clone()
                };
                let session = session.clone();
                tokio::spawn(async move {
                    let mut answers = Vec::new();
                    for i in 0..200 {
                        let reply = app.append(&session, &event(&format!("w{w}-{i}"))).await;
                        answers.push(reply.status);
                        match reply.status {
                            201 => {}
                            409 => {
                                reply.problem(409, "session-closed");
                            }
                            410 => {
                                reply.problem(410, "session-erased");
                                break;
                            }
                            other => panic!("unexpected {other}: {}", reply.text()),
                        }
                    }
                    answers
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(20 + 10 * round)).await;
        if round % 2 == 1 {
            let (app, session) = (second.clone(), session.clone());
            tokio::spawn(async move { app.complete(&session, None).await });
        }
        let (eraser, other) = if round < 2 {
            (&first, &second)
        } else {
            (&second, &first)
        };
        let reply = eraser
            .send(eraser.request(Method::DELETE, &format!("/sessions/{session}")))
            .await;
        assert_eq!(reply.status, 204, "{}", reply.text());
        // Once DELETE has returned: nothing can be added or read through either instance.
        assert_erased(&first, &session, "late-a").await;
        assert_erased(&second, &session, "late-b").await;
        let mut acked = 0;
        for w in writers {
            let answers = w.await.expect("writer");
            acked += answers.iter().filter(|s| **s == 201).count();
            if round % 2 == 0 {
                assert!(
                    !answers.contains(&409),
                    "no complete in this round: {answers:?}"
                );
            }
        }
        assert!(acked > 0, "round {round}: the writers raced the erasure");
        assert_erased(&first, &session, "later-a").await;
        assert_erased(other, &session, "later-b").await;
    }
}
