//! Cases of corrections (SPEC "Corrections"): an event names the earlier event it corrects
//! with `supersedes`; the target's `supersededBy` is set atomically with the correction's
//! insert; a target is corrected at most once; `view=current` lists only the events no
//! correction supersedes. Each takes a fresh, empty store.

use std::collections::HashSet;

use domain::{
    AppendBatch, AppendEventError, Event, EventId, NewEvent, Order, SupersedeRefusal, View, Written,
};
use futures_util::future::join_all;
use serde_json::json;

use super::support::{Repo, append, complete, erase, session, walk, walk_view};
use crate::fixtures::{new_event, project, sid};

fn eid(s: &str) -> EventId {
    EventId::parse(s).expect("valid event id")
}

/// The event `id` correcting `target` (`None`: correcting nothing).
fn correction(id: &str, target: Option<&str>) -> NewEvent {
    new_event(id, json!({ "text": id })).with_supersedes(target.map(eid))
}

async fn correct(
    repo: &Repo,
    session: &str,
    id: &str,
    target: &str,
) -> Result<Written<Event>, AppendEventError> {
    repo.append_event(&project(), &sid(session), correction(id, Some(target)))
        .await
}

async fn batch(
    repo: &Repo,
    session: &str,
    items: &[(&str, Option<&str>)],
) -> Result<Vec<Written<Event>>, AppendEventError> {
    let events = items.iter().map(|(id, t)| correction(id, *t)).collect();
    let batch = AppendBatch::new(events, None).expect("a valid batch");
    repo.append_events(&project(), &sid(session), batch).await
}

async fn stored(repo: &Repo, session: &str, id: &str) -> Event {
    repo.get_event(&project(), &sid(session), &eid(id))
        .await
        .expect("stored")
}

fn ids(events: &[Event]) -> Vec<&str> {
    events.iter().map(|e| e.event_id.as_str()).collect()
}

fn by(event: &Event) -> Option<&str> {
    event.superseded_by.as_ref().map(EventId::as_str)
}

pub async fn a_correction_supersedes_its_target_in_the_same_step(repo: Repo) {
    session(&repo, "s").await;
    append(&repo, "s", "interim1").await;
    let written = correct(&repo, "s", "interim2", "interim1")
        .await
        .expect("correct");
    assert!(!written.replayed);
    assert_eq!(
        written.value.supersedes.as_ref().map(EventId::as_str),
        Some("interim1")
    );
    assert_eq!(by(&written.value), None);
    correct(&repo, "s", "final", "interim2")
        .await
        .expect("correct");
    assert_eq!(by(&stored(&repo, "s", "interim1").await), Some("interim2"));
    assert_eq!(by(&stored(&repo, "s", "interim2").await), Some("final"));
    assert_eq!(by(&stored(&repo, "s", "final").await), None);
    // Every event stays, in its place; the current view is the transcript as it stands.
    let all = walk(&repo, "s", Order::Asc, 100).await;
    assert_eq!(ids(&all), ["interim1", "interim2", "final"]);
    assert_eq!(
        all.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [1, 2, 3],
        "the corrected event keeps its seq, the correction takes the next"
    );
    for order in [Order::Asc, Order::Desc] {
        for limit in [1, 2, 100] {
            let current = walk_view(&repo, "s", View::Current, order, limit).await;
            assert_eq!(ids(&current), ["final"], "{order:?} by {limit}");
        }
    }
    let s = repo.get_session(&project(), &sid("s")).await.expect("read");
    assert_eq!(s.event_count, 3, "eventCount counts every stored event");
}

