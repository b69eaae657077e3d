//! Finding sessions (`list_sessions`): both orders, every filter alone and combined, projects apart, walks while other tasks create and complete sessions.

use std::collections::HashSet;

use domain::{
    CompleteRequest, Label, NewSession, Order, ProjectId, Session, SessionFilter, SessionPosition,
    SessionQuery, SessionStatus, Timestamp,
};
use serde_json::{Value, json};

use super::support::{Repo, append, complete, session};
use crate::fixtures::{object, project, sid};

fn labelled(id: &str, metadata: Value) -> NewSession {
    NewSession::new(sid(id), None, None, object(metadata), None).expect("valid")
}

fn filter(
    statuses: &[SessionStatus],
    after: Option<Timestamp>,
    before: Option<Timestamp>,
    labels: &[(&str, &str)],
) -> SessionFilter {
    SessionFilter::new(
        statuses.to_vec(),
        after,
        before,
        labels.iter().map(|(k, v)| Label::new(*k, *v)).collect(),
    )
    .expect("a valid filter")
}

/// Every session of `project` passing `filter`, walking pages of `limit` in `order`; checks
/// each page's size and that positions move strictly in the walk's direction.
async fn walk_sessions(
    repo: &Repo,
    project: &ProjectId,
    filter: &SessionFilter,
    order: Order,
    limit: u32,
) -> Vec<Session> {
    let mut out: Vec<Session> = Vec::new();
    let mut after = None;
    loop {
        let query = SessionQuery {
            filter: filter.clone(),
            order,
            limit,
            after,
        };
        let page = repo
            .list_sessions(project, query.clone())
            .await
            .expect("page");
        assert!(page.sessions.len() <= limit as usize);
        after = query.next_position(&page);
        let empty = page.sessions.is_empty();
        out.extend(page.sessions);
        if !page.has_more {
            break;
        }
        assert!(!empty, "hasMore with an empty page");
    }
    assert_in_walk_order(&out, order);
    out
}

/// Every session of the project, walking pages of `limit` in `order`.
async fn walk_all(repo: &Repo, order: Order, limit: u32) -> Vec<Session> {
    walk_sessions(repo, &project(), &SessionFilter::default(), order, limit).await
}

fn assert_in_walk_order(sessions: &[Session], order: Order) {
    for pair in sessions.windows(2) {
        let (a, b) = (SessionPosition::of(&pair[0]), SessionPosition::of(&pair[1]));
        match order {
            Order::Asc => assert!(a < b, "{a:?} then {b:?} in an ascending walk"),
            Order::Desc => assert!(a > b, "{a:?} then {b:?} in a descending walk"),
        }
    }
}

fn ids(sessions: &[Session]) -> Vec<String> {
    sessions.iter().map(|s| s.id.to_string()).collect()
}

fn names(prefix: &str, range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("{prefix}{i:02}")).collect()
}

pub async fn sessions_list_in_both_orders(repo: Repo) {
    let empty = walk_all(&repo, Order::Desc, 10).await;
    assert!(empty.is_empty(), "a project without sessions lists none");
    // Created one after the other: each sorts after the one before, whatever the clock says.
    for id in names("s", 0..12) {
        session(&repo, &id).await;
    }
    let asc = walk_all(&repo, Order::Asc, 5).await;
    assert_eq!(ids(&asc), names("s", 0..12), "oldest first");
    let mut newest_first = names("s", 0..12);
    newest_first.reverse();
    for limit in [1, 5, 12, 500] {
        let desc = walk_all(&repo, Order::Desc, limit).await;
        assert_eq!(ids(&desc), newest_first, "newest first, pages of {limit}");
    }
    // A page that ends exactly at the last session says there is no more.
    let query = SessionQuery {
        filter: SessionFilter::default(),
        order: Order::Desc,
        limit: 12,
        after: None,
    };
    let page = repo.list_sessions(&project(), query.clone()).await.unwrap();
    assert_eq!(page.sessions.len(), 12);
    assert!(!page.has_more);
    // Sessions carry what `get_session` says of them.
    session(&repo, "with-events").await;
    append(&repo, "with-events", "e1").await;
    let listed = repo
        .list_sessions(&project(), SessionQuery { limit: 1, ..query })
        .await
        .unwrap();
    let got = repo
        .get_session(&project(), &sid("with-events"))
        .await
        .unwrap();
    assert_eq!(listed.sessions, vec![got]);
    assert!(listed.has_more);
}

