//! A store file written before projects existed (schema version 1, rows as that version wrote
//! them), opened by this version: the migration keeps every session, under the project
//! `default`, and changes nothing else.

use domain::{ProjectId, SessionId, SessionRepository, SessionStatus, StoreAdmin};
use infra_sqlite::{MIGRATIONS, SqliteOptions, SqliteStore};
use rusqlite::{Connection, params};

/// What version 1 of this adapter left on disk: its schema, its migration record, its rows.
fn write_version_one(path: &std::path::Path) {
    let conn = Connection::open(path).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.execute_batch(
        "CREATE TABLE schema_migrations (
             version    INTEGER NOT NULL PRIMARY KEY,
             name       TEXT    NOT NULL,
             applied_at INTEGER NOT NULL
         )",
    )
    .unwrap();
    let (version, name, sql) = MIGRATIONS[0];
    assert_eq!(version, 1);
    conn.execute_batch(sql).unwrap();
    conn.execute(
        "INSERT INTO schema_migrations VALUES (?1, ?2, 1700000000000)",
        params![version, name],
    )
    .unwrap();
    let sessions = [
        (
            "open-call",
            "active",
            Some("en-US"),
            r#"{"agent":"a1"}"#,
            None,
            2,
            2,
        ),
        (
            "done-call",
            "completed",
            None,
            "{}",
            Some(1_700_000_900_000_i64),
            1,
            1,
        ),
        ("empty-call", "initiated", None, "{}", None, 0, 0),
    ];
    for (id, status, language, metadata, ended, count, last) in sessions {
        conn.execute(
            "INSERT INTO sessions (session_id, status, language, metadata, started_at, ended_at,
                                   event_count, last_seq, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, 1700000000000, ?5, ?6, ?7, 1700000000001, 1700000000002)",
            params![id, status, language, metadata, ended, count, last],
        )
        .unwrap();
    }
    let events = [
        ("open-call", 1, "e1", r#"{"text":"hello"}"#),
        ("open-call", 2, "e2", r#"{"n":9007199254740993}"#),
        ("done-call", 1, "e1", "{}"),
    ];
    for (session, seq, id, payload) in events {
        conn.execute(
            "INSERT INTO events (session_id, seq, event_id, type, payload, timestamp, received_at)
             VALUES (?1, ?2, ?3, 'user_speech', ?4, 1700000000100, 1700000000200)",
            params![session, seq, id, payload],
        )
        .unwrap();
    }
}

fn sid(s: &str) -> SessionId {
    SessionId::parse(s).unwrap()
}

#[tokio::test]
async fn a_store_written_before_projects_keeps_every_session_under_default() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.db");
    write_version_one(&path);

    let store = SqliteStore::open(&SqliteOptions::new(&path)).unwrap();
    let default = ProjectId::default_project();

    conformance::upgrade::version_one_data_is_in_default(&store).await;
    // What only this adapter's version 1 wrote: times, the language, an empty session.
    let open = store
        .get_session(&default, &sid("open-call"))
        .await
        .unwrap();
    assert_eq!(open.language.as_ref().map(|l| l.as_str()), Some("en-US"));
    assert_eq!(open.started_at.millis(), 1_700_000_000_000);
    let done = store
        .get_session(&default, &sid("done-call"))
        .await
        .unwrap();
    assert_eq!(done.ended_at.map(|t| t.millis()), Some(1_700_000_900_000));
    let empty = store
        .get_session(&default, &sid("empty-call"))
        .await
        .unwrap();
    assert_eq!(
        (empty.status, empty.event_count),
        (SessionStatus::Initiated, 0)
    );
    store.close().await;
    drop(store);

    // Recorded once, applied once: reopening changes nothing.
    let conn = Connection::open(&path).unwrap();
    let versions: Vec<i64> = conn
        .prepare("SELECT version FROM schema_migrations ORDER BY version")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let expected: Vec<i64> = MIGRATIONS.iter().map(|(v, _, _)| *v).collect();
    assert_eq!(versions, expected);
    let default_sessions: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM sessions WHERE project = 'default'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(default_sessions, 3);
    let fk_problems: i64 = conn
        .query_row("SELECT COUNT(*) FROM pragma_foreign_key_check", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(fk_problems, 0);
}