pub async fn a_target_is_superseded_once_and_must_exist(repo: Repo) {
    session(&repo, "s").await;
    append(&repo, "s", "e1").await;
    correct(&repo, "s", "e2", "e1").await.expect("correct");
    assert_eq!(
        correct(&repo, "s", "e3", "e1").await,
        Err(AppendEventError::SupersedeConflict {
            index: 0,
            refusal: SupersedeRefusal::AlreadySuperseded {
                target: eid("e1"),
                by: eid("e2"),
            },
        })
    );
    assert_eq!(
        correct(&repo, "s", "e3", "nothing").await,
        Err(AppendEventError::SupersedeConflict {
            index: 0,
            refusal: SupersedeRefusal::NotFound {
                target: eid("nothing"),
            },
        })
    );
    // Refused: nothing stored.
    let all = walk(&repo, "s", Order::Asc, 100).await;
    assert_eq!(ids(&all), ["e1", "e2"]);
    assert_eq!(by(&stored(&repo, "s", "e1").await), Some("e2"));
    // An event of another session is not this session's.
    session(&repo, "other").await;
    append(&repo, "other", "o1").await;
    assert!(matches!(
        correct(&repo, "s", "e4", "o1").await,
        Err(AppendEventError::SupersedeConflict {
            refusal: SupersedeRefusal::NotFound { .. },
            ..
        })
    ));
}

pub async fn a_batch_corrects_its_own_earlier_items_all_or_nothing(repo: Repo) {
    session(&repo, "s").await;
    append(&repo, "s", "e0").await;
    let written = batch(
        &repo,
        "s",
        &[
            ("i1", Some("e0")),
            ("i2", Some("i1")),
            ("f", Some("i2")),
            ("other", None),
        ],
    )
    .await
    .expect("batch");
    assert_eq!(by(&written[0].value), Some("i2"), "answered corrected");
    assert_eq!(by(&written[1].value), Some("f"));
    assert_eq!(by(&stored(&repo, "s", "e0").await), Some("i1"));
    assert_eq!(by(&stored(&repo, "s", "i1").await), Some("i2"));
    assert_eq!(by(&stored(&repo, "s", "i2").await), Some("f"));
    let current = walk_view(&repo, "s", View::Current, Order::Asc, 100).await;
    assert_eq!(ids(&current), ["f", "other"]);
    // A later item is not earlier; two items correcting one event; a target corrected
    // already: each refuses the whole batch, naming the item.
    for (items, index) in [
        (vec![("a", None), ("b", Some("c")), ("c", None)], 1),
        (vec![("a", Some("other")), ("b", Some("other"))], 1),
        (vec![("a", None), ("b", Some("e0"))], 1),
    ] {
        match batch(&repo, "s", &items).await {
            Err(AppendEventError::SupersedeConflict { index: at, .. }) => {
                assert_eq!(at, index, "{items:?}");
            }
            other => panic!("{items:?}: {other:?}"),
        }
    }
    let all = walk(&repo, "s", Order::Asc, 100).await;
    assert_eq!(
        ids(&all),
        ["e0", "i1", "i2", "f", "other"],
        "nothing stored"
    );
    assert_eq!(by(&stored(&repo, "s", "other").await), None);
}

pub async fn a_replayed_correction_is_a_replay_and_another_target_a_conflict(repo: Repo) {
    session(&repo, "s").await;
    append(&repo, "s", "e1").await;
    append(&repo, "s", "e2").await;
    correct(&repo, "s", "c", "e1").await.expect("correct");
    let again = correct(&repo, "s", "c", "e1").await.expect("replay");
    assert!(again.replayed);
    for retry in [correction("c", Some("e2")), correction("c", None)] {
        assert!(
            matches!(
                repo.append_event(&project(), &sid("s"), retry.clone())
                    .await,
                Err(AppendEventError::Conflict { .. })
            ),
            "{retry:?}"
        );
    }
    assert_eq!(by(&stored(&repo, "s", "e2").await), None);
    // Replayed once the session is closed, like any event; a new correction is refused.
    repo.complete_session(&project(), &sid("s"), complete())
        .await
        .expect("complete");
    assert!(
        correct(&repo, "s", "c", "e1")
            .await
            .expect("replay")
            .replayed
    );
    assert_eq!(
        correct(&repo, "s", "late", "e2").await,
        Err(AppendEventError::SessionClosed)
    );
    assert_eq!(by(&stored(&repo, "s", "e2").await), None);
}