pub async fn sessions_list_filters_by_status(repo: Repo) {
    let mut by_status: Vec<(SessionStatus, Vec<String>)> = SessionStatus::ALL
        .iter()
        .map(|s| (*s, Vec::new()))
        .collect();
    for i in 0..16 {
        let id = format!("s{i:02}");
        session(&repo, &id).await;
        let status = SessionStatus::ALL[i % 4];
        if status != SessionStatus::Initiated {
            append(&repo, &id, "e1").await;
        }
        if status.is_terminal() {
            let request = CompleteRequest::new(Some(status), None).unwrap();
            repo.complete_session(&project(), &sid(&id), request)
                .await
                .unwrap();
        }
        by_status[i % 4].1.push(id);
    }
    for (status, expected) in &by_status {
        let f = filter(&[*status], None, None, &[]);
        let got = walk_sessions(&repo, &project(), &f, Order::Asc, 3).await;
        assert_eq!(&ids(&got), expected, "{status:?}");
        assert!(got.iter().all(|s| s.status == *status));
    }
    // Several statuses: the union, in walk order, in both orders.
    let f = filter(
        &[SessionStatus::Failed, SessionStatus::Initiated],
        None,
        None,
        &[],
    );
    let mut expected: Vec<String> = by_status[0]
        .1
        .iter()
        .chain(&by_status[3].1)
        .cloned()
        .collect();
    expected.sort();
    for limit in [1, 3, 100] {
        let got = walk_sessions(&repo, &project(), &f, Order::Asc, limit).await;
        assert_eq!(ids(&got), expected);
        let mut got = ids(&walk_sessions(&repo, &project(), &f, Order::Desc, limit).await);
        got.reverse();
        assert_eq!(got, expected);
    }
}

pub async fn sessions_list_filters_by_creation_time(repo: Repo) {
    for id in names("s", 0..10) {
        session(&repo, &id).await;
    }
    let all = walk_all(&repo, Order::Asc, 100).await;
    let (lo, hi) = (all[2].created_at, all[7].created_at);
    // Bounds are exclusive; sessions sharing a millisecond with a bound fall on its side.
    let expected: Vec<String> = all
        .iter()
        .filter(|s| s.created_at > lo && s.created_at < hi)
        .map(|s| s.id.to_string())
        .collect();
    for order in [Order::Asc, Order::Desc] {
        let f = filter(&[], Some(lo), Some(hi), &[]);
        let mut got = ids(&walk_sessions(&repo, &project(), &f, order, 2).await);
        if order == Order::Desc {
            got.reverse();
        }
        assert_eq!(got, expected, "{order:?}");
    }
    let after_only = filter(&[], Some(lo), None, &[]);
    let got = walk_sessions(&repo, &project(), &after_only, Order::Desc, 4).await;
    assert!(got.iter().all(|s| s.created_at > lo));
    assert_eq!(got.len(), all.iter().filter(|s| s.created_at > lo).count());
    let before_only = filter(&[], None, Some(hi), &[]);
    let got = walk_sessions(&repo, &project(), &before_only, Order::Asc, 4).await;
    assert_eq!(got.len(), all.iter().filter(|s| s.created_at < hi).count());
    let nothing = filter(&[], Some(hi), Some(lo), &[]);
    assert!(
        walk_sessions(&repo, &project(), &nothing, Order::Asc, 4)
            .await
            .is_empty()
    );
}

