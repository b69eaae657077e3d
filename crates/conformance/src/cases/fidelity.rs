//! What is stored comes back as written: payloads and metadata with hostile keys and extreme numbers, timestamps and their defaults.

use domain::{JsonObject, NewSession, Timestamp};
use serde_json::json;

use super::support::{Repo, append};
use crate::fixtures::{new_event, object, project, sid};

pub async fn payload_and_metadata_fidelity(repo: Repo) {
    let tricky = json!({
        "$where": "1 == 1",
        "a.b": {"$gt": ""},
        "": "empty key",
        "ключ": "значение 日本語 🎙️",
        "max": i64::MAX,
        "min": i64::MIN,
        "float": 0.1,
        "nested": [[1, [2, [3, {"x": null}]]], [], {}],
        "bool": false,
        "_id": "not an id",
    });
    let new = NewSession::new(sid("s"), None, None, object(tricky.clone()), None).unwrap();
    let created = repo.create_session(&project(), new).await.unwrap().value;
    assert_eq!(created.metadata.to_value().unwrap(), tricky);
    assert_eq!(
        repo.get_session(&project(), &sid("s"))
            .await
            .unwrap()
            .metadata
            .to_value()
            .unwrap(),
        tricky
    );
    let stored = repo
        .append_event(&project(), &sid("s"), new_event("e", tricky.clone()))
        .await
        .unwrap();
    assert_eq!(stored.value.payload.to_value().unwrap(), tricky);
    let read = repo
        .get_event(&project(), &sid("s"), &stored.value.event_id)
        .await
        .unwrap();
    assert_eq!(read.payload.to_value().unwrap(), tricky);
    let replay = repo
        .append_event(&project(), &sid("s"), new_event("e", tricky))
        .await
        .unwrap();
    assert!(replay.replayed, "a payload with tricky keys replays");
}

pub async fn timestamps_and_defaults(repo: Repo) {
    let started = Timestamp::from_millis(1_600_000_000_000).unwrap();
    let new = NewSession::new(sid("s"), None, None, JsonObject::empty(), Some(started)).unwrap();
    let s = repo.create_session(&project(), new).await.unwrap().value;
    assert_eq!(s.started_at, started);
    assert!(s.created_at > started);
    let before = Timestamp::now();
    let e = append(&repo, "s", "e1").await.value;
    assert!(e.received_at >= before && e.received_at <= Timestamp::now());
    assert_eq!(
        e.timestamp, e.received_at,
        "timestamp defaults to receivedAt"
    );
    let mut given = new_event("e2", json!({}));
    given.timestamp = Some(Timestamp::from_millis(5).unwrap());
    let e2 = repo
        .append_event(&project(), &sid("s"), given)
        .await
        .unwrap()
        .value;
    assert_eq!(e2.timestamp.millis(), 5);
    assert!(e2.received_at >= e.received_at);
}
