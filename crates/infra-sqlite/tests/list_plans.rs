//! Every shape of `GET /sessions` page is a range of an index, never a scan of `sessions` or a
//! sort: SQLite's `EXPLAIN QUERY PLAN` of each, on a store with statistics (`ANALYZE`) over
//! thousands of sessions, so a plan change by the statistics fails here too.

use domain::{
    JsonObject, Label, NewSession, Order, ProjectId, SessionFilter, SessionId, SessionPosition,
    SessionQuery, SessionRepository, SessionStatus, StoreAdmin, Timestamp,
};
use infra_sqlite::{SqliteOptions, SqliteStore};

fn query(
    statuses: &[SessionStatus],
    range: bool,
    labels: usize,
    order: Order,
    cursor: bool,
) -> SessionQuery {
    let labels = (0..labels)
        .map(|i| Label::new(format!("k{i}"), "v"))
        .collect();
    let (after, before) = if range {
        (
            Some(Timestamp::from_millis(1).unwrap()),
            Some(Timestamp::from_millis(i64::from(i32::MAX)).unwrap()),
        )
    } else {
        (None, None)
    };
    SessionQuery {
        filter: SessionFilter::new(statuses.to_vec(), after, before, labels).unwrap(),
        order,
        limit: 50,
        after: cursor.then(|| SessionPosition {
            created_at: Timestamp::now(),
            session_id: SessionId::parse("m").unwrap(),
        }),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_is_an_index_range() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.db");
    let store = SqliteStore::open(&SqliteOptions::new(&path)).unwrap();
    let project = ProjectId::parse("p1").unwrap();
    for i in 0..2_000 {
        let metadata =
            JsonObject::from_stored(format!(r#"{{"k0":"v","k1":"{}","k2":"v"}}"#, i % 3)).unwrap();
        let new = NewSession::new(
            SessionId::parse(format!("s{i}")).unwrap(),
            None,
            None,
            metadata,
            None,
        )
        .unwrap();
        store.create_session(&project, new).await.unwrap();
    }
    store.close().await;
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch("ANALYZE")
        .unwrap();
    let store = SqliteStore::open(&SqliteOptions::new(&path)).unwrap();
    let some = [SessionStatus::Active];
    let two = [SessionStatus::Initiated, SessionStatus::Failed];
    for order in [Order::Asc, Order::Desc] {
        for cursor in [false, true] {
            for range in [false, true] {
                for (statuses, labels, index) in [
                    (&[][..], 0, "USING INDEX sessions_by_created"),
                    (&some[..], 0, "USING INDEX sessions_by_status"),
                    (&two[..], 0, "USING INDEX sessions_by_status"),
                    (&[][..], 1, "SEARCH d USING PRIMARY KEY"),
                    (&two[..], 3, "SEARCH d USING PRIMARY KEY"),
                ] {
                    let q = query(statuses, range, labels, order, cursor);
                    let plans = store
                        .explain_list_sessions(&project, q.clone())
                        .await
                        .unwrap();
                    assert_eq!(plans.len(), statuses.len().max(1));
                    for plan in plans {
                        let shape = format!("{q:?}\n{plan}");
                        assert!(plan.contains(index), "{shape}");
                        assert!(!plan.contains("SCAN"), "a scan: {shape}");
                        assert!(!plan.contains("TEMP B-TREE"), "a sort: {shape}");
                    }
                }
            }
        }
    }
}