pub async fn sessions_list_filters_by_metadata(repo: Repo) {
    let sessions = [
        ("a", json!({"agent": "ann", "campaign": "spring", "n": "1"})),
        ("b", json!({"agent": "bob", "campaign": "spring"})),
        ("c", json!({"agent": "ann", "campaign": "fall", "tier": ""})),
        (
            "d",
            json!({"agent": "ann", "n": 1, "nested": {"agent": "bob"}}),
        ),
        (
            "e",
            json!({"k=v": "w", "k": "v=w", "a.b": "dotted", "ключ": "значение"}),
        ),
        ("f", json!({})),
    ];
    for (id, metadata) in &sessions {
        repo.create_session(&project(), labelled(id, metadata.clone()))
            .await
            .unwrap();
    }
    append(&repo, "c", "e1").await;
    // (labels, statuses, the sessions listed)
    type Case<'a> = (Vec<(&'a str, &'a str)>, &'a [SessionStatus], Vec<&'a str>);
    let cases: Vec<Case> = vec![
        (vec![("agent", "ann")], &[], vec!["a", "c", "d"]),
        (
            vec![("agent", "ann"), ("campaign", "spring")],
            &[],
            vec!["a"],
        ),
        (vec![("campaign", "spring")], &[], vec!["a", "b"]),
        // strings only, top level only, exact
        (vec![("n", "1")], &[], vec!["a"]),
        (vec![("agent", "bob")], &[], vec!["b"]),
        (vec![("agent", "Ann")], &[], vec![]),
        (vec![("tier", "")], &[], vec!["c"]),
        (vec![("k=v", "w")], &[], vec!["e"]),
        (vec![("k", "v=w")], &[], vec!["e"]),
        (vec![("k", "v")], &[], vec![]),
        (vec![("a.b", "dotted")], &[], vec!["e"]),
        (vec![("ключ", "значение")], &[], vec!["e"]),
        (vec![("missing", "x")], &[], vec![]),
        // with a status
        (vec![("agent", "ann")], &[SessionStatus::Active], vec!["c"]),
        (
            vec![("agent", "ann")],
            &[SessionStatus::Initiated],
            vec!["a", "d"],
        ),
        // five at once
        (
            vec![
                ("agent", "ann"),
                ("campaign", "fall"),
                ("tier", ""),
                ("x", "1"),
                ("y", "2"),
            ],
            &[],
            vec![],
        ),
        (
            vec![
                ("k=v", "w"),
                ("k", "v=w"),
                ("a.b", "dotted"),
                ("ключ", "значение"),
            ],
            &[],
            vec!["e"],
        ),
    ];
    for (labels, statuses, expected) in cases {
        let f = filter(statuses, None, None, &labels);
        for order in [Order::Asc, Order::Desc] {
            let mut got = ids(&walk_sessions(&repo, &project(), &f, order, 1).await);
            if order == Order::Desc {
                got.reverse();
            }
            assert_eq!(got, expected, "{labels:?} {statuses:?} {order:?}");
        }
    }
}

pub async fn sessions_list_shows_only_the_projects_sessions(repo: Repo) {
    let other = ProjectId::parse("p2").unwrap();
    for id in ["a", "b", "c"] {
        let metadata = json!({"agent": "ann"});
        repo.create_session(&project(), labelled(id, metadata.clone()))
            .await
            .unwrap();
        repo.create_session(&other, labelled(id, metadata))
            .await
            .unwrap();
    }
    repo.create_session(&other, labelled("only-p2", json!({"agent": "ann"})))
        .await
        .unwrap();
    let f = filter(&[SessionStatus::Initiated], None, None, &[("agent", "ann")]);
    for filter in [SessionFilter::default(), f] {
        let p1 = walk_sessions(&repo, &project(), &filter, Order::Desc, 2).await;
        assert_eq!(ids(&p1), vec!["c", "b", "a"]);
        let p2 = walk_sessions(&repo, &other, &filter, Order::Desc, 2).await;
        assert_eq!(ids(&p2), vec!["only-p2", "c", "b", "a"]);
    }
    let nobody = ProjectId::parse("p3").unwrap();
    let none = walk_sessions(&repo, &nobody, &SessionFilter::default(), Order::Asc, 5).await;
    assert!(none.is_empty());
}

