//! A database written before projects existed (migration 1 only, documents as that version
//! wrote them), opened by this version: every session is kept under the project `default`, the
//! indexes become `{project, sessionId, …}`, and nothing else changes.

use domain::{Label, SessionFilter, SessionQuery};
use domain::{Order, ProjectId, SessionRepository, SessionStatus};
use infra_mongo::{MIGRATIONS, MongoOptions, MongoStore};
use mongodb::Client;
use mongodb::bson::{self, DateTime, Document, doc};

fn at(ms: i64) -> DateTime {
    DateTime::from_millis(ms)
}

/// What version 1 of this adapter left in the database.
async fn write_version_one(uri: &str, database: &str) {
    let client = Client::with_uri_str(uri).await.unwrap();
    let db = client.database(database);
    let (version, name, json) = MIGRATIONS[0];
    assert_eq!(version, 1);
    let commands: Vec<serde_json::Value> = serde_json::from_str(json).unwrap();
    for command in commands {
        db.run_command(bson::to_document(&command).unwrap())
            .await
            .unwrap();
    }
    db.collection::<Document>("schema_migrations")
        .insert_one(doc! { "_id": version, "name": name, "appliedAt": at(1_700_000_000_000) })
        .await
        .unwrap();
    let session = |id: &str, status: &str| {
        doc! {
            "sessionId": id, "status": status, "language": "en-US",
            "metadata": r#"{"agent":"a1"}"#, "startedAt": at(1_700_000_000_000),
            "endedAt": null, "createdAt": at(1_700_000_000_001), "updatedAt": at(1_700_000_000_002),
        }
    };
    db.collection::<Document>("sessions")
        .insert_many([
            session("open-call", "initiated"),
            session("done-call", "initiated"),
        ])
        .await
        .unwrap();
    let event = |session: &str, seq: i64, id: &str, payload: &str| {
        doc! {
            "sessionId": session, "seq": seq, "eventId": id, "type": "user_speech",
            "payload": payload, "timestamp": at(1_700_000_000_100), "receivedAt": at(1_700_000_000_200),
        }
    };
    db.collection::<Document>("events")
        .insert_many([
            event("open-call", 1, "e1", r#"{"text":"hello"}"#),
            event("open-call", 2, "e2", r#"{"n":9007199254740993}"#),
            event("done-call", 1, "e1", "{}"),
            doc! {
                "sessionId": "done-call", "seq": 2_i64, "eventId": "~seal",
                "receivedAt": at(1_700_000_000_300),
                "seal": { "status": "completed", "endedAt": at(1_700_000_000_300) },
            },
        ])
        .await
        .unwrap();
}

#[tokio::test]
async fn a_database_written_before_projects_keeps_every_session_under_default() {
    let uri = testkit::mongo_uri().await;
    let database = testkit::unique_database("upgrade");
    write_version_one(&uri, &database).await;

    let store = MongoStore::connect(&MongoOptions::new(uri.clone(), database.clone()))
        .await
        .expect("connect and migrate");
    let default = ProjectId::default_project();

    conformance::upgrade::version_one_data_is_in_default(&store).await;

    // The indexes: the project in front of every key; the old ones gone.
    let client = Client::with_uri_str(&uri).await.unwrap();
    let db = client.database(&database);
    for (collection, wanted) in [
        (
            "sessions",
            vec![
                "erasedAt",
                "project_createdAt_sessionId",
                "project_labels_createdAt_sessionId",
                "project_sessionId_unique",
                "project_status_createdAt_sessionId",
                // The retention sweep's (migration 6): not per project.
                "updatedAt",
            ],
        ),
        (
            "events",
            vec![
                "project_sessionId_eventId_unique",
                "project_sessionId_seq_unique",
                "project_sessionId_supersededBy_seq",
            ],
        ),
    ] {
        let mut names = db
            .collection::<Document>(collection)
            .list_index_names()
            .await
            .unwrap();
        names.retain(|n| n != "_id_");
        names.sort();
        assert_eq!(names, wanted, "{collection}");
    }
    let unmigrated = db
        .collection::<Document>("events")
        .count_documents(doc! { "project": { "$ne": "default" } })
        .await
        .unwrap();
    assert_eq!(unmigrated, 0, "every event, the seal too, is in `default`");

    // Migration 0004 gave the old sessions their indexed labels: lists filter them.
    let labelled = |statuses: Vec<SessionStatus>| SessionQuery {
        filter: SessionFilter::new(statuses, None, None, vec![Label::new("agent", "a1")]).unwrap(),
        order: Order::Asc,
        limit: 10,
        after: None,
    };
    let listed = |page: domain::SessionPage| -> Vec<String> {
        page.sessions.iter().map(|s| s.id.to_string()).collect()
    };
    let all = store
        .list_sessions(&default, labelled(vec![]))
        .await
        .unwrap();
    let mut ids = listed(all);
    ids.sort();
    assert_eq!(ids, ["done-call", "open-call"]);
    let done = store
        .list_sessions(&default, labelled(vec![SessionStatus::Completed]))
        .await
        .unwrap();
    assert_eq!(listed(done), ["done-call"]);
}