/// Exactly one of many concurrent corrections of one event wins; the others are refused and
/// store nothing.
pub async fn concurrent_corrections_of_one_event_one_wins(repo: Repo) {
    session(&repo, "s").await;
    append(&repo, "s", "target").await;
    let tries = (0..8).map(|i| {
        let repo = repo.clone();
        async move { correct(&repo, "s", &format!("c{i}"), "target").await }
    });
    let results = join_all(tries).await;
    let won: Vec<&Written<Event>> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(won.len(), 1, "{results:?}");
    for r in &results {
        if let Err(e) = r {
            assert!(
                matches!(
                    e,
                    AppendEventError::SupersedeConflict {
                        refusal: SupersedeRefusal::AlreadySuperseded { .. },
                        ..
                    }
                ),
                "{e:?}"
            );
        }
    }
    let winner = won[0].value.event_id.as_str();
    assert_eq!(by(&stored(&repo, "s", "target").await), Some(winner));
    let all = walk(&repo, "s", Order::Asc, 100).await;
    assert_eq!(ids(&all), ["target", winner], "the losers stored nothing");
}

/// A `view=current` walk while corrections arrive: every event listed once, in `seq` order,
/// and every event that stands at the end and stood when the walk passed its place listed.
pub async fn a_current_walk_while_corrections_arrive_lists_each_standing_event_once(repo: Repo) {
    session(&repo, "s").await;
    let writer = {
        let repo = repo.clone();
        tokio::spawn(async move {
            for k in 0..30 {
                append(&repo, "s", &format!("i{k}")).await;
                correct(&repo, "s", &format!("f{k}"), &format!("i{k}"))
                    .await
                    .expect("final");
            }
        })
    };
    let mut listed: Vec<Event> = Vec::new();
    let mut after = None;
    let mut done = false;
    loop {
        let request = domain::PageRequest {
            view: View::Current,
            after,
            order: Order::Asc,
            limit: 3,
        };
        let page = repo
            .list_events(&project(), &sid("s"), request)
            .await
            .expect("page");
        after = request.next_position(&page.events);
        listed.extend(page.events);
        if !page.has_more {
            if done {
                break;
            }
            if writer.is_finished() {
                done = true;
            }
            tokio::task::yield_now().await;
        }
    }
    writer.await.expect("writer");
    let mut seen = HashSet::new();
    for e in &listed {
        assert!(
            seen.insert(e.event_id.clone()),
            "{} listed twice",
            e.event_id
        );
    }
    assert!(
        listed.windows(2).all(|w| w[0].seq < w[1].seq),
        "in seq order"
    );
    for k in 0..30 {
        assert!(
            seen.contains(&eid(&format!("f{k}"))),
            "f{k} stands and was never passed over"
        );
    }
}

pub async fn redaction_and_erasure_work_on_corrected_and_correcting_events(repo: Repo) {
    session(&repo, "s").await;
    append(&repo, "s", "e1").await;
    correct(&repo, "s", "e2", "e1").await.expect("correct");
    for id in ["e1", "e2"] {
        let redacted = repo
            .redact_event(&project(), &sid("s"), &eid(id), domain::Timestamp::now())
            .await
            .expect("redact");
        assert!(redacted.value.redaction.is_some());
    }
    let e1 = stored(&repo, "s", "e1").await;
    let e2 = stored(&repo, "s", "e2").await;
    assert_eq!(by(&e1), Some("e2"), "the links stay");
    assert_eq!(e2.supersedes.as_ref().map(EventId::as_str), Some("e1"));
    assert!(
        correct(&repo, "s", "e2", "e1")
            .await
            .expect("a replay of the redacted correction")
            .replayed
    );
    erase(&repo, "s").await;
    assert_eq!(
        correct(&repo, "s", "e3", "e2").await,
        Err(AppendEventError::SessionErased)
    );
}