/// Walks in both orders, with and without a status filter, while other tasks create sessions
/// and complete some: every session that matched when the walk began and still matches is
/// listed exactly once, in order; an ascending walk meets sessions created after it began at
/// its end.
pub async fn sessions_list_walks_during_creates_and_completes(repo: Repo) {
    for id in names("old", 0..40) {
        session(&repo, &id).await;
    }
    // Half of the old sessions get completed during the walks.
    let initiated = filter(&[SessionStatus::Initiated], None, None, &[]);
    let before_all = walk_all(&repo, Order::Asc, 100).await;
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let repo = repo.clone();
            tokio::spawn(async move {
                for i in 0..10 {
                    session(&repo, &format!("new-{w}-{i}")).await;
                    let old = format!("old{:02}", w * 10 + i);
                    if i % 2 == 0 {
                        repo.complete_session(&project(), &sid(&old), complete())
                            .await
                            .unwrap();
                    }
                }
            })
        })
        .collect();
    let walks = [
        (SessionFilter::default(), Order::Asc),
        (SessionFilter::default(), Order::Desc),
        (initiated.clone(), Order::Asc),
        (initiated.clone(), Order::Desc),
    ]
    .map(|(filter, order)| {
        let repo = repo.clone();
        tokio::spawn(async move {
            let mut seen: Vec<Session> = Vec::new();
            let mut after = None;
            loop {
                let query = SessionQuery {
                    filter: filter.clone(),
                    order,
                    limit: 3,
                    after,
                };
                let page = repo.list_sessions(&project(), query.clone()).await.unwrap();
                after = query.next_position(&page);
                seen.extend(page.sessions);
                if !page.has_more {
                    break;
                }
                tokio::task::yield_now().await;
            }
            (filter, order, seen)
        })
    });
    let mut results = Vec::new();
    for walk in walks {
        results.push(walk.await.unwrap());
    }
    for w in writers {
        w.await.unwrap();
    }
    let old: HashSet<String> = ids(&before_all).into_iter().collect();
    for (filter, order, seen) in results {
        assert_in_walk_order(&seen, order);
        let listed = ids(&seen);
        let unique: HashSet<&String> = listed.iter().collect();
        assert_eq!(
            unique.len(),
            listed.len(),
            "{order:?}: a session listed twice"
        );
        // Every old session that still matches now was listed.
        let now = walk_sessions(&repo, &project(), &filter, Order::Asc, 500).await;
        for s in now.iter().filter(|s| old.contains(s.id.as_str())) {
            assert!(
                unique.contains(&s.id.to_string()),
                "{order:?}: {} missed",
                s.id
            );
        }
        if order == Order::Asc {
            // Old sessions first, in the order they had, then any new ones.
            let first_new = listed.iter().position(|id| !old.contains(id));
            if let Some(first_new) = first_new {
                assert!(listed[first_new..].iter().all(|id| !old.contains(id)));
            }
        }
    }
    // An ascending walk meets the sessions created after its last page at its end.
    let all = walk_all(&repo, Order::Asc, 500).await;
    let last = SessionPosition::of(all.last().unwrap());
    for id in names("late", 0..5) {
        session(&repo, &id).await;
    }
    let tail = repo
        .list_sessions(
            &project(),
            SessionQuery {
                filter: SessionFilter::default(),
                order: Order::Asc,
                limit: 10,
                after: Some(last),
            },
        )
        .await
        .unwrap();
    assert_eq!(ids(&tail.sessions), names("late", 0..5));
    assert!(!tail.has_more);
}
